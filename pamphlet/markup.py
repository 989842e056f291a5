"""Markdown to HTML for article bodies: CommonMark, tables, footnotes, typographic quotes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

ImageResolver = Callable[[str, int | None], str | None]
"""Turns an image reference and its line into a URL for the page, or None if it is unusable."""

TEXT_BLOCKS = {"paragraph_open", "heading_open", "th_open", "td_open"}


@dataclass
class Rendered:
    html: str
    paragraphs: list[str] = field(default_factory=list)
    """The plain text of every block of text, in reading order (for the text-integrity check)."""


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"typographer": True, "html": False})
    md.enable(["replacements", "smartquotes", "table", "strikethrough"])
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


_MD = _parser()


def render_markdown(text: str, doc_id: str = "", resolve_image: ImageResolver | None = None,
                    first_line: int = 1) -> Rendered:
    """Render Markdown; `first_line` is the line of the text's start in its file (for errors)."""
    env: dict[str, Any] = {"docId": doc_id} if doc_id else {}
    tokens = _MD.parse(text, env)
    if resolve_image is not None:
        _resolve_images(tokens, resolve_image, first_line)
    html = _MD.renderer.render(tokens, _MD.options, env)
    return Rendered(html=html, paragraphs=plain_paragraphs(tokens))


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
