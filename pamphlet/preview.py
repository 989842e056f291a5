"""Pictures of a finished PDF: one PNG per page, and a contact sheet of the whole issue in spreads."""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont

from .errors import PamphletError, Problem
from .output import write_atomically

BACKGROUND = (226, 226, 226)
SHADOW = (190, 190, 190)
HAIRLINE = (150, 150, 150)
INK = (80, 80, 80)
MAX_SHEET_BYTES = 4_000_000
LANDSCAPE = math.sqrt(2)
"""The width:height the contact sheet aims for, like a landscape A-size sheet."""

_PAGE_FILE = re.compile(r"page-\d+\.png")

Spread = tuple[int | None, ...]
"""Page numbers side by side on the sheet; None is an empty place (beside page 1, or the last page)."""


def page_images(pdf: Path, folder: Path, dpi: int = 110, pages: list[int] | None = None) -> list[Path]:
    """Render pages (1-based; all if None) to folder/page-NN.png and return the files written.
    Rendering all pages also removes page files left by an earlier, longer issue."""
    with _opened(pdf) as document:
        count = len(document)
        numbers = _wanted(pdf, pages, count)
        written = []
        for number in numbers:
            path = page_file(folder, number, count)
            _write(path, _png(_render(document[number - 1], dpi / 72)))
            written.append(path)
    if pages is None:
        _remove_stale(folder, written)
    return written


def page_file(folder: Path, number: int, count: int) -> Path:
    """Where `page_images` puts page `number` of a `count`-page issue."""
    return folder / f"page-{number:0{len(str(count))}d}.png"


def page_fingerprints(pdf: Path) -> list[str]:
    """A hash of what each page draws: its drawing operators, its boxes and everything its
    resources hold (fonts, pictures, forms), object numbers left out. A page drawn the same in
    two builds (a newspaper's sections come from the cache unchanged) has the same
    fingerprint, so its image need not be drawn again."""
    import pypdf  # here, not at the top: the command starts faster without it

    reader = pypdf.PdfReader(pdf)
    known: dict[int, bytes] = {}
    prints = []
    for page in reader.pages:
        digest = hashlib.sha256()
        for key in ("/Contents", "/Resources", "/MediaBox", "/CropBox", "/TrimBox",
                    "/BleedBox", "/Rotate", "/Group"):
            digest.update(key.encode() + _digest(page.get(key), known))
        prints.append(digest.hexdigest())
    return prints


def _digest(value: object, known: dict[int, bytes]) -> bytes:
    """The hash of a PDF value and all it refers to (but its page's parent: that is the whole
    document), each indirect object hashed once."""
    import pypdf.generic as pdf

    if isinstance(value, pdf.IndirectObject):
        if value.idnum not in known:
            known[value.idnum] = b"cycle"  # a cycle hashes as itself, not forever
            known[value.idnum] = _digest(value.get_object(), known)
        return known[value.idnum]
    digest = hashlib.sha256(type(value).__name__.encode())
    if isinstance(value, pdf.StreamObject):
        digest.update(value._data if isinstance(value._data, bytes) else value.get_data())
    if isinstance(value, dict):
        for key in sorted(value):
            if key not in ("/Parent", "/P", "/Length"):
                digest.update(str(key).encode() + _digest(value.raw_get(key), known))
    elif isinstance(value, list):
        for item in value:
            digest.update(_digest(item, known))
    elif not isinstance(value, pdf.StreamObject):
        digest.update(repr(value).encode("utf-8", "surrogatepass"))
    return digest.digest()


def contact_sheet(pdf: Path, out: Path, width: int = 2000) -> Path:
    """Write one PNG, `width` px wide, of every page small, in spreads as the printed issue is read."""
    with _opened(pdf) as document:
        first = document[0].get_size()
        grid = _Grid.fit(spreads(len(document)), first[1] / first[0], width)
        sheet = grid.draw([grid.thumbnail(page) for page in document])
    data = _png(sheet)
    if len(data) > MAX_SHEET_BYTES:
        data = _png(sheet.quantize(256, dither=Image.Dither.NONE))
    _write(out, data)
    return out


def spreads(count: int) -> list[Spread]:
    """Page 1 alone on the right, then facing pairs, the last page alone on the left if the count
    is even. One or two pages are the sides of one sheet, not a booklet: no spreads."""
    if count <= 2:
        return [(number,) for number in range(1, count + 1)]
    return [(None, 1), *((n, n + 1 if n < count else None) for n in range(2, count + 1, 2))]


@dataclass(frozen=True)
class _Grid:
    spreads: list[Spread]
    columns: int
    width: int
    page_w: int
    page_h: int
    gap: int
    label_h: int
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont

    @classmethod
    def fit(cls, spreads: list[Spread], aspect: float, width: int) -> _Grid:
        """The number of spreads a row that brings the sheet nearest to landscape."""
        gap, font_size = max(8, width // 80), max(9, width // 140)
        font, label_h = ImageFont.load_default(size=font_size), round(font_size * 1.8)
        grids = []
        for columns in range(1, len(spreads) + 1):
            slots = columns * len(spreads[0])
            page_w = max(1, (width - (columns + 1) * gap - slots) // slots)
            page_h = max(1, round(page_w * aspect))
            grids.append(cls(spreads, columns, width, page_w, page_h, gap, label_h, font))
        return min(grids, key=lambda grid: abs(math.log(width / grid.height / LANDSCAPE)))

    @property
    def rows(self) -> int:
        return math.ceil(len(self.spreads) / self.columns)

    @property
    def height(self) -> int:
        return self.rows * (self.page_h + self.label_h + self.gap) + self.gap

    @property
    def spread_w(self) -> int:
        slots = len(self.spreads[0])
        return slots * self.page_w + slots - 1

    def thumbnail(self, page: pdfium.PdfPage) -> Image.Image:
        """Rendered at twice the size and scaled down: small text comes out smoother."""
        image = _render(page, 2 * self.page_w / page.get_width())
        return image.resize((self.page_w, self.page_h), Image.Resampling.LANCZOS)

    def draw(self, pages: list[Image.Image]) -> Image.Image:
        sheet = Image.new("RGB", (self.width, self.height), BACKGROUND)
        pen = ImageDraw.Draw(sheet)
        left = (self.width - self.columns * (self.spread_w + self.gap) + self.gap) // 2
        for index, spread in enumerate(self.spreads):
            row, column = divmod(index, self.columns)
            x = left + column * (self.spread_w + self.gap)
            y = self.gap + row * (self.page_h + self.label_h + self.gap)
            self._draw_spread(sheet, pen, spread, pages, x, y)
        return sheet

    def _draw_spread(self, sheet: Image.Image, pen: ImageDraw.ImageDraw, spread: Spread,
                     pages: list[Image.Image], x: int, y: int) -> None:
        places = [(x + i * (self.page_w + 1), n) for i, n in enumerate(spread) if n is not None]
        for px, _ in places:
            pen.rectangle((px + 2, y + 2, px + self.page_w + 1, y + self.page_h + 1), fill=SHADOW)
        for px, number in places:
            sheet.paste(pages[number - 1], (px, y))
            pen.text((px + self.page_w // 2, y + self.page_h + self.label_h // 2), str(number),
                     fill=INK, font=self.font, anchor="mm")
        if len(places) == 2:
            fold = x + self.page_w
            pen.line((fold, y, fold, y + self.page_h - 1), fill=HAIRLINE)


def _wanted(pdf: Path, pages: list[int] | None, count: int) -> list[int]:
    if pages is None:
        return list(range(1, count + 1))
    wrong = [n for n in pages if not 1 <= n <= count]
    if wrong:
        has = f"{count} page" + ("s" if count != 1 else "")
        raise PamphletError([Problem(pdf, None, f"the issue has {has}: there is no page {n}",
                                     f"pages are numbered from 1 to {count}") for n in wrong])
    return list(dict.fromkeys(pages))


@contextmanager
def _opened(pdf: Path) -> Iterator[pdfium.PdfDocument]:
    try:
        document = pdfium.PdfDocument(str(pdf))
    except (OSError, pdfium.PdfiumError) as error:
        raise PamphletError([Problem(pdf, None, f"cannot read this PDF ({error})",
                                     "build the issue first")]) from error
    try:
        yield document
    finally:
        document.close()


def _render(page: pdfium.PdfPage, scale: float) -> Image.Image:
    """An RGB copy, so it outlives the document (PDFium's bitmap may share memory with the image)."""
    return page.render(scale=scale).to_pil().convert("RGB")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as error:
        raise PamphletError([Problem(path, None, f"cannot write this file: {error.strerror or error}",
                                     "check that you may write to the folder and that the disk "
                                     "is not full")]) from error


def _remove_stale(folder: Path, written: list[Path]) -> None:
    for path in folder.glob("page-*.png"):
        if _PAGE_FILE.fullmatch(path.name) and path not in written:
            path.unlink(missing_ok=True)
