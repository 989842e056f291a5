"""Preflight: everything about a finished PDF that would spoil the print run or the reading,
in words an editor can act on. `build` and `check` both run it."""

from __future__ import annotations

import contextlib
import gc
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from .checks import (
    Hay,
    PageFacts,
    fonts_by_page,
    foreign_fonts,
    marked_words,
    merged_fonts,
    misplaced,
    missing_text,
    page_count,
    pdf_reader,
    read_pages,
    words,
)
from .fonts import find_fonts
from .layouts import Layout
from .model import Article, Issue
from .output import write_atomically
from .render import Part, Rendered, pdf_bytes
from .speed import give_back_memory, import_pypdf
from .targets import MM, Target, min_ppi

WORDS_PER_LINE = 7
"""About how many words a line of column text holds, to turn words into lines."""
SOLID_SHARE = 0.15
"""A page more than this share solid black eats toner."""


@dataclass(frozen=True)
class Finding:
    message: str
    fatal: bool = False
    """It would spoil the print run (or lose the reader something): not just untidy."""

    def __str__(self) -> str:
        return self.message


def preflight(issue: Issue, articles: list[Article], layout: Layout, target: Target,
              rendered: Rendered, padding: int = 0) -> list[Finding]:
    import_pypdf()  # a build laid out in one pass reads its PDF with pypdf first here
    pdf = rendered.pdf
    findings = [Finding(w) for article in articles for w in article.warnings]
    findings += [Finding(_plain(message)) for message in rendered.messages]
    pages = facts_of(rendered, target.colour, target.safe_edge_mm)
    give_back_memory(len(pdf))
    texts = [page.text for page in pages]
    findings += copyfit(issue, articles, layout, rendered, padding, texts)
    findings += [Finding(str(m)) for m in missing_text(articles, marked_words("\n".join(texts)))]
    used = merged_fonts([page.fonts for page in pages])
    findings += [Finding(f"the font {name} is not embedded in the PDF", fatal=True)
                 for name, embedded in sorted(used.items()) if not embedded]
    embedded_only = {name: True for name, embedded in used.items() if embedded}
    findings += [Finding(m) for m in foreign_fonts(embedded_only, find_fonts(issue.root))]
    findings += page_geometry(pages, layout, target)
    findings += picture_resolution(pages, target, layout)
    findings += colours(pages, target)
    if target.safe_edge_mm:
        findings += edges_and_black(pages, target)
    if target.size_budget:
        findings += size_budget(len(pdf), rendered.page_count, layout)
    return findings


FACTS_FORMAT = 1
"""Goes into the name of the files that keep a section's facts: raise it when `read_facts`
changes what it reads."""


def facts_of(rendered: Rendered, colour: str, edge_mm: float = 0) -> list[PageFacts]:
    """What the checks need of each page. An issue laid out in sections is read section by
    section, each kept beside the section in the cache: an edit reads only the pages it
    changed (the assembled pages are the sections' own, copied)."""
    if rendered.parts:
        facts = [fact for part in rendered.parts
                 for fact in part_facts(part, colour, edge_mm)]
        if len(facts) == rendered.page_count == page_count(rendered.pdf):
            return facts
    return read_facts(rendered.pdf, colour, edge_mm)


def part_facts(part: Part, colour: str, edge_mm: float) -> list[PageFacts]:
    """The facts of one section's pages: kept in its facts file, else read and kept there."""
    name = f"{FACTS_FORMAT}-{colour}" + (f"-edge{edge_mm:g}" if edge_mm else "")
    kept = part.facts_file.with_name(f"{part.facts_file.name}-{name}.json") \
        if part.facts_file else None
    if kept is not None:
        try:
            return [PageFacts(**{**entry, "trim_mm": tuple(entry["trim_mm"])})
                    for entry in json.loads(kept.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError, KeyError):
            pass
    import_pypdf()
    facts = read_facts(pdf_bytes(part.pdf), colour, edge_mm)[part.skip:part.skip + part.pages]
    gc.collect(1)  # this section's parsed pages (full of cycles) before the next one's
    if kept is not None:
        with contextlib.suppress(OSError):  # not kept: read again next time
            write_atomically(kept, json.dumps([asdict(f) for f in facts]).encode())
    return facts


def read_facts(pdf: bytes, colour: str, edge_mm: float = 0) -> list[PageFacts]:
    """Each page's text, pictures, fonts, boxes, (unless `colour` is 'rgb') the colours it
    uses that `colour` cannot print and (with `edge_mm`) its ink near the edges: the PDF
    parsed once by PDFium and once by pypdf."""
    pages = read_pages(pdf, edge_mm)
    reader = pdf_reader(pdf)
    for facts, page, fonts in zip(pages, reader.pages, fonts_by_page(reader), strict=True):
        facts.fonts = fonts
        trim, bleed, media = page.trimbox, page.bleedbox, page.mediabox
        # To a hundredth of a mm: a PDF put together from sections writes its boxes with
        # fewer digits than WeasyPrint does.
        facts.trim_mm = (round(float(trim.width) / MM, 2), round(float(trim.height) / MM, 2))
        facts.bleed_mm = round(min(float(trim.left) - float(bleed.left),
                                   float(bleed.right) - float(trim.right),
                                   float(trim.bottom) - float(bleed.bottom),
                                   float(bleed.top) - float(trim.top)) / MM, 2)
        facts.oversize = (media.width, media.height) != (trim.width, trim.height)
        if colour != "rgb":
            facts.colours = sorted(set(_colour_problems(page, page.get("/Resources"), colour,
                                                        set())))
    return pages


def _plain(message: str) -> str:
    """WeasyPrint's report of a character no font has, in an editor's words."""
    match = re.search(r'unsupported by fonts: (".*") \((U\+[0-9A-F]+)\)', message)
    if match:
        return (f"no font has the character {match[1]} ({match[2]}): it prints as an empty box; "
                "replace it, or add a font that has it to fonts/")
    return f"WeasyPrint: {message}"


def copyfit(issue: Issue, articles: list[Article], layout: Layout, rendered: Rendered,
            padding: int, texts: list[str]) -> list[Finding]:
    """Pages against the plan and the layout's maximum, articles off their planned page
    (`texts`: each page's text)."""
    pages = rendered.page_count
    findings = []
    if issue.pages and pages != issue.pages:
        findings.append(Finding(f"the issue fills {pages} pages but the manifest plans "
                                f"{issue.pages}"))
    page_words = [marked_words(text) for text in texts]
    max_pages = layout.settings.get("max_pages")
    if max_pages and pages > max_pages:
        over = [w for page in page_words[max_pages:] for w in page]
        running_on = [a.source.name for a in articles
                      if a.paragraphs and Hay(over).find(words(a.paragraphs[-1]), 0) is not None]
        findings.append(Finding(
            f"the {layout.name} layout takes at most {max_pages} pages, this issue needs "
            f"{pages}: about {len(over)} words (~{max(1, len(over) // WORDS_PER_LINE)} lines) too "
            "many" + (f"; the text runs past page {max_pages} from {running_on[0]} on"
                      if running_on else "") + ": shorten or drop an article", fatal=True))
    if padding:
        findings.append(Finding(f"{padding} blank page(s) added to make the page count a "
                                f"multiple of {layout.pad_to}"))
    for message in misplaced(articles, rendered.start_pages, pages):
        findings.append(Finding(message + _overflow_words(message, page_words)))
    return findings


def _overflow_words(message: str, page_words: list[list[str]]) -> str:
    """'… placed on page 4 but starts on page 5' → how much text pushed it on."""
    numbers = [int(w) for w in message.replace(":", " ").split() if w.isdigit()]
    if len(numbers) < 2 or numbers[-1] <= numbers[-2]:
        return ""
    want, start = numbers[-2], numbers[-1]
    extra = sum(len(w) for w in page_words[want - 1:start - 1])
    return f" (about {extra} words too many before it, ~{max(1, extra // WORDS_PER_LINE)} lines)"


def page_geometry(pages: list[PageFacts], layout: Layout, target: Target) -> list[Finding]:
    """Every page has the layout's trim size; the print shop's pages carry the bleed box
    3 mm beyond it; any other target's page is exactly the trim, so 'actual size' prints."""
    size = layout.page_size_mm
    findings: list[Finding] = []
    for number, page in enumerate(pages, start=1):
        width, height = page.trim_mm
        if size and (abs(width - size[0]) > 0.5 or abs(height - size[1]) > 0.5):
            findings.append(Finding(f"page {number} is {width:.0f} x {height:.0f} mm, not the "
                                    f"{size[0]:g} x {size[1]:g} mm the {layout.name} layout "
                                    "sets: check @page size in the layout", fatal=True))
        if target.bleed_mm and abs(page.bleed_mm - target.bleed_mm) > 0.2:
            findings.append(Finding(f"page {number} has {page.bleed_mm:.1f} mm of bleed, the "
                                    f"print shop needs {target.bleed_mm:g} mm", fatal=True))
        elif not target.bleed_mm and page.oversize:
            findings.append(Finding(f"page {number} is larger than its trim size: remove "
                                    "'bleed' and 'marks' from the layout's @page for this target",
                                    fatal=True))
    return findings


def picture_resolution(pages: list[PageFacts], target: Target, layout: Layout) -> list[Finding]:
    """Pictures too coarse for the target at the size they are printed."""
    least = min_ppi(target, layout)
    return [Finding(f"page {number}: a picture is printed at {ppi:.0f} ppi, below the "
                    f"{least} ppi the {target.name} PDF needs: use a larger original or print "
                    "it smaller")
            for number, page in enumerate(pages, start=1)
            for ppi in page.picture_ppi if 0 < ppi < least]


def colours(pages: list[PageFacts], target: Target) -> list[Finding]:
    """Colours the target cannot print: anything RGB for the print shop; anything but
    black ink for the office."""
    findings = []
    for number, page in enumerate(pages, start=1):
        wrong = page.colours if target.colour != "rgb" else []
        if wrong and target.colour == "cmyk":
            findings.append(Finding(f"page {number} uses {', '.join(wrong)}: a print shop's "
                                    "PDF/X must be CMYK or grey only (use the layout's colour "
                                    "variables such as var(--accent), not colour values)",
                                    fatal=True))
        elif wrong:
            findings.append(Finding(f"page {number} uses {', '.join(wrong)}: an office printer "
                                    "turns it into a grey you did not choose (use the layout's "
                                    "colour variables such as var(--accent))"))
    return findings


def _colour_problems(owner: Any, resources: Any, colour: str, seen: set[int]) -> list[str]:
    import pypdf
    from pypdf.generic import ContentStream

    resources = resources.get_object() if resources is not None else {}
    found: list[str] = []
    content = owner.get_contents() if isinstance(owner, pypdf.PageObject) else owner
    if content is None:
        return found
    operations: Any = []
    if _may_have_wrong_colour(content.get_data(), colour):  # parsing is 0.1 s a page
        operations = ContentStream(content, owner.pdf if hasattr(owner, "pdf") else None).operations
    for operands, operator in operations:
        op = operator.decode("latin-1")
        if op in ("rg", "RG"):
            found.append("RGB colour")
        elif op in ("k", "K") and colour == "grey" and any(float(v) for v in operands[:3]):
            found.append("coloured ink")
        elif op in ("cs", "CS") and str(operands[0]) == "/DeviceRGB":
            found.append("RGB colour")
    xobjects = resources.get("/XObject", {}) if resources else {}
    for ref in (xobjects.get_object().values() if xobjects else []):
        obj = ref.get_object()
        key = id(obj)
        if key in seen:
            continue
        seen.add(key)
        if obj.get("/Subtype") == "/Image":
            space = str(obj.get("/ColorSpace", ""))
            if "RGB" in space or (colour == "grey" and "CMYK" in space):
                found.append("a colour picture" if "RGB" in space else "a CMYK picture")
        elif obj.get("/Subtype") == "/Form":
            group = obj.get("/Group")
            if group is not None and "RGB" in str(group.get_object().get("/CS", "")):
                found.append("an RGB transparency group")
            found += _colour_problems(obj, obj.get("/Resources"), colour, seen)
    return found


_RGB_OPERATOR = re.compile(rb"(?:^|[\s\])>])(?:rg|RG)(?=[\s\[(/<%]|$)")
_INK_OPERATOR = re.compile(rb"(?:^|[\s\])>])(?:k|K)(?=[\s\[(/<%]|$)")


def _may_have_wrong_colour(data: bytes, colour: str) -> bool:
    """Whether a content stream has any operator `_colour_problems` looks at, found without
    parsing it (a newspaper page is some 100 KB of operators: 0.1 s to parse)."""
    return bool(_RGB_OPERATOR.search(data) or b"/DeviceRGB" in data
                or (colour == "grey" and _INK_OPERATOR.search(data)))


def edges_and_black(pages: list[PageFacts], target: Target) -> list[Finding]:
    """Nothing printed within the unprintable edge; no page mostly solid black."""
    findings = []
    for number, page in enumerate(pages, start=1):
        if page.inked_edges:
            findings.append(Finding(
                f"page {number}: something is printed within {target.safe_edge_mm:g} mm of "
                f"the {' and '.join(page.inked_edges)} edge, where office printers cannot print",
                fatal=True))
        if page.solid_black > SOLID_SHARE:
            findings.append(Finding(
                f"page {number} is {page.solid_black:.0%} solid black: heavy on toner and "
                "streaky on a copier; use a lighter tint or outline type"))
    return findings


def size_budget(size: int, pages: int, layout: Layout) -> list[Finding]:
    budget = layout.settings.get("email_budget_kb")
    usual = layout.settings.get("pages") or pages
    if not budget:
        return []
    allowed = budget * 1024 * max(pages, usual) / usual
    if size <= allowed:
        return []
    return [Finding(f"the PDF is {size / 1024:.0f} KB, more than the {allowed / 1024:.0f} KB "
                    f"an email edition of {pages} pages should be: use smaller pictures")]
