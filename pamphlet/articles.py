"""Stage 2: read each article (Markdown with YAML front matter) into an `Article`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from markupsafe import Markup

from .errors import PamphletError, Problem, Problems, display_path
from .images import check_picture
from .markup import inline_text, render_inline, render_markdown
from .model import Article, ArticleRef, Issue, Placement, parse_place
from .paths import Refused, resolve_inside
from .schema import Field, check_mapping
from .yamlfile import MAX_BYTES, Mapping, parse_yaml, read_text

FRONT_MATTER_KEYS = {
    "title": Field("text", True, "the headline"),
    "short_title": Field("text", help="a shorter title for running heads and contents"),
    "kicker": Field("text", help="a small label above the headline"),
    "standfirst": Field("text", help="the intro between headline and body"),
    "byline": Field("text", help="e.g. By Sam Okafor"),
    "image": Field("text", help="a picture file, relative to the article"),
    "caption": Field("text"),
    "alt": Field("text", help="a description of the picture for screen readers"),
    "credit": Field("text", help="who took the picture"),
    "pullquote": Field("text"),
    "place": Field("text", help="front, page N, centre, back or box"),
    "section": Field("text"),
    "teaser": Field("bool-or-text"),
    "box": Field("bool"),
}

FURNITURE = ("kicker", "title", "standfirst", "byline", "caption")
"""Front-matter text that must reach the page too (in any order)."""

MAX_IMAGE_BYTES = 40 * 1024 * 1024
_FENCE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)


def load_articles(issue: Issue) -> list[Article]:
    """Read every article of the issue; raise PamphletError listing every problem found."""
    problems = Problems()
    articles = []
    used_ids: set[str] = set()
    for ref in issue.articles:
        try:
            article = load_article(ref, issue, problems)
        except PamphletError as error:
            problems.extend(error.problems)
            continue
        if article is not None:
            article.id = unique(article.id, used_ids)
            articles.append(article)
    problems.raise_if_any()
    return articles


def load_article(ref: ArticleRef, issue: Issue, problems: Problems) -> Article | None:
    try:
        source = resolve_inside(ref.reference, issue.manifest.parent, issue.root, MAX_BYTES)
    except Refused as refused:
        problems.add(issue.manifest, ref.line, f"article file {refused.message}", refused.hint)
        return None
    text = read_text(source)
    front, body, body_line = split_front_matter(text, source)
    meta = check_mapping(front, FRONT_MATTER_KEYS, source, problems, "front matter", 1)
    line_of = front.lines if isinstance(front, Mapping) else {}
    place = _placement(ref, meta, source, line_of.get("place"), problems)

    def resolve_image(src: str, line: int | None) -> str | None:
        path = _image_path(unquote(src), source, issue, line, problems)
        return path.as_uri() if path else None

    image = None
    if "image" in meta:
        image = _image_path(meta["image"], source, issue, line_of.get("image"), problems)
    article_id = "a-" + slug(source.stem)
    rendered = render_markdown(body, doc_id=article_id, resolve_image=resolve_image,
                               first_line=body_line, allow_html=issue.raw_html)
    teaser = ref.teaser if ref.teaser is not None else meta.get("teaser", "")
    if teaser is True:
        teaser = meta.get("standfirst", "")
    def inline(key: str) -> Markup:
        return Markup(render_inline(meta.get(key, "")))

    return Article(
        source=source, id=article_id, title=inline("title"), short_title=inline("short_title"),
        body_html=Markup(rendered.html),
        place=place, section=ref.section or meta.get("section", ""),
        kicker=inline("kicker"), standfirst=inline("standfirst"), byline=inline("byline"),
        image=image, caption=inline("caption"), alt=meta.get("alt", ""), credit=inline("credit"),
        pullquote=inline("pullquote"),
        teaser=Markup(render_inline(teaser)) if isinstance(teaser, str) and teaser else Markup(""),
        paragraphs=rendered.paragraphs,
        furniture=[inline_text(meta[key]) for key in FURNITURE if meta.get(key)],
        warnings=[f"{display_path(source)}:{line}: {note}" for line, note in rendered.notes],
    )


def split_front_matter(text: str, source: Path) -> tuple[Any, str, int]:
    """Return (front matter data, body text, line number where the body starts)."""
    if not text.startswith("---"):
        return Mapping(), text, 1
    fences = list(_FENCE.finditer(text))
    if len(fences) < 2 or fences[0].start() != 0:
        raise PamphletError([Problem(
            source, 1, "the front matter starting with '---' has no closing '---' line",
            "end the title/byline lines with a line of three dashes")])
    head = text[fences[0].end():fences[1].start()]
    body = text[fences[1].end():].lstrip("\n")
    head_lines = text[:fences[1].end()].count("\n") + 1
    body_line = head_lines + len(text[fences[1].end():]) - len(body)
    data = parse_yaml(head, source)
    return (data if data is not None else Mapping()), body, max(body_line, 1)


def _placement(ref: ArticleRef, meta: dict[str, Any], source: Path, line: int | None,
               problems: Problems) -> Placement:
    """The manifest's place wins over the front matter's; 'box' from either one stays."""
    own = None
    if "place" in meta:
        own = parse_place(meta["place"])
        if own is None:
            problems.add(source, line, f"'place: {meta['place']}' is not a place pamphlet knows",
                         "use front, page N (e.g. page 3), centre, back or box")
    given = [p for p in (ref.place, own) if p is not None]
    position = next((p for p in given if p.kind != "flow"), Placement())
    box = any(p.box for p in given)
    for flag in (ref.box, meta.get("box")):
        if flag is not None:
            box = flag
            break
    return Placement(position.kind, position.page, box)


def _image_path(src: str, article: Path, issue: Issue, line: int | None,
                problems: Problems) -> Path | None:
    try:
        if issue.remote_images and src.lower().startswith(("http://", "https://")):
            from .remote import download_picture  # only an issue that fetches them needs it

            path = download_picture(src, issue.remote_images, issue.root / "build" / ".remote")
        else:
            path = resolve_inside(src, article.parent, issue.root, MAX_IMAGE_BYTES)
        check_picture(path)
    except Refused as refused:
        problems.add(article, line, f"picture {refused.message}", refused.hint)
        return None
    return path


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "article"


def unique(name: str, used: set[str]) -> str:
    """`name`, or `name-2`, `name-3`… whichever is not in `used` yet (and add it there)."""
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}-{n}", n + 1
    used.add(candidate)
    return candidate
