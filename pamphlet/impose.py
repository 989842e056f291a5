"""Imposition: pages of a built PDF placed on printer's sheets (A4 landscape, two up).

`booklet`: saddle-stitch order for short-edge duplex; fold the stack and staple. `2up`: two
copies of each page side by side, to print duplex and cut in half. `proof`: each page alone,
scaled to fit an A4 or A3 sheet, to proof a tabloid on an office printer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PamphletError, Problem

if TYPE_CHECKING:
    import pypdf

MM = 72 / 25.4
A4_LANDSCAPE = (841.89, 595.28)
PAPER = {"a4": (595.28, 841.89), "a3": (841.89, 1190.55)}
Side = tuple[int | None, ...]
"""The page numbers (from 1) side by side on one side of a sheet; None is a blank."""


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


def proof_order(pages: int) -> list[Side]:
    return [(page,) for page in range(1, pages + 1)]


def creep_shifts(sides: list[Side], creep_mm: float, signature: int | None = None) -> list[float]:
    """How far (pt) each side's pages move toward the spine, so that the inner sheets of a
    folded booklet, which stick out further at the fore-edge and lose more to the trim, keep
    their margins: nothing for the outer sheet, `creep_mm` for the innermost of a signature."""
    sheets = len(sides) // 2
    per_signature = (signature // 4) if signature else sheets
    shifts = []
    for index in range(len(sides)):
        sheet = (index // 2) % max(1, per_signature)
        inner = sheet / (per_signature - 1) if per_signature > 1 else 0
        shifts.append(creep_mm * MM * inner)
    return shifts


def impose(pdf: Path, out: Path, sides: list[Side], sheet: tuple[float, float] = A4_LANDSCAPE,
           shifts: list[float] | None = None) -> bytes:
    """The PDF of `sides`: each sheet split into as many equal slots as a side has pages,
    each page scaled to fit its slot; `shifts` move a side's pages toward the middle."""
    import pypdf  # here, not at the top: the command starts faster without it

    try:
        reader = pypdf.PdfReader(pdf)
    except (OSError, pypdf.errors.PyPdfError) as error:
        raise PamphletError([Problem(pdf, None, f"cannot read this PDF ({error})",
                                     "build the issue first")]) from None
    writer = pypdf.PdfWriter()
    width, height = sheet
    for index, side in enumerate(sides):
        paper = writer.add_blank_page(width, height)
        shift = shifts[index] if shifts else 0.0
        for slot, number in enumerate(side):
            if number is not None:
                inward = shift if slot == 0 else -shift
                _place(paper, reader.pages[number - 1], slot, width / len(side), height, inward)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _place(sheet: pypdf.PageObject, page: pypdf.PageObject, slot: int, half: float,
           height: float, inward: float = 0.0) -> None:
    from pypdf import Transformation

    box = page.trimbox
    w, h = float(box.width), float(box.height)
    scale = min(half / w, height / h, 1.0)   # shrink to fit, never enlarge
    x = slot * half + (half - w * scale) / 2 - float(box.left) * scale + inward
    y = (height - h * scale) / 2 - float(box.bottom) * scale
    sheet.merge_transformed_page(page, Transformation().scale(scale).translate(x, y))
