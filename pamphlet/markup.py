"""Markdown to HTML for article bodies: CommonMark, tables, footnotes, typographic quotes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

ImageResolver = Callable[[str, int | None], str | None]
"""Turns an image reference and its line into a URL for the page, or None if it is unusable."""

TEXT_BLOCKS = {"paragraph_open", "heading_open", "th_open", "td_open"}


SAFE_TAGS = {
    "p", "br", "hr", "h3", "h4", "h5", "h6", "em", "strong", "b", "i", "u", "s", "sub", "sup",
    "small", "mark", "abbr", "cite", "q", "code", "pre", "kbd", "span", "div", "a", "ul", "ol",
    "li", "dl", "dt", "dd", "blockquote", "figure", "figcaption", "img", "table", "caption",
    "thead", "tbody", "tfoot", "tr", "th", "td", "section", "aside",
}
"""What raw HTML in an article may keep when the manifest allows it: text structure only.
No style, script, link, meta, iframe, object, embed, form, svg; no style or event attributes."""

SAFE_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}
_TAG = re.compile(r"<\s*([a-zA-Z][a-zA-Z0-9-]*)")
_RISKY_ATTRIBUTE = re.compile(r"\s(on[a-z]+|style|rel)\s*=", re.IGNORECASE)


@dataclass
class Rendered:
    html: str
    paragraphs: list[str] = field(default_factory=list)
    """The plain text of every block of text, in reading order (for the text-integrity check)."""
    notes: list[tuple[int, str]] = field(default_factory=list)
    """(line, message) about raw HTML: what the sanitiser took out, or that it shows as text."""


@lru_cache(maxsize=4)
def _parser(html: bool, smartquotes: bool = True) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"typographer": True, "html": html})
    md.enable(["replacements", "table", "strikethrough"])
    if smartquotes:
        md.enable("smartquotes")
    else:
        md.disable("smartquotes")
    md.use(footnote_plugin)
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    md.add_render_rule("footnote_anchor", lambda *args: "")
    md.add_render_rule("footnote_block_open", lambda *args: '<section class="notes"><ol>\n')
    md.add_render_rule("footnote_block_close", lambda *args: "</ol></section>\n")
    return md


def _heading_tag(token: Token) -> str:
    return "h3" if token.tag in ("h1", "h2") else "h4"


def _heading_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any,
                  env: Any) -> str:
    return f'<{_heading_tag(tokens[idx])} class="crosshead">'


def _heading_close(self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any,
                   env: Any) -> str:
    return f"</{_heading_tag(tokens[idx])}>\n"


_MD = _parser(html=False)

QUOTE_WORK_LIMIT = 20_000_000
"""markdown-it's smartquotes costs (quotes x length) per paragraph; past this, a paragraph of
thousands of quotes would take minutes, so such a text keeps straight quotes."""


def _smartquotes_affordable(text: str) -> bool:
    return all(len(block) * (block.count("'") + block.count('"')) <= QUOTE_WORK_LIMIT
               for block in re.split(r"\n[ \t]*\n", text))


def render_markdown(text: str, doc_id: str = "", resolve_image: ImageResolver | None = None,
                    first_line: int = 1, allow_html: bool = False) -> Rendered:
    """Render Markdown; `first_line` is the line of the text's start in its file (for errors).
    Raw HTML is shown as text unless `allow_html`, and then only what SAFE_TAGS allow stays."""
    md = _parser(allow_html, _smartquotes_affordable(text))
    env: dict[str, Any] = {"docId": doc_id} if doc_id else {}
    tokens = md.parse(text, env)
    if resolve_image is not None:
        _resolve_images(tokens, resolve_image, first_line)
    html = md.renderer.render(tokens, md.options, env)
    if not allow_html:
        return Rendered(html, plain_paragraphs(tokens), _html_as_text(tokens, first_line))

    ours = {str(t.attrGet("src")) for token in tokens for t in token.children or []
            if t.type == "image"}

    def keep_attribute(tag: str, attribute: str, value: str) -> str | None:
        """Pictures in raw HTML are checked like Markdown ones; no links to local files."""
        try:
            if tag == "img" and attribute == "src" and value not in ours:
                return resolve_image(unquote(value), first_line) if resolve_image else None
            if attribute == "href" and value.strip().lower().startswith("file:"):
                return None
        except Exception:  # nh3 would swallow it and keep going: refuse the value instead
            return None
        return value

    html = nh3.clean(html, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, link_rel=None,
                     url_schemes={"http", "https", "mailto", "file"}, strip_comments=True,
                     attribute_filter=keep_attribute)
    return Rendered(html, plain_paragraphs(tokens), _unsafe_html(tokens, first_line))


def _raw_html(tokens: list[Token], first_line: int) -> list[tuple[int, str]]:
    """(line, content) of every piece of raw HTML."""
    found = []
    line = first_line
    for token in tokens:
        if token.map:
            line = first_line + token.map[0]
        if token.type == "html_block":
            found.append((line, token.content))
        for child in token.children or []:
            if child.type == "html_inline":
                found.append((line, child.content))
    return found


def _unsafe_html(tokens: list[Token], first_line: int) -> list[tuple[int, str]]:
    """What the sanitiser takes out of the raw HTML, with the line it stands on."""
    notes = []
    for line, content in _raw_html(tokens, first_line):
        for tag in _TAG.findall(content):
            if tag.lower() not in SAFE_TAGS:
                notes.append((line, f"removed <{tag.lower()}> from the raw HTML"))
        for attribute in _RISKY_ATTRIBUTE.findall(content):
            notes.append((line, f"removed the {attribute.lower()} attribute from the raw HTML"))
    return notes


def _html_as_text(tokens: list[Token], first_line: int) -> list[tuple[int, str]]:
    """Where HTML tags will be printed as text because raw HTML is off."""
    line = first_line
    for token in tokens:
        if token.map:
            line = first_line + token.map[0]
        text = token.content if token.type == "inline" else ""
        if _TAG.search(text) and re.search(r"</?[a-zA-Z][^<>]*>", text):
            return [(line, "HTML tags are printed as text (raw HTML is off; "
                           "'raw_html: true' in the manifest allows simple HTML)")]
    return []


def render_inline(text: str) -> str:
    """Typographic HTML for a one-line field such as a headline or caption."""
    return _MD.renderInline(text)


def inline_text(text: str) -> str:
    """The plain text a one-line field shows once typeset."""
    tokens = _MD.parseInline(text)
    return " ".join("".join(_plain(t) for t in tokens[0].children or []).split())


def _resolve_images(tokens: list[Token], resolve: ImageResolver, first_line: int) -> None:
    line = first_line
    for token in tokens:
        if token.map:
            line = first_line + token.map[0]
        for child in token.children or []:
            if child.type == "image":
                url = resolve(str(child.attrGet("src") or ""), line)
                child.attrSet("src", url or "")


def plain_paragraphs(tokens: list[Token]) -> list[str]:
    paragraphs = []
    for i, token in enumerate(tokens):
        if token.type not in TEXT_BLOCKS:
            continue
        inline = tokens[i + 1]
        text = "".join(_plain(child) for child in inline.children or [])
        if text.strip():
            paragraphs.append(" ".join(text.split()))
    return paragraphs


def _plain(token: Token) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    if token.type in ("softbreak", "hardbreak"):
        return " "
    if token.type == "footnote_ref":
        return f"[{token.meta['id'] + 1}]"
    return ""
