"""The text-integrity check itself: it must find lost text and not cry wolf."""

from __future__ import annotations

from pathlib import Path

from pamphlet.checks import marked_words, missing_text, words
from pamphlet.model import Article, Placement


def article(*paragraphs: str, furniture: tuple[str, ...] = ()) -> Article:
    return Article(source=Path("story.md"), id="a-story", title="T", body_html="",
                   place=Placement(), paragraphs=list(paragraphs), furniture=list(furniture))


def test_words_join_line_end_hyphens_and_drop_punctuation():
    assert words("Strike–ballot “won’t”\nwait: re-\nfused, co\x02operation") == \
        ["strike", "ballot", "wont", "wait", "refused", "cooperation"]


def test_a_dropped_paragraph_is_found():
    story = article("The first paragraph is here.", "The second one is lost.",
                    "The third is here.")
    pdf = marked_words("3 NEWS The first paragraph is here. The third is here.")
    missing = missing_text([story], pdf)
    assert [m.index for m in missing] == [1]
    assert str(missing[0]) \
        == "story.md: paragraph 2 is missing from the PDF (starts 'The second one is lost.…')"


def test_paragraphs_out_of_order_are_reported():
    story = article("Alpha beta gamma.", "Delta epsilon zeta.")
    assert missing_text([story], marked_words("Delta epsilon zeta. Alpha beta gamma."))


def test_a_truncated_paragraph_is_reported():
    story = article("One two three four five six seven.")
    assert missing_text([story], marked_words("One two three four five"))


def test_folios_and_captions_between_lines_are_allowed():
    story = article("Workers at the depot voted by a large majority to strike.")
    pdf = marked_words("Workers at the depot voted by\n4 INDUSTRIAL www.example.org\n"
                       "a large majority to strike.")
    assert missing_text([story], pdf) == []


def test_a_word_keeps_exactly_its_letters_and_digits_in_any_script():
    """Every character of Unicode but the surrogates, fifty to a word: a word keeps what
    str.isalnum() calls a letter or digit (and the break mark), lower-cased."""
    import re
    import unicodedata

    from pamphlet.checks import _LINE_END_HYPHEN, SOFT_BREAK

    every = "".join(chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000)
    for start in range(0, len(every), 50):
        text = every[start:start + 50]
        plain = re.sub(r"[\u2013\u2014/]", " ", _LINE_END_HYPHEN.sub(
            "", unicodedata.normalize("NFKC", text)))
        expected = ["".join(ch for ch in w.lower() if ch.isalnum() or ch == SOFT_BREAK)
                    for w in plain.split()]
        assert marked_words(text) == [w for w in expected if w.strip(SOFT_BREAK)], start


def test_a_word_hyphenated_across_a_page_break_with_a_running_head_between():
    story = article("They won full recognition of service in April.")
    pdf = marked_words("They won full recogni\x02O R G A N I S I N G TO W I N\r\n15\n"
                       "tion of service in April.")
    assert missing_text([story], pdf) == []


def test_missing_headline_text_is_reported():
    story = article("Body.", furniture=("Bin crews ballot", "By a bin worker"))
    missing = missing_text([story], marked_words("Bin crews ballot Body."))
    assert [str(m) for m in missing] == [
        "story.md: the headline text is missing from the PDF (starts 'By a bin worker…')"]


def test_misplaced_articles():
    from pamphlet.checks import misplaced
    front = Article(source=Path("lead.md"), id="a-lead", title="T", body_html="",
                    place=Placement("front"))
    page3 = Article(source=Path("p3.md"), id="a-p3", title="T", body_html="",
                    place=Placement("page", 3))
    centre = Article(source=Path("c.md"), id="a-c", title="T", body_html="",
                     place=Placement("centre"))
    assert misplaced([front, page3, centre], {"a-lead": 1, "a-p3": 3, "a-c": 6}, 12) == []
    assert misplaced([front, page3, centre], {"a-lead": 1, "a-p3": 4, "a-c": 7}, 12) == [
        "p3.md is placed on page 3 but starts on page 4: the pages before it hold too much",
        "c.md is placed on the centre pages but starts on page 7: the pages before it hold "
        "too much"]


def test_fonts_that_are_not_ours_or_not_embedded_are_reported():
    from pamphlet.checks import foreign_fonts
    from pamphlet.fonts import FontFace
    ours = [FontFace("PT Serif", 400, False, "PTSerif-Regular", Path("PTSerif-Regular.ttf"))]
    assert foreign_fonts({"PTSerif-Regular": True}, ours) == []
    assert foreign_fonts({"PTSerif-Regular": True, "DejaVuSans": True, "Arial": False}, ours) == [
        "the font Arial is not embedded in the PDF",
        "some text is set in DejaVuSans, a font pamphlet does not bundle "
        "(a character your fonts lack?)"]


def test_a_character_the_bundled_fonts_lack_is_caught_in_a_real_build(publication):
    from test_cli import pamphlet
    publication.article("short.md", "---\ntitle: Snip\n---\nCut here ✂ and post it.\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0
    assert "a font pamphlet does not bundle" in result.output or \
        "WeasyPrint" in result.output, result.output
