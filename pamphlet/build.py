"""The pipeline: manifest -> issue -> articles -> layout -> HTML -> PDF -> checks -> build/."""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import sections as sections_module
from .articles import load_articles
from .compose import compose
from .errors import PamphletError, Problem, Problems
from .fonts import font_dirs
from .isolation import LimitExceeded, Limits, run_limited, usable_cores
from .layouts import SETTINGS_FILE, Layout, find_layout, layout_dirs
from .manifest import load_issue
from .model import Article, Issue
from .output import exclusive, write_atomically
from .preflight import Finding, part_facts, preflight
from .publication import root_of_manifest
from .render import Rendered, RenderOptions, prune_pictures, render
from .sections import lay_out_sections, placement_hints
from .sections import wanted as sections_wanted
from .speed import setup_build
from .targets import (
    DEFAULT_PROFILE,
    PROFILE_CONDITION,
    PROFILES,
    TARGETS,
    Target,
    default_target,
    profile_path,
)

Progress = Callable[[str], None]
DEFAULT_LIMITS = Limits()


@dataclass
class BuildResult:
    issue: Issue
    target: str
    pdf: Path
    html: Path
    pages: int
    size: int
    seconds: float
    padding: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [str(f) for f in self.findings]


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
          contact: str | None = None, target: str | None = None) -> BuildResult:
    """Build one target of the issue (default: the first the manifest or layout names) to
    `out` (default build/NAME.TARGET.pdf). `contact` (Markdown) adds a branch's own contact
    block to the back page, for that branch's edition."""
    return build_targets(manifest, [target] if target else None, out, strict, progress, limits,
                         contact)[0]


def build_targets(manifest: Path, targets: list[str] | None = None, out: Path | None = None,
                  strict: bool = False, progress: Progress = lambda message: None,
                  limits: Limits = DEFAULT_LIMITS, contact: str | None = None) -> list[BuildResult]:
    """Build each target (default: the manifest's `targets`, else the layout's) in turn."""
    started = time.perf_counter()
    setup_build()
    issue, articles, layout = _load_limited(manifest, limits, progress)
    if contact:
        issue.branch_contact = contact
    names = chosen_targets(issue, layout, targets)
    if out is not None and len(names) > 1:
        raise PamphletError([Problem(None, None, "--out names one file, but this builds "
                                     f"{len(names)} targets", "add --target NAME")])
    results = []
    for name in names:
        pdf_path = out or output_path(issue.root, issue.name, name)
        waiting = f"waiting for another build of {pdf_path.name}"
        with exclusive(pdf_path, lambda message=waiting: progress(message)):
            results.append(_build(issue, articles, layout, TARGETS[name], pdf_path, strict,
                                  progress, limits, started))
        started = time.perf_counter()
    return results


@dataclass
class CheckResult:
    target: str
    pages: int
    size: int
    findings: list[Finding]

    @property
    def fatal(self) -> list[Finding]:
        return [f for f in self.findings if f.fatal]


def check_targets(manifest: Path, targets: list[str] | None = None,
                  progress: Progress = lambda message: None,
                  limits: Limits = DEFAULT_LIMITS) -> list[CheckResult]:
    """Lay out each target and run the preflight, writing nothing."""
    setup_build()
    issue, articles, layout = _load_limited(manifest, limits, progress)
    results = []
    for name in chosen_targets(issue, layout, targets):
        _, rendered, _, findings = _made(issue, articles, layout, TARGETS[name], progress, limits)
        results.append(CheckResult(name, rendered.page_count, len(rendered.pdf), findings))
    return results


def _load_limited(manifest: Path, limits: Limits, progress: Progress) -> tuple[Issue, list[Article], Layout]:
    progress("reading the manifest and articles")
    try:
        return run_limited(load, (manifest,), limits)
    except LimitExceeded as stop:
        raise PamphletError([Problem(manifest, None, _limit_message(manifest.stem, "reading", stop),
                                     "look for a huge or strange article")]) from stop


@dataclass
class IssueOutcome:
    """One issue of `build_many`: what was built, or why not."""

    manifest: Path
    results: list[BuildResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def build_many(manifests: list[Path], targets: list[str] | None = None, strict: bool = False,
               limits: Limits = DEFAULT_LIMITS, workers: int | None = None) -> list[IssueOutcome]:
    """Build several issues at once, one per core, each under its own limits; a problem in
    one issue does not stop the others. The cores are shared out: each issue lays out its
    sections with its share of them, not with all (two issues at once, each with two layout
    workers, spent 15 % more time starting workers and fonts than with one each)."""
    workers = max(1, min(workers or usable_cores(), len(manifests)))
    if workers == 1 or not hasattr(os, "fork"):
        return [_build_one(m, targets, strict, limits) for m in manifests]
    from concurrent.futures import ProcessPoolExecutor  # here: one issue's build needs none

    context = multiprocessing.get_context("fork")
    share = max(1, usable_cores() // workers)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_share_cores,
                             initargs=(share,)) as pool:
        started = {m: pool.submit(_build_one, m, targets, strict, limits)
                   for m in largest_first(manifests)}
        return [started[m].result() for m in manifests]


def largest_first(manifests: list[Path]) -> list[Path]:
    """The issues in the order to start them: the most text first, so that the last to
    finish is a small one and no core waits long on a big one at the end."""
    def text_bytes(manifest: Path) -> int:
        articles = manifest.parent / manifest.stem
        try:
            files = [manifest, *(articles.rglob("*.md") if articles.is_dir() else [])]
            return sum(f.stat().st_size for f in files if f.is_file())
        except OSError:
            return 0  # the build itself will say what is wrong

    return sorted(manifests, key=text_bytes, reverse=True)


def _share_cores(cores: int) -> None:
    """In a worker of `build_many`: this issue's share of the layout workers."""
    sections_module.WORKERS = cores


def _build_one(manifest: Path, targets: list[str] | None, strict: bool,
               limits: Limits) -> IssueOutcome:
    try:
        return IssueOutcome(manifest, build_targets(manifest, targets, strict=strict, limits=limits))
    except PamphletError as error:
        return IssueOutcome(manifest, problems=error.problems)


def chosen_targets(issue: Issue, layout: Layout, asked: list[str] | None) -> list[str]:
    names = asked or issue.targets or [default_target(layout)]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        where = None if asked or issue.targets else layout.folder / SETTINGS_FILE
        raise PamphletError([Problem(where, None, f"there is no target called '{unknown[0]}'",
                                     f"use one of {', '.join(TARGETS)}")])
    return list(dict.fromkeys(names))


def output_path(root: Path, name: str, target: str) -> Path:
    """Each target's PDF has its own name, so no build overwrites another's."""
    return root / "build" / f"{name}.{target}.pdf"


def _build(issue: Issue, articles: list[Article], layout: Layout, target: Target,
           pdf_path: Path, strict: bool, progress: Progress, limits: Limits,
           started: float) -> BuildResult:
    html, rendered, padding, findings = _made(issue, articles, layout, target, progress, limits)
    pdf = rendered.pdf
    refused = [f for f in findings if f.fatal or strict]
    if refused:
        raise PamphletError([Problem(issue.manifest, None, str(f)) for f in refused]
                            + [Problem(None, None, "--strict: warnings count as errors")
                               if strict and not any(f.fatal for f in refused) else
                               Problem(None, None, f"the {target.name} PDF would not print "
                                       "right, so it was not written")])
    html_path = pdf_path.with_suffix(".html")
    for path, data in ((pdf_path, pdf), (html_path, html.encode("utf-8"))):
        try:
            write_atomically(path, data)
        except OSError as error:
            raise PamphletError([Problem(path, None, f"cannot write this file: "
                                         f"{error.strerror or error}",
                                         "check that you may write to the folder and that the disk "
                                         "is not full")]) from error
    return BuildResult(issue, target.name, pdf_path, html_path, rendered.page_count, len(pdf),
                       time.perf_counter() - started, padding, findings)


def _made(issue: Issue, articles: list[Article], layout: Layout, target: Target,
          progress: Progress, limits: Limits) -> tuple[str, Rendered, int, list[Finding]]:
    html, rendered, padding = lay_out(issue, articles, layout, progress, limits, target)
    progress(f"checking the {target.name} PDF")
    return html, rendered, padding, preflight(issue, articles, layout, target, rendered, padding)


def lay_out(issue: Issue, articles: list[Article], layout: Layout,
            progress: Progress = lambda message: None,
            limits: Limits = DEFAULT_LIMITS,
            target: Target = TARGETS["office"]) -> tuple[str, Rendered, int]:
    """Compose and render; when the layout wants a multiple of N pages, add blank pages
    before the back page and render again."""
    roots = readable_roots(issue, layout)
    options = render_options(issue, articles, layout, target)
    progress("laying out the pages")
    html = compose(issue, articles, layout, target=target)
    planned = issue.pages or layout.settings.get("pages")
    rendered = _render(html, issue, layout, roots, limits, progress, options, target,
                       placement_hints(articles, 0, planned))
    short = -rendered.page_count % layout.pad_to
    if short:
        progress(f"adding {short} blank page(s) to make a multiple of {layout.pad_to}")
        html = compose(issue, articles, layout, padding=short, target=target)
        rendered = _render(html, issue, layout, roots, limits, progress, options, target,
                           placement_hints(articles, short, planned))
    if options.picture_cache is not None:
        prune_pictures(options.picture_cache)
    return html, rendered, short


def readable_roots(issue: Issue, layout: Layout) -> list[Path]:
    """The only folders the renderer may read from (the colour profiles for the print shop)."""
    return [issue.root, *layout_dirs(issue.root), *font_dirs(issue.root), *layout.chain, PROFILES]


def render_options(issue: Issue, articles: list[Article], layout: Layout,
                   target: Target) -> RenderOptions:
    """What the target asks of the renderer; a black-only layout hands pictures over in
    greys whatever the target."""
    attachments: tuple[tuple[Path, str], ...] = ()
    if target.attach_sources:
        attachments = ((issue.manifest, "the issue manifest"),
                       *((a.source, f"article source: {a.title}") for a in articles))
    profile = profile_path(layout) if target.colour == "cmyk" else None
    return RenderOptions(
        colour="grey" if layout.settings.get("mono") else target.colour, profile=profile,
        pdf_variant=target.pdf_variant, max_ppi=target.max_ppi,
        jpeg_quality=target.jpeg_quality, crop_marks=target.crop_marks,
        output_condition=PROFILE_CONDITION if profile == PROFILES / DEFAULT_PROFILE else None,
        attachments=attachments, picture_cache=issue.root / "build" / ".cache" / "pictures")


def _render(html: str, issue: Issue, layout: Layout, roots: list[Path],
            limits: Limits, progress: Progress, options: RenderOptions, target: Target,
            hints: list[int | None] | None = None) -> Rendered:
    """Section by section in parallel, with a cache (sections.py), where the layout is made
    of runs of pages; otherwise the whole document in one pass. The checks read each
    section's pages as it comes, while the workers lay out the others."""
    def step(message: str) -> None:
        if plain := plain_progress(message):
            progress(plain)

    try:
        if sections_wanted(options):
            cache = issue.root / "build" / ".cache" / "sections"
            done = lay_out_sections(
                html, issue.root, roots, options, limits, render, hints, cache, progress,
                each=functools.partial(part_facts, colour=target.colour,
                                       edge_mm=target.safe_edge_mm))
            if done is not None:
                return done
        return run_limited(render, (html, issue.root, roots, options), limits, step,
                           lean=True)
    except LimitExceeded as stop:
        raise PamphletError([Problem(issue.manifest, None,
                                     _limit_message(issue.name, "laying out", stop),
                                     "the previous PDF is unchanged; look for a huge size or a "
                                     "very long table in the layout or the articles")]) from stop
    except PamphletError:
        raise
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
