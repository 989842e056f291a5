"""Page images and the contact sheet, checked on real builds: a bulletin and a short pamphlet."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import Publication, write
from PIL import Image

from pamphlet import preview
from pamphlet.build import build
from pamphlet.errors import PamphletError
from pamphlet.preview import contact_sheet, page_images, spreads

A4_MM = (210, 297)
A5_MM = (148, 210)


@pytest.fixture
def bulletin(publication: Publication) -> Path:
    """The publication fixture's issue: a two-page A4 bulletin."""
    return build(publication.manifest).pdf


@pytest.fixture(scope="module")
def booklet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short A5 pamphlet: cover, contents and three chapters, padded to 8 pages."""
    root = tmp_path_factory.mktemp("booklet")
    write(root / "issues" / "tract.yaml", """
        title: Close the Gap
        subtitle: Three short arguments about pay
        layout: pamphlet
        date: 2026-12-01
        author: A. Steward
        articles:
          - tract/one.md
          - tract/two.md
          - tract/three.md
        """)
    for number, name in enumerate(["one", "two", "three"], 1):
        write(root / "issues" / "tract" / f"{name}.md", f"""
            ---
            title: Chapter {name}
            kicker: Chapter {number}
            ---
            The canteen was closed on Monday and nobody said why. By Wednesday the
            branch had a petition with two hundred names on it.

            The manager said the kettle was a fire risk. The branch said the manager was.
            """)
    result = build(root / "issues" / "tract.yaml")
    assert result.pages == 8
    return result.pdf


def size_at(mm: tuple[int, int], dpi: int) -> tuple[float, float]:
    return mm[0] / 25.4 * dpi, mm[1] / 25.4 * dpi


def assert_size(image: Image.Image, mm: tuple[int, int], dpi: int) -> None:
    width, height = size_at(mm, dpi)
    assert abs(image.width - width) <= 1 and abs(image.height - height) <= 1, image.size


def ink_share(image: Image.Image) -> float:
    """The share of the page that is not white paper."""
    histogram = image.convert("L").histogram()
    return sum(histogram[:200]) / (image.width * image.height)


def dark_share(image: Image.Image) -> float:
    histogram = image.convert("L").histogram()
    return sum(histogram[:100]) / (image.width * image.height)


def white_runs(image: Image.Image, y: int) -> list[tuple[int, int]]:
    """(start, end) of each stretch of white paper across row y."""
    row = image.convert("L").crop((0, y, image.width, y + 1)).tobytes()
    runs, start = [], None
    for x, value in enumerate([*row, 0]):
        if value >= 250 and start is None:
            start = x
        elif value < 250 and start is not None:
            if x - start > 5:
                runs.append((start, x))
            start = None
    return runs


def page_rows(sheet: Image.Image) -> list[int]:
    """The top of each row of pages: where white paper starts after a band without any."""
    paper = sheet.convert("L").point(lambda value: 255 if value >= 250 else 0)
    tops, before = [], False
    for y in range(sheet.height):
        here = paper.crop((0, y, sheet.width, y + 1)).getbbox() is not None
        if here and not before:
            tops.append(y)
        before = here
    return tops


def sheet_spreads(sheet: Image.Image) -> list[tuple[int, list[tuple[int, int]]]]:
    """The pages on the sheet in reading order, grouped as they touch: pages of one spread are
    one hairline apart, spreads a gap apart. Each group comes with the row it was found on."""
    groups: list[tuple[int, list[tuple[int, int]]]] = []
    for top in page_rows(sheet):
        last_end = None
        for run in white_runs(sheet, top + 3):
            if last_end is not None and run[0] - last_end <= 2:
                groups[-1][1].append(run)
            else:
                groups.append((top + 3, [run]))
            last_end = run[1]
    return groups


def test_spreads_read_like_a_printed_publication():
    assert spreads(1) == [(1,)]
    assert spreads(2) == [(1,), (2,)]
    assert spreads(4) == [(None, 1), (2, 3), (4, None)]
    assert spreads(7) == [(None, 1), (2, 3), (4, 5), (6, 7)]
    assert spreads(8) == [(None, 1), (2, 3), (4, 5), (6, 7), (8, None)]


def test_page_images_of_the_bulletin(bulletin: Path, tmp_path: Path):
    folder = tmp_path / "pages" / "new"
    files = page_images(bulletin, folder)
    assert files == [folder / "page-1.png", folder / "page-2.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["page-1.png", "page-2.png"]
    for file in files:
        with Image.open(file) as image:
            assert image.format == "PNG"
            assert_size(image, A4_MM, 110)
            assert dark_share(image) > 0.001
    assert page_images(bulletin, folder, dpi=50, pages=[2]) == [folder / "page-2.png"]
    with Image.open(folder / "page-2.png") as image:
        assert_size(image, A4_MM, 50)
    assert (folder / "page-1.png").exists()


def test_a_page_out_of_range_is_a_clear_error(bulletin: Path, tmp_path: Path):
    with pytest.raises(PamphletError) as raised:
        page_images(bulletin, tmp_path / "pages", pages=[1, 3])
    [problem] = raised.value.problems
    assert problem.file == bulletin
    assert problem.message == "the issue has 2 pages: there is no page 3"
    assert "1 to 2" in problem.hint
    assert not (tmp_path / "pages").exists()
    with pytest.raises(PamphletError, match="there is no page 0"):
        page_images(bulletin, tmp_path / "pages", pages=[0])


def test_a_missing_pdf_is_a_clear_error(tmp_path: Path):
    with pytest.raises(PamphletError, match="cannot read this PDF"):
        page_images(tmp_path / "nothing.pdf", tmp_path / "pages")
    with pytest.raises(PamphletError, match="cannot read this PDF"):
        contact_sheet(tmp_path / "nothing.pdf", tmp_path / "sheet.png")


def test_page_images_of_a_booklet_replace_a_longer_issue(booklet: Path, bulletin: Path, tmp_path: Path):
    longer = tmp_path / "longer.pdf"
    document = pdfium.PdfDocument.new()
    with pdfium.PdfDocument(str(booklet)) as source:
        document.import_pages(source, [*range(8), 0, 1, 2, 3])
    document.save(str(longer))
    document.close()
    folder = tmp_path / "pages"
    (folder / "notes").mkdir(parents=True)
    (folder / "cover.png").write_bytes(b"kept")

    names = [p.name for p in page_images(longer, folder, dpi=30)]
    assert names == [f"page-{n:02d}.png" for n in range(1, 13)]

    files = page_images(booklet, folder, dpi=72)
    assert [p.name for p in files] == [f"page-{n}.png" for n in range(1, 9)]
    assert sorted(p.name for p in folder.glob("page-*.png")) == sorted(p.name for p in files)
    with Image.open(files[0]) as cover:
        assert_size(cover, A5_MM, 72)
        assert ink_share(cover) > 0.05, "the cover's panel is printed"

    assert [p.name for p in page_images(bulletin, folder, dpi=30)] == ["page-1.png", "page-2.png"]
    assert sorted(p.name for p in folder.glob("page-*.png")) == ["page-1.png", "page-2.png"]
    assert (folder / "cover.png").read_bytes() == b"kept" and (folder / "notes").is_dir()


def test_contact_sheet_of_a_booklet_pairs_the_spreads(booklet: Path, tmp_path: Path):
    out = contact_sheet(booklet, tmp_path / "proof" / "sheet.png")
    assert out == tmp_path / "proof" / "sheet.png"
    assert out.stat().st_size < 4_000_000
    with Image.open(out) as sheet:
        assert sheet.format == "PNG" and sheet.width == 2000
        assert sheet.width / 2.2 < sheet.height < sheet.width
        assert dark_share(sheet) > 0.001
        found = sheet_spreads(sheet)
        folds = [sheet.getpixel((pages[0][1], y)) for y, pages in found if len(pages) == 2]
    groups = [pages for _, pages in found]
    assert [len(group) for group in groups] == [1, 2, 2, 2, 1]
    assert folds == [preview.HAIRLINE] * 3, "a hairline between the two pages of a spread"
    page_w = groups[1][0][1] - groups[1][0][0]
    assert all(abs((end - start) - page_w) <= 1 for group in groups for start, end in group)
    left_pages = {group[0][0] for group in groups if len(group) == 2}
    right_pages = {group[1][0] for group in groups if len(group) == 2}
    assert groups[0][0][0] in right_pages, "page 1 stands alone on the right of its spread"
    assert groups[-1][0][0] in left_pages, "the last page stands alone on the left of its spread"


def test_contact_sheet_of_a_bulletin_shows_both_sides_apart(bulletin: Path, tmp_path: Path):
    out = contact_sheet(bulletin, tmp_path / "sheet.png", width=1200)
    with Image.open(out) as sheet:
        assert sheet.width == 1200 and sheet.height < sheet.width
        [top] = page_rows(sheet)
        sides = white_runs(sheet, top + 3)
        assert dark_share(sheet) > 0.001
    assert len(sides) == 2
    (left_start, left_end), (right_start, right_end) = sides
    assert right_start - left_end > 5, "two sides of one sheet are not a spread: no shared fold"
    assert abs((left_end - left_start) - (right_end - right_start)) <= 1
    assert left_end - left_start > 500


def test_a_large_contact_sheet_is_kept_small(booklet: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(preview, "MAX_SHEET_BYTES", 1000)
    with Image.open(contact_sheet(booklet, tmp_path / "sheet.png")) as sheet:
        assert sheet.mode == "P" and sheet.width == 2000
