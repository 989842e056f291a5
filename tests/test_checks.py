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
    assert "story.md: paragraph 2 is missing from the PDF (starts 'The second one is lost.…')" \
        == str(missing[0])


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
