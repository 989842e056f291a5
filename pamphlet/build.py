"""The pipeline: manifest -> issue -> articles -> layout -> HTML -> PDF -> checks -> build/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .articles import load_articles
from .checks import foreign_fonts, marked_words, misplaced, missing_text, pdf_fonts, pdf_text
from .compose import compose
from .errors import PamphletError, Problem, Problems
from .fonts import find_fonts, font_dirs
from .isolation import LimitExceeded, Limits, run_limited
from .layouts import Layout, find_layout, layout_dirs
from .manifest import load_issue
from .model import Article, Issue
from .output import exclusive, write_atomically
from .publication import root_of_manifest
from .render import Rendered, render

Progress = Callable[[str], None]
DEFAULT_LIMITS = Limits()


@dataclass
class BuildResult:
    issue: Issue
    pdf: Path
    html: Path
    pages: int
    size: int
    seconds: float
    padding: int = 0
    warnings: list[str] = field(default_factory=list)


def load(manifest: Path) -> tuple[Issue, list[Article], Layout]:
    """Read and check everything before rendering; raise with every problem at once."""
    root = root_of_manifest(manifest)
    problems = Problems()
    issue = load_issue(manifest, root, problems)
    layout = None
    if issue.layout:
        try:
            layout = find_layout(issue.layout, root,
                                 where=Problem(manifest, issue.lines.get("layout"), ""))
        except PamphletError as error:
            problems.extend(error.problems)
    try:
        articles = load_articles(issue)
    except PamphletError as error:
        problems.extend(error.problems)
    problems.raise_if_any()
    assert layout is not None
    return issue, articles, layout


def build(manifest: Path, out: Path | None = None, strict: bool = False,
          progress: Progress = lambda message: None, limits: Limits = DEFAULT_LIMITS,
          contact: str | None = None) -> BuildResult:
    """Build the issue to `out` (default build/NAME.pdf). `contact` (Markdown) adds a branch's
    own contact block to the back page, for that branch's edition."""
    started = time.perf_counter()
    progress("reading the manifest and articles")
    try:
        issue, articles, layout = run_limited(load, (manifest,), limits)
    except LimitExceeded as stop:
        raise PamphletError([Problem(manifest, None, _limit_message(manifest.stem, "reading", stop),
                                     "look for a huge or strange article")]) from stop
    if contact:
        issue.branch_contact = contact
    pdf_path = out or issue.root / "build" / f"{issue.name}.pdf"
    with exclusive(pdf_path, lambda: progress(f"waiting for another build of {pdf_path.name}")):
        return _build(issue, articles, layout, pdf_path, strict, progress, limits, started)


def _build(issue: Issue, articles: list[Article], layout: Layout, pdf_path: Path, strict: bool,
           progress: Progress, limits: Limits, started: float) -> BuildResult:
    html, rendered, padding = lay_out(issue, articles, layout, progress, limits)
    pdf = rendered.pdf
    warnings = check(issue, articles, layout, rendered, pdf, padding)
    if strict and warnings:
        raise PamphletError([Problem(issue.manifest, None, w) for w in warnings]
                            + [Problem(None, None, "--strict: warnings count as errors")])
    html_path = pdf_path.with_suffix(".html")
    for path, data in ((pdf_path, pdf), (html_path, html.encode("utf-8"))):
        try:
            write_atomically(path, data)
        except OSError as error:
            raise PamphletError([Problem(path, None, f"cannot write this file: "
                                         f"{error.strerror or error}",
                                         "check that you may write to the folder and that the disk "
                                         "is not full")]) from error
    return BuildResult(issue, pdf_path, html_path, rendered.page_count, len(pdf),
                       time.perf_counter() - started, padding, warnings)


def lay_out(issue: Issue, articles: list[Article], layout: Layout,
            progress: Progress = lambda message: None,
            limits: Limits = DEFAULT_LIMITS) -> tuple[str, Rendered, int]:
    """Compose and render; when the layout wants a multiple of N pages, add blank pages
    before the back page and render again."""
    roots = readable_roots(issue, layout)
    progress("laying out the pages")
    html = compose(issue, articles, layout)
    rendered = _render(html, issue, layout, roots, limits, progress)
    short = -rendered.page_count % layout.pad_to
    if short:
        progress(f"adding {short} blank page(s) to make a multiple of {layout.pad_to}")
        html = compose(issue, articles, layout, padding=short)
        rendered = _render(html, issue, layout, roots, limits, progress)
    return html, rendered, short


def readable_roots(issue: Issue, layout: Layout) -> list[Path]:
    """The only folders the renderer may read from."""
    return [issue.root, *layout_dirs(issue.root), *font_dirs(issue.root), *layout.chain]


def _render(html: str, issue: Issue, layout: Layout, roots: list[Path],
            limits: Limits, progress: Progress) -> Rendered:
    def step(message: str) -> None:
        if plain := plain_progress(message):
            progress(plain)

    try:
        return run_limited(render, (html, issue.root, roots, bool(layout.settings.get("mono"))),
                           limits, step)
    except LimitExceeded as stop:
        raise PamphletError([Problem(issue.manifest, None,
                                     _limit_message(issue.name, "laying out", stop),
                                     "the previous PDF is unchanged; look for a huge size or a "
                                     "very long table in the layout or the articles")]) from stop
    except Exception as error:
        raise PamphletError([Problem(
            layout.folder, None, f"WeasyPrint could not lay out the pages ({error})",
            "this is usually CSS that WeasyPrint does not support: undo the last change to "
            "the layout; --debug shows where it failed")]) from error


def plain_progress(message: str) -> str | None:
    """WeasyPrint's progress log in an editor's words (None for steps not worth a line)."""
    if match := re.search(r"Creating layout - Page (\d+)", message):
        return f"laying out page {match[1]}"
    if "Repagination" in message:
        return "laying out again to settle page numbers"
    if "Creating PDF" in message:
        return "writing the PDF"
    return None


def _limit_message(name: str, doing: str, stop: LimitExceeded) -> str:
    if stop.kind == "time":
        return (f"{doing} {name} took longer than {stop.limits.seconds:g} s, so it was "
                "stopped (--timeout sets the limit)")
    if stop.kind == "memory":
        return (f"{doing} {name} needed more than {stop.limits.memory_mb} MB of memory, "
                "so it was stopped (--memory sets the limit)")
    return (f"{doing} {name} stopped without a word: most likely it ran out of memory "
            f"(limit {stop.limits.memory_mb} MB; --memory sets it)")


def check(issue: Issue, articles: list[Article], layout: Layout, rendered: Rendered,
          pdf: bytes, padding: int) -> list[str]:
    warnings = [w for article in articles for w in article.warnings]
    warnings += [f"WeasyPrint: {message}" for message in rendered.messages]
    pages = rendered.page_count
    if issue.pages and pages != issue.pages:
        warnings.append(f"the issue fills {pages} pages but the manifest plans {issue.pages}")
    max_pages = layout.settings.get("max_pages")
    if max_pages and pages > max_pages:
        warnings.append(f"the {layout.name} layout takes at most {max_pages} pages, "
                        f"this issue needs {pages}: shorten or drop an article")
    if padding:
        warnings.append(f"{padding} blank page(s) added to make the page count a multiple "
                        f"of {layout.pad_to}")
    warnings.extend(misplaced(articles, rendered.start_pages, pages))
    for missing in missing_text(articles, marked_words(pdf_text(pdf))):
        warnings.append(str(missing))
    warnings.extend(foreign_fonts(pdf_fonts(pdf), find_fonts(issue.root)))
    return warnings
