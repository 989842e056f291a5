"""Pictures are checked by what they contain, not by their name, before anything lays them out."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image

from .paths import Refused

RASTER_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
MAX_PIXELS = 40_000_000
"""About 7,700 x 5,200: more than any newspaper photo needs, far below a decompression bomb."""

MAX_BYTES = 40 * 1024 * 1024
_SVG = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]", re.S)


def check_picture(path: Path) -> str:
    """The picture's format (JPEG, PNG, GIF, WEBP or SVG); raises Refused for anything else,
    for a damaged file, or for one with more than MAX_PIXELS pixels."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if _SVG.match(head):
        return "SVG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = image.format or ""
                width, height = image.size
                if kind in RASTER_FORMATS and width * height <= MAX_PIXELS:
                    image.verify()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise Refused(f"'{path.name}' has too many pixels to be a safe picture",
                      "save it at a smaller size") from None
    except Exception:  # Pillow raises many kinds of error for a damaged or foreign file
        raise Refused(f"'{path.name}' is damaged or is not a picture",
                      "open it in an image editor and save it again as JPEG or PNG") from None
    if kind not in RASTER_FORMATS:
        raise Refused(f"'{path.name}' is a {kind or 'file of unknown kind'} picture, which pamphlet "
                      "does not print", "save it as JPEG or PNG")
    if width * height > MAX_PIXELS:
        raise Refused(f"'{path.name}' is {width} x {height} pixels, more than pamphlet takes "
                      f"({MAX_PIXELS // 1_000_000} million)", "save it at a smaller size")
    return kind
