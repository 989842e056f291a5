"""Checks on the finished PDF: every word of every article is there, fonts are our own."""

from __future__ import annotations

import bisect
import io
import re
import unicodedata
from dataclasses import dataclass

import pypdf
import pypdfium2 as pdfium

from .fonts import FontFace
from .model import Article

MAX_GAP = 60
"""Words of other text (folios, captions, pull quotes) allowed between two words of a paragraph."""

_LINE_END_HYPHEN = re.compile(r"[-\u2010\u00ad]\s*\n\s*")


def pdf_text(pdf: bytes) -> str:
    """The PDF's text in drawing order, line by line (PDFium keeps block boundaries apart)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_bounded() for page in document)
    finally:
        document.close()


def words(text: str) -> list[str]:
    """Comparable words: hyphens at line ends joined, case, accents and punctuation dropped."""
    text = unicodedata.normalize("NFKC", text)
    text = _LINE_END_HYPHEN.sub("", text)
    text = re.sub(r"[\u2013\u2014/]", " ", text)
    out = []
    for word in text.split():
        word = "".join(ch for ch in word.lower() if ch.isalnum())
        if word:
            out.append(word)
    return out


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
    """Paragraphs whose words do not appear, in order, in the PDF's text."""
    index = _positions(pdf_words)
    missing = []
    for article in articles:
        position = 0
        for number, paragraph in enumerate(article.paragraphs):
            end = _find(words(paragraph), pdf_words, index, position)
            if end is None:
                missing.append(MissingText(article, number, paragraph))
            else:
                position = end
        for text in article.furniture:
            if _find(words(text), pdf_words, index, 0) is None:
                missing.append(MissingText(article, -1, text))
    return missing


def _positions(pdf_words: list[str]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, word in enumerate(pdf_words):
        index.setdefault(word, []).append(i)
    return index


def _find(needle: list[str], hay: list[str], index: dict[str, list[int]], start: int) -> int | None:
    """End position of the first match of `needle` at or after `start`, each word at most
    MAX_GAP words after the one before; None when there is no such match."""
    if not needle:
        return start
    firsts = index.get(needle[0], [])
    for first in firsts[bisect.bisect_left(firsts, start):]:
        at = first
        for word in needle[1:]:
            at = _next_within(index.get(word, []), at)
            if at < 0:
                break
        else:
            return at + 1
    return None


def _next_within(positions: list[int], after: int) -> int:
    i = bisect.bisect_right(positions, after)
    if i < len(positions) and positions[i] <= after + MAX_GAP + 1:
        return positions[i]
    return -1


def pdf_fonts(pdf: bytes) -> dict[str, bool]:
    """Every font the PDF uses, by base name without subset prefix, and whether it is embedded."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    fonts: dict[str, bool] = {}
    for page in reader.pages:
        resources = page.get("/Resources")
        font_dict = resources.get_object().get("/Font") if resources else None
        for ref in (font_dict.get_object().values() if font_dict else []):
            _collect_font(ref.get_object(), fonts)
    return fonts


def _collect_font(font: pypdf.generic.DictionaryObject, fonts: dict[str, bool]) -> None:
    name = str(font.get("/BaseFont", "")).lstrip("/")
    name = re.sub(r"^[A-Z]{6}\+", "", name)
    descriptor = font.get("/FontDescriptor")
    for descendant in font.get("/DescendantFonts", []) or []:
        descriptor = descriptor or descendant.get_object().get("/FontDescriptor")
    embedded = False
    if descriptor is not None:
        descriptor = descriptor.get_object()
        embedded = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    fonts[name] = fonts.get(name, False) or embedded


def foreign_fonts(used: dict[str, bool], faces: list[FontFace]) -> list[str]:
    """Fonts in the PDF that are not among the bundled or publication fonts, or not embedded."""
    ours = {_squash(f.postscript_name) for f in faces} | {_squash(f.family) for f in faces}
    problems = []
    for name, embedded in sorted(used.items()):
        if not embedded:
            problems.append(f"the font {name} is not embedded in the PDF")
        elif _squash(name) not in ours and not any(_squash(name).startswith(o) for o in ours):
            problems.append(f"some text is set in {name}, a font pamphlet does not bundle "
                            "(a character your fonts lack?)")
    return problems


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
