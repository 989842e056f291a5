"""Article Markdown: the typography and structure editors rely on."""

from __future__ import annotations

from pamphlet.markup import inline_text, render_inline, render_markdown


def test_quotes_and_dashes_become_typographic():
    html = render_markdown('She said "it\'s ours" -- and meant it --- all of it...').html
    assert "“it’s ours” – and meant it — all of it…" in html


def test_headings_become_crossheads_below_the_headline():
    html = render_markdown("# One\n\n## Two\n\n### Three\n").html
    assert '<h3 class="crosshead">One</h3>' in html
    assert '<h3 class="crosshead">Two</h3>' in html
    assert '<h4 class="crosshead">Three</h4>' in html


def test_tables_block_quotes_and_footnotes():
    text = "| Grade | Offer |\n|---|---|\n| A | 2% |\n\n> Quoted.\n\nA claim.[^1]\n\n[^1]: The source."
    rendered = render_markdown(text, doc_id="a-x")
    assert "<table>" in rendered.html and "<td>2%</td>" in rendered.html
    assert "<blockquote>" in rendered.html
    assert 'href="#fn-a-x-1"' in rendered.html
    assert '<section class="notes">' in rendered.html and "The source." in rendered.html
    assert "↩" not in rendered.html
    assert rendered.paragraphs == ["Grade", "Offer", "A", "2%", "Quoted.", "A claim.[1]",
                                   "The source."]


def test_footnote_ids_do_not_clash_between_articles():
    one = render_markdown("x[^1]\n\n[^1]: a", doc_id="a-one").html
    two = render_markdown("y[^1]\n\n[^1]: b", doc_id="a-two").html
    assert 'id="fn-a-one-1"' in one and 'id="fn-a-two-1"' in two


def test_raw_html_is_shown_as_text_not_obeyed():
    html = render_markdown('<script>alert(1)</script>\n\n<img src="x" onerror="y">').html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html


def test_images_are_resolved_with_their_line():
    seen = []

    def resolve(src, line):
        seen.append((src, line))
        return "file:///pics/" + src

    html = render_markdown("Text.\n\n![A crowd](crowd.jpg)\n", resolve_image=resolve,
                           first_line=10).html
    assert seen == [("crowd.jpg", 12)]
    assert 'src="file:///pics/crowd.jpg"' in html


def test_inline_fields():
    assert render_inline("Fish & chips -- 'cheap'") == "Fish &amp; chips – ‘cheap’"
    assert inline_text("*Very* **bold** -- ok") == "Very bold – ok"
