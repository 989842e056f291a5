"""Rebuild the bundled fonts in this folder from the fontpkg wheels on PyPI.

    python fonts/make_static.py [WHEEL_DIR]

Wheels missing from WHEEL_DIR (default /tmp/fp) are fetched with
``pip download --no-deps``; every wheel must match the pinned SHA-256.
Variable fonts are pinned to static instances with fontTools' instancer
(static=True drops fvar/gvar/avar/HVAR; STAT is deleted here), then the name
table, OS/2 usWeightClass/fsSelection and head.macStyle are rewritten.
PT Serif ships static files already and is copied byte for byte.

A modified font may not use a Reserved Font Name (OFL-1.1 condition 3):
Source Serif 4 reserves "Source", so its instances are named "Pamphlet Serif".
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from fontTools.ttLib import TTFont
from fontTools.varLib.instancer import instantiateVariableFont

HERE = Path(__file__).resolve().parent
OFL_MARK = "SIL OPEN FONT LICENSE Version 1.1 - 26 February 2007"
RENAMED_IDS = (1, 2, 3, 4, 6, 16, 17, 21, 22, 25)
STYLE_NAMES = {
    400: "Regular",
    500: "Medium",
    600: "SemiBold",
    700: "Bold",
    800: "ExtraBold",
}


@dataclass(frozen=True)
class Face:
    source: str  # file inside the wheel's files/ folder
    weight: int
    italic: bool = False


@dataclass(frozen=True)
class Family:
    folder: str
    wheel: str  # exact wheel file name on PyPI
    sha256: str
    name: str  # family name written into the instances
    faces: tuple[Face, ...]
    pins: dict[str, float] = field(default_factory=dict)  # extra axis pins
    static: bool = False  # ship the wheel's static files unchanged

    @property
    def package(self) -> str:
        return self.wheel.split("-")[0]

    @property
    def requirement(self) -> str:
        name, version = self.wheel.split("-")[:2]
        return f"{name.replace('_', '-')}=={version}"


def faces(source: str, italic_source: str, *styles: tuple[int, bool]) -> tuple[Face, ...]:
    return tuple(Face(italic_source if it else source, w, it) for w, it in styles)


FAMILIES = (
    Family(
        "oswald",
        "fontpkg_oswald-4.103-py3-none-any.whl",
        "8289985a11990f95c4cedf88fc2d613274de4b8083d84b28d0fecc8049109186",
        "Oswald",
        faces("Oswald[wght].ttf", "", (500, False), (600, False), (700, False)),
    ),
    Family(
        "roboto-condensed",
        "fontpkg_roboto_condensed-3.8-py3-none-any.whl",
        "b56f599e211bdeab356cf18e4b0af4e4665a18d6586455a3650a374f03ae745c",
        "Roboto Condensed",
        faces(
            "RobotoCondensed[wght].ttf",
            "RobotoCondensed-Italic[wght].ttf",
            (400, False),
            (400, True),
            (700, False),
            (700, True),
        ),
    ),
    Family(
        "libre-franklin",
        "fontpkg_libre_franklin-3.0-py3-none-any.whl",
        "8aa29dd56c06fa12a789cac243201e5d04bbb9fe494819064f270b779d0aa575",
        "Libre Franklin",
        faces(
            "LibreFranklin[wght].ttf",
            "LibreFranklin-Italic[wght].ttf",
            (400, False),
            (400, True),
            (600, False),
            (600, True),
            (700, False),
            (800, False),
        ),
    ),
    Family(
        "pt-serif",
        "fontpkg_pt_serif-1.0-py3-none-any.whl",
        "f3980ea3ffb56e34d65d8e425ffedd012dbd8313dcff9780fc7476712d98b2af",
        "PT Serif",
        faces(
            "PT_Serif-Web-{}.ttf",  # {} is the style, e.g. BoldItalic
            "PT_Serif-Web-{}.ttf",
            (400, False),
            (400, True),
            (700, False),
            (700, True),
        ),
        static=True,
    ),
    Family(
        "source-serif-4",
        "fontpkg_source_serif_4-4.4-py3-none-any.whl",
        "6c33ac5d27b0396b0ed228e400d9c7ee4445c359ce21b3d8d9b9723e8c5c49a7",
        "Pamphlet Serif",
        faces(
            "SourceSerif4[opsz,wght].ttf",
            "SourceSerif4-Italic[opsz,wght].ttf",
            (400, False),
            (400, True),
            (600, False),
            (700, False),
            (700, True),
        ),
        pins={"opsz": 11.0},
    ),
)


def style_name(weight: int, italic: bool) -> str:
    base = STYLE_NAMES[weight]
    if italic:
        return "Italic" if base == "Regular" else f"{base} Italic"
    return base


def fetch(family: Family, wheel_dir: Path) -> zipfile.ZipFile:
    path = wheel_dir / family.wheel
    if not path.exists():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-d",
            str(wheel_dir),
        ]
        subprocess.run([*cmd, family.requirement], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != family.sha256:
        raise SystemExit(f"{path}: sha256 {digest} is not the pinned {family.sha256}")
    return zipfile.ZipFile(path)


def reserved_names(copyright_text: str) -> list[str]:
    match = re.search(r"Reserved Font Names?(.*)", copyright_text, re.DOTALL)
    quoted = r"[\"'\u2018\u201c]([^\"'\u2019\u201d]+)[\"'\u2019\u201d]"
    return re.findall(quoted, match.group(1)) if match else []


def licence(family: Family, wheel: zipfile.ZipFile, font: TTFont) -> str:
    text = wheel.read(f"{family.package}/LICENSE").decode("utf-8").replace("\r\n", "\n")
    if OFL_MARK not in text or "3) No Modified Version" not in text:
        raise SystemExit(f"{family.wheel}: LICENSE is not the SIL OFL 1.1")
    # The wheel's header may drop the Reserved Font Name that the font's own
    # copyright notice (name ID 0) declares; OFL.txt must carry that notice.
    notice = font["name"].getDebugName(0) or ""
    head, sep, body = text.partition("This Font Software is licensed")
    if reserved_names(notice) and not reserved_names(head):
        head = notice + "\n\n"
    return head + sep + body


def rename(font: TTFont, family: str, weight: int, italic: bool) -> str:
    style = style_name(weight, italic)
    ribbi = weight in (400, 700)
    ps_name = f"{family.replace(' ', '')}-{style.replace(' ', '')}"
    version = font["name"].getDebugName(5) or ""
    version = version.removeprefix("Version ").split(";")[0]
    name = font["name"]
    name.names = [r for r in name.names if r.nameID not in RENAMED_IDS]
    name.removeUnusedNames(font)  # axis and instance names left by fvar/STAT
    values = {
        # IDs 1/2 keep the four-style (RIBBI) model; 16/17 name every weight.
        1: family if ribbi else f"{family} {STYLE_NAMES[weight]}",
        2: style if ribbi else ("Italic" if italic else "Regular"),
        3: f"{version};pamphlet;{ps_name}",
        4: f"{family} {style}",
        6: ps_name,
        16: family,
        17: style,
    }
    for name_id, value in values.items():
        name.setName(value, name_id, 3, 1, 0x409)
    os2 = font["OS/2"]
    os2.usWeightClass = weight
    bold = weight == 700
    regular = values[2] == "Regular"
    # bit 0 ITALIC, 5 BOLD, 6 REGULAR; 7 USE_TYPO_METRICS and the rest are kept.
    os2.fsSelection &= ~((1 << 0) | (1 << 5) | (1 << 6))
    os2.fsSelection |= (italic << 0) | (bold << 5) | (regular << 6)
    font["head"].macStyle = (font["head"].macStyle & ~0b11) | bold | (italic << 1)
    return ps_name


def read_face(family: Family, wheel: zipfile.ZipFile, face: Face) -> bytes:
    style = style_name(face.weight, face.italic).replace(" ", "")
    return wheel.read(f"{family.package}/files/{face.source.format(style)}")


def build(family: Family, wheel_dir: Path) -> None:
    wheel = fetch(family, wheel_dir)
    out = HERE / family.folder
    out.mkdir(exist_ok=True)
    first = TTFont(io.BytesIO(read_face(family, wheel, family.faces[0])))
    (out / "OFL.txt").write_text(licence(family, wheel, first), encoding="utf-8")
    for face in family.faces:
        data = read_face(family, wheel, face)
        font = TTFont(io.BytesIO(data), recalcTimestamp=False)  # reproducible output
        if family.static:
            ps_name = font["name"].getDebugName(6)
            (out / f"{ps_name}.ttf").write_bytes(data)
            print(f"{family.folder}/{ps_name}.ttf (copied unchanged)")
            continue
        notice = font["name"].getDebugName(0) or ""
        if any(rfn in family.name for rfn in reserved_names(notice)):
            raise SystemExit(f"{family.name!r} uses a Reserved Font Name: {notice}")
        axes = {a.axisTag: a for a in font["fvar"].axes}
        pins = {"wght": float(face.weight), **family.pins}
        if set(axes) != set(pins):
            raise SystemExit(f"{face.source}: pins {pins} do not match axes {axes}")
        for tag, value in pins.items():
            if not axes[tag].minValue <= value <= axes[tag].maxValue:
                raise SystemExit(f"{face.source}: {tag}={value} is out of range")
        instantiateVariableFont(font, pins, inplace=True, static=True)
        del font["STAT"]  # static=True keeps STAT; a static file needs none
        ps_name = rename(font, family.name, face.weight, face.italic)
        font.save(out / f"{ps_name}.ttf")
        print(f"{family.folder}/{ps_name}.ttf ({pins})")


def main() -> None:
    if sys.argv[1:] == ["--index"]:
        write_index()
        return
    wheel_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fp")
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for family in FAMILIES:
        build(family, wheel_dir)
    write_index()


def write_index() -> None:
    """What each file says of itself, for builds to read instead of the files."""
    sys.path.insert(0, str(HERE.parent))
    from pamphlet.fonts import BUNDLED_INDEX, index_of

    index = index_of(HERE)
    lines = [f" {json.dumps(name)}: {json.dumps(entry, ensure_ascii=False)}"
             for name, entry in index.items()]
    (HERE / BUNDLED_INDEX).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"{BUNDLED_INDEX} ({len(index)} files)")


if __name__ == "__main__":
    main()
