"""Stage 4: WeasyPrint lays out the composed HTML; only local files inside known folders load."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import mimetypes
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

import PIL
from PIL import Image, ImageChops, ImageCms, ImageOps

from . import shortcuts, speed
from .errors import PamphletError, Problem
from .finishing import finisher_for

MAX_RESOURCE_BYTES = 64 * 1024 * 1024

# WeasyPrint is imported when the first page is laid out, not with this module: `pamphlet
# --help` and the commands that lay out nothing start without it (about 0.4 s).


def __getattr__(name: str) -> Any:
    if name == "LocalFetcher":
        return _local_fetcher()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _local_fetcher() -> type:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LocalFetcher(URLFetcher):
        """Loads file: URLs inside the allowed folders and nothing else: no network at all.
        Pictures are handed over in the target's colours: greys, CMYK, or as they are."""

        def __init__(self, roots: list[Path], colour: str = "rgb",
                     profile: Path | None = None, cache: Path | None = None) -> None:
            super().__init__(allowed_protocols=["file"], allow_redirects=False)
            self.roots = [r.resolve() for r in roots]
            self.colour = colour
            self.profile = profile
            self.cache = cache

        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            return Fetched(*_fetch(self, url))

    class Fetched(URLFetcherResponse):
        # Without a path, WeasyPrint keeps the bytes given (a picture in the target's
        # colours) rather than reading the file again by its name.
        path = None

    return LocalFetcher


def _fetch(self: Any, url: str) -> tuple[str, bytes, dict[str, str]]:
    parts = urlsplit(url)
    path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
    if path is None or not any(path.is_relative_to(root) for root in self.roots):
        raise ValueError(f"pamphlet loads only files inside the publication folder: {url}")
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESOURCE_BYTES:
        raise ValueError(f"not a regular file of at most {MAX_RESOURCE_BYTES >> 20} MB: {url}")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = path.read_bytes()
    if mime in CONVERTIBLE and (self.colour == "grey" or (self.colour == "cmyk" and self.profile)):
        data, mime = _converted(data, mime, self.colour, self.profile, self.cache)
    return path.as_uri(), data, {"Content-Type": mime}


def _converted(data: bytes, mime: str, colour: str, profile: Path | None,
               cache: Path | None) -> tuple[bytes, str]:
    """The picture in greys or print colours; kept in `cache` (a folder), where converting a
    newspaper photo to CMYK (0.1-0.2 s) is done once, not on every build."""
    key = None
    if cache is not None:
        digest = hashlib.sha256(data)
        digest.update(f"{colour} {mime} {PICTURE_FORMAT} {PIL.__version__}".encode())
        if profile is not None:
            digest.update(profile.read_bytes())
        key = digest.hexdigest()
        for suffix, kind in ((".jpg", "image/jpeg"), (".png", "image/png")):
            try:
                found = (cache / (key + suffix)).read_bytes()
            except OSError:
                continue
            os.utime(cache / (key + suffix))  # recently used: kept when the cache is pruned
            return found, kind
    if colour == "grey":
        data, mime = in_greys(data, mime)
    else:
        assert profile is not None
        data, mime = in_print_colours(data, mime, profile)
    if key is not None and cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=cache, prefix=".tmp-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, cache / (key + (".jpg" if mime == "image/jpeg" else ".png")))
        except OSError:
            pass  # not kept: converted again next time
    return data, mime


PICTURE_FORMAT = 1
"""Goes into the cache key of converted pictures: raise it when the conversion changes."""
PICTURES_KEPT = 400


def prune_pictures(cache: Path, keep: int = PICTURES_KEPT) -> None:
    """Only the `keep` most recently used converted pictures stay in the cache."""
    try:
        kept = sorted(cache.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


CONVERTIBLE = {"image/jpeg", "image/png", "image/gif", "image/webp"}


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


def in_print_colours(data: bytes, mime: str, profile: Path) -> tuple[bytes, str]:
    """The picture as the print shop wants it: greys stay grey (black ink only); colour
    becomes a CMYK JPEG through the output profile (transparency flattened onto paper)."""
    with Image.open(io.BytesIO(data)) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("L", "LA", "1") or _is_neutral(image):
            return in_greys(data, mime)
        if image.mode != "CMYK":
            if image.mode != "RGB" or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
            image = ImageCms.applyTransform(image, _to_print_colours(str(profile)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        return out.getvalue(), "image/jpeg"


@functools.lru_cache(maxsize=4)
def _to_print_colours(profile: str) -> ImageCms.ImageCmsTransform:
    """sRGB to the output profile's CMYK (built once: reading the profile takes a while)."""
    return ImageCms.buildTransform(ImageCms.createProfile("sRGB"), profile, "RGB", "CMYK",
                                   renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)


def _is_neutral(image: Image.Image) -> bool:
    """A colour file whose pixels are all grey (a scanned black-and-white photo)."""
    if image.mode not in ("RGB", "RGBA", "P"):
        return False
    red, green, blue = image.convert("RGB").resize((64, 64)).split()
    return all(ImageChops.difference(a, b).getextrema()[1] <= 6
               for a, b in ((red, green), (green, blue)))


@dataclass
class Rendered:
    """What a render produced: plain data, so it can come back from a child process."""

    pdf: bytes
    page_count: int
    start_pages: dict[str, int]
    """The page (from 1) where each element with an id starts."""
    messages: list[str] = field(default_factory=list)
    """What WeasyPrint reported (things it could not load or lay out), in plain words."""
    bookmark_levels: list[int] = field(default_factory=list)
    """The level of each PDF outline entry, in order (sections.py rebuilds the outline)."""
    parts: list[Part] = field(default_factory=list)
    """The sections the PDF was put together from, in order (none for one pass)."""


@dataclass
class Part:
    """One section's own PDF within a sectioned render: its pages `skip` to `skip + pages`
    are the PDF's next pages. `facts_file` names where the checks may keep what they read of
    them (beside the section in the cache), or is None."""

    pdf: bytes | Path
    """The section's PDF, or the file in the cache that holds it (see `pdf_bytes`)."""
    skip: int
    pages: int
    facts_file: Path | None = None


def pdf_bytes(source: bytes | Path) -> bytes:
    """A section's PDF: sections kept in the cache are read from there when needed, so that
    a long issue's sections are not all in memory at once."""
    with pdf_file(source) as pdf:
        return pdf.read()


def pdf_file(source: bytes | Path) -> BinaryIO:
    """A section's PDF to read from (and close)."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    try:
        return source.open("rb")
    except OSError as error:
        raise PamphletError([Problem(source, None, "a laid-out section kept in the cache could "
                                     f"not be read back ({error.strerror or error})",
                                     "build again: the section will be laid out anew")]) from error


@dataclass(frozen=True)
class RenderOptions:
    """What a print target asks of WeasyPrint (see targets.py); plain data for the child."""

    colour: str = "rgb"
    """Pictures handed over as they are ('rgb'), in greys ('grey') or in CMYK ('cmyk')."""
    profile: Path | None = None
    """The output ICC profile that CMYK pictures are converted to."""
    pdf_variant: str | None = None
    max_ppi: int | None = None
    jpeg_quality: int | None = None
    crop_marks: bool = False
    output_condition: str | None = None
    """The registered printing condition of the output profile (e.g. FOGRA39)."""
    attachments: tuple[tuple[Path, str], ...] = ()
    """Files attached to the PDF, with their descriptions."""
    picture_cache: Path | None = None
    """Where pictures converted to greys or CMYK are kept between builds."""


def render(html: str, base: Path, roots: list[Path],
           options: RenderOptions = RenderOptions()) -> Rendered:
    """Lay out `html` and write the PDF; relative URLs are read from `base`, files only from
    `roots`."""
    speed.setup()  # done already in a worker of the layout server
    import weasyprint

    base_url = base.resolve().as_uri() + "/"
    fetcher = _local_fetcher()(roots, options.colour, options.profile, options.picture_cache)
    # Only a target that makes pictures smaller has WeasyPrint encode them again; otherwise a
    # JPEG goes into the PDF as it is (re-encoding would cost quality: Pillow's default is 75).
    weasy_options: dict[str, object] = {
        "optimize_images": bool(options.max_ppi or options.jpeg_quality)}
    if options.pdf_variant:
        weasy_options["pdf_variant"] = options.pdf_variant
    if options.max_ppi:
        weasy_options["dpi"] = options.max_ppi
    if options.jpeg_quality:
        weasy_options["jpeg_quality"] = options.jpeg_quality
    if options.attachments:
        weasy_options["attachments"] = [
            weasyprint.Attachment(filename=str(path), url_fetcher=fetcher, name=path.name,
                                  description=description, relationship="Source")
            for path, description in options.attachments]
    with _captured_warnings() as caught:
        document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
            font_config=shortcuts.font_config_for(html, base_url), **weasy_options)
        if caught.out_of_memory:
            raise MemoryError("a picture did not fit in memory")
        pdf = document.write_pdf(finisher=finisher_for(options), **weasy_options) or b""
    messages = caught.messages
    starts: dict[str, int] = {}
    for number, page in enumerate(document.pages, start=1):
        for anchor in page.anchors:
            starts.setdefault(anchor, number)
    levels = [bookmark[0] for page in document.pages for bookmark in page.bookmarks]
    return Rendered(pdf, len(document.pages), starts, messages, levels)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.out_of_memory = False
        """WeasyPrint logged an error caused by running out of memory (a picture too big to
        decode under the limit: it leaves the picture out and goes on)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))
        causes = [arg for arg in record.args if isinstance(arg, BaseException)] \
            if isinstance(record.args, tuple) else []
        self.out_of_memory |= any(isinstance(cause, MemoryError) or
                                  isinstance(cause.__cause__, MemoryError) for cause in causes)


@contextmanager
def _captured_warnings() -> Iterator[_ListHandler]:
    logger = logging.getLogger("weasyprint")
    handler = _ListHandler()
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous
