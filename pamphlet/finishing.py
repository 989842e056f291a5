"""Last touches inside the PDF, just before WeasyPrint writes it: the print shop's crop marks
(drawn outside the bleed, where WeasyPrint's own `marks` would sit inside it) and the output
intent's registered printing condition."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pydyf

if TYPE_CHECKING:
    from .render import RenderOptions

MM = 72 / 25.4
SLUG_MM = 12.0
"""Paper beyond the trim on each side of a print-shop page, where the crop marks go."""
MARK_OFFSET_MM = 5.0
"""Crop marks start this far from the trim: clear of the 3 mm bleed."""
MARK_LENGTH_MM = 6.0
MARK_WEIGHT_PT = 0.25

Finisher = Callable[[object, pydyf.PDF], None]


def finisher_for(options: RenderOptions) -> Finisher | None:
    profile = options.profile if (options.pdf_variant or "").startswith("pdf/x") else None
    if not (options.crop_marks or options.output_condition or profile or options.attachments):
        return None

    def finish(document: object, pdf: pydyf.PDF) -> None:
        if options.crop_marks:
            add_crop_marks(pdf)
        if options.output_condition:
            name_output_condition(pdf, options.output_condition)
        if profile is not None:
            embed_profile_as_is(pdf, profile.read_bytes())
        if options.attachments:
            list_attachments_once(pdf)

    return finish


def add_crop_marks(pdf: pydyf.PDF) -> None:
    """Widen each page by the slug, clip what WeasyPrint drew to the bleed box, and draw
    the eight crop marks in black ink (K only) in the slug."""
    for number in pdf.pages["Kids"][::3]:
        page = pdf.objects[number]
        x0, y0, x1, y1 = (float(v) for v in page["TrimBox"])
        bx0, by0, bx1, by1 = (float(v) for v in page["BleedBox"])
        slug = SLUG_MM * MM
        page["MediaBox"] = pydyf.Array([x0 - slug, y0 - slug, x1 + slug, y1 + slug])
        clip = pydyf.Stream([f"q {bx0:.3f} {by0:.3f} {bx1 - bx0:.3f} {by1 - by0:.3f} re W n"])
        marks = pydyf.Stream(["Q", *crop_mark_operators(x0, y0, x1, y1)])
        pdf.add_object(clip)
        pdf.add_object(marks)
        page["Contents"] = pydyf.Array([clip.reference, page["Contents"], marks.reference])


def crop_mark_operators(x0: float, y0: float, x1: float, y1: float) -> list[str]:
    near, far = MARK_OFFSET_MM * MM, (MARK_OFFSET_MM + MARK_LENGTH_MM) * MM
    lines = []
    for x, outward in ((x0, -1), (x1, 1)):
        for y, upward in ((y0, -1), (y1, 1)):
            lines.append((x + outward * near, y, x + outward * far, y))
            lines.append((x, y + upward * near, x, y + upward * far))
    ops = ["q", f"{MARK_WEIGHT_PT} w", "0 0 0 1 K"]
    ops += [f"{ax:.3f} {ay:.3f} m {bx:.3f} {by:.3f} l S" for ax, ay, bx, by in lines]
    return [*ops, "Q"]


def name_output_condition(pdf: pydyf.PDF, condition: str) -> None:
    """WeasyPrint names the output intent after the profile's description; a print shop's
    preflight looks for the registered condition."""
    for intent in pdf.catalog.get("OutputIntents", []):
        intent["OutputConditionIdentifier"] = pydyf.String(condition)
        intent["RegistryName"] = pydyf.String("http://www.color.org")


def embed_profile_as_is(pdf: pydyf.PDF, data: bytes) -> None:
    """WeasyPrint re-saves the output profile through Pillow, which writes a shared tag three
    times (500 KB for our 247 KB profile): embed the file's own bytes instead."""
    for intent in pdf.catalog.get("OutputIntents", []):
        reference = intent.get("DestOutputProfile")
        if reference:
            pdf.objects[int(reference.split()[0])].stream = [data]


def list_attachments_once(pdf: pydyf.PDF) -> None:
    """WeasyPrint 70 lists each attached file twice in the catalog's /AF."""
    if "AF" in pdf.catalog:
        pdf.catalog["AF"] = pydyf.Array(dict.fromkeys(pdf.catalog["AF"]))
