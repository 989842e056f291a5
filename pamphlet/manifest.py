"""Stage 1: read an issue manifest (issues/NAME.yaml) into a validated `Issue`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from .errors import Problems
from .model import ArticleRef, Issue, Placement, parse_place
from .schema import Field, check_mapping
from .targets import TARGETS
from .yamlfile import Mapping, parse_yaml, read_text

MANIFEST_KEYS = {
    "title": Field("text", True, "the publication's name, shown in the nameplate"),
    "layout": Field("text", True, "newspaper, bulletin, pamphlet or a folder under layouts/"),
    "date": Field("date", True, "the issue date, written as YYYY-MM-DD"),
    "articles": Field("list", True, "the article files in reading order"),
    "subtitle": Field("text", help="a small line by the nameplate"),
    "strapline": Field("text", help="the slogan under the nameplate"),
    "number": Field("int", help="the issue number"),
    "volume": Field("int", help="the volume or series number"),
    "price": Field("text", help="e.g. 50p/£1"),
    "website": Field("text"),
    "email": Field("text"),
    "pages": Field("int", help="the planned page count"),
    "publisher": Field("text"),
    "author": Field("text"),
    "flash": Field("text", help="a campaign flash on the front page"),
    "contact": Field("text", help="Markdown for the contact box"),
    "imprint": Field("text", help="Markdown for the imprint line"),
    "language": Field("text", help="e.g. en-GB, the language of the text"),
    "raw_html": Field("bool", help="let articles use simple HTML (it is sanitised)"),
    "remote_images": Field("list", help="web hosts pictures may be fetched from"),
    "hyphenation": Field("text", help="whose hyphenation rules to use, e.g. en-US"),
    "targets": Field("list", help="what to build: office, printshop, email, archive"),
}

ENTRY_KEYS = {
    "path": Field("text", True, "the article file, relative to this manifest"),
    "place": Field("text", help="front, page N, centre, back or box"),
    "section": Field("text", help="the section label shown in the folio"),
    "teaser": Field("bool-or-text", help="show on the front-page teaser stack"),
    "box": Field("bool", help="set the article as a boxed panel"),
}


def load_issue(manifest: Path, root: Path, problems: Problems) -> Issue:
    """Read and check the manifest. Problems go to `problems`; the Issue returned has
    placeholders where the manifest is wrong, so that the articles can still be checked."""
    data = parse_yaml(read_text(manifest), manifest)
    if data is None:
        data = Mapping()
    fields = check_mapping(data, MANIFEST_KEYS, manifest, problems, "manifest")
    line_of = data.lines if isinstance(data, Mapping) else {}
    refs = _article_refs(fields.get("articles", []), manifest, problems)
    if "articles" in fields and not refs and not problems:
        problems.add(manifest, line_of.get("articles"), "the issue lists no articles",
                     "add article files under 'articles:'")
    fields["articles"] = refs
    hosts = fields.get("remote_images", [])
    if not all(isinstance(h, str) and h and "/" not in h for h in hosts):
        problems.add(manifest, line_of.get("remote_images"),
                     "'remote_images' should list host names such as images.example.org",
                     "one name per line, without https:// or a path")
        fields["remote_images"] = []
    fields["targets"] = _targets(fields.get("targets", []), manifest, line_of.get("targets"),
                                 problems)
    fields.setdefault("title", "")
    fields.setdefault("layout", "")
    fields.setdefault("date", dt.date.today())
    return Issue(manifest=manifest, root=root, name=manifest.stem, lines=dict(line_of), **fields)


def _targets(names: list[Any], manifest: Path, line: int | None, problems: Problems) -> list[str]:
    unknown = [str(n) for n in names if n not in TARGETS]
    if unknown:
        problems.add(manifest, line, f"unknown target(s): {', '.join(unknown)}",
                     f"the targets are {', '.join(TARGETS)}")
        return [n for n in names if n in TARGETS]
    return list(dict.fromkeys(names))


def _article_refs(entries: list[Any], manifest: Path, problems: Problems) -> list[ArticleRef]:
    lines = entries.lines if hasattr(entries, "lines") else [None] * len(entries)
    refs = []
    for entry, line in zip(entries, lines, strict=True):
        if isinstance(entry, str):
            entry = {"path": entry}
        elif not isinstance(entry, dict):
            problems.add(manifest, line, "each article must be a file path or a 'path:' mapping",
                         "write '- issue-42/story.md'")
            continue
        options = check_mapping(entry, ENTRY_KEYS, manifest, problems, "article entry", line)
        if "path" not in options:
            continue
        place = _place(options.get("place"), manifest, line, problems)
        refs.append(ArticleRef(
            reference=options["path"], line=line or 1, place=place,
            section=options.get("section"), teaser=options.get("teaser"), box=options.get("box")))
    return refs


def _place(text: str | None, file: Path, line: int | None, problems: Problems) -> Placement | None:
    if text is None:
        return None
    place = parse_place(text)
    if place is None:
        problems.add(file, line, f"'place: {text}' is not a place pamphlet knows",
                     "use front, page N (e.g. page 3), centre, back or box")
    return place
