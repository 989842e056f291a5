"""The fonts a build may use: the bundled ones, overridden or added to by the publication's."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont

from .resources import builtin_dir

FONT_SUFFIXES = {".ttf", ".otf"}


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
    for folder in font_dirs(root):
        if not folder.is_dir():
            continue
        inside = folder.resolve()
        for path in sorted(folder.rglob("*")):
            if (path.suffix.lower() in FONT_SUFFIXES and path.is_file()
                    and path.resolve().is_relative_to(inside)):
                face = read_face(path, path.stat().st_mtime_ns)
                if face is not None:
                    faces[face.key] = face
    return sorted(faces.values(), key=lambda f: f.key)


@lru_cache(maxsize=256)
def read_face(path: Path, mtime_ns: int) -> FontFace | None:
    """Family, weight and style as the font's own tables give them (None if unreadable)."""
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
