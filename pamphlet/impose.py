"""Imposition: pages of a built PDF placed on printer's sheets (A4 landscape, two up).

`booklet`: saddle-stitch order for short-edge duplex; fold the stack and staple. `2up`: two
copies of each page side by side, to print duplex and cut in half."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
from pypdf import Transformation

from .errors import PamphletError, Problem

A4_LANDSCAPE = (841.89, 595.28)
Side = tuple[int | None, int | None]
"""(left, right) page numbers from 1; None is a blank."""


def booklet_order(pages: int, signature: int | None = None) -> list[Side]:
    """Sheet sides in printing order: for each sheet its front, then its back. Blanks pad
    each signature to a multiple of 4, before the last page, so the back cover stays last."""
    if signature is not None and (signature < 4 or signature % 4):
        raise ValueError("a signature is a multiple of 4 pages")
    numbers: list[int | None] = list(range(1, pages + 1))
    short = -pages % 4
    if short and pages > 1:
        numbers[-1:-1] = [None] * short
    elif short:
        numbers += [None] * short
    size = signature or len(numbers)
    sides: list[Side] = []
    for start in range(0, len(numbers), size):
        group = numbers[start:start + size]
        group += [None] * (-len(group) % 4)
        n = len(group)
        for sheet in range(n // 4):
            sides.append((group[n - 1 - 2 * sheet], group[2 * sheet]))
            sides.append((group[1 + 2 * sheet], group[n - 2 - 2 * sheet]))
    return sides


def two_up_order(pages: int) -> list[Side]:
    """Each page twice on one side of a sheet: print duplex, cut, stack."""
    return [(page, page) for page in range(1, pages + 1)]


def impose(pdf: Path, out: Path, sides: list[Side]) -> bytes:
    """The PDF of `sides`, each an A4 landscape sheet with two pages scaled to fit a half."""
    try:
        reader = pypdf.PdfReader(pdf)
    except (OSError, pypdf.errors.PyPdfError) as error:
        raise PamphletError([Problem(pdf, None, f"cannot read this PDF ({error})",
                                     "build the issue first")]) from None
    writer = pypdf.PdfWriter()
    width, height = A4_LANDSCAPE
    for left, right in sides:
        sheet = writer.add_blank_page(width, height)
        for slot, number in enumerate((left, right)):
            if number is not None:
                _place(sheet, reader.pages[number - 1], slot, width / 2, height)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _place(sheet: pypdf.PageObject, page: pypdf.PageObject, slot: int, half: float,
           height: float) -> None:
    box = page.trimbox
    w, h = float(box.width), float(box.height)
    scale = min(half / w, height / h)
    x = slot * half + (half - w * scale) / 2 - float(box.left) * scale
    y = (height - h * scale) / 2 - float(box.bottom) * scale
    sheet.merge_transformed_page(page, Transformation().scale(scale).translate(x, y))
