"""Checks on the finished PDF: every word of every article is there, fonts are our own."""

from __future__ import annotations

import bisect
import functools
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fonts import FontFace
from .model import Article

if TYPE_CHECKING:
    import pypdf

MAX_GAP = 60
"""Words of other text (folios, captions, pull quotes) allowed between two words of a paragraph."""

_LINE_END_HYPHEN = re.compile(r"[-\u2010\u00ad]\s*\n\s*")
SOFT_BREAK = "\x02"
"""What PDFium puts where a word was hyphenated at a line end."""


def pdf_text(pdf: bytes) -> str:
    """The PDF's text in drawing order, line by line (PDFium keeps block boundaries apart)."""
    return "\n".join(page_texts(pdf))


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text, as `pdf_text` reads it."""
    return [page.text for page in read_pages(pdf)]


@dataclass
class PageFacts:
    """What the checks read of one page. `read_pages` fills the text and pictures; the
    preflight adds the rest (`preflight.read_facts`)."""

    text: str
    picture_ppi: list[float]
    """The resolution each picture is printed at (the lower of across and down)."""
    fonts: dict[str, bool] = field(default_factory=dict)
    """The fonts the page uses, and whether each is embedded (see `pdf_fonts`)."""
    trim_mm: tuple[float, float] = (0.0, 0.0)
    bleed_mm: float = 0.0
    """How far the bleed box reaches beyond the trim box (the least of the four sides)."""
    oversize: bool = False
    """The media box is larger than the trim box."""
    colours: list[str] = field(default_factory=list)
    """Colours the target cannot print ('RGB colour', 'a colour picture'...)."""
    inked_edges: list[str] = field(default_factory=list)
    """The edges ('top', 'left'...) with ink within the unprintable margin asked about."""
    solid_black: float = 0.0
    """The share of the page that is solid black (when the edges were asked about)."""


def page_count(pdf: bytes) -> int:
    """The PDF's number of pages (PDFium reads only the page tree)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


EDGE_DPI = 50
"""Resolution of the page images that the edge and black-area checks look at."""


def read_pages(pdf: bytes, edge_mm: float = 0) -> list[PageFacts]:
    """What the checks need of each page, read in one pass (loading a page is the slow part):
    text and pictures; with `edge_mm`, also the ink within that margin and the solid black,
    from a coarse image of the page."""
    import pypdfium2 as pdfium  # here, not at the top: small commands need no PDF libraries
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    try:
        facts = []
        for page in document:
            pictures = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=5)
            facts.append(PageFacts(page.get_textpage().get_text_bounded(),
                                   [min(meta.horizontal_dpi, meta.vertical_dpi)
                                    for meta in (picture.get_metadata() for picture in pictures)]))
            if edge_mm:
                facts[-1].inked_edges, facts[-1].solid_black = _ink(page, edge_mm)
        return facts
    finally:
        document.close()


def _ink(page: Any, edge_mm: float) -> tuple[list[str], float]:
    """The edges with ink (anything darker than paper) within `edge_mm`, and the share of
    the page that is solid black."""
    image = page.render(scale=EDGE_DPI / 72, grayscale=True).to_pil().convert("L")
    band = max(1, round(edge_mm / 25.4 * EDGE_DPI))
    width, height = image.size
    sides = {"top": (0, 0, width, band), "bottom": (0, height - band, width, height),
             "left": (0, 0, band, height), "right": (width - band, 0, width, height)}
    inked = [side for side, box in sides.items() if image.crop(box).getextrema()[0] < 235]
    return inked, sum(image.histogram()[:40]) / (width * height)


def words(text: str) -> list[str]:
    """Comparable words: hyphens at line ends joined, case, accents and punctuation dropped."""
    return [word.replace(SOFT_BREAK, "") for word in marked_words(text)
            if word.replace(SOFT_BREAK, "")]


def marked_words(text: str) -> list[str]:
    """Like `words`, but a word PDFium marks as hyphenated keeps the mark where it broke
    (U+0002), because at a page foot the rest of it comes after the running head."""
    return list(_marked_words(text))


_NOT_WORD = re.compile(f"[^\\w{SOFT_BREAK}]|_")
"""What a word loses: all but letters and digits (str.isalnum, as \\w less the underscore)
and the break mark."""


@functools.lru_cache(maxsize=8192)
def _marked_words(text: str) -> tuple[str, ...]:
    # Kept: a process that builds again and again (pamphlet serve) checks the same
    # paragraphs and the same unchanged pages' text after every edit.
    text = unicodedata.normalize("NFKC", text)
    text = _LINE_END_HYPHEN.sub("", text)
    text = re.sub(r"[\u2013\u2014/]", " ", text)
    out = []
    for word in text.split():
        word = _NOT_WORD.sub("", word.lower())
        if word.strip(SOFT_BREAK):
            out.append(word)
    return tuple(out)


@dataclass(frozen=True)
class MissingText:
    article: Article
    index: int
    paragraph: str

    def __str__(self) -> str:
        excerpt = " ".join(self.paragraph.split()[:8])
        what = f"paragraph {self.index + 1}" if self.index >= 0 else "the headline text"
        return (f"{self.article.source.name}: {what} is missing from the PDF "
                f"(starts '{excerpt}…')")


def missing_text(articles: list[Article], pdf_words: list[str]) -> list[MissingText]:
    """Paragraphs whose words do not appear, in order, in the PDF's words (`marked_words`)."""
    hay = Hay(pdf_words)
    missing = []
    for article in articles:
        position = 0
        for number, paragraph in enumerate(article.paragraphs):
            end = hay.find(words(paragraph), position)
            if end is None:
                missing.append(MissingText(article, number, paragraph))
            else:
                position = end
        for text in article.furniture:
            if hay.find(words(text), 0) is None:
                missing.append(MissingText(article, -1, text))
    return missing


class Hay:
    """The PDF's words, searched for a paragraph's words in order. Between two words of a
    paragraph up to MAX_GAP other words may stand (folios, captions, pull quotes)."""

    def __init__(self, marked: list[str]) -> None:
        self.marked = marked
        self.clean = [w.replace(SOFT_BREAK, "") for w in marked]
        self.index: dict[str, list[int]] = {}
        for i, word in enumerate(self.clean):
            self.index.setdefault(word, []).append(i)
        self.broken = [i for i, word in enumerate(marked) if SOFT_BREAK in word]
        self.heads = {i: marked[i].split(SOFT_BREAK)[0] for i in self.broken}

    def find(self, needle: list[str], start: int) -> int | None:
        """End position of the first match at or after `start`, or None."""
        if not needle:
            return start
        firsts = self.index.get(needle[0], [])
        for first in firsts[bisect.bisect_left(firsts, start):]:
            at: int | None = first
            for word in needle[1:]:
                at = self._next(word, at)
                if at is None:
                    break
            else:
                return at + 1
        return None

    def _next(self, word: str, after: int) -> int | None:
        stop = min(after + MAX_GAP + 2, len(self.clean))
        found = self._at(word, after + 1, stop)
        if found is not None:
            return found
        # A word broken at a page or column foot: its head here, its tail a little further on.
        broken = self.broken[bisect.bisect_right(self.broken, after):
                             bisect.bisect_left(self.broken, stop)]
        for i in broken:
            head = self.heads[i]
            if head and word.startswith(head) and head != word:
                return self._at(word[len(head):], i + 1, min(i + MAX_GAP + 2, len(self.clean)))
        return None

    def _at(self, word: str, start: int, stop: int) -> int | None:
        try:
            return self.clean.index(word, start, stop)
        except ValueError:
            return None


def misplaced(articles: list[Article], starts: dict[str, int], pages: int) -> list[str]:
    """Articles that do not start where the manifest placed them (an overfull page before
    them pushes everything on)."""
    wanted = {"front": 1, "back": pages, "centre": pages // 2}
    warnings = []
    for article in articles:
        place = article.place
        want = place.page if place.kind == "page" else wanted.get(place.kind)
        start = starts.get(article.id)
        if want is None or start is None or start == want:
            continue
        warnings.append(f"{article.source.name} is placed on {_place_words(place.kind, want)} "
                        f"but starts on page {start}: "
                        + ("the pages before it hold too much" if start > want else
                           "the pages before it hold too little"))
    return warnings


def _place_words(kind: str, page: int) -> str:
    names = {"front": "the front page", "back": "the back page", "centre": "the centre pages"}
    return names.get(kind, f"page {page}")


def pdf_reader(pdf: bytes) -> pypdf.PdfReader:
    import pypdf  # here, not at the top: small commands need no PDF libraries

    return pypdf.PdfReader(io.BytesIO(pdf))


def pdf_fonts(pdf: bytes) -> dict[str, bool]:
    """Every font the PDF uses and whether it is embedded. An embedded font is named by the
    PostScript name inside the embedded program itself, so it can be matched with the bundled
    files exactly; one that is not embedded, by the name the PDF gives it."""
    return merged_fonts(fonts_by_page(pdf_reader(pdf)))


def merged_fonts(pages: list[dict[str, bool]]) -> dict[str, bool]:
    fonts: dict[str, bool] = {}
    for used in pages:
        for name, embedded in used.items():
            fonts[name] = fonts.get(name, False) or embedded
    return fonts


def fonts_by_page(reader: pypdf.PdfReader) -> list[dict[str, bool]]:
    """The fonts of each page (`pdf_fonts`). Each font is looked into once, by its name
    without the subset tag: pages share their fonts, and an issue laid out in sections
    (sections.py) has a subset of each per section."""
    known: dict[object, tuple[str, bool]] = {}
    pages = []
    for page in reader.pages:
        resources = page.get("/Resources")
        font_dict = resources.get_object().get("/Font") if resources else None
        used: dict[str, bool] = {}
        for ref in (font_dict.get_object().values() if font_dict else []):
            font = ref.get_object()
            key = re.sub(r"^[A-Z]{6}\+", "", str(font.get("/BaseFont", "")).lstrip("/")) or id(font)
            if key not in known:
                known[key] = _font_identity(font)
            name, embedded = known[key]
            used[name] = used.get(name, False) or embedded
        pages.append(used)
    return pages


def _font_identity(font: pypdf.generic.DictionaryObject) -> tuple[str, bool]:
    descriptor = font.get("/FontDescriptor")
    for descendant in font.get("/DescendantFonts", []) or []:
        descriptor = descriptor or descendant.get_object().get("/FontDescriptor")
    base = re.sub(r"^[A-Z]{6}\+", "", str(font.get("/BaseFont", "")).lstrip("/"))
    program = None
    if descriptor is not None:
        descriptor = descriptor.get_object()
        program = next((descriptor[k] for k in ("/FontFile2", "/FontFile3", "/FontFile")
                        if k in descriptor), None)
    if program is None:
        return base, False
    try:
        from fontTools.ttLib import TTFont

        with TTFont(io.BytesIO(program.get_object().get_data()), lazy=True) as embedded:
            return embedded["name"].getDebugName(6) or base, True
    except Exception:  # a CFF or Type 1 program fontTools cannot open as a font file
        return base, True


def foreign_fonts(used: dict[str, bool], faces: list[FontFace]) -> list[str]:
    """Fonts in the PDF that are not among the bundled or publication fonts, or not embedded."""
    ours = {face.postscript_name for face in faces}
    problems = []
    for name, embedded in sorted(used.items()):
        if not embedded:
            problems.append(f"the font {name} is not embedded in the PDF")
        elif name not in ours:
            problems.append(f"some text is set in {name}, a font pamphlet does not bundle "
                            "(a character your fonts lack?)")
    return problems
