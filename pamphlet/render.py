"""Stage 4: WeasyPrint lays out the composed HTML; only local files inside known folders load."""

from __future__ import annotations

import io
import logging
import mimetypes
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import weasyprint
from PIL import Image, ImageOps
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

MAX_RESOURCE_BYTES = 64 * 1024 * 1024


class LocalFetcher(URLFetcher):
    """Loads file: URLs inside the allowed folders and nothing else: no network at all.
    For a black-only layout, pictures are handed over in greys."""

    def __init__(self, roots: list[Path], greyscale: bool = False) -> None:
        super().__init__(allowed_protocols=["file"], allow_redirects=False)
        self.roots = [r.resolve() for r in roots]
        self.greyscale = greyscale

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
        if path is None or not any(path.is_relative_to(root) for root in self.roots):
            raise ValueError(f"pamphlet loads only files inside the publication folder: {url}")
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESOURCE_BYTES:
            raise ValueError(f"not a regular file of at most {MAX_RESOURCE_BYTES >> 20} MB: {url}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = path.read_bytes()
        if self.greyscale and mime in GREYABLE:
            data, mime = in_greys(data, mime)
        return URLFetcherResponse(path.as_uri(), data, {"Content-Type": mime})


GREYABLE = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def in_greys(data: bytes, mime: str) -> tuple[bytes, str]:
    """The picture in greys: JPEG stays JPEG, anything else becomes PNG (keeping transparency)."""
    with Image.open(io.BytesIO(data)) as image:
        image = ImageOps.exif_transpose(image)
        out = io.BytesIO()
        if mime == "image/jpeg":
            image.convert("L").save(out, "JPEG", quality=88)
            return out.getvalue(), mime
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        image.convert("LA" if has_alpha else "L").save(out, "PNG")
        return out.getvalue(), "image/png"


@dataclass
class Rendered:
    """What a render produced: plain data, so it can come back from a child process."""

    pdf: bytes
    page_count: int
    start_pages: dict[str, int]
    """The page (from 1) where each element with an id starts."""
    messages: list[str] = field(default_factory=list)
    """What WeasyPrint reported (things it could not load or lay out), in plain words."""


def render(html: str, base: Path, roots: list[Path], greyscale: bool = False) -> Rendered:
    """Lay out `html` and write the PDF; relative URLs are read from `base`, files only from
    `roots`; `greyscale` hands every picture over in greys."""
    fetcher = LocalFetcher(roots, greyscale)
    with _captured_warnings() as messages:
        document = weasyprint.HTML(
            string=html, base_url=base.resolve().as_uri() + "/", url_fetcher=fetcher,
        ).render(font_config=FontConfiguration())
        pdf = document.write_pdf(optimize_images=True) or b""
    starts: dict[str, int] = {}
    for number, page in enumerate(document.pages, start=1):
        for anchor in page.anchors:
            starts.setdefault(anchor, number)
    return Rendered(pdf, len(document.pages), starts, messages)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


@contextmanager
def _captured_warnings() -> Iterator[list[str]]:
    logger = logging.getLogger("weasyprint")
    handler = _ListHandler()
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous
