"""Print targets: what each place the issue goes to needs from the same pages.

One issue becomes up to four PDFs, each named for its target (build/NAME.TARGET.pdf):
the office printer, the print shop, email to branches, and the archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import PamphletError, Problem
from .layouts import SETTINGS_FILE, Layout
from .resources import PACKAGE_DIR, builtin_dir

MM = 72 / 25.4


@dataclass(frozen=True)
class Target:
    name: str
    purpose: str
    colour: str
    """How colours and pictures are handed over: 'grey' (black ink only), 'cmyk' or 'rgb'."""
    pdf_variant: str | None = None
    bleed_mm: float = 0
    crop_marks: bool = False
    safe_edge_mm: float = 0
    """Nothing may be printed this close to the sheet edge (0: no such rule)."""
    min_ppi: int = 0
    """Pictures below this resolution at their printed size are too coarse."""
    max_ppi: int | None = None
    """Pictures are downsampled to this resolution at their printed size."""
    jpeg_quality: int | None = None
    attach_sources: bool = False
    size_budget: bool = False
    """Warn when the file is larger than the layout's email budget."""


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("office", "an office laser printer or photocopier: black and greys only, "
           "nothing within 5 mm of the edge", colour="grey", safe_edge_mm=5, min_ppi=150,
           max_ppi=200),
    Target("printshop", "a commercial printer: PDF/X-4, CMYK and grey only, 3 mm bleed, "
           "crop marks", colour="cmyk", pdf_variant="pdf/x-4", bleed_mm=3, crop_marks=True,
           min_ppi=300),
    Target("email", "sending to branches and readers: small, tagged, links work",
           colour="rgb", pdf_variant="pdf/ua-1", min_ppi=100, max_ppi=150, jpeg_quality=80,
           size_budget=True),
    Target("archive", "keeping: PDF/A-3b with the manifest and articles attached",
           colour="rgb", pdf_variant="pdf/a-3b", attach_sources=True),
)}

PROFILES = PACKAGE_DIR / "profiles"
DEFAULT_PROFILE = "FOGRA39-pamphlet.icc"
PROFILE_CONDITION = "FOGRA39"
"""The characterised printing condition the shipped profile was made from."""


def default_target(layout: Layout) -> str:
    return str(layout.settings.get("target", "office"))


def min_ppi(target: Target, layout: Layout) -> int:
    """A layout may ask less of print-shop pictures (newsprint needs 200 ppi, not 300)."""
    if target.name == "printshop":
        return int(layout.settings.get("press_ppi", target.min_ppi))
    return target.min_ppi


def profile_path(layout: Layout) -> Path:
    """The output ICC profile for the print shop: the layout's own (a CMYK profile in its
    folder, or in a layout it extends), or the shipped one."""
    name = layout.settings.get("icc_profile")
    if not name:
        return PROFILES / DEFAULT_PROFILE
    settings = layout.folder / SETTINGS_FILE
    for folder in layout.chain:
        candidate = folder / str(name)
        if candidate.is_file() and candidate.resolve().is_relative_to(folder.resolve()):
            if _colour_space(candidate) != "CMYK":
                raise PamphletError([Problem(settings, None, f"icc_profile: {name} is not a CMYK "
                                             "output profile", "ask the print shop for the "
                                             "profile of their press and paper (an .icc file)")])
            return candidate
    raise PamphletError([Problem(settings, None, f"icc_profile: {name} is not a file in the "
                                 "layout's folder", "put the print shop's .icc file next to "
                                 f"{SETTINGS_FILE}")])


def _colour_space(profile: Path) -> str:
    from PIL import ImageCms

    try:
        return str(ImageCms.getOpenProfile(str(profile)).profile.xcolor_space).strip()
    except (OSError, ImageCms.PyCMSError):
        return "unreadable"


def target_stylesheets(target: Target, layout: Layout) -> list[Path]:
    """The target's own CSS (layouts/targets/NAME.css), then each layout's target-NAME.css,
    base layout first, so that the most specific one wins."""
    sheets = [builtin_dir("layouts") / "targets" / f"{target.name}.css"]
    sheets += [folder / f"target-{target.name}.css" for folder in reversed(layout.chain)]
    return [sheet for sheet in sheets if sheet.is_file()]


def colour_profile_css(target: Target, layout: Layout) -> str:
    """The print shop's output profile, declared so that WeasyPrint writes it as the PDF/X
    output intent."""
    if target.colour != "cmyk":
        return ""
    uri = profile_path(layout).resolve().as_uri()
    return f"@color-profile device-cmyk {{ src: url({uri}); components: cyan, magenta, yellow, black; }}"
