"""The sample issues, built for real: pages, sizes, fonts, metadata and every word of text."""

from __future__ import annotations

import pypdf
import pytest
from conftest import REPO, SAMPLES
from helpers import find_sequence, page_images, page_words, pixels

from pamphlet.build import load, readable_roots
from pamphlet.checks import marked_words, missing_text, pdf_fonts, pdf_text, words
from pamphlet.compose import compose
from pamphlet.fonts import find_fonts
from pamphlet.render import render

MM = 72 / 25.4


@pytest.mark.parametrize("name", SAMPLES)
def test_every_paragraph_of_every_article_is_in_the_pdf_in_order(sample_builds, name):
    result = sample_builds[name]
    _, articles, _ = load(result.issue.manifest)
    pdf_words = marked_words(pdf_text(result.pdf.read_bytes()))
    assert sum(len(a.paragraphs) for a in articles) > 10
    assert missing_text(articles, pdf_words) == []


@pytest.mark.parametrize("name", SAMPLES)
def test_trim_size_matches_the_layout(sample_builds, name):
    width, height = SAMPLES[name]["size_mm"]
    reader = pypdf.PdfReader(sample_builds[name].pdf)
    for page in reader.pages:
        box = page.trimbox
        assert float(box.width) / MM == pytest.approx(width, abs=0.5)
        assert float(box.height) / MM == pytest.approx(height, abs=0.5)


def test_page_counts(sample_builds):
    assert sample_builds["issue-42"].pages == 12
    assert sample_builds["busworker-2026-11-24"].pages == 2
    pamphlet_pages = sample_builds["outsourcing-pamphlet"].pages
    assert pamphlet_pages % 4 == 0 and pamphlet_pages >= 16


@pytest.mark.parametrize("name", SAMPLES)
def test_every_font_is_embedded_and_bundled(sample_builds, name):
    used = pdf_fonts(sample_builds[name].pdf.read_bytes())
    bundled = {f.postscript_name for f in find_fonts(REPO)}
    assert used, "the PDF uses no fonts at all?"
    assert all(used.values()), f"not embedded: {[n for n, e in used.items() if not e]}"
    assert set(used) <= bundled, f"fonts not bundled: {set(used) - bundled}"


@pytest.mark.parametrize("name", SAMPLES)
def test_builds_without_warnings(sample_builds, name):
    assert sample_builds[name].warnings == []


@pytest.mark.parametrize("name", SAMPLES)
def test_metadata(sample_builds, name):
    result = sample_builds[name]
    meta = pypdf.PdfReader(result.pdf).metadata
    assert meta.title.startswith(result.issue.title)
    assert result.issue.date_text in meta.title
    assert meta.author
    assert meta.creation_date.date() == result.issue.date


def test_teasers_point_to_the_pages_their_articles_start_on(sample_builds):
    result = sample_builds["issue-42"]
    _, articles, _ = load(result.issue.manifest)
    pages = page_words(result.pdf)
    teased = [a for a in articles if a.teaser and a.place.kind != "front"]
    assert len(teased) >= 3
    for article in teased:
        title = words(article.title.striptags())
        start = next(n for n, page in enumerate(pages[1:], start=2)
                     if find_sequence(page, title) >= 0)
        teaser_at = find_sequence(pages[0], words(article.teaser.striptags()))
        assert teaser_at >= 0, f"no teaser for {article.source.name} on the front page"
        after = pages[0][teaser_at:teaser_at + 40]
        pointers = [after[i + 1] for i, word in enumerate(after[:-1]) if word in ("page", "pages")]
        assert pointers and pointers[0].startswith(str(start)), (article.source.name, start, after)


def test_bulletin_is_black_only_and_keeps_clear_of_the_sheet_edge(sample_builds):
    for image in page_images(sample_builds["busworker-2026-11-24"].pdf, dpi=50):
        rgb = image.convert("RGB")
        colours = {(r, g, b) for r, g, b in pixels(rgb) if max(r, g, b) - min(r, g, b) > 24}
        assert not colours, "the bulletin must print in black only"
        edge = int(11.5 / 25.4 * 50)  # the margins are 12 mm; half a millimetre for rounding
        w, h = rgb.size
        for box in ((0, 0, w, edge), (0, h - edge, w, h), (0, 0, edge, h), (w - edge, 0, w, h)):
            assert rgb.crop(box).convert("L").getextrema()[0] > 250, "ink within 12 mm of the edge"


def test_pamphlet_back_cover_stays_last_after_padding(sample_builds):
    result = sample_builds["outsourcing-pamphlet"]
    _, articles, _ = load(result.issue.manifest)
    back = next(a for a in articles if a.place.kind == "back")
    pages = page_words(result.pdf)
    assert find_sequence(pages[-1], words(back.paragraphs[0])[:8]) >= 0


def test_one_section_can_be_laid_out_on_its_own():
    """The render stage takes any run of articles: here the centre spread alone."""
    issue, articles, layout = load(REPO / "issues" / "issue-42.yaml")
    spread = [a for a in articles if a.place.kind == "centre"]
    rendered = render(compose(issue, spread, layout), issue.root, readable_roots(issue, layout))
    assert 1 <= rendered.page_count <= 3
    pdf = rendered.pdf
    assert missing_text(spread, marked_words(pdf_text(pdf))) == []


def test_english_is_hyphenated_with_us_patterns_unless_the_manifest_says_otherwise():
    issue, _, _ = load(REPO / "issues" / "busworker-2026-11-24.yaml")
    assert issue.language == "en-GB" and issue.hyphenation_lang == "en-US"
    issue.hyphenation = "en-GB"
    assert issue.hyphenation_lang == "en-GB"
