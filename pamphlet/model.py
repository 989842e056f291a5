"""The validated issue: what every later stage works from."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

PLACE_WORDS = ("front", "back", "centre", "box")
_PAGE = re.compile(r"^(?:page|p\.?)\s*(\d{1,4})$", re.IGNORECASE)


@dataclass(frozen=True)
class Placement:
    """Where an article goes: `kind` is flow, front, page, centre or back; `box` sets it as a panel."""

    kind: str = "flow"
    page: int | None = None
    box: bool = False

    @property
    def label(self) -> str:
        return f"page {self.page}" if self.kind == "page" else self.kind


def parse_place(text: str) -> Placement | None:
    """Read a `place:` value such as 'front', 'page 3', 'centre', 'back' or 'box'."""
    word = text.strip().lower()
    if word == "center":
        word = "centre"
    if word == "box":
        return Placement(box=True)
    if word in PLACE_WORDS:
        return Placement(kind=word)
    if match := _PAGE.match(word):
        return Placement(kind="page", page=int(match[1]))
    return None


@dataclass(frozen=True)
class ArticleRef:
    """One entry of the manifest's `articles:` list, before the file is read."""

    reference: str
    """The path as written, relative to the manifest."""
    line: int
    place: Placement | None = None
    section: str | None = None
    teaser: bool | str | None = None
    box: bool | None = None


ENGLISH_PATTERNS = "en-US"
"""The hyphenation patterns of an issue in English, unless its manifest names others."""


@dataclass
class Issue:
    manifest: Path
    root: Path
    name: str
    title: str
    layout: str
    date: dt.date
    articles: list[ArticleRef]
    subtitle: str = ""
    strapline: str = ""
    number: int | None = None
    volume: int | None = None
    price: str = ""
    website: str = ""
    email: str = ""
    pages: int | None = None
    publisher: str = ""
    author: str = ""
    flash: str = ""
    contact: str = ""
    imprint: str = ""
    language: str = "en-GB"
    hyphenation: str = ""
    raw_html: bool = False
    remote_images: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    """What to build when no --target is given (empty: the layout's default target)."""
    lines: dict[str, int] = field(default_factory=dict)
    branch_contact: str = ""
    """Markdown for one branch's own contact block: set by `build(contact=...)` for a branch's
    edition (see send.py), never by the manifest."""

    @property
    def hyphenation_lang(self) -> str:
        """English is hyphenated with the US patterns unless the manifest says otherwise:
        the en-GB ones break words oddly ('Northg-ate', 'min-imum')."""
        if self.hyphenation:
            return self.hyphenation
        return ENGLISH_PATTERNS if self.language.lower().startswith("en") else self.language

    @property
    def date_text(self) -> str:
        return f"{self.date.day} {self.date:%B %Y}"


EMPTY = Markup("")


@dataclass
class Article:
    source: Path
    id: str
    title: Markup
    body_html: Markup
    place: Placement
    section: str = ""
    short_title: Markup = EMPTY
    kicker: Markup = EMPTY
    standfirst: Markup = EMPTY
    byline: Markup = EMPTY
    image: Path | None = None
    caption: Markup = EMPTY
    alt: str = ""
    credit: Markup = EMPTY
    pullquote: Markup = EMPTY
    teaser: Markup = EMPTY
    paragraphs: list[str] = field(default_factory=list)
    """The body's blocks of text as plain text, in reading order."""
    furniture: list[str] = field(default_factory=list)
    """Headline, kicker, standfirst, byline and caption as plain text."""
    warnings: list[str] = field(default_factory=list)
    """What the editor should know about this article (e.g. HTML the sanitiser removed)."""

    @property
    def running_title(self) -> str:
        """Plain text for running heads: the short title, else the title."""
        return (self.short_title or self.title).striptags()

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)
