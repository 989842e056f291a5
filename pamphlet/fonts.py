"""The fonts a build may use: the bundled ones, overridden or added to by the publication's.

Reading what each font file says of itself with fontTools took a build 0.1 s for the 22
bundled faces. For the bundled fonts it is in an index beside them (`BUNDLED_INDEX`); for a
publication's own, it is kept in its build/.cache, named by each file's path, size and time."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from .output import write_atomically
from .resources import builtin_dir

FONT_SUFFIXES = {".ttf", ".otf"}
FACES_FILE = Path("build") / ".cache" / "fonts.json"
BUNDLED_INDEX = "faces.json"
"""In the bundled fonts' folder: `index_of` that folder, written by `fonts/make_static.py`
(and checked against the files by a test)."""


@dataclass(frozen=True)
class FontFace:
    family: str
    weight: int
    italic: bool
    postscript_name: str
    path: Path

    @property
    def key(self) -> tuple[str, int, bool]:
        return (self.family.lower(), self.weight, self.italic)


def font_dirs(root: Path) -> list[Path]:
    """Searched in order; a later folder's face replaces an earlier one with the same style."""
    return [builtin_dir("fonts"), root / "fonts"]


def find_fonts(root: Path) -> list[FontFace]:
    faces: dict[tuple[str, int, bool], FontFace] = {}
    kept = _kept_faces(root)
    seen: dict[str, list[Any]] = {}
    for path in _font_files(root):
        face, seen[str(path)] = _face_of(path, kept.get(str(path)))
        if face is not None:
            faces[face.key] = face
    if seen != kept:
        _keep_faces(root, seen)
    return sorted(faces.values(), key=lambda f: f.key)


def _font_files(root: Path) -> Iterator[Path]:
    for folder in font_dirs(root):
        yield from _fonts_in(folder)


def _fonts_in(folder: Path) -> Iterator[Path]:
    """The font files in `folder` and below it (none that a link leads out of it)."""
    if not folder.is_dir():
        return
    inside = folder.resolve()
    for path in sorted(folder.rglob("*")):
        if (path.suffix.lower() in FONT_SUFFIXES and path.is_file()
                and path.resolve().is_relative_to(inside)):
            yield path


def _face_of(path: Path, kept: Any) -> tuple[FontFace | None, list[Any]]:
    """The face in a font file, from the bundled index or from what was kept of the file if
    it is unchanged, and what to keep: the file's size and time, then `_described(face)`."""
    found = path.stat()
    stamp = [found.st_size, found.st_mtime_ns]
    indexed = _bundled_index().get(str(path))
    if isinstance(indexed, list) and len(indexed) == 5 and indexed[0] == found.st_size:
        return FontFace(*indexed[1:], path), stamp + indexed[1:]
    if isinstance(kept, list) and kept[:2] == stamp and len(kept) in (2, 6):
        return (FontFace(*kept[2:], path) if kept[2:] else None), kept
    face = read_face(path, found.st_mtime_ns)
    return face, stamp + _described(face)


def _described(face: FontFace | None) -> list[Any]:
    """A face's family, weight, italic and PostScript name (nothing for a file that is not
    a font)."""
    return list(astuple(face))[:4] if face else []


def index_of(folder: Path) -> dict[str, list[Any]]:
    """Each font file in `folder`, by its path there: its size, then `_described(face)`."""
    return {path.relative_to(folder).as_posix():
            [path.stat().st_size, *_described(read_face(path, path.stat().st_mtime_ns))]
            for path in _fonts_in(folder)}


@cache
def _bundled_index() -> dict[str, list[Any]]:
    folder = builtin_dir("fonts")
    try:
        index = json.loads((folder / BUNDLED_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(folder / name): entry for name, entry in index.items()} \
        if isinstance(index, dict) else {}


def _kept_faces(root: Path) -> dict[str, list[Any]]:
    try:
        kept = json.loads((root / FACES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def _keep_faces(root: Path, faces: dict[str, list[Any]]) -> None:
    """Only where a build has made its cache folder: looking for fonts makes no folders."""
    if (root / FACES_FILE).parent.is_dir():
        with contextlib.suppress(OSError):
            write_atomically(root / FACES_FILE, json.dumps(faces).encode())


@lru_cache(maxsize=256)
def read_face(path: Path, mtime_ns: int) -> FontFace | None:
    """Family, weight and style as the font's own tables give them (None if unreadable)."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, lazy=True) as font:
            names = font["name"]
            family = names.getDebugName(16) or names.getDebugName(1)
            postscript = names.getDebugName(6) or path.stem
            weight = font["OS/2"].usWeightClass
            italic = bool(font["OS/2"].fsSelection & 1) or bool(font["head"].macStyle & 2)
    except Exception:  # a broken font file is skipped, not fatal: the font check will notice
        return None
    if not family:
        return None
    return FontFace(family, weight, italic, postscript, path)


def font_face_css(faces: list[FontFace]) -> str:
    rules = []
    for face in faces:
        rules.append(
            "@font-face { "
            f'font-family: "{face.family}"; font-weight: {face.weight}; '
            f"font-style: {'italic' if face.italic else 'normal'}; "
            f'src: url("{face.path.as_uri()}"); }}')
    return "\n".join(rules)
