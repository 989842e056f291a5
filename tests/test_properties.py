"""Property-based tests (Hypothesis): whatever an editor writes in a manifest, in front matter
or in an article body, pamphlet answers with its own plain problem lines, never a traceback.

The contract: for any manifest text, front-matter text and Markdown body, `build.load()` either
returns (issue, articles, layout) or raises PamphletError whose problems each have a message
and name the manifest or an article; any other exception, or one swallowed and printed
("Exception ignored in ..."), breaks it. `pamphlet build` exits 0 or 1 with no traceback.

The explicit tests at the end are minimal inputs that broke the contract when these tests
were first written (PyYAML constructor errors, huge numbers, over-long paths, quadratic
parsing), kept as regression tests.
"""

from __future__ import annotations

import contextlib
import html
import io
import multiprocessing
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner, Result

from pamphlet import cli
from pamphlet.articles import FRONT_MATTER_KEYS
from pamphlet.build import load
from pamphlet.errors import PamphletError
from pamphlet.manifest import ENTRY_KEYS, MANIFEST_KEYS
from pamphlet.markup import render_markdown

SHRINK = os.environ.get("PAMPHLET_HYPOTHESIS_SHRINK") == "1"
"""Shrinking a failure to a minimal input can take Hypothesis minutes; by default a failure is
reported as found (the explicit tests at the end hold minimal inputs). Set this to shrink."""


def config(examples: int, **overrides) -> settings:
    """Deterministic (same examples on every run, no example database) and quick."""
    options = {
        "max_examples": examples,
        "phases": list(Phase) if SHRINK else [p for p in Phase if p is not Phase.shrink],
        "derandomize": True,
        "database": None,
        "deadline": timedelta(seconds=5),  # milliseconds normally: far more is a near-hang
        "print_blob": False,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                  HealthCheck.large_base_example],
    }
    options.update(overrides)
    return settings(**options)


# --- A publication on disk, one per example -----------------------------------------------------

GOOD_MANIFEST = """\
title: The Test Sheet
subtitle: A bulletin by test workers, for test workers
layout: bulletin
date: 2026-11-20
articles:
  - path: issue-1/lead.md
    place: front
  - issue-1/short.md
"""
GOOD_LEAD = """\
---
title: Cleaners win the living wage after a week of walkouts
byline: By a cleaner
---
The cleaners at the Eastgate offices walked out on Monday morning and stayed out until Friday.
"""
GOOD_SHORT = """\
---
title: Kettle Logic
---
The new kettle in the mess room takes eleven minutes to boil. Management says this is a saving.
"""


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "navy").save(out, "PNG")
    return out.getvalue()


PNG = _png()


@dataclass
class Publication:
    root: Path
    manifest: Path

    @property
    def issue_dir(self) -> Path:
        return self.root / "issues" / "issue-1"


def _write(path: Path, text: str | bytes) -> None:
    """Exactly these bytes: no newline translation, so \\r and \\r\\n reach pamphlet as written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


@contextlib.contextmanager
def publication(manifest: str | bytes = GOOD_MANIFEST, lead: str = GOOD_LEAD,
                short: str | bytes = GOOD_SHORT) -> Iterator[Publication]:
    """A throwaway publication folder with one issue, a picture, a damaged picture, a standing
    item, and a file just outside the publication (for ../ references to find)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve() / "paper"
        pub = Publication(root, root / "issues" / "issue-1.yaml")
        _write(pub.manifest, manifest)
        _write(pub.issue_dir / "lead.md", lead)
        _write(pub.issue_dir / "short.md", short)
        _write(pub.issue_dir / "images" / "photo.png", PNG)
        _write(pub.issue_dir / "images" / "broken.jpg", b"not a jpeg at all")
        _write(root / "issues" / "standing" / "join.md", "---\ntitle: Join us\n---\nJoin.\n")
        _write(root.parent / "outside.md", "---\ntitle: Outside\n---\nSecret.\n")
        _write(root.parent / "outside.png", PNG)
        yield pub


# --- The contract ---------------------------------------------------------------------------------

@contextlib.contextmanager
def no_swallowed_exceptions() -> Iterator[None]:
    """Fail on an exception that something (e.g. a C extension's callback) swallowed and printed
    as 'Exception ignored in ...': the editor sees a traceback even though nothing raised."""
    swallowed = []
    previous = sys.unraisablehook
    sys.unraisablehook = swallowed.append
    try:
        yield
    finally:
        sys.unraisablehook = previous
    if swallowed:
        first = swallowed[0]
        raise AssertionError(f"an exception was swallowed and printed as a traceback: "
                             f"{first.exc_type.__name__}: {first.exc_value} (in {first.object!r})")


def load_contract(pub: Publication):
    """`load()`'s result, or the PamphletError it raised after checking its problems.
    Any other exception propagates and fails the test (Hypothesis then shrinks the input)."""
    with no_swallowed_exceptions():
        try:
            return load(pub.manifest)
        except PamphletError as error:
            check_problems(error, pub)
            return error


def outcome(result) -> str:
    """How far an example got, for --hypothesis-show-statistics."""
    if not isinstance(result, PamphletError):
        return "load: loaded"
    if any("not valid YAML" in problem.message for problem in result.problems):
        return "load: YAML error"
    return "load: other problems"


def check_problems(error: PamphletError, pub: Publication) -> None:
    assert error.problems, "a PamphletError with no problems in it"
    for problem in error.problems:
        assert problem.message.strip(), problem
        assert problem.file is not None, f"a problem with no file: {problem}"
        file = problem.file.resolve()
        # An article is whatever regular file inside the publication the manifest names.
        assert file == pub.manifest.resolve() or (file.is_relative_to(pub.root)
                                                  and file.is_file()), problem


# --- HTML safety --------------------------------------------------------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background",
                  "data", "srcset", "cite", "longdesc", "lowsrc", "dynsrc"}
FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "style", "link", "meta", "base", "form",
                  "svg", "math", "frame", "frameset", "applet", "template"}


class _StartTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_safe_html(markup: str) -> None:
    """No script, no event handler, no javascript:/vbscript: URL anywhere in the markup.
    The words themselves may stand in the text ("javascript: considered harmful" is a fine
    headline, and markdown-it prints a refused [link](javascript:...) as text): only tags and
    attributes are checked, the way a browser or WeasyPrint would read them."""
    assert "<script" not in markup.lower(), markup
    parser = _StartTags()
    parser.feed(markup)
    parser.close()
    for tag, attributes in parser.tags:
        assert tag not in FORBIDDEN_TAGS, (tag, markup)
        for name, value in attributes:
            assert not name.startswith("on"), (tag, name, markup)
            if name == "style":  # markdown-it aligns table columns, and that is all
                assert re.fullmatch(r"text-align:(left|center|right)", value or ""), \
                    (tag, name, value, markup)
            if name in URL_ATTRIBUTES:
                # Browsers ignore whitespace and control characters inside a scheme.
                url = re.sub(r"[\x00-\x20\x7f]+", "", html.unescape(value or "")).lower()
                assert not url.startswith(("javascript:", "vbscript:", "data:text")), \
                    (tag, name, value, markup)


# --- Strategies: text of every kind ------------------------------------------------------------

CONTROL = "".join(chr(i) for i in range(32)) + "\x7f\x85\xa0\u2028\u2029\ufeff\u200b\u202e\ufffd"
INDICATORS = ":-#&*!|>'\"%@`{}[],?~=<\\/ \t\n"
UNICODE = "éßøΩЖ中文字😀𝕏\u0301ا"
wild_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=CONTROL + INDICATORS + UNICODE + "ab1", max_size=300),
    # Very long lines (a line of one repeated piece, 2,000 to 30,000 characters).
    st.builds(lambda piece, n: piece * n,
              st.text(alphabet=INDICATORS + UNICODE + "ab1\x00", min_size=1, max_size=3),
              st.integers(2_000, 10_000)),
)

# --- YAML-ish text built from fragments ----------------------------------------------------------

NUMBERS = ["0", "42", "-1", "+7", "1:10", "190:20:30", "1.10", "1.0", "1e3", "1.5e+3", ".5",
           "042", "08", "0o17", "0x1F", "0b101", "1_000", ".inf", "-.inf", ".NaN", "0x_", "0b_",
           "-0b_", "9" * 4400, "0x" + "f" * 4000, "1" + ":59" * 2500, "1" + "0" * 400]
BOOLS = ["yes", "no", "Yes", "NO", "on", "off", "true", "False", "y", "n", "~", "null", "Null", ""]
DATES = ["2026-11-20", "2024-13-45", "2024-02-30", "2023-02-29", "2024-02-29", "0000-01-01",
         "9999-12-31", "2024-1-1", "2026-11-20T10:00:00Z", "2026-11-20 10:00:00 +99:00",
         "2026-11-20t25:61:61", "20261120", "2026-11-20T10:00:00.1234567-05:30",
         "27 November 2026", "2026-11-20 10:00"]
TAGGED = ["!!python/object:os.system", "!!python/object/apply:os.system ['touch pwned']",
          "!!python/name:os.system", "!!int abc", "!!int ''", "!!int 0x", "!!float abc",
          "!!float ''", "!!bool maybe", "!!timestamp tomorrow", "!!timestamp 2026-11-20",
          "!!str 42", "!!null x", "!!binary aGVsbG8=", "!!binary '***'", "!!binary ü",
          "!!map abc", "!!map [a, b]", "!!map {}", "!!seq abc", "!!seq {a: b}", "!!seq []",
          "!!set {a, b}", "!!set {[a]: b}", "!!omap [a: 1, b: 2]", "!!omap [a]", "!!pairs [a: 1]",
          "!custom x", "!<tag:yaml.org,2002:int> 12", "!<!> x", "!!merge x", "!!value x",
          "!!yaml x", "! x", "!!str", "!!int"]
ANCHORS = ["&a x", "*a", "&a [1, 2]", "*undefined", "&a {title: x}", "& x", "&a &b x", "&a"]
FLOWS = ["[]", "{}", "[a, b]", "{a: 1, b: [2, 3]}", "[issue-1/lead.md, issue-1/short.md]", "[",
         "{", "]", "}", "[a, {b: c}", "{a: [}", "[[[[[[[[]]]]]]]]", "[" * 60 + "]" * 60,
         "{? a : b}", "[a: b]", "{a, b}", "[-]", "{: x}"]
QUOTED = ['"unterminated', "'unterminated", '"esc \\x00 \\uD800 \\U0010FFFF \\q"', "'it''s'",
          '"a\\\n b"', '""', "''", '"\\N\\_\\L\\P"', '"\\0"', "\"<script>alert(1)</script>\"",
          '"{{ 7*7 }}"', "'{% include \"x\" %}'"]
BLOCK = ["|\n  line one\n  line two", ">-\n  folded\n\n  text", "|2+\n   x", "|\n\tx", ">", "|-",
         "|0\n x", "|\n" + "  x\n" * 3]
PLAIN = ["The Test Sheet", "bulletin", "newspaper", "pamphlet", "base", "../../etc", "a: b: c",
         "x # comment", "x#y", "- item", "? complex", "@reserved", "`backtick", "%directive",
         "50p/£1", "Workers' Voice", "front", "page 3", "page 0", "p.7", "p 12", "centre",
         "center", "back", "box", "BOX", "page " + "9" * 5000, "page -1", "page three",
         "page ٣", "page\t2", "A bulletin **by** [us](javascript:alert(1))", "<b>hi</b>",
         "{{ config }}", "x" * 3000, "en-GB", "xx-invalid", "\u202eevil", "é" * 50]
ARTICLE_PATHS = [
    "issue-1/lead.md", "issue-1/short.md", "issue-1/LEAD.md", "issue-1/missing.md",
    "standing/join.md", "./issue-1/lead.md", "issue-1//lead.md", "issue-1/../issue-1/lead.md",
    "../issues/issue-1/lead.md", "../../outside.md", "../../../../../../etc/passwd",
    "/etc/passwd", "\\\\server\\share\\x.md", "C:\\x.md", "c:/x.md", "~/x.md", "~",
    "http://example.com/x.md", "file:///etc/passwd", "javascript:alert(1)", "issue-1", ".",
    "..", "issue-1.yaml", "issue-1/images/photo.png", "issue-1/images/broken.jpg",
    '"issue-1/le\\0ad.md"', "issue-1/%6cead.md", "issue-1/lead.md#x", "issue-1/lead.md?x",
    "' issue-1/lead.md '", "a" * 300 + "/x.md", "a" * 300 + ".md",
    "missing/" + "a/" * 2100 + "x.md", "issue-1/le\u0301ad.md", "issue-1/ＬＥＡＤ.md",
    "/dev/zero", "/proc/self/environ", "../../../../../../dev/stdin",
]
IMAGE_PATHS = [
    "images/photo.png", "images/PHOTO.png", "images/broken.jpg", "images", "lead.md",
    "../issue-1.yaml", "../../../outside.png", "/etc/passwd", "../../../../etc/passwd",
    "http://example.com/x.png", "https://x/y.png", "//example.com/x.png", "file:///etc/passwd",
    "data:image/png;base64,iVBORw0KGgo=", "images/photo%2Epng", "images%2Fphoto.png",
    "%2e%2e/%2e%2e/%2e%2e/outside.png", "a%00b.png", "a\x00b.png", "<images/photo.png>",
    "<a b.png>", "C:\\x.png", "~/x.png", "a" * 300 + "/x.png", "missing/" + "a/" * 2100 + "x.png",
    'images/photo.png "a title"', "javascript:alert(1)", "vbscript:x", "images/photo.png?x=1",
    "images/photo.png#frag", "", "images/photo.png\" onerror=\"alert(1)", "/dev/zero",
    "/proc/self/fd/0", "../../../../../../dev/urandom",
]
JUNK_LINES = ["\t- x", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "# comment", "", "   ",
              "key", ": value", "- - -", "? key", "<<: *a", "<<: {price: 1}", "<<: [1]", "\x00",
              "\ufeffbom: x", "\x85", "key:value", "key :value", "[a, b]: c", "{a: b}: c",
              "title: x\ntitle: y"]

scalars = st.one_of(
    st.sampled_from(NUMBERS + BOOLS + DATES + TAGGED + ANCHORS + FLOWS + QUOTED + BLOCK + PLAIN),
    st.sampled_from(NUMBERS[:16] + BOOLS + DATES[:8] + PLAIN),
    st.sampled_from(ARTICLE_PATHS + IMAGE_PATHS),
    st.text(alphabet=INDICATORS + UNICODE + "abc123", max_size=30),
    # Control characters are wild_text's business: here they would only stop the parser early.
    st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]), max_size=20),
)

YAML_READS = {"a: b: c", "x # comment", "- item", "? complex", "@reserved", "`backtick",
              "%directive", "{{ config }}"}
tame_scalars = st.sampled_from(NUMBERS[:16] + BOOLS + DATES[:8] + ARTICLE_PATHS[:12]
                               + [text for text in PLAIN if text not in YAML_READS])
values = st.one_of(tame_scalars, scalars)
"""Half plain values that YAML reads, so that more documents get past the parser."""


def misspellings(keys: list[str]) -> st.SearchStrategy[str]:
    def misspell(key: str, how: int) -> str:
        if how == 0 and len(key) > 1:
            return key[1] + key[0] + key[2:]  # transposed
        if how == 1:
            return key.upper()
        if how == 2:
            return key + key[-1]
        if how == 3:
            return f" {key}"
        if how == 4:
            return key.replace("_", "-") if "_" in key else key[:-1]
        return f'"{key}"'
    return st.builds(misspell, st.sampled_from(keys), st.integers(0, 5))


def key_strategy(keys: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(keys), st.sampled_from(keys), misspellings(keys),
                     st.sampled_from(["? x", "1", "null", "~", "true", "2026-11-20", "[a]", "<<",
                                      "&k key", "!!python/object:os.system key", "'quoted key'",
                                      "x" * 1100, "é"]),
                     st.text(alphabet=INDICATORS + "abc", min_size=1, max_size=8))


@st.composite
def yaml_lines(draw, keys: st.SearchStrategy[str], indent: int = 0, depth: int = 0) -> list[str]:
    """Lines of YAML-ish text: pairs, nested maps, block lists, junk; indentation may be off."""
    pad = " " * indent
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["pair", "pair", "pair", "map", "list", "junk"]))
        if kind == "junk":
            lines.append(draw(st.sampled_from(JUNK_LINES)))
            continue
        key = draw(keys)
        if kind == "pair" or depth >= 3:
            lines.append(f"{pad}{key}: {draw(scalars)}")
        elif kind == "map":
            lines.append(f"{pad}{key}:")
            step = draw(st.sampled_from([1, 2, 2, 4, 0]))
            lines.extend(draw(yaml_lines(keys, indent + step, depth + 1)))
        else:
            lines.append(f"{pad}{key}:")
            for _ in range(draw(st.integers(0, 4))):
                dash = draw(st.sampled_from(["  - ", "- ", "-", "    - ", "\t- "]))
                lines.append(f"{pad}{dash}{draw(scalars)}")
    return lines


@st.composite
def article_entries(draw, tame: bool = False) -> list[str]:
    """The `articles:` list: paths and `path:` mappings with options, some wrong."""
    lines = []
    entry_keys = st.sampled_from(sorted(ENTRY_KEYS)) if tame else key_strategy(sorted(ENTRY_KEYS))
    entry_values = tame_scalars if tame else values
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            lines.append(f"  - {draw(st.sampled_from(ARTICLE_PATHS))}")
            continue
        lines.append(f"  - path: {draw(st.sampled_from(ARTICLE_PATHS))}")
        for _ in range(draw(st.integers(0, 3))):
            key = draw(entry_keys)
            lines.append(f"    {key}: {draw(entry_values)}")
    return lines


@st.composite
def mutated(draw, lines: list[str], keys: st.SearchStrategy[str]) -> str:
    """A valid document with a few lines replaced, removed, repeated, re-indented or added."""
    lines = list(lines)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["value", "value", "value", "drop", "dup", "indent", "add",
                                       "add", "junk"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines.append(f"{draw(keys)}: {draw(scalars)}")
        elif action == "value" and ":" in lines[i]:
            lines[i] = lines[i].split(":", 1)[0] + ": " + draw(values)
        elif action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = draw(st.sampled_from([" ", "\t", "   ", ""])) + lines[i].lstrip()
        elif action == "add":
            lines.insert(i, f"{draw(keys)}: {draw(values)}")
        else:
            lines.insert(i, draw(st.sampled_from(JUNK_LINES)))
    return draw(st.sampled_from(["\n", "\n", "\r\n", "\r"])).join(lines) + \
        draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))


manifest_keys = key_strategy(sorted(MANIFEST_KEYS))


@st.composite
def manifest_texts(draw) -> str:
    kind = draw(st.sampled_from(["tame", "tame", "mutated", "mutated", "soup", "wild"]))
    if kind == "wild":
        return draw(wild_text)
    if kind == "soup":
        lines = draw(yaml_lines(manifest_keys))
        if draw(st.booleans()):
            lines += ["articles:", *draw(article_entries())]
        return "\n".join(lines) + "\n"
    head = ["title: The Test Sheet", "layout: bulletin", "date: 2026-11-20"]
    extra = [f"{key}: {draw(tame_scalars if kind == 'tame' else values)}" for key in draw(st.lists(
        manifest_keys.filter(lambda key: key not in ("title", "layout", "date", "articles")),
        max_size=3, unique=True))]
    entries = draw(st.one_of(article_entries(tame=kind == "tame"),
                             st.just(["  - path: issue-1/lead.md", "    place: front",
                                      "  - issue-1/short.md"])))
    lines = [*head, *extra, "articles:", *entries]
    if kind == "tame":  # mostly valid YAML, so that the schema and the articles are checked
        return "\n".join(lines) + "\n"
    return draw(mutated(lines, manifest_keys))


front_keys = key_strategy(sorted(FRONT_MATTER_KEYS))
front_values = st.one_of(scalars, st.sampled_from(IMAGE_PATHS), st.sampled_from(PLAIN))
tame_front_values = st.one_of(tame_scalars, st.sampled_from(IMAGE_PATHS))


@st.composite
def front_matter_texts(draw) -> str:
    """A whole article file: fence variants, YAML-ish front matter, fence or none, a body."""
    opening = draw(st.sampled_from(["---\n"] * 20 + [
        "---  \n", "---\t\n", "---\r\n", "----\n", "\ufeff---\n", "", " ---\n", "---",
        "--- title: x\n", "---\n---\n", "...\n"]))
    kind = draw(st.sampled_from(["tame", "tame", "mutated", "mutated", "soup", "wild"]))
    if kind == "wild":
        head = draw(wild_text)
    elif kind == "soup":
        head = "\n".join(draw(yaml_lines(front_keys))) + "\n"
    else:
        pick = tame_front_values if kind == "tame" else front_values
        lines = ["title: A headline"] + [
            f"{key}: {draw(pick)}"
            for key in draw(st.lists(st.sampled_from(sorted(FRONT_MATTER_KEYS)), max_size=5))]
        head = "\n".join(lines) + "\n" if kind == "tame" else draw(mutated(lines, front_keys))
    if not head.endswith("\n") and draw(st.integers(0, 9)):
        head += "\n"  # mostly a closing fence on a line of its own, sometimes glued on
    closing = draw(st.sampled_from(["---\n"] * 20 + [
        "---", "--- \n", "...\n", "", "----\n", "---\r\n", "\n---\n", "  ---\n"]))
    body = draw(st.one_of(st.just("Body text.\n"), st.text(max_size=80), markdown_bodies()))
    return opening + head + closing + body


# --- Markdown ------------------------------------------------------------------------------------

LINK_URLS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
             "&#106;avascript:alert(1)", "javascript&colon;alert(1)", " javascript:alert(1)",
             "%6A%61vascript:alert(1)", "<javascript:alert(1)>", "vbscript:msgbox(1)",
             "data:text/html;base64,PHNjcmlwdD4=", "http://example.com", "mailto:a@b.c",
             'https://example.com/"onmouseover="alert(1)', "#a-lead", "/etc/passwd",
             'x" onerror="alert(1)', "javascript://%0aalert(1)", "\x00javascript:alert(1)",
             "<>", "()", "file:///etc/passwd"]
RAW_HTML = ["<b>bold</b>", "<script>alert(1)</script>", "<SCRIPT SRC=//x.js></SCRIPT>",
            "<img src=x onerror=alert(1)>", '<img src="images/photo.png" onload="alert(1)">',
            '<img src="javascript:alert(1)">', '<a href="javascript:alert(1)">x</a>',
            '<a href="jav&#x09;ascript:alert(1)">x</a>', "<svg onload=alert(1)>",
            "<svg><script>alert(1)</script></svg>", "<iframe src=//x></iframe>",
            "<style>*{color:red}</style>", '<p style="background:url(//x)">x</p>',
            "<!-- comment -->", "<?php echo 1; ?>", "<![CDATA[x]]>", "<!DOCTYPE html>",
            '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
            '<object data="x"></object>', "<base href=//x>", '<meta http-equiv="refresh">',
            '<link rel="stylesheet" href="//x">', "<form action=javascript:alert(1)><button>",
            '<div onclick="alert(1)">x</div>', "<image src=x onerror=alert(1)>",
            "<img src=images/photo.png>", '<img src="a%00b.png">', "<img src>",
            "<img src='" + "a" * 300 + "/x.png'>", "</p></div></section>", "<", "<a", "<img",
            '<a href="#" onmouseover="x">y</a>', "<details open ontoggle=alert(1)>",
            "<table><tr><td>x</td></tr></table>", "<video poster=javascript:alert(1)>"]
INLINE = ["word", "The drivers' union", "\"quoted\"", "'single'", "--", "---", "...", "(c)",
          "+-", "*em*", "**strong**", "_under_", "`code`", "``", "~~del~~", "&amp;", "&#0;",
          "&#x110000;", "&nbsp;", "&bogus;", "\\*", "  \n", "\\\n", "[^1]", "[^note]", "[^]",
          "[^missing]", "[ref]", "[x][ref]", "^[inline note]", "<http://example.com>",
          "<javascript:alert(1)>", "<mailto:a@b.c>", "<a@b.c>", "{{ 7*7 }}", "{% raw %}",
          "javascript:alert(1)", " onerror=alert(1)", "\x00", "\ufeff", "\u202e", "é😀",
          "***", "___", "[", "]", "![", "](", "<", ">", "&", "|", "x" * 3000]

GOOD_PICTURES = ["images/photo.png", 'images/photo.png "a title"', "<images/photo.png>",
                 "images%2Fphoto.png", "./images/../images/photo.png"]
"""Ways of naming the one picture that exists: bodies for whole builds use only these."""
PICTURE_TAGS = {tag for tag in RAW_HTML if "<im" in tag}


def _link(text: str, url: str) -> str:
    return f"[{text}]({url})"


def _image(alt: str, src: str) -> str:
    return f"![{alt}]({src})"


def _table(rows: int, cols: int) -> str:
    return "\n".join(["|" + "|".join(["h"] * cols) + "|", "|" + "|".join(["---"] * cols) + "|"]
                     + ["|" + "|".join([f"c{r}"] * cols) + "|" for r in range(rows)])


def _nest(block: str, prefix: str) -> str:
    follow = " " * len(prefix) if prefix[0] in "-*+1" else prefix
    lines = block.split("\n")
    return "\n".join([prefix + lines[0], *[follow + line for line in lines[1:]]])


def markdown_blocks(pictures: list[str], raw_html: list[str]) -> st.SearchStrategy[str]:
    """Blocks of Markdown (nested in quotes and lists), naming only these pictures."""
    inline_piece = st.one_of(
        st.sampled_from(INLINE),
        st.sampled_from(raw_html),
        st.builds(_link, st.sampled_from(["a link", "", "*x*", "[n]"]), st.sampled_from(LINK_URLS)),
        st.builds(_image, st.sampled_from(["A photo", "", 'x" onerror="alert(1)', "*alt*"]),
                  st.sampled_from(pictures)),
        st.text(max_size=20),
    )
    inline_text = st.lists(inline_piece, min_size=1, max_size=8).map(" ".join)
    leaf = st.one_of(
        inline_text,
        st.builds(lambda n, text: "#" * n + " " + text, st.integers(1, 7), inline_text),
        st.builds(lambda text, bar: f"{text}\n{bar}", inline_text, st.sampled_from(["===", "---"])),
        st.builds(lambda lang, code: f"```{lang}\n{code}\n```", st.sampled_from(["", "html", "js"]),
                  st.sampled_from(RAW_HTML + INLINE)),
        st.sampled_from(BLOCKS),
        st.builds(_table, st.integers(0, 20), st.integers(1, 30)),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(_nest, inner, st.sampled_from(["> ", ">", "- ", "* ", "+ ", "1. ", "10) ",
                                                     "-\t"])),
            st.lists(inner, min_size=1, max_size=4).map("\n".join),
        ),
        max_leaves=12,
    )


BLOCKS = ["```\nunclosed fence", "    indented code <script>", "***", "- - -",
          "| a | b |\n|---|:-:|\n| c | d |", "| a |\n|---|---|---|\n| 1 | 2 | 3 | 4 |",
          "a|b\n-|-\n" + "|\n" * 30, "|" * 40 + "\n" + "-|" * 20,
          "[^1]: The note, with [a link](javascript:alert(1)).",
          "[^note]:\n    Indented note\n\n    second paragraph",
          "[ref]: javascript:alert(1) 'title'", "[ref]: images/photo.png", "[ref]: <>",
          "<div>\n<script>alert(1)</script>\n</div>", "<script>\nalert(1)\n</script>",
          "<!--\nunclosed comment", "<style>\np{}\n</style>", "<pre>\n<b>x</b>\n</pre>",
          "> " * 60 + "deep quote", "- " * 40 + "deep list", "1. " * 40 + "x",
          "".join("  " * i + "- level\n" for i in range(60)),
          "".join(">" * i + " quote\n" for i in range(60)),
          "[" * 200 + "x" + "]" * 200, "*" * 300 + "x" + "*" * 300, "\"'" * 500, "<a" * 500,
          "![" * 300]
blocks = markdown_blocks(IMAGE_PATHS, RAW_HTML)
printable_blocks = markdown_blocks(
    GOOD_PICTURES, [tag for tag in RAW_HTML if tag not in PICTURE_TAGS] + [
        '<img src="images/photo.png" onerror="alert(1)">', "<img src=images/photo.png>"])


def markdown_bodies() -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(blocks, max_size=8).flatmap(
            lambda parts: st.sampled_from(["\n\n", "\n", "\r\n\r\n"]).map(lambda sep: sep.join(parts))),
        wild_text,
    )


# --- 1. Any manifest -------------------------------------------------------------------------------

@config(400)
@given(text=manifest_texts())
def test_any_manifest_loads_or_reports_plain_problems(text):
    with publication(manifest=text) as pub:
        result = load_contract(pub)
        event(outcome(result))
        if not isinstance(result, PamphletError):
            issue, articles, layout = result
            assert issue.title and articles and layout.name == issue.layout
            for article in articles:
                assert article.source.is_relative_to(pub.root)


# --- 1b. Any bytes -----------------------------------------------------------------------------

@config(100)
@given(manifest=st.one_of(st.binary(max_size=200), manifest_texts().map(lambda t: t.encode("utf-16"))),
       article=st.one_of(st.binary(max_size=200),
                         front_matter_texts().map(lambda t: t.encode("latin-1", "replace"))))
def test_any_bytes_load_or_report_plain_problems(manifest, article):
    """Files that are not UTF-8 (or not text at all): still only plain problems."""
    with publication(manifest=GOOD_MANIFEST, short=article) as pub:
        event(outcome(load_contract(pub)))
    with publication(manifest=manifest) as pub:
        event(outcome(load_contract(pub)))


# --- 2. Any front matter -----------------------------------------------------------------------

@config(300)
@given(text=front_matter_texts(), raw_html=st.booleans())
def test_any_front_matter_loads_or_reports_plain_problems(text, raw_html):
    manifest = GOOD_MANIFEST + ("raw_html: true\n" if raw_html else "")
    with publication(manifest=manifest, short=text) as pub:
        result = load_contract(pub)
        event(outcome(result))
        if not isinstance(result, PamphletError):
            _issue, articles, _layout = result
            assert len(articles) == 2
            for article in articles:
                for markup in (article.title, article.kicker, article.standfirst, article.byline,
                               article.caption, article.credit, article.pullquote,
                               article.short_title, article.teaser, article.body_html):
                    assert_safe_html(str(markup))


# --- 3. Any Markdown body ----------------------------------------------------------------------

def _may_name_a_picture(body: str) -> bool:
    """Only a picture can make a body an error: Markdown's ![...] or raw HTML's <img>
    (an HTML parser reads <image> as <img> too)."""
    return "![" in body or "<im" in body.lower()


@config(200)
@given(body=markdown_bodies(), raw_html=st.booleans())
def test_any_markdown_body_loads_and_renders_no_script(body, raw_html):
    for allow_html in (False, True):
        with no_swallowed_exceptions():
            rendered = render_markdown(body, doc_id="a-short", allow_html=allow_html)
        assert_safe_html(rendered.html)

    manifest = GOOD_MANIFEST + ("raw_html: true\n" if raw_html else "")
    with publication(manifest=manifest, short="---\ntitle: A headline\n---\n" + body) as pub:
        result = load_contract(pub)
        event(outcome(result))
        if isinstance(result, PamphletError):
            assert _may_name_a_picture(body), f"only a picture can make a body fail: {result}"
            short = (pub.issue_dir / "short.md").resolve()
            for problem in result.problems:
                assert problem.file is not None and problem.file.resolve() == short, problem
                assert problem.message.startswith("picture"), problem
        else:
            _issue, articles, _layout = result
            assert_safe_html(str(articles[1].body_html))


# --- 4. Whole builds from the command line ------------------------------------------------------

cli_bodies = st.lists(printable_blocks, min_size=1, max_size=5).map("\n\n".join)


def run_cli(*args: str) -> Result:
    """`pamphlet ARGS` as the editor would see it: an exception swallowed somewhere prints its
    traceback to stderr (pytest's own hook would otherwise hide it)."""
    previous = sys.unraisablehook
    sys.unraisablehook = sys.__unraisablehook__
    try:
        return CliRunner().invoke(cli.app, list(args))
    finally:
        sys.unraisablehook = previous


def assert_cli_contract(result: Result) -> None:
    assert result.exit_code in (0, 1), result.output
    # CliRunner turns an escaped exception into exit code 1 too: only SystemExit is a real exit.
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output, result.output


@config(8, deadline=None)
@given(lead=cli_bodies, short=cli_bodies, raw_html=st.booleans())
def test_cli_builds_any_bodies_without_a_traceback(lead, short, raw_html):
    manifest = GOOD_MANIFEST + ("raw_html: true\n" if raw_html else "")
    with publication(manifest=manifest,
                     lead="---\ntitle: Cleaners win\nplace: front\nimage: images/photo.png\n"
                          "caption: On the picket line.\n---\n" + lead,
                     short="---\ntitle: Kettle Logic\n---\n" + short) as pub, \
            contextlib.chdir(pub.root):
        result = run_cli("build", "issue-1")
        assert_cli_contract(result)
        if result.exit_code == 0:
            assert (pub.root / "build" / "issue-1.office.pdf").read_bytes().startswith(b"%PDF-")


# --- Inputs that broke the contract (each fails until pamphlet handles it) ---------------------

BASE = GOOD_MANIFEST


def _entry_path(path: str) -> str:
    return GOOD_MANIFEST.replace("  - issue-1/short.md\n", f"  - {path}\n")


@pytest.mark.parametrize(("manifest", "short"), [
    # PyYAML's SafeLoader raises ValueError, IndexError, KeyError or AttributeError (not a
    # YAMLError) for an explicit tag whose text it cannot read; parse_yaml lets them through.
    pytest.param(BASE + "number: !!int abc\n", GOOD_SHORT, id="int-tag-ValueError"),
    pytest.param(BASE + "number: !!int ''\n", GOOD_SHORT, id="int-tag-empty-IndexError"),
    pytest.param(BASE + "number: !!float abc\n", GOOD_SHORT, id="float-tag-ValueError"),
    pytest.param(BASE + "raw_html: !!bool maybe\n", GOOD_SHORT, id="bool-tag-KeyError"),
    pytest.param(BASE.replace("date: 2026-11-20", "date: !!timestamp tomorrow"), GOOD_SHORT,
                 id="timestamp-tag-AttributeError"),
    pytest.param(BASE, "---\ntitle: !!int abc\n---\nBody.\n", id="front-matter-int-tag"),
    # ...and for plain scalars its int resolver accepts but construct_yaml_int cannot read.
    pytest.param(BASE + "number: 0b_\n", GOOD_SHORT, id="plain-0b_-ValueError"),
    pytest.param(BASE + "number: 0x_\n", GOOD_SHORT, id="plain-0x_-ValueError"),
    # yamlfile._construct_mapping/_construct_sequence never check the node's kind, so a
    # !!map or !!seq tag on the wrong kind of node unpacks a string or a tuple.
    pytest.param(BASE + "price: !!map abc\n", GOOD_SHORT, id="map-tag-on-scalar-ValueError"),
    pytest.param(BASE + "price: !!map [a, b]\n", GOOD_SHORT, id="map-tag-on-list-TypeError"),
    pytest.param(BASE + "price: !!seq abc\n", GOOD_SHORT, id="seq-tag-on-scalar-AttributeError"),
    # Python refuses to convert integers of more than 4,300 digits to or from text
    # (sys.get_int_max_str_digits): in PyYAML's int(), in schema._check_value's str(value),
    # in yamlfile._construct_mapping's str(key) and in model.parse_place's int().
    pytest.param(BASE + "number: " + "9" * 4400 + "\n", GOOD_SHORT, id="huge-decimal-int"),
    pytest.param(BASE + "number: 0x" + "f" * 4000 + "\n", GOOD_SHORT, id="huge-hex-int-str"),
    pytest.param(BASE + "? 0x" + "f" * 4000 + "\n: x\n", GOOD_SHORT, id="huge-hex-int-key"),
    pytest.param(GOOD_MANIFEST.replace("place: front", "place: page " + "9" * 4400), GOOD_SHORT,
                 id="huge-page-number"),
    # paths._did_you_mean calls Path.is_dir(), which raises OSError(ENAMETOOLONG) for a folder
    # name over 255 bytes (or a path over 4,096): an article path, a front-matter image, a
    # Markdown image.
    pytest.param(_entry_path("a" * 300 + "/x.md"), GOOD_SHORT, id="long-article-path-OSError"),
    pytest.param(BASE, "---\ntitle: Hi\nimage: " + "a" * 300 + "/x.png\n---\nBody.\n",
                 id="long-front-matter-image-OSError"),
    pytest.param(BASE, "---\ntitle: Hi\n---\n![A photo](" + "a" * 300 + "/x.png)\n",
                 id="long-markdown-image-OSError"),
    # With raw HTML allowed the same OSError happens inside nh3's attribute_filter callback;
    # nh3 swallows it, prints "Exception ignored in: ('img', 'src', ...)" and a traceback,
    # and silently drops the picture.
    pytest.param(BASE + "raw_html: true\n", "---\ntitle: Hi\n---\n<img src='" + "a" * 300
                 + "/x.png'>\n", id="long-raw-html-image-swallowed"),
])
def test_inputs_that_once_broke_the_contract(manifest, short):
    with publication(manifest=manifest, short=short) as pub:
        load_contract(pub)


@pytest.mark.parametrize(("manifest", "short"), [
    pytest.param(BASE + "number: !!int abc\n", GOOD_SHORT, id="exit-2"),
    pytest.param(BASE + "raw_html: true\n", "---\ntitle: Hi\n---\n<img src='" + "a" * 300
                 + "/x.png'>\n", id="traceback-in-output-exit-0"),
])
def test_inputs_that_once_broke_the_contract_from_the_command_line(manifest, short):
    with publication(manifest=manifest, short=short) as pub, contextlib.chdir(pub.root):
        assert_cli_contract(run_cli("build", "issue-1"))


def _load_quietly(manifest: Path) -> None:
    with contextlib.suppress(PamphletError):
        load(manifest)


def _finishes_within(seconds: float, manifest: Path) -> bool:
    """Whether load(manifest) ends (either way) within `seconds`, run in a forked child that is
    killed at the limit, so a slow case costs this test `seconds` and no more."""
    child = multiprocessing.get_context("fork").Process(target=_load_quietly, args=(manifest,))
    child.start()
    child.join(seconds)
    if child.is_alive():
        child.kill()
        child.join()
        return False
    return True


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.parametrize("body", [
    # markdown-it's smartquotes rebuilds the whole text for every quote it replaces.
    pytest.param("'" * 256 * 1024, id="quotes"),
    # markup._html_as_text's re.search(r"</?[a-zA-Z][^>]*>") rescans to the end of the text
    # from every '<' when no '>' follows.
    pytest.param("<a" * 128 * 1024, id="unclosed-tags"),
])
def test_a_quarter_megabyte_article_loads_in_seconds(body):
    """pamphlet reads articles up to 1 MB; these 256 KB paragraphs (a linear parser reads them
    in well under a second) took 20-30 s when this test was written, a full 1 MB several minutes,
    with no time limit on reading."""
    with publication(short="---\ntitle: Long\n---\n" + body) as pub:
        assert _finishes_within(5, pub.manifest), "load() took more than 5 s"
