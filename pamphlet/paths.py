"""Every file an editor names (articles, pictures) is resolved here and kept inside its root."""

from __future__ import annotations

import errno
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]+:", re.IGNORECASE)
_DRIVE = re.compile(r"^[a-z]:[\\/]", re.IGNORECASE)
_RESOURCE = re.compile(r'(?:src|href)="([^"#][^"]*)"|url\(\s*["\']?([^"\')]+)["\']?\s*\)')


class Refused(Exception):
    """A reference that cannot be used: `message` says why, `hint` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def resolve_inside(reference: str, base: Path, root: Path, max_bytes: int) -> Path:
    """The regular file `reference` names, relative to `base`, which must lie inside `root`
    once symlinks are followed. Raises Refused with a plain reason otherwise."""
    if "\0" in reference:
        raise Refused(f"'{reference!r}' contains a NUL character")
    if _SCHEME.match(reference) and not _DRIVE.match(reference):
        raise Refused(f"'{reference}' is a web address, not a file",
                      "save the file in the publication folder and give its name, or list its "
                      "host under remote_images in the manifest")
    if reference.startswith(("/", "\\", "~")) or _DRIVE.match(reference):
        raise Refused(f"'{reference}' is an absolute path",
                      "paths must be relative to the file that names them")
    path = base / reference
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as error:
        raise Refused(f"cannot follow '{reference}': {error}") from None
    if not resolved.is_relative_to(root.resolve()):
        raise Refused(f"'{reference}' is outside the publication folder",
                      f"copy it into {root}")
    try:
        info = resolved.stat()
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise Refused(f"the path '{reference[:60]}…' is too long") from None
        raise Refused(f"not found: {reference}", _did_you_mean(path) or
                      "check the spelling, or create the file") from None
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"'{reference}' is not a regular file", "give the path of a file")
    if info.st_size > max_bytes:
        raise Refused(f"'{reference}' is {info.st_size // 1024 // 1024} MB, more than pamphlet "
                      f"reads ({max_bytes // 1024 // 1024} MB)", "make it smaller")
    return resolved


def _did_you_mean(path: Path) -> str:
    """A file in the same folder whose name differs only in case."""
    try:
        for candidate in path.parent.iterdir():
            if candidate.name.lower() == path.name.lower():
                return f"did you mean '{candidate.name}'?"
    except OSError:
        pass
    return ""


def referenced_files(text: str, base: str, seen: set[str] | None = None
                     ) -> Iterator[tuple[str, Path]]:
    """The local files (`file:` URLs, relative to `base`) that `text`, HTML or a stylesheet,
    refers to, and then those that the stylesheets among them refer to in turn."""
    seen = set() if seen is None else seen
    for match in _RESOURCE.finditer(text):
        url = urljoin(base, (match[1] or match[2]).strip())
        parts = urlsplit(url)
        if parts.scheme != "file" or url in seen:
            continue
        seen.add(url)
        path = Path(unquote(parts.path))
        yield url, path
        if path.suffix == ".css" and path.is_file():
            try:
                stylesheet = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            yield from referenced_files(stylesheet, url, seen)
