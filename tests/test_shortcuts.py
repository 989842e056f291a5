"""The layout shortcuts (pamphlet/shortcuts.py) change how much work WeasyPrint does, never
what it makes: every sample laid out with and without them gives the same pages, pixel for
pixel and word for word. Each side runs in its own process, because a shortcut, once
installed, stays for the life of the process."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES
from helpers import page_images, page_words
from PIL import ImageChops

PROGRAM = r"""
import json, sys
from pathlib import Path
from pamphlet import shortcuts
from pamphlet.build import load, readable_roots
from pamphlet.compose import compose
from pamphlet.render import render

installed = shortcuts.install()
issue, articles, layout = load(Path(sys.argv[1]))
html = compose(issue, articles, layout)
# Laid out twice in one process: the second time with the stylesheets kept from the first.
for _ in range(int(sys.argv[3])):
    rendered = render(html, issue.root, readable_roots(issue, layout))
Path(sys.argv[2]).write_bytes(rendered.pdf)
print(json.dumps(rendered.messages))
print(json.dumps(installed))
"""


def lay_out(sample: str, out: Path, shortcuts: bool, times: int = 1
            ) -> tuple[dict[str, bool], list[str]]:
    """Which shortcuts were installed, and WeasyPrint's messages of the last render."""
    environment = {**os.environ, "PAMPHLET_SHORTCUTS": "1" if shortcuts else "0"}
    done = subprocess.run([sys.executable, "-c", PROGRAM,
                           str(REPO / "issues" / f"{sample}.yaml"), str(out), str(times)],
                          capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    *_, messages, installed = done.stdout.strip().splitlines()
    return json.loads(installed), json.loads(messages)


def assert_same_pages(plain: Path, quick: Path, dpi: int, name: str = "") -> int:
    """The same words on each page, and the same pixels at `dpi`; how many pages."""
    words = page_words(plain)
    assert page_words(quick) == words
    plain_pages, quick_pages = page_images(plain, dpi=dpi), page_images(quick, dpi=dpi)
    assert len(quick_pages) == len(plain_pages) == len(words)
    for number, (a, b) in enumerate(zip(plain_pages, quick_pages, strict=True), start=1):
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None, \
            f"{name} page {number} differs"
    return len(words)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_shortcuts_give_the_same_pages(sample: str, tmp_path: Path):
    plain, quick = tmp_path / "plain.pdf", tmp_path / "quick.pdf"
    installed, plain_messages = lay_out(sample, plain, shortcuts=False)
    assert installed == {}
    installed, messages = lay_out(sample, quick, shortcuts=True, times=2)
    assert installed and all(installed.values()), installed  # WeasyPrint 70 as pinned
    assert messages == plain_messages
    assert_same_pages(plain, quick, 100, sample)


def test_a_shortcut_steps_aside_when_weasyprint_is_not_what_it_expects(tmp_path: Path):
    program = ("import weasyprint; weasyprint.__version__ = '71.0'\n"
               "from pamphlet import shortcuts\n"
               "from weasyprint.layout import block, inline, page\n"
               "before = (block.block_box_layout, inline.split_first_line, page.make_page)\n"
               "print(shortcuts.install())\n"
               "assert before == (block.block_box_layout, inline.split_first_line, "
               "page.make_page)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "True" not in done.stdout


HTML_PROGRAM = r"""
import json, sys
from pathlib import Path
from pamphlet import shortcuts
from pamphlet.render import render

installed = shortcuts.install()
html = Path(sys.argv[1]).read_text()
rendered = render(html, Path(sys.argv[1]).parent, [Path(sys.argv[1]).parent])
Path(sys.argv[2]).write_bytes(rendered.pdf)
print(json.dumps([*shortcuts.kept_column_count, shortcuts.kept_line_box_count[0],
                  shortcuts.kept_lengths_count[0]] if installed else [0, 0, 0, 0]))
"""


def _columns_page(seed: int) -> str:
    """Balanced columns holding what makes a column's layout hang on more than its foot:
    floats, a footnote, a table, columns inside columns, a box that must not break."""
    words = ["the", "branch", "voted", "to", "strike", "over", "pay", "and", "the", "new",
             "rota", "on", "every", "route"]

    def paragraph(n: int) -> str:
        return "<p>" + " ".join(words[(n * 7 + i) % len(words)] for i in range(25 + n * 9 % 60)) \
            + ".</p>"

    plain = "".join(paragraph(seed + n) for n in range(6))
    unusual = (f'<div style="float: left; width: 20mm; height: 18mm; background: #ccc"></div>'
               f'{paragraph(seed + 7)}<p>A note<span style="float: footnote">Footnote '
               f'{seed}.</span> in the text.</p>{paragraph(seed + 8)}'
               f'<table><tr><td>Pay</td><td>3%</td></tr><tr><td>Hours</td><td>35</td></tr>'
               f'</table><div style="columns: 2">{paragraph(seed + 9)}</div>'
               f'<div style="break-inside: avoid; border: 1pt solid">{paragraph(seed + 10)}'
               f'</div>{paragraph(seed + 11)}')
    return (f'<section style="columns: 3; orphans: 2; widows: 2; text-align: justify">{plain}'
            f'</section><hr><section style="columns: 3; column-fill: balance">{unusual}'
            f'{plain}</section>')


def test_columns_given_again_are_the_columns_weasyprint_makes(tmp_path: Path):
    """kept_columns gives a balancing step's column again only where its every question of
    the column's foot has the same answer; the pages stay the same where a column holds
    floats, footnotes, tables or columns of its own (never given again). The result's
    columns that end inside a paragraph are the last step's, at the same foot."""
    html = ("<!DOCTYPE html><html><head><style>@page { size: A5; margin: 12mm } "
            "body { font: 9pt/11pt serif }</style></head><body>"
            + "".join(_columns_page(seed) for seed in range(4)) + "</body></html>")
    pdfs, (in_steps, split_in_result, _, _) = _laid_out_both_ways(html, tmp_path)
    assert in_steps > 0, "the plain columns were not given again"
    assert split_in_result > 0, "no column of a result that ends in a split paragraph was kept"
    assert assert_same_pages(pdfs[False], pdfs[True], 100) > 1


def _laid_out_both_ways(html: str, tmp_path: Path) -> tuple[dict[bool, Path], list[int]]:
    """`html` laid out without the shortcuts and with them, each in a process of its own:
    the two PDFs, and what the shortcuts gave again (columns in balancing steps, columns of
    results that end inside a paragraph, lines, boxes' used lengths)."""
    source = tmp_path / "page.html"
    source.write_text(html, encoding="utf-8")
    pdfs, given_again = {}, {}
    for on in (False, True):
        pdfs[on] = tmp_path / f"{on}.pdf"
        done = subprocess.run([sys.executable, "-c", HTML_PROGRAM, str(source), str(pdfs[on])],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PAMPHLET_SHORTCUTS": "1" if on else "0"})
        assert done.returncode == 0, done.stderr
        given_again[on] = json.loads(done.stdout.strip().splitlines()[-1])
    return pdfs, given_again[True]


def _lines_in_columns(seed: int) -> str:
    """Paragraphs whose lines are laid out again at each balancing step, at other heights and
    in other columns: plain, justified, indented, hyphenated, with inline boxes, links whose
    text says the page they point to (filled in after a first layout of the page), a
    relatively placed word; and paragraphs that hold a float, a picture, an inline block."""
    words = ["the", "branch", "voted", "unanimously", "to", "strike", "over", "pay", "and",
             "the", "new", "rota", "on", "every", "route", "from", "Monday"]

    def text(n: int) -> str:
        return " ".join(words[(n * 5 + i) % len(words)] for i in range(30 + n * 11 % 50))

    looks = ["", ' style="text-align: justify"', ' style="text-indent: 2em; hyphens: auto"',
             ' style="text-align: right"', ' style="white-space: pre-line"']
    plain = "".join(
        f'<p{looks[(seed + n) % len(looks)]}>{text(seed + n)} <em>{text(n)[:40]}</em> '
        f'<a href="#end">see <strong>this</strong></a> <span style="position: relative; '
        f'top: 2pt">up</span> {text(n + 3)}.</p>' for n in range(7))
    unusual = (f'<p><span style="float: right; width: 12mm; height: 8mm; background: #999">'
               f'</span>{text(seed + 20)}</p><p>{text(seed + 21)} <span style="display: '
               f'inline-block; border: 1pt solid">boxed in</span> {text(seed + 22)}</p>')
    return (f'<section style="columns: 3; orphans: 2; widows: 2">{plain}{unusual}{plain}'
            f'</section><hr>')


def test_line_boxes_given_again_are_the_lines_weasyprint_makes(tmp_path: Path):
    """kept_line_boxes gives a line of text again (a copy, moved to its new place) where the
    same paragraph is broken again from the same point at the same width; the pages are the
    same, including links whose text is filled in once the page they point to is known."""
    html = ("<!DOCTYPE html><html lang=en><head><style>@page { size: A5; margin: 12mm } "
            "body { font: 9pt/11pt serif } a::after { content: ' (page ' "
            "target-counter(attr(href), page) ')' }</style></head><body>"
            + "".join(_lines_in_columns(seed) for seed in range(4))
            + '<h2 id="end" style="break-before: page">The end</h2></body></html>')
    pdfs, (_, _, lines, _) = _laid_out_both_ways(html, tmp_path)
    assert lines > 100, "lines were not given again"
    pages = assert_same_pages(pdfs[False], pdfs[True], 100)
    assert f"see this page {pages}" in " ".join(" ".join(p) for p in page_words(pdfs[True]))


def test_used_lengths_given_again_are_the_ones_weasyprint_works_out(tmp_path: Path):
    """keep_used_lengths gives a box laid out again in the next balancing step the margins,
    paddings, borders and sizes worked out before, for the same style and containing block;
    the pages are the same with percentages, em and calc() lengths, box-sizing, min and max
    sizes, inline boxes with padding, floats and a table whose borders collapse."""
    looks = ["margin: 2% 0 3%; padding: 1% 2mm", "padding: 2mm; border: 2pt solid; "
             "box-sizing: border-box; width: 90%", "margin-left: calc(1em + 4%); "
             "font-size: 12pt", "margin-left: calc(1em + 4%); font-size: 8pt",
             "min-height: 12mm; max-width: 80%; padding-bottom: 5%",
             "border-left: 3pt solid; padding-left: 0.5em; box-sizing: padding-box"]
    words = ["the", "depot", "voted", "by", "a", "big", "margin", "to", "refuse", "the",
             "new", "rota", "and", "the", "cuts"]

    def text(n: int) -> str:
        return " ".join(words[(n * 3 + i) % len(words)] for i in range(20 + n * 7 % 40))

    blocks = "".join(
        f'<div style="{looks[n % len(looks)]}"><p>{text(n)} <span style="padding: 0 2%; '
        f'border: 1pt solid">boxed</span> {text(n + 1)}</p></div>'
        + (f'<div style="float: right; width: 30%; padding: 2%; margin-left: 5%">{text(n)}'
           f'</div>' if n % 5 == 2 else "")
        + ('<table style="border-collapse: collapse; width: 100%"><tr><td style="border: 2pt '
           'solid; padding: 4%">Pay</td><td style="border: 1pt solid">3%</td></tr></table>'
           if n % 7 == 3 else "") for n in range(24))
    html = ("<!DOCTYPE html><html lang=en><head><style>@page { size: A5; margin: 12mm } "
            "body { font: 9pt/11pt serif }</style></head><body>"
            f'<section style="columns: 3; orphans: 2; widows: 2">{blocks}</section>'
            f'<section style="columns: 2; column-gap: 5%">{blocks}</section></body></html>')
    pdfs, (_, _, _, lengths) = _laid_out_both_ways(html, tmp_path)
    assert lengths > 100, "no used lengths were given again"
    assert assert_same_pages(pdfs[False], pdfs[True], 100) > 1


def test_used_lengths_are_worked_out_again_for_a_changed_style():
    """A value put into a style after its box's lengths were kept is not missed: the kept
    answer is only given while the style holds the very values it was worked out from."""
    import weasyprint
    from weasyprint.css.properties import Dimension
    from weasyprint.layout import block

    from pamphlet import shortcuts

    assert shortcuts.install().get("keep_used_lengths")
    document = weasyprint.HTML(string='<p style="margin-left: 10%; padding: 1%">Pay</p>')
    box = document.render().pages[0]._page_box.descendants().__next__()
    while box.element_tag != "p":
        box = box.children[0]
    given = shortcuts.kept_lengths_count[0]
    block.resolve_percentages(box, (300.0, "auto"))
    block.resolve_percentages(box, (300.0, "auto"))
    assert (box.margin_left, box.padding_left) == (30, 3)
    assert shortcuts.kept_lengths_count[0] == given + 1
    box.style["margin_left"] = Dimension(20, "%")
    block.resolve_percentages(box, (300.0, "auto"))
    assert (box.margin_left, box.padding_left) == (60, 3)
    block.resolve_percentages(box, (200.0, "auto"))
    assert (box.margin_left, box.padding_left) == (40, 2)


def test_the_lean_flow_test_answers_as_weasyprint_does():
    """lean_flow_test reads the style once to say whether a box is in the normal flow: the
    same answer as WeasyPrint's five tests, for floats, footnotes, absolute, fixed, relative
    and running boxes."""
    import weasyprint

    from pamphlet import shortcuts

    assert shortcuts.install().get("lean_flow_test")
    document = weasyprint.HTML(string=(
        "<style>@page { @top-center { content: element(head) } } .head { position: "
        "running(head) }</style><p class=head>Busworker</p><p>Pay <span style='float: "
        "footnote'>A note</span> and <b style='float: right'>rota</b></p><div style='float: "
        "inline-start'>cuts</div><div style='position: absolute; top: 0'>Out</div><div "
        "style='position: fixed'>Fixed</div><div style='position: relative'>Moved</div>"
        "<ul><li>Strike</li></ul>")).render()
    answers = []
    for page in document.pages:
        for box in page._page_box.descendants(placeholders=True):
            plain = not (box.is_floated() or box.is_absolutely_positioned() or
                         box.is_running() or box.is_footnote() or box.is_note())
            assert box.is_in_normal_flow() is plain, box
            answers.append(plain)
    assert True in answers and False in answers


RENDERS_PROGRAM = r"""
import json, sys
from pathlib import Path
from pamphlet import shortcuts
from pamphlet.render import render

installed = shortcuts.install()
folder = Path(sys.argv[1])
lines, messages = [], []
for name in sys.argv[3:]:
    rendered = render((folder / name).read_text(), folder, [folder])
    lines.append(sum(len(kept) for stores in shortcuts._lines.values()
                     for kept in stores.values()) if installed else 0)
    messages.append(rendered.messages)
Path(sys.argv[2]).write_bytes(rendered.pdf)
print(json.dumps({"lines": lines, "messages": messages,
                  "style_classes": len(shortcuts._style_classes)}))
"""


def _rendered_in_turn(folder: Path, quick: list[str], plain: list[str]
                      ) -> tuple[dict[bool, Path], dict[bool, dict]]:
    """The pages in `folder` rendered one after another in one process, with the shortcuts
    (`quick`) and without (`plain`): the last render's PDF each way, and after each render
    how many lines were kept, what WeasyPrint said, and how many style classes were kept."""
    pdfs, results = {}, {}
    for on, renders in ((False, plain), (True, quick)):
        pdfs[on] = folder / f"{on}.pdf"
        done = subprocess.run([sys.executable, "-c", RENDERS_PROGRAM, str(folder),
                               str(pdfs[on]), *renders], capture_output=True, text=True,
                              timeout=300,
                              env={**os.environ, "PAMPHLET_SHORTCUTS": "1" if on else "0"})
        assert done.returncode == 0, done.stderr
        results[on] = json.loads(done.stdout.strip().splitlines()[-1])
    return pdfs, results


def _styles_page(variant: int) -> str:
    """Elements whose declarations are the same but whose computed styles are not: under
    parents of other sizes, colours, languages and decorations; with their own ids (links
    that print the page they point to), attributes their content reads, custom properties,
    `calc()` and `ex` lengths, inline styles; and an invalid `var()`, which warns the first
    time it is worked out in a render. `variant` changes the sizes, so that a later render
    has other values to give."""
    size = 9 + variant
    text = ("The depot voted to refuse the Sunday rota and the Arbeitszeitverlängerung "
            "that came with it")

    def block(kind: str, n: int) -> str:
        return (f'<div class="{kind}"><p id="p{kind}{n}" data-n="{n}">{text} {n}.</p>'
                f'<p data-n="{n + 1}" style="border-top: 1pt solid var(--accent)">{text}.</p>'
                f'<p lang="de" class="de">{text}.</p></div>')

    css = (f"@page {{ size: A6; margin: 8mm }} :root {{ --accent: #c00 }} "
           f"body {{ font: {size}pt/1.3 serif; hyphens: auto }} "
           f".big {{ font-size: 1.4em; --accent: #00c; color: #336 }} "
           f".small {{ font-size: 0.8em; text-decoration: underline }} "
           f"p {{ margin: 0 0 0.5em 1em; padding-left: calc(1ex + 2pt); color: var(--accent); "
           f"border-left: 0.3em solid }} p[data-n]::before {{ content: attr(data-n) '. ' }} "
           f".de {{ width: 60%; text-indent: 2ex }} a::after {{ content: ' (page ' "
           f"target-counter(attr(href), page) ')' }} .odd {{ width: calc(10px + "
           f"var(--angle)); --angle: 1deg }}")
    blocks = "".join(block(kind, n) for n in range(3) for kind in ("big", "small", "plain"))
    links = "".join(f'<p><a href="#p{kind}{n}">{kind} {n}</a></p>'
                    for n in range(3) for kind in ("big", "small", "plain"))
    return (f"<!DOCTYPE html><html lang=en><head><style>{css}</style></head><body>"
            f'<div id="o1"><p class="odd">Odd</p></div><div id="o2"><p class="odd">Odd '
            f'again</p></div>{links}{blocks}</body></html>')


def test_computed_styles_shared_are_the_styles_weasyprint_works_out(tmp_path: Path):
    """keep_computed_styles gives an element the computed values of an earlier element (in
    this render or an earlier one) whose declarations and parent's class are the same: the
    pages are plain WeasyPrint's, pixel for pixel, and each render warns as WeasyPrint does.
    (Leaving the parent's class out of what names a class, sharing a value of a class whose
    var() has failed, or giving a kept stylesheet's var() values again without their
    warning: each makes this fail, tried.)"""
    (tmp_path / "before.html").write_text(_styles_page(variant=2), encoding="utf-8")
    (tmp_path / "page.html").write_text(_styles_page(variant=0), encoding="utf-8")
    pdfs, results = _rendered_in_turn(tmp_path, ["before.html", "page.html", "page.html"],
                                      ["page.html"])
    assert results[True]["style_classes"] > 20, "the styles were not shared"
    plain = results[False]["messages"][0]
    assert any("Ignored `width" in m for m in plain), plain
    assert results[True]["messages"][1:] == [plain, plain], \
        "a render warned otherwise than WeasyPrint"
    assert assert_same_pages(pdfs[False], pdfs[True], 150) >= 2


TEXT = ("The branch met on Tuesday\tand voted to refuse the new rota, which cuts the break "
        "between split shifts to forty minutes and adds a Saturday in every four; the vote "
        "was 212 to 9, on a turnout of four in five members. Our sister branch in Hamburg "
        "sent a Rotaänderungsvereinbarungsverhandlungsergebnisprotokollentwurf")
LOOKS = {  # each property of line breaking, set to one value before and another after
    "letter-spacing": ("0.2pt", "0.6pt"), "word-spacing": ("1pt", "3pt"),
    "font-size": ("9pt", "10.5pt"), "font-weight": ("normal", "bold"),
    "font-style": ("normal", "italic"), "font-family": ("PT", "serif"),
    "hyphens": ("manual", "auto"), "text-decoration": ("none", "underline"),
    "overflow-wrap": ("normal", "anywhere"), "tab-size": ("4", "16"),
    "font-kerning": ("normal", "none"), "font-variant-ligatures": ("normal", "none")}

PT_FACES = "".join(f"@font-face {{ font-family: PT; font-weight: {weight}; font-style: {style}; "
                   f"src: url(PTSerif-{name}.ttf) }} "
                   for name, weight, style in (("Regular", 400, "normal"),
                                               ("Bold", 700, "normal"),
                                               ("Italic", 400, "italic")))
"""The bundled PT Serif, copied beside the page by the tests that use it."""


def _lines_page(after: bool) -> str:
    """The same text in paragraphs that each set one property of line breaking, to one
    value before and to another after (the first three paragraphs stay the same)."""
    def paragraph(n: int, name: str) -> str:
        value = LOOKS[name][after]
        look = f"white-space: pre-wrap; tab-size: {value}" if name == "tab-size" else \
            f"{name}: {value}"
        return f'<p style="{look}">{TEXT} {n}</p>'

    same = "".join(f"<p>{TEXT} {n}</p>" for n in range(100, 103))
    # No columns: a column's width differs in its last digits from one step to the next.
    return ("<!DOCTYPE html><html lang=en><head><style>@page { size: A4; margin: 12mm } "
            + PT_FACES + "body { font: 9pt/11pt PT; text-align: justify; width: 80mm } "
            "p { margin: 0 0 4pt }</style></head><body>" + same
            + "".join(paragraph(n, name) for n, name in enumerate(LOOKS)) + "</body></html>")


def test_lines_kept_from_another_render_are_the_lines_weasyprint_makes(tmp_path: Path):
    """keep_lines keeps a paragraph's lines for the next render of the same head, named by
    the values of every property that line breaking reads: a paragraph whose text is the
    same but one of those properties is not is broken into lines again. (Each property in
    LOOKS, left out of what names a line, makes this fail: tried one by one.)"""
    for font in (REPO / "fonts" / "pt-serif").glob("*.ttf"):
        shutil.copy(font, tmp_path)
    (tmp_path / "before.html").write_text(_lines_page(after=False), encoding="utf-8")
    (tmp_path / "after.html").write_text(_lines_page(after=True), encoding="utf-8")
    pdfs, results = _rendered_in_turn(tmp_path, ["before.html", "after.html", "after.html"],
                                      ["after.html"])
    sizes = {on: result["lines"] for on, result in results.items()}
    before, after, again = sizes[True]
    assert before < after, "the changed paragraphs were not broken into lines again"
    assert after == again, "the lines of the last render were not kept for the next"
    assert_same_pages(pdfs[False], pdfs[True], 200)



DRAWING_PROGRAM = r"""
import json, sys
from pathlib import Path
from pamphlet import shortcuts
from pamphlet.render import render

installed = shortcuts.install()
folder = Path(sys.argv[1])
given = []
for name in sys.argv[2:]:
    before = shortcuts.kept_drawings_count[0]
    rendered = render((folder / f"{name}.html").read_text(), folder, [folder])
    (folder / f"{name}-{len(given)}-{bool(installed)}.pdf").write_bytes(rendered.pdf)
    given.append(shortcuts.kept_drawings_count[0] - before)
print(json.dumps(given))
"""


def _drawing_page(first: str) -> str:
    """Justified, spaced, ligatured, accented, underlined and tabbed lines in two sizes of
    the same faces, after `first` (text set tiny, so that its glyphs' widths are counted at
    another size, some rounded otherwise, before the others are drawn)."""
    looks = ["", "letter-spacing: 0.4pt", "font-size: 7.3pt", "font-weight: bold",
             "font-style: italic", "text-decoration: underline", "word-spacing: 2pt",
             "white-space: pre-wrap"]
    text = ("The office staff\tfiled 212 claims; the affiliated branch\u00adworkers "
            "re\u0301sume\u0301 the fight for five flexible shifts, with a\u200bzero-width "
            "break and an ellipsis\u2026")
    body = "".join(f'<p style="{look}">{text}</p>' for look in looks)
    return ("<!DOCTYPE html><html lang=en><head><style>@page { size: A5; margin: 10mm } "
            + PT_FACES + "body { font: 9pt/11pt PT; text-align: justify; hyphens: auto } "
            "p { margin: 0 0 3pt } .tiny { font-size: 0.7pt }</style></head><body>"
            + first + body + "</body></html>")


def _drawn(pdf: Path) -> tuple[list[bytes], list[tuple[str, bytes, str]]]:
    """Each page's drawing operators, and each font's Unicode map and widths."""
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    fonts = []
    for page in reader.pages:
        for _, font in sorted(page["/Resources"]["/Font"].items()):
            font = font.get_object()
            widths = font["/DescendantFonts"][0].get_object().get("/W")
            fonts.append((str(font["/BaseFont"])[7:], font["/ToUnicode"].get_object().get_data(),
                          str(widths)))
    return [page.get_contents().get_data() for page in reader.pages], fonts


def test_a_line_drawn_again_is_written_as_weasyprint_writes_it(tmp_path: Path):
    """keep_drawn_lines writes a line drawn before (the same kept layout, in a later render)
    from what it noted, without Pango: the same operators, glyph widths and Unicode map as
    WeasyPrint. Where the PDF's font has a glyph's width from another size, counted first
    in this render, WeasyPrint draws the line itself (the test fails if that check is
    left out: the spacing written after such glyphs differs)."""
    for font in (REPO / "fonts" / "pt-serif").glob("*.ttf"):
        shutil.copy(font, tmp_path)
    (tmp_path / "page.html").write_text(_drawing_page(""), encoding="utf-8")
    tiny = "".join(f'<p class="tiny" style="{look}">Staff filed their claims for the affiliated '
                  "branch; office workers fight on</p>"
                  for look in ("", "font-weight: bold", "font-style: italic"))
    (tmp_path / "other.html").write_text(_drawing_page(tiny), encoding="utf-8")
    given = {}
    for on, renders in ((False, ["page", "other"]), (True, ["page", "page", "page", "other"])):
        done = subprocess.run([sys.executable, "-c", DRAWING_PROGRAM, str(tmp_path), *renders],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PAMPHLET_SHORTCUTS": "1" if on else "0"})
        assert done.returncode == 0, done.stderr
        given[on] = json.loads(done.stdout.strip().splitlines()[-1])
    first, noted, again, other = given[True]
    assert first == noted == 0 and again > 5, given  # noted on the second drawing, then given
    assert other > 0, "no line of the other page was drawn from what was noted"
    plain = _drawn(tmp_path / "page-0-False.pdf")
    for n in range(3):
        assert _drawn(tmp_path / f"page-{n}-True.pdf") == plain, f"render {n + 1}"
    assert _drawn(tmp_path / "other-3-True.pdf") == _drawn(tmp_path / "other-1-False.pdf")
    assert_same_pages(tmp_path / "page-0-False.pdf", tmp_path / "page-2-True.pdf", 150)

PICTURES_PROGRAM = r"""
import json, sys
from pathlib import Path
from PIL import Image
from pamphlet import shortcuts
from pamphlet.render import RenderOptions, render

installed = shortcuts.install()
folder = Path(sys.argv[1])
html = (folder / "page.html").read_text()
saves = [0]
save = Image.Image.save
def counted(*args, **kwargs):
    saves[0] += 1
    return save(*args, **kwargs)
Image.Image.save = counted
encoded = []
for out in sys.argv[2:]:
    saves[0] = 0
    rendered = render(html, folder, [folder], RenderOptions(max_ppi=72, jpeg_quality=80))
    Path(out).write_bytes(rendered.pdf)
    encoded.append(saves[0])
print(json.dumps(encoded))
"""


def _pictures(pdf: Path) -> list[tuple[int, bytes]]:
    from pypdf import PdfReader

    return [(picture["/Width"], picture._data) for page in PdfReader(pdf).pages
            for picture in (x.get_object() for x in page["/Resources"]["/XObject"].values())]


def test_a_picture_kept_from_another_render_is_the_one_weasyprint_encodes(tmp_path: Path):
    """keep_pictures gives the next render the bytes WeasyPrint made of a picture, named by
    the picture's own bytes and the options that shape them, and scaled down to the target's
    resolution: the same bytes in the PDF, with no decoding and encoding again; another
    picture is encoded anew."""
    from PIL import Image

    for name, seed in (("a.jpg", 40), ("b.jpg", 90)):
        picture = Image.radial_gradient("L").resize((300, 200)).point(lambda v, s=seed: v ^ s)
        picture.convert("RGB").save(tmp_path / name, quality=95)
    (tmp_path / "page.html").write_text(
        "<!DOCTYPE html><html><head><style>@page { size: A6; margin: 10mm } img { width: 60mm }"
        "</style></head><body><p>One</p><img src=a.jpg><p>Two</p><img src=b.jpg></body></html>",
        encoding="utf-8")
    outputs, encoded = {}, {}
    for on in (False, True):
        outputs[on] = [tmp_path / f"{on}-{n}.pdf" for n in range(2 if on else 1)]
        done = subprocess.run([sys.executable, "-c", PICTURES_PROGRAM, str(tmp_path),
                               *map(str, outputs[on])], capture_output=True, text=True,
                              timeout=300,
                              env={**os.environ, "PAMPHLET_SHORTCUTS": "1" if on else "0"})
        assert done.returncode == 0, done.stderr
        encoded[on] = json.loads(done.stdout.strip().splitlines()[-1])
    plain = _pictures(outputs[False][0])
    assert len(plain) == 2 and plain[0] != plain[1]
    assert all(width < 300 for width, _ in plain)  # 127 ppi as printed: scaled to 72
    assert _pictures(outputs[True][0]) == _pictures(outputs[True][1]) == plain
    assert encoded[False] == [4] and encoded[True] == [4, 0], encoded  # encoded, then scaled


PAGE = ('<!DOCTYPE html><html><head><link rel="stylesheet" href="style.css"></head>'
        '<body><p>Words on a page</p></body></html>')


def test_a_kept_stylesheet_is_parsed_once_and_still_warns_each_time(tmp_path: Path):
    from pamphlet import shortcuts
    from pamphlet.render import render

    assert shortcuts.install().get("keep_stylesheets")
    (tmp_path / "style.css").write_text("@page { size: 100mm 100mm } p { colour: red }")
    first = render(PAGE, tmp_path, [tmp_path])
    base = tmp_path.resolve().as_uri() + "/"
    kept = shortcuts.font_config_for(PAGE, base)
    assert shortcuts.font_config_for(PAGE, base) is kept  # the same head: parsed already
    second = render(PAGE, tmp_path, [tmp_path])
    assert any("colour" in message for message in first.messages), first.messages
    assert second.messages == first.messages
    assert _size_mm(second.pdf) == _size_mm(first.pdf) == (100, 100)  # its @page rule too


def test_an_edited_stylesheet_is_read_again(tmp_path: Path):
    from pamphlet import shortcuts
    from pamphlet.render import render

    style = tmp_path / "style.css"
    style.write_text("@page { size: 100mm 100mm }")
    base = tmp_path.resolve().as_uri() + "/"
    small = render(PAGE, tmp_path, [tmp_path])
    kept = shortcuts.font_config_for(PAGE, base)
    style.write_text("@page { size: 200mm 100mm }")
    os.utime(style, ns=(1, 1))  # a file system with coarse times still sees a change
    assert shortcuts.font_config_for(PAGE, base) is not kept
    wide = render(PAGE, tmp_path, [tmp_path])
    assert [_size_mm(small.pdf), _size_mm(wide.pdf)] == [(100, 100), (200, 100)]


def _size_mm(pdf: bytes) -> tuple[int, int]:
    from pypdf import PdfReader

    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)


def test_layout_workers_leave_no_font_folders_behind(tmp_path: Path):
    """Each worker keeps its fonts in a temporary folder for all its sections, and removes it
    before it exits (a forked child skips Python's own clean-up)."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    folder = tmp_path / "pub"
    shutil.copytree(REPO / "issues", folder / "issues")
    # The newspaper's sections in two workers; the bulletin's email PDF in one pass, in a
    # child that leaves as soon as it has answered, its laid-out pages still uncollected.
    for issue, target in (("issue-42", "office"), ("busworker-2026-11-24", "email")):
        done = subprocess.run([sys.executable, "-m", "pamphlet", "build", issue, "-t", target],
                              cwd=folder, capture_output=True, text=True,
                              env={**os.environ, "TMPDIR": str(temporary)}, timeout=300)
        assert done.returncode == 0, done.stderr
        assert list(temporary.glob("weasyprint-*")) == [], f"{issue} {target}"
    assert (folder / "build" / ".cache" / "sections").is_dir()


def test_an_array_type_is_the_one_that_parsing_its_declaration_gives():
    """WeasyPrint asks cffi for a `hb_codepoint_t[N]` of each new length N when it subsets a
    font, and cffi parses each such declaration with pycparser (3-4 ms each, some 20 a
    page). The shortcut builds it from the element's pointer type instead: the same cached
    type object parsing ends in."""
    from cffi.api import FFI

    from pamphlet import shortcuts

    assert shortcuts.install().get("array_types_unparsed")
    from weasyprint.text.ffi import ffi

    for declaration in ("hb_codepoint_t[3]", "hb_codepoint_t[811]", "char[9]"):
        quick = ffi.typeof(declaration)
        del ffi._parsed_types[declaration]
        with ffi._lock:
            parsed = FFI._typeof_locked(ffi, declaration)[0]
        assert quick is parsed, declaration
    assert list(ffi.new("hb_codepoint_t[3]", [7, 8, 9])) == [7, 8, 9]
    assert ffi.sizeof(ffi.new("hb_codepoint_t[811]")) == 811 * 4


def test_a_c_type_parsed_with_only_the_typedef_names_it_uses_is_the_same_type(monkeypatch):
    """cffi hands pycparser all 64 typedef names of WeasyPrint's declarations before each C
    type it parses; the shortcut hands over only those the type names. Each type must come
    out the same as with all of them, and a declaration that does not parse must fail the
    same way."""
    from cffi import CDefError

    from pamphlet import shortcuts

    assert shortcuts.install().get("types_parsed_alone")
    from weasyprint.text.ffi import ffi

    parser = ffi._parser
    declarations = ("PangoRectangle *", "PangoLogAttr[]", "FcChar8 **", "FcResult *",
                    "hb_tag_t[100]", "unsigned int *", "char *", "PangoLayoutIter *",
                    "hb_codepoint_t *", "PangoFontDescription *", "GSList *",
                    "int (*)(PangoLayout *, int)", "struct _PangoRectangle *")
    quick = [parser.parse_type(declaration) for declaration in declarations]
    with pytest.raises(CDefError) as quick_error:
        parser.parse_type("PangoRectangle PangoRectangle *")
    monkeypatch.delattr(parser, "_parse")  # the class's own again
    assert quick == [parser.parse_type(declaration) for declaration in declarations]
    with pytest.raises(CDefError) as plain_error:
        parser.parse_type("PangoRectangle PangoRectangle *")
    assert str(quick_error.value) == str(plain_error.value)


def _decorated(function):
    return function


@_decorated
def _with_an_inner_function(x: int) -> int:
    """A function whose last lines belong to a function defined in it."""
    def inner(y: int) -> int:
        return y * 2

    return inner(
        x
    )
    # a comment after the last line of code


SOURCES_PROGRAM = """
import inspect
from cffi import model
from weasyprint import css, images
from weasyprint.layout import LayoutContext, column, inline, page
from weasyprint.text import line_break
from pamphlet import shortcuts
for function in (model.ArrayType.build_backend_type, column.columns_layout,
                 LayoutContext.overflows_page, line_break.first_line_metrics,
                 line_break.split_first_line, line_break.create_layout,
                 inline.add_word_spacing, page.make_page, images.RasterImage.__init__,
                 images.RasterImage.get_x_object, css.find_stylesheets, images):
    if shortcuts._source(function) != inspect.getsource(function):
        print(function)
"""


def test_the_source_a_shortcut_checks_is_the_function_as_inspect_reads_it():
    """Each shortcut checks WeasyPrint's source before it replaces a function; that source
    is found without tokenizing the file, and must be what inspect gives (a comment after
    the last line of code aside). WeasyPrint's are read in a fresh process, where no
    shortcut has replaced them yet."""
    import inspect

    from pamphlet import shortcuts

    done = subprocess.run([sys.executable, "-c", SOURCES_PROGRAM], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    ours = shortcuts._source(_with_an_inner_function)
    assert ours.startswith("@_decorated\ndef _with_an_inner_function")
    assert ours.endswith("        x\n    )\n")
    assert inspect.getsource(_with_an_inner_function).startswith(ours)


def _pyphen_parse(path: Path) -> tuple[dict, int]:
    """The dictionary at `path` as pyphen itself parses it, shortcut or not."""
    import inspect

    import pyphen

    parsed = pyphen.HyphDict.__new__(pyphen.HyphDict)
    inspect.unwrap(pyphen.HyphDict.__init__)(parsed, path)
    return parsed.patterns, parsed.maxlen


def test_hyphenation_patterns_kept_parsed_are_the_ones_pyphen_parses(tmp_path: Path):
    """pyphen parses a dictionary's patterns in Python in every process that first hyphenates
    (67 ms for English, in each layout worker); the shortcut reads pyphen's own parse, kept
    as JSON, and only for a dictionary with the very bytes it was made from."""
    import pyphen

    from pamphlet import shortcuts

    assert shortcuts.install().get("patterns_parsed_once")
    english = pyphen.LANGUAGES["en_US"]
    kept = shortcuts.write_parsed_patterns("en_US", tmp_path)
    parser = json.loads(kept.read_text())["parser"]
    assert shortcuts._parsed_patterns(english, parser, tmp_path) == _pyphen_parse(english)
    # The patterns the package ships, as a layout worker reads them.
    shipped = shortcuts._parsed_patterns(english, parser)
    assert shipped is None or shipped == _pyphen_parse(english)
    hyphenated = pyphen.Pyphen(filename=english, cache=False)
    assert hyphenated.inserted("solidarity") == "sol-i-dar-i-ty"

    # Another dictionary with the same name, or another parser: pyphen parses it itself.
    changed = tmp_path / "changed" / english.name
    changed.parent.mkdir()
    changed.write_text(english.read_text("utf-8").replace("\n", "\n.sol5id\n", 1), "utf-8")
    shutil.copy(kept, changed.parent / kept.name)
    assert shortcuts._parsed_patterns(changed, parser, changed.parent) is None
    assert shortcuts._parsed_patterns(english, "another parser", tmp_path) is None
    patterns, _ = _pyphen_parse(changed)
    assert patterns[".solid"] == (4, (5,))
    assert pyphen.HyphDict(changed).patterns == patterns
