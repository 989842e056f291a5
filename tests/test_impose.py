"""Imposition: page order for saddle-stitched booklets and 2-up sheets, on real PDFs."""

from __future__ import annotations

import io

import pypdf
import pytest
from test_cli import pamphlet

from pamphlet.impose import booklet_order, impose, two_up_order


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
