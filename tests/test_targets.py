"""Print targets, proved on real PDFs: each sample issue built for the office printer, the
print shop (PDF/X-4), email (PDF/UA) and the archive (PDF/A-3b), then looked at with the
tools a printer or an archivist would use (poppler, qpdf, Ghostscript) and with our own eyes
(PDFium renders). The preflight's refusals are checked on small publications.

The newspaper takes ~15 s a target, so it is built for the print shop and email only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pypdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from conftest import SAMPLES
from helpers import pamphlet
from PIL import Image, ImageDraw
from pypdf.generic import ArrayObject, ContentStream, DictionaryObject, NameObject, StreamObject

from pamphlet.build import BuildResult, build_targets, load
from pamphlet.checks import marked_words, missing_text, pdf_text
from pamphlet.render import in_greys, in_print_colours
from pamphlet.targets import PROFILES

MM = 72 / 25.4
ALL = ("office", "printshop", "email", "archive")
WANTED = {
    "busworker-2026-11-24": ALL,
    "outsourcing-pamphlet": ALL,
    "issue-42": ("printshop", "email"),
}
BUILT = [(name, target) for name, targets in WANTED.items() for target in targets]
EMAIL_BUDGET_KB = {"busworker-2026-11-24": 300, "issue-42": 2500, "outsourcing-pamphlet": 2000}
PROFILE = PROFILES / "FOGRA39-pamphlet.icc"

SLUG_MM, BLEED_MM = 12.0, 3.0
MARK_FROM_MM, MARK_TO_MM = 5.0, 11.0
"""Crop marks run from 5 to 11 mm outside the trim, along the trim lines."""
RENDER_DPI = 200


def px(mm: float, dpi: int = RENDER_DPI) -> int:
    return round(mm / 25.4 * dpi)


# --- Building each sample for its targets, once -----------------------------------------------

@pytest.fixture(scope="module")
def builds(sample_builds: dict[str, BuildResult]) -> dict[tuple[str, str], BuildResult]:
    """Each sample for each of its WANTED targets, next to (and reusing) the default-target
    builds of conftest's `sample_builds`."""
    results = {(name, result.target): result for name, result in sample_builds.items()
               if result.target in WANTED[name]}
    for name, targets in WANTED.items():
        missing = [t for t in targets if (name, t) not in results]
        if missing:
            for result in build_targets(sample_builds[name].issue.manifest, missing):
                results[name, result.target] = result
    assert set(results) == set(BUILT)
    return results


def tool(*args: str | Path) -> str:
    """Run a command-line tool (required, never skipped) and return what it printed."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}): {done.stderr}{done.stdout}"
    return done.stdout


def pdfinfo(pdf: Path, *options: str) -> dict[str, str]:
    fields = {}
    for line in tool("pdfinfo", *options, pdf).splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def page_boxes(pdf: Path, pages: int) -> list[dict[str, tuple[float, ...]]]:
    """Each page's boxes as pdfinfo -box reports them: {'MediaBox': (x0, y0, x1, y1), ...}."""
    boxes: list[dict[str, tuple[float, ...]]] = [{} for _ in range(pages)]
    for line in tool("pdfinfo", "-box", "-f", "1", "-l", str(pages), pdf).splitlines():
        if match := re.match(r"Page\s+(\d+) (\w+Box):\s+(.*)$", line):
            boxes[int(match[1]) - 1][match[2]] = tuple(float(v) for v in match[3].split())
    return boxes


def xmp(pdf: Path) -> str:
    reader = pypdf.PdfReader(pdf)
    return reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")


def trim_pt(name: str) -> tuple[float, float]:
    width, height = SAMPLES[name]["size_mm"]
    return width * MM, height * MM


def render(pdf: Path, dpi: int) -> list[Image.Image]:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return [page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
                for page in document]
    finally:
        document.close()


def image_metadata(pdf: Path) -> list[tuple[int, object]]:
    """(page, PDFium's metadata) for every picture drawn, forms included."""
    found = []
    document = pdfium.PdfDocument(str(pdf))
    try:
        for number, page in enumerate(document, start=1):
            for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=5):
                found.append((number, image.get_metadata()))
    finally:
        document.close()
    return found


def image_xobjects(pdf: Path) -> list[StreamObject]:
    """Every image XObject the pages use, through form XObjects too."""
    images: dict[int, StreamObject] = {}

    def walk(resources: object) -> None:
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources else None
        for ref in (xobjects.get_object().values() if xobjects else []):
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image" and id(obj) not in images:
                images[id(obj)] = obj
            elif obj.get("/Subtype") == "/Form":
                walk(obj.get("/Resources"))

    for page in pypdf.PdfReader(pdf).pages:
        walk(page.get("/Resources"))
    return list(images.values())


# --- Colour: what every colour operator of a page resolves to ---------------------------------

COLOUR_SETTERS = {"g": ("gray", 1), "G": ("gray", 1), "k": ("cmyk", 4), "K": ("cmyk", 4),
                  "rg": ("rgb", 3), "RG": ("rgb", 3)}


def colour_space_kind(space: object, resources: DictionaryObject | None) -> str:
    """'cmyk', 'gray', 'rgb', 'lab', 'pattern', ... for a colour space name or array."""
    space = space.get_object() if hasattr(space, "get_object") else space
    if isinstance(space, NameObject):
        builtin = {"/DeviceCMYK": "cmyk", "/DeviceGray": "gray", "/DeviceRGB": "rgb",
                   "/Pattern": "pattern"}
        if space in builtin:
            return builtin[space]
        named = (resources or {}).get("/ColorSpace")
        named = named.get_object() if named is not None else {}
        assert space in named, f"colour space {space} is not in the resources"
        return colour_space_kind(named[space], resources)
    assert isinstance(space, ArrayObject), space
    family = space[0]
    if family == "/ICCBased":
        return {1: "gray", 3: "rgb", 4: "cmyk"}[int(space[1].get_object()["/N"])]
    if family in ("/CalRGB", "/CalGray", "/Lab"):
        return family[1:].lower()
    if family in ("/Separation", "/DeviceN"):
        return colour_space_kind(space[2], resources)
    return family[1:].lower()


def colour_operations(owner: object, resources: object, reader: pypdf.PdfReader,
                      seen: set[int] | None = None) -> list[tuple[str, str, list[float]]]:
    """(colour space kind, operator, operands) for every colour set in a page or form,
    following form XObjects."""
    seen = set() if seen is None else seen
    resources = resources.get_object() if resources is not None else DictionaryObject()
    content = owner.get_contents() if isinstance(owner, pypdf.PageObject) else owner
    if content is None:
        return []
    found = []
    current = {"fill": "gray", "stroke": "gray"}
    stack = []
    for operands, operator in ContentStream(content, reader).operations:
        op = operator.decode("latin-1")
        if op == "q":
            stack.append(dict(current))
        elif op == "Q" and stack:
            current = stack.pop()
        elif op in COLOUR_SETTERS:
            kind, count = COLOUR_SETTERS[op]
            assert len(operands) == count, (op, operands)
            found.append((kind, op, [float(v) for v in operands]))
        elif op in ("cs", "CS"):
            current["fill" if op == "cs" else "stroke"] = colour_space_kind(operands[0], resources)
        elif op in ("sc", "scn", "SC", "SCN"):
            kind = current["fill" if op in ("sc", "scn") else "stroke"]
            values = [float(v) for v in operands if not isinstance(v, NameObject)]
            found.append((kind, op, values))
        elif op == "Do":
            obj = resources["/XObject"][operands[0]].get_object()
            if obj.get("/Subtype") == "/Form" and id(obj) not in seen:
                seen.add(id(obj))
                found += colour_operations(obj, obj.get("/Resources"), reader, seen)
    return found


def rgb_anywhere(reader: pypdf.PdfReader) -> list[str]:
    """Every object whose dictionary names an RGB colour space (DeviceRGB, CalRGB, an ICC
    profile with three components), wherever it is: pages, images, shadings, groups."""
    found = []

    def look(value: object, where: str, depth: int = 0) -> None:
        if depth > 12:
            return
        if isinstance(value, NameObject) and value in ("/DeviceRGB", "/CalRGB"):
            found.append(f"{value} in {where}")
        elif isinstance(value, DictionaryObject):
            if (value.get("/N") == 3 and "/Alternate" in value) or value.get("/Alternate") == "/DeviceRGB":
                found.append(f"an RGB ICC profile in {where}")
            for key, item in value.items():
                if key not in ("/Parent", "/P", "/Pg", "/K", "/ParentTree", "/Dests", "/Outlines",
                               "/Prev", "/Next", "/First", "/Last", "/StructTreeRoot"):
                    look(item if not hasattr(item, "idnum") else None, where, depth + 1)
        elif isinstance(value, ArrayObject):
            for item in value:
                look(item if not hasattr(item, "idnum") else None, where, depth + 1)

    for number in range(1, int(reader.trailer["/Size"])):
        try:
            obj = reader.get_object(number)
        except Exception:  # free or compressed-away entries
            continue
        if obj is not None:
            look(obj, f"object {number}")
    return found


# --- Every target ------------------------------------------------------------------------------

def test_every_target_of_a_sample_has_the_same_pages(builds):
    for name, targets in WANTED.items():
        counts = {t: builds[name, t].pages for t in targets}
        assert len(set(counts.values())) == 1, (name, counts)
        for target in targets:
            assert int(pdfinfo(builds[name, target].pdf)["Pages"]) == counts[target]


@pytest.mark.parametrize(("name", "target"), BUILT)
def test_every_paragraph_of_every_article_is_there_in_order(builds, name, target):
    result = builds[name, target]
    _, articles, _ = load(result.issue.manifest)
    assert missing_text(articles, marked_words(pdf_text(result.pdf.read_bytes()))) == []


@pytest.mark.parametrize(("name", "target"), BUILT)
def test_every_font_is_embedded_and_qpdf_finds_no_fault(builds, name, target):
    pdf = builds[name, target].pdf
    rows = tool("pdffonts", pdf).splitlines()[2:]
    assert rows, "pdffonts lists no fonts"
    # name type encoding emb sub uni object ID: the type may have spaces, so count from the right
    not_embedded = [row.split()[0] for row in rows if row.split()[-5] != "yes"]
    assert not_embedded == []
    assert "No syntax or stream encoding errors found" in tool("qpdf", "--check", pdf)


@pytest.mark.parametrize(("name", "target"), BUILT)
def test_page_boxes(builds, name, target):
    """The trim is the layout's size; only the print shop's page is larger: 3 mm of bleed and
    a 12 mm slug for the crop marks, on every side."""
    result = builds[name, target]
    width, height = trim_pt(name)
    out = {"printshop": SLUG_MM * MM}.get(target, 0)
    bleed = {"printshop": BLEED_MM * MM}.get(target, 0)
    size = re.match(r"([\d.]+) x ([\d.]+) pts", pdfinfo(result.pdf)["Page size"])
    assert (float(size[1]), float(size[2])) == pytest.approx((width + 2 * out, height + 2 * out),
                                                             abs=0.01)
    for number, boxes in enumerate(page_boxes(result.pdf, result.pages), start=1):
        expected = {"TrimBox": (0, 0, width, height),
                    "BleedBox": (-bleed, -bleed, width + bleed, height + bleed),
                    "MediaBox": (-out, -out, width + out, height + out)}
        for box, want in expected.items():
            assert boxes[box] == pytest.approx(want, abs=0.011), (number, box, boxes[box])


# --- The print shop ----------------------------------------------------------------------------

PRINTSHOP = [name for name, target in BUILT if target == "printshop"]


@pytest.mark.parametrize("name", PRINTSHOP)
def test_printshop_is_pdf_x4_with_the_fogra39_output_intent(builds, name):
    pdf = builds[name, "printshop"].pdf
    assert pdf.read_bytes().startswith(b"%PDF-1.6")
    assert pdfinfo(pdf)["PDF version"] == "1.6"
    metadata = xmp(pdf)
    assert "<pdfxid:GTS_PDFXVersion>PDF/X-4</pdfxid:GTS_PDFXVersion>" in metadata
    assert "<pdfx:GTS_PDFXVersion>PDF/X-4</pdfx:GTS_PDFXVersion>" in metadata
    assert "<pdf:Trapped>False</pdf:Trapped>" in metadata
    catalog = pypdf.PdfReader(pdf).trailer["/Root"]
    intents = [i.get_object() for i in catalog["/OutputIntents"]]
    assert len(intents) == 1
    intent = intents[0]
    assert intent["/S"] == "/GTS_PDFX"
    assert intent["/OutputConditionIdentifier"] == "FOGRA39"
    profile = intent["/DestOutputProfile"].get_object()
    assert int(profile["/N"]) == 4
    embedded, shipped = profile.get_data(), PROFILE.read_bytes()
    # The same profile, tag for tag (see the next test for the bytes).
    assert embedded[4:128] == shipped[4:128]
    assert icc_tags(embedded) == icc_tags(shipped)


def test_printshop_output_intent_is_the_shipped_profile_byte_for_byte(builds):
    pdf = builds["busworker-2026-11-24", "printshop"].pdf
    catalog = pypdf.PdfReader(pdf).trailer["/Root"]
    profile = catalog["/OutputIntents"][0].get_object()["/DestOutputProfile"].get_object()
    assert profile.get_data() == PROFILE.read_bytes()


def icc_tags(profile: bytes) -> dict[bytes, bytes]:
    """An ICC profile's tags: signature -> data."""
    count = int.from_bytes(profile[128:132], "big")
    tags = {}
    for i in range(count):
        entry = profile[132 + 12 * i:144 + 12 * i]
        offset, size = int.from_bytes(entry[4:8], "big"), int.from_bytes(entry[8:12], "big")
        tags[entry[:4]] = profile[offset:offset + size]
    return tags


@pytest.mark.parametrize("name", PRINTSHOP)
def test_printshop_has_no_rgb_anywhere(builds, name):
    pdf = builds[name, "printshop"].pdf
    reader = pypdf.PdfReader(pdf)
    assert rgb_anywhere(reader) == []
    for number, page in enumerate(reader.pages, start=1):
        operations = colour_operations(page, page.get("/Resources"), reader)
        assert operations, f"page {number} sets no colour at all?"
        wrong = [(kind, op, values) for kind, op, values in operations
                 if kind not in ("cmyk", "gray")
                 or len(values) != {"cmyk": 4, "gray": 1}[kind]]
        assert wrong == [], f"page {number}"
    images = image_xobjects(pdf)
    assert images, "every sample has a picture"
    for image in images:
        space = image["/ColorSpace"]
        assert space in ("/DeviceCMYK", "/DeviceGray"), space
        if space == "/DeviceCMYK":
            assert image["/Filter"] == "/DCTDecode"


def test_printshop_pamphlet_cover_panel_is_cmyk_red_and_runs_into_the_bleed(builds):
    pdf = builds["outsourcing-pamphlet", "printshop"].pdf
    reader = pypdf.PdfReader(pdf)
    cover = reader.pages[0]
    fills = [(kind, values) for kind, op, values in
             colour_operations(cover, cover.get("/Resources"), reader) if op in ("sc", "scn", "k")]
    reds = [v for kind, v in fills
            if kind == "cmyk" and len(v) == 4 and v[0] == 0 and v[1] > 0.5 and v[2] > 0.5 and v[3] == 0]
    assert reds, f"no CMYK red among the cover's fills: {fills}"
    # It renders red, as a large panel that runs to the bleed box on both sides and is
    # clipped there: red just inside the bleed edge, white paper just outside it.
    dpi = 100
    image = pdfium.PdfDocument(str(pdf))[0].render(scale=dpi / 72).to_pil().convert("RGB")
    w, h = image.size

    def red(x: int, y: int) -> bool:
        r, g, b = image.getpixel((x, y))
        return r > 180 and g < 90 and b < 90

    rows = [y for y in range(h) if red(w // 2, y)]
    assert len(rows) > 0.25 * h
    middle = rows[len(rows) // 2]
    edge = px(SLUG_MM - BLEED_MM, dpi)
    assert red(edge + 1, middle) and red(w - edge - 2, middle)
    assert image.getpixel((edge - 2, middle)) == (255, 255, 255)
    assert image.getpixel((w - edge + 1, middle)) == (255, 255, 255)


@pytest.mark.parametrize("name", PRINTSHOP)
def test_printshop_crop_marks_sit_in_the_slug_clear_of_the_bleed(builds, name):
    """Eight marks per page, 5–11 mm outside the trim corners; nothing else outside the bleed
    box (the artwork is clipped to it); nothing in the bleed band next to each corner, where
    a mark drawn too close would show once trimmed."""
    result = builds[name, "printshop"]
    bleed = px(SLUG_MM - BLEED_MM)  # from the media edge
    for number, image in enumerate(render(result.pdf, RENDER_DPI), start=1):
        w, h = image.size
        assert (w, h) == pytest.approx((px(2 * SLUG_MM) + px(SAMPLES[name]["size_mm"][0]),
                                        px(2 * SLUG_MM) + px(SAMPLES[name]["size_mm"][1])), abs=2)
        corners = ((1, 1), (1, -1), (-1, 1), (-1, -1))
        for corner in corners:
            for along_x in (True, False):
                mark = mark_box((w, h), corner, along_x, MARK_FROM_MM + 0.5, MARK_TO_MM - 0.5, 0.3)
                assert image.crop(mark).getextrema()[0] < 128, f"page {number}: no mark in {mark}"
                # The bleed band beside the corner, along this trim line: from the corner
                # square 3 mm outside both edges to 3 mm inside the trim.
                beside = beside_band((w, h), corner, along_x)
                assert image.crop(beside).getextrema()[0] >= 250, \
                    f"page {number}: ink in the bleed band at the corner {corner}"
        # Outside the bleed box, only the marks: paint them (with a margin that stops
        # 0.3 mm short of the 2 mm clear gap beyond the bleed) and the bleed box (and a
        # pixel for rounding) white, and nothing dark may be left.
        slug = image.copy()
        draw = ImageDraw.Draw(slug)
        for corner in corners:
            for along_x in (True, False):
                draw.rectangle(mark_box((w, h), corner, along_x, MARK_FROM_MM - 0.3,
                                        MARK_TO_MM + 0.3, 0.5), fill=255)
        draw.rectangle((bleed - 1, bleed - 1, w - bleed, h - bleed), fill=255)
        assert slug.getextrema()[0] >= 250, f"page {number}: ink in the slug besides the marks"


def beside_band(size: tuple[int, int], corner: tuple[int, int],
                along_x: bool) -> tuple[int, int, int, int]:
    """The part of the bleed band that lies between the trim corner and the bleed edge,
    running 3 mm into the page along the trim line (pixels, shrunk by one for rounding)."""
    (w, h), (sx, sy) = size, corner

    def at(side: int, mm: float, edge: int) -> int:
        return px(mm) if side > 0 else edge - px(mm)

    inner = SLUG_MM + BLEED_MM  # 3 mm inside the trim
    if along_x:   # the band above/below the page, at the corner
        xs = at(sx, SLUG_MM - BLEED_MM, w), at(sx, inner, w)
        ys = at(sy, SLUG_MM - BLEED_MM, h), at(sy, SLUG_MM, h)
    else:         # the band beside the page, at the corner
        xs = at(sx, SLUG_MM - BLEED_MM, w), at(sx, SLUG_MM, w)
        ys = at(sy, SLUG_MM - BLEED_MM, h), at(sy, inner, h)
    return min(xs) + 1, min(ys) + 1, max(xs) - 1, max(ys) - 1


def mark_box(size: tuple[int, int], corner: tuple[int, int], along_x: bool, start: float,
             end: float, across: float) -> tuple[int, int, int, int]:
    """Pixel box round the crop mark at `corner` ((1, 1) top left, (-1, -1) bottom right of
    the rendered page) that runs along the horizontal (along_x) or vertical trim line, from
    `start` to `end` mm outside the trim and `across` mm either side of the line."""

    def at(side: int, mm: float, edge: int) -> int:
        """`mm` in from the media edge at 0 (side 1) or at `edge` (side -1), in pixels."""
        return px(mm) if side > 0 else edge - px(mm)

    (w, h), (sx, sy) = size, corner
    outer, inner = SLUG_MM - end, SLUG_MM - start
    if along_x:
        xs = at(sx, outer, w), at(sx, inner, w)
        ys = at(sy, SLUG_MM - across, h), at(sy, SLUG_MM + across, h)
    else:
        xs = at(sx, SLUG_MM - across, w), at(sx, SLUG_MM + across, w)
        ys = at(sy, outer, h), at(sy, inner, h)
    return min(xs), min(ys), max(xs), max(ys)


@pytest.mark.parametrize("name", PRINTSHOP)
def test_printshop_crop_marks_are_hairlines_of_black_ink_only(builds, name):
    """Every stroke outside the bleed box is a 0.25 pt line in 100% K, and there are 8."""
    result = builds[name, "printshop"]
    reader = pypdf.PdfReader(result.pdf)
    for number, page in enumerate(reader.pages, start=1):
        bx0, by0, bx1, by1 = (float(v) for v in page.bleedbox)
        strokes = _strokes(page, reader)
        outside = [s for s in strokes if all(not (bx0 <= x <= bx1 and by0 <= y <= by1)
                                             for x, y in s[2])]
        assert len(outside) == 8, f"page {number}: {len(outside)} strokes outside the bleed"
        for width, colour, _points in outside:
            assert width == pytest.approx(0.25)
            assert colour == ("cmyk", [0, 0, 0, 1])


def _strokes(page: pypdf.PageObject, reader: pypdf.PdfReader) -> list[tuple]:
    """(line width, stroke colour, points in page space) of each stroked path on the page
    itself (not in forms)."""
    state = {"ctm": (1, 0, 0, 1, 0, 0), "width": 1.0, "colour": ("gray", [0]), "space": "gray"}
    stack, path, strokes = [], [], []
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    for operands, operator in ContentStream(page.get_contents(), reader).operations:
        op = operator.decode("latin-1")
        if op == "q":
            stack.append(dict(state))
        elif op == "Q":
            state = stack.pop() if stack else state
        elif op == "cm":
            a, b, c, d, e, f = (float(v) for v in operands)
            A, B, C, D, E, F = state["ctm"]
            state["ctm"] = (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D,
                            e * A + f * C + E, e * B + f * D + F)
        elif op == "w":
            state["width"] = float(operands[0])
        elif op == "K":
            state["colour"] = ("cmyk", [float(v) for v in operands])
        elif op == "G":
            state["colour"] = ("gray", [float(v) for v in operands])
        elif op == "RG":
            state["colour"] = ("rgb", [float(v) for v in operands])
        elif op == "CS":
            state["space"] = colour_space_kind(operands[0], resources)
        elif op in ("SC", "SCN"):
            state["colour"] = (state["space"], [float(v) for v in operands
                                                if not isinstance(v, NameObject)])
        elif op in ("m", "l"):
            x, y = (float(v) for v in operands)
            a, b, c, d, e, f = state["ctm"]
            path.append((a * x + c * y + e, b * x + d * y + f))
        elif op in ("S", "s"):
            strokes.append((state["width"], state["colour"], path))
            path = []
        elif op in ("f", "F", "f*", "B", "B*", "b", "b*", "n"):
            path = []
    return strokes


# --- The office --------------------------------------------------------------------------------

OFFICE = [name for name, target in BUILT if target == "office"]


@pytest.mark.parametrize("name", OFFICE)
def test_office_uses_black_toner_only(builds, name):
    result = builds[name, "office"]
    rows = [line.split() for line in tool("gs", "-q", "-o", "-", "-sDEVICE=inkcov",
                                          result.pdf).splitlines() if line.strip()]
    assert len(rows) == result.pages
    texts = [page.get_textpage().get_text_bounded().strip()
             for page in pdfium.PdfDocument(str(result.pdf))]
    for number, (row, text) in enumerate(zip(rows, texts, strict=True), start=1):
        c, m, y, k = row[:4]
        assert (c, m, y) == ("0.00000", "0.00000", "0.00000"), f"page {number}: {row}"
        if text:  # a blank page added to make up the booklet has no ink at all
            assert float(k) > 0, f"page {number} has text but no black ink"
    assert sum(float(row[3]) for row in rows) > 0


@pytest.mark.parametrize("name", OFFICE)
def test_office_prints_nothing_within_5_mm_of_the_edge(builds, name):
    band = px(5, 100)
    for number, image in enumerate(render(builds[name, "office"].pdf, 100), start=1):
        w, h = image.size
        for side, box in {"top": (0, 0, w, band), "bottom": (0, h - band, w, h),
                          "left": (0, 0, band, h), "right": (w - band, 0, w, h)}.items():
            assert image.crop(box).getextrema()[0] >= 250, f"page {number}: ink at the {side}"


@pytest.mark.parametrize("name", OFFICE)
def test_office_pictures_are_grey_and_at_most_200_ppi(builds, name):
    pdf = builds[name, "office"].pdf
    images = image_xobjects(pdf)
    assert images
    assert {str(image["/ColorSpace"]) for image in images} == {"/DeviceGray"}
    for number, meta in image_metadata(pdf):
        assert max(meta.horizontal_dpi, meta.vertical_dpi) <= 201, (number, meta)


# --- Email -------------------------------------------------------------------------------------

EMAIL = [name for name, target in BUILT if target == "email"]


@pytest.mark.parametrize("name", EMAIL)
def test_email_is_tagged_pdf_ua_with_a_language_and_title(builds, name):
    result = builds[name, "email"]
    info = pdfinfo(result.pdf)
    assert info["Tagged"] == "yes"
    assert result.issue.title in info["Title"]
    catalog = pypdf.PdfReader(result.pdf).trailer["/Root"]
    assert catalog["/Lang"] == result.issue.language
    assert "/StructTreeRoot" in catalog
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert catalog["/ViewerPreferences"]["/DisplayDocTitle"]
    assert re.search(r'pdfuaid:part(="1"|>1<)', xmp(result.pdf))


@pytest.mark.parametrize("name", EMAIL)
def test_email_pictures_are_at_most_150_ppi(builds, name):
    found = image_metadata(builds[name, "email"].pdf)
    assert found, "every sample has a picture"
    for number, meta in found:
        assert max(meta.horizontal_dpi, meta.vertical_dpi) <= 155, (number, meta)


@pytest.mark.parametrize("name", EMAIL)
def test_email_fits_the_layouts_budget(builds, name):
    size = builds[name, "email"].pdf.stat().st_size
    assert size < EMAIL_BUDGET_KB[name] * 1024, f"{size / 1024:.0f} KB"


@pytest.mark.parametrize("name", EMAIL)
def test_email_links_are_live_where_the_articles_have_links(builds, name):
    result = builds[name, "email"]
    _, articles, _ = load(result.issue.manifest)
    links = sorted({url for a in articles
                    for url in re.findall(r"\]\((https?://[^)\s]+)", a.source.read_text())})
    uris = sorted({annot.get_object()["/A"]["/URI"]
                   for page in pypdf.PdfReader(result.pdf).pages
                   for annot in page.get("/Annots", []) or []
                   if "/URI" in annot.get_object().get("/A", {})})
    assert uris == links


def test_an_articles_link_is_a_tagged_uri_annotation_in_the_email_pdf(publication):
    publication.article("short.md", """
        ---
        title: Kettle Logic
        ---
        The new kettle [takes eleven minutes](https://example.org/kettle) to boil.
        """)
    result = pamphlet("build", "issue-1", "--target", "email")
    assert result.exit_code == 0, result.output
    reader = pypdf.PdfReader(publication.root / "build" / "issue-1.email.pdf")
    annots = [a.get_object() for page in reader.pages for a in page.get("/Annots", []) or []]
    links = [a for a in annots if a.get("/A", {}).get("/URI") == "https://example.org/kettle"]
    assert links, annots  # one per line the link text takes
    for link in links:
        assert "/StructParent" in link and link.get("/Contents")


# --- The archive -------------------------------------------------------------------------------

ARCHIVE = [name for name, target in BUILT if target == "archive"]


@pytest.mark.parametrize("name", ARCHIVE)
def test_archive_is_pdf_a3b_with_the_manifest_and_articles_attached(builds, name):
    result = builds[name, "archive"]
    assert re.search(r'pdfaid:part(="3"|>3<)', xmp(result.pdf))
    assert re.search(r'pdfaid:conformance(="B"|>B<)', xmp(result.pdf))
    _, articles, _ = load(result.issue.manifest)
    sources = [result.issue.manifest, *(a.source for a in articles)]
    listed = tool("pdfdetach", "-list", result.pdf).splitlines()
    assert listed[0] == f"{len(sources)} embedded files"
    assert sorted(line.split(": ", 1)[1] for line in listed[1:]) == sorted(p.name for p in sources)
    reader = pypdf.PdfReader(result.pdf)
    attached = reader.attachments
    for path in sources:
        assert attached[path.name] == [path.read_bytes()], path.name
    # PDF/A-3: each file is an associated file of the document, as its source.
    # Each file once (WeasyPrint 70 alone lists each twice in /AF; finishing.py mends it).
    refs = [ref.idnum for ref in reader.trailer["/Root"]["/AF"]]
    assert len(refs) == len(set(refs))
    associated = {ref.idnum: ref.get_object() for ref in reader.trailer["/Root"]["/AF"]}
    assert sorted(spec["/UF"] for spec in associated.values()) == sorted(p.name for p in sources)
    assert {spec["/AFRelationship"] for spec in associated.values()} == {"/Source"}


@pytest.mark.parametrize("name", ["busworker-2026-11-24", "outsourcing-pamphlet"])
def test_print_shop_and_archive_pictures_go_in_without_being_encoded_again(builds, name):
    """Only the targets that make pictures smaller (office, email) have them encoded again.
    The print shop gets pamphlet's own conversion (CMYK at quality 90, or greys at 88), the
    archive the very file (or, for a black-only layout, its greys): not Pillow's default
    quality 75, and never the original file read again in place of its conversion."""
    pictures = sorted((builds[name, "printshop"].issue.manifest.parent / name / "images")
                      .glob("*.jpg"))
    assert pictures
    mono = load(builds[name, "printshop"].issue.manifest)[2].settings.get("mono")
    expected = {
        "printshop": lambda data: in_print_colours(data, "image/jpeg", PROFILE)[0],
        "archive": lambda data: in_greys(data, "image/jpeg")[0] if mono else data,
    }
    if mono:
        expected["printshop"] = expected["archive"]
    for target, made in expected.items():
        embedded = [image.get_data() for image in image_xobjects(builds[name, target].pdf)
                    if image["/Filter"] == "/DCTDecode"]
        for picture in pictures:
            assert made(picture.read_bytes()) in embedded, (target, picture.name)

# --- Preflight ---------------------------------------------------------------------------------

def test_an_rgb_colour_stops_the_printshop_pdf_but_only_warns_the_office(publication):
    publication.use_layout("rgb-sheet", {"layout.yaml": "extends: bulletin\n",
                                         "style.css": "h2 { color: rgb(0, 128, 0); }"})
    printshop = publication.root / "build" / "issue-1.printshop.pdf"
    result = pamphlet("build", "issue-1", "--target", "printshop")
    assert result.exit_code == 1
    assert re.search(r"page 1 uses RGB colour", result.output), result.output
    assert not printshop.exists()
    result = pamphlet("build", "issue-1", "--target", "office")
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: page 1 uses RGB colour", result.output), result.output
    assert publication.pdf.exists()


def test_a_bulletin_running_onto_a_third_side_is_refused_and_the_last_pdf_kept(publication):
    assert pamphlet("build", "issue-1").exit_code == 0
    before = publication.pdf.read_bytes()
    paragraph = "The branch met and talked about the rota, the canteen and the pay claim. " * 10
    publication.article("short.md", "---\ntitle: Kettle Logic\n---\n"
                        + "\n\n".join([paragraph] * 40) + "\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "at most 2 pages" in result.output
    assert publication.pdf.read_bytes() == before


def test_a_coarse_picture_warns_and_strict_refuses(publication):
    Image.new("RGB", (300, 200), "navy").save(publication.root / "issues" / "issue-1" / "pic.jpg")
    publication.article("short.md", "---\ntitle: Kettle Logic\nimage: pic.jpg\n---\nText.\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: page \d: a picture is printed at \d+ ppi, below the 150 ppi",
                     result.output), result.output
    publication.pdf.unlink()
    result = pamphlet("build", "issue-1", "--strict")
    assert result.exit_code == 1
    assert "ppi" in result.output
    assert not publication.pdf.exists()

