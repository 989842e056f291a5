"""Imposition: page order for saddle-stitched booklets and 2-up sheets, on real PDFs."""

from __future__ import annotations

import io

import pypdf
import pypdfium2 as pdfium
import pytest
from test_cli import pamphlet

from pamphlet.impose import booklet_order, creep_shifts, impose, two_up_order


def test_eight_pages():
    assert booklet_order(8) == [(8, 1), (2, 7), (6, 3), (4, 5)]


def test_twelve_pages_on_three_sheets():
    assert booklet_order(12) == [(12, 1), (2, 11), (10, 3), (4, 9), (8, 5), (6, 7)]


@pytest.mark.parametrize("pages", [4, 8, 12, 16, 28, 1, 2, 3, 5, 7, 13, 27])
def test_every_page_once_back_cover_last_and_duplex_backs_line_up(pages):
    sides = booklet_order(pages)
    placed = [p for side in sides for p in side if p is not None]
    assert sorted(placed) == list(range(1, pages + 1))
    assert len(sides) % 2 == 0
    padded = len(sides) * 2
    assert sides[0] == (pages, 1) or pages == 1
    for front, back in zip(sides[0::2], sides[1::2], strict=True):
        # Flipped on the short edge, the right half of the front backs the left of the back.
        right, left = front[1], back[0]
        if right is not None and left is not None:
            assert left == right + 1
        if front[0] is not None and back[1] is not None:
            assert back[1] == front[0] - 1
    assert padded % 4 == 0


@pytest.mark.parametrize("signature", [8, 16])
def test_signatures_are_booklets_of_their_own(signature):
    sides = booklet_order(32, signature)
    assert len(sides) == 16
    assert sides[0] == (signature, 1)
    assert sides[signature // 2] == (2 * signature, signature + 1)


def test_bad_signature():
    with pytest.raises(ValueError):
        booklet_order(16, 6)


def test_two_up():
    assert two_up_order(2) == [(1, 1), (2, 2)]


def test_imposed_pdf_has_landscape_sheets_with_the_pages_in_order(publication, tmp_path):
    assert pamphlet("build", "issue-1").exit_code == 0
    data = impose(publication.pdf, tmp_path / "x.pdf", booklet_order(2))
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 2
    for sheet in reader.pages:
        assert round(float(sheet.mediabox.width)) == 842
        assert round(float(sheet.mediabox.height)) == 595
    # Two pages fold as a 4-page booklet: back cover (page 2) left, page 1 right, blank inside.
    front = reader.pages[0].extract_text()
    assert "Cleaners win the living wage" in front and "Kettle Logic" in front
    assert reader.pages[1].extract_text().strip() == ""


def test_impose_command(publication):
    result = pamphlet("impose", "issue-1", "--as", "2up")
    assert result.exit_code == 0, result.output
    out = publication.root / "build" / "issue-1.office.2up.pdf"
    assert len(pypdf.PdfReader(out).pages) == 2
    result = pamphlet("impose", "issue-1", "--as", "booklet", "--signature", "6")
    assert result.exit_code == 1
    assert "a signature is a multiple of 4 pages" in result.output


def test_creep_moves_inner_sheets_toward_the_spine():
    sides = booklet_order(24)
    shifts = creep_shifts(sides, 1.5)
    mm = 72 / 25.4
    assert shifts[0] == shifts[1] == 0, "the outer sheet stays put"
    assert shifts[-1] == shifts[-2] == pytest.approx(1.5 * mm), "the innermost moves the most"
    assert shifts == sorted(shifts)
    # In signatures, each signature's own outer sheet stays put.
    per_signature = creep_shifts(booklet_order(16, 8), 1.0, 8)
    assert per_signature[0::4] == [0, 0, 0, 0][:len(per_signature[0::4])]
    assert max(per_signature) == pytest.approx(1.0 * mm)


def _ink_columns(data: bytes, sheet: int) -> tuple[int, int]:
    """First and last inked pixel columns of a sheet rendered at 72 dpi (1 px = 1 pt)."""
    document = pdfium.PdfDocument(data)
    image = document[sheet].render(scale=1, grayscale=True).to_pil().convert("L")
    document.close()
    inked = image.point(lambda v: 255 if v < 160 else 0).getbbox()
    assert inked is not None
    return inked[0], inked[2]


def test_creep_shifts_the_printed_pages(publication, tmp_path):
    assert pamphlet("build", "issue-1").exit_code == 0
    sides = booklet_order(2)  # one sheet: its back is the inner side
    plain = impose(publication.pdf, tmp_path / "a.pdf", sides)
    crept = impose(publication.pdf, tmp_path / "b.pdf", sides, shifts=[0, 0])
    assert plain == crept
    moved = impose(publication.pdf, tmp_path / "c.pdf", sides, shifts=[20.0, 20.0])
    left, right = _ink_columns(plain, 0)
    moved_left, moved_right = _ink_columns(moved, 0)
    # Page 2 (left half) moves 20 pt right, page 1 (right half) 20 pt left.
    assert moved_left - left == pytest.approx(20, abs=1.5)
    assert right - moved_right == pytest.approx(20, abs=1.5)


def test_a_proof_puts_each_page_on_its_own_sheet_never_enlarged(publication):
    result = pamphlet("impose", "issue-1", "--as", "proof", "--paper", "a3")
    assert result.exit_code == 0, result.output
    out = publication.root / "build" / "issue-1.office.proof-a3.pdf"
    reader = pypdf.PdfReader(out)
    assert len(reader.pages) == 2
    for sheet in reader.pages:
        assert (round(float(sheet.mediabox.width)), round(float(sheet.mediabox.height))) == (842, 1191)
    # The A4 bulletin page sits at actual size in the middle of the A3 sheet.
    left, right = _ink_columns(out.read_bytes(), 0)
    assert right - left <= 595 and left > (842 - 595) / 2 - 1
    assert "Cleaners win the living wage" in reader.pages[0].extract_text()
    result = pamphlet("impose", "issue-1", "--as", "proof", "--paper", "a5")
    assert result.exit_code == 1 and "--paper a4 or a3" in result.output
