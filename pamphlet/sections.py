"""Laying out an issue section by section: each run of pages (a newspaper's `<section class="run">`)
is laid out on its own, in parallel worker processes, its PDF kept in a cache under
build/.cache/sections/ by a hash of everything that went into it; then the pages are put
together into one PDF.

A section laid out alone must come out exactly as it would in the whole document, so each
section's document is the whole document's head (fonts, stylesheets) with:

* blank pages in front of the section, one or two, so that its first page is a left or right
  page as in the whole issue and is never the document's `:first` page; `@page :first
  { counter-set: page N }` numbers them so that the section's first page has its real number.
  They are dropped when the pages are put together;
* for each `href="#id"` (or any `="#id"` attribute, such as the teasers' `data-end`) that points
  into another section, an empty page after the section with that id on it, on a named page
  whose counter is set to the page the id is really on, so `target-counter()` ("See page 6")
  prints the right number. Those pages are dropped too.

Where each section starts is guessed first (from the manifest's placements, and from the page
counts of earlier builds), then checked against what the sections really filled; a section
laid out on a wrong guess is laid out again. Whatever this cannot do the same as one pass
(a layout with `counter(pages)`, a PDF/A or tagged PDF, fewer than two sections) returns None
and the caller renders the whole document in one pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from . import __version__
from .compose import group_sections
from .isolation import Aside, Limits, keeping_workers, run_aside, run_each, usable_cores
from .model import Article
from .paths import referenced_files
from .render import Part, Rendered, pdf_file
from .speed import give_back_memory, import_checkers, import_pypdf

SECTION_START = re.compile(r'^<section class="run[ "]', re.MULTILINE)
REFERENCE = re.compile(r'="#([^"\s]+)"')
IDENTIFIER = re.compile(r'\sid="([^"]+)"')
PLACEHOLDER = "pamphlet-at-"
CACHE_ENTRIES = 600
"""Sections kept in a publication's cache (about 0.2 MB each): a few issues' worth."""
WORKERS = min(4, usable_cores())


FLAT_VARIANTS = (None, "pdf/x-1a", "pdf/x-3", "pdf/x-4")
"""PDF variants whose pages can be put together with their catalog's output intent and
metadata; tagged (PDF/UA) and archival (PDF/A) files are laid out in one pass."""


def wanted(options: object) -> bool:
    """Whether to try sections for a render with these RenderOptions (PAMPHLET_SECTIONS=0
    turns them off)."""
    if os.environ.get("PAMPHLET_SECTIONS", "1").strip().lower() in ("0", "no", "off", "false"):
        return False
    return (getattr(options, "pdf_variant", None) in FLAT_VARIANTS
            and not getattr(options, "attachments", ()))


@dataclass
class Split:
    """The composed HTML cut into its sections."""

    head: str
    """Everything up to and including `<body ...>`."""
    parts: list[str]
    tail: str

    def ids(self, index: int) -> list[str]:
        return IDENTIFIER.findall(self.parts[index])

    def references(self, index: int) -> list[str]:
        """The ids this section points to that are defined in another section."""
        own = set(self.ids(index))
        return list(dict.fromkeys(r for r in REFERENCE.findall(self.parts[index]) if r not in own))


def split(html: str) -> Split | None:
    """The sections of a composed document, or None if it is not made of two or more
    top-level `<section class="run ...">` elements."""
    body = re.search(r"<body[^>]*>", html)
    end = html.rfind("</body>")
    if body is None or end < body.end() or "counter(pages" in html:
        return None
    starts = [m.start() for m in SECTION_START.finditer(html, body.end(), end)]
    if len(starts) < 2 or html[body.end():starts[0]].strip():
        return None
    parts = [html[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]
    if any(p.count("<section") != p.count("</section>") for p in parts):
        return None  # a section inside a section: not ours to cut
    return Split(html[:starts[0]], parts, html[end:])


@dataclass
class Plan:
    """How one section is to be laid out: where it starts and the pages of the ids it points
    to in other sections."""

    index: int
    start: int
    targets: dict[str, int] = field(default_factory=dict)

    @property
    def skip(self) -> int:
        """Blank pages in front: none for page 1; 1 before an even page, 2 before an odd one."""
        return 0 if self.start == 1 else (1 if self.start % 2 == 0 else 2)


def section_document(parts: Split, plan: Plan) -> str:
    """The whole document's head with this one section (see the module's docstring)."""
    css = []
    if plan.skip:
        css.append(f"@page :first {{ counter-set: page {plan.start - plan.skip} }}")
    by_page: dict[int, list[str]] = {}
    for ident, page in plan.targets.items():
        by_page.setdefault(page, []).append(ident)
    placeholders = []
    for page, idents in sorted(by_page.items()):
        css.append(f"@page {PLACEHOLDER}{page} {{ counter-set: page {page} }}")
        anchors = "".join(f'<div id="{ident}"></div>' for ident in idents)
        placeholders.append(f'<div style="page: {PLACEHOLDER}{page}">{anchors}</div>')
    # In the body, not the head: every section then has the same head, whose stylesheets and
    # fonts a worker parses once for all its sections (shortcuts.keep_stylesheets).
    style = f"<style>{' '.join(css)}</style>\n" if css else ""
    blanks = '<div style="break-after: page"></div>' * plan.skip
    return (parts.head + style + blanks + parts.parts[plan.index] + "".join(placeholders)
            + parts.tail)


@dataclass
class Laid:
    """One section as laid out: its own pages only."""

    pdf: bytes | Path
    """The section's PDF, or once it is kept in the cache, that file."""
    skip: int
    pages: int
    anchors: dict[str, int]
    """Each id of the section and the page it starts on, counted from the section's first."""
    messages: list[str]
    levels: list[int] | None = None
    """The bookmark level of each outline item, in order (None: not known)."""


def _laid(rendered: Rendered, plan: Plan, ids: list[str]) -> Laid:
    first_placeholder = min((rendered.start_pages[i] for i in plan.targets
                             if i in rendered.start_pages), default=rendered.page_count + 1)
    pages = first_placeholder - 1 - plan.skip
    anchors = {i: rendered.start_pages[i] - plan.skip - 1 for i in ids if i in rendered.start_pages}
    levels = getattr(rendered, "bookmark_levels", None)
    return Laid(rendered.pdf, plan.skip, pages, anchors, list(rendered.messages),
                list(levels) if levels is not None else None)


class Cache:
    """Laid-out sections on disk, by key; and, by the section's HTML alone, how many pages it
    filled last time and where its ids fell (for the next build's guesses)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.files: dict[str, str] = {}

    def get(self, key: str) -> Laid | None:
        if self.folder is None:
            return None
        pdf = self.folder / f"{key}.pdf"
        try:
            meta = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            os.utime(pdf)  # in use: the newest, last to be pruned
        except (OSError, ValueError):
            return None
        return Laid(pdf, meta["skip"], meta["pages"], meta["anchors"], meta["messages"],
                    meta.get("levels"))

    def put(self, key: str, laid: Laid, shape_key: str) -> Path | None:
        """Keep `laid`; the file its PDF is kept in, or None if it could not be written."""
        if self.folder is None:
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = {"skip": laid.skip, "pages": laid.pages, "anchors": laid.anchors,
                    "messages": laid.messages, "levels": laid.levels}
            _write(self.folder / f"{key}.pdf", laid.pdf)
            _write(self.folder / f"{key}.json", json.dumps(meta).encode())
            shape = {"pages": laid.pages, "anchors": laid.anchors}
            _write(self.folder / f"shape-{shape_key}.json", json.dumps(shape).encode())
        except OSError:
            return None  # a cache that cannot be written only makes the next build slower
        return self.folder / f"{key}.pdf"

    def shape(self, shape_key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        try:
            found = json.loads((self.folder / f"shape-{shape_key}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def prune(self, keep: int = CACHE_ENTRIES) -> None:
        if self.folder is None:
            return
        try:
            entries = sorted(self.folder.glob("*.pdf"), key=lambda p: p.stat().st_mtime)
            for old in entries[:-keep]:
                for kept in self.folder.glob(f"{old.stem}.*"):  # .pdf, .json, .facts-*.json
                    kept.unlink(missing_ok=True)
        except OSError:
            pass

    def facts_file(self, key: str) -> Path | None:
        """Where the checks may keep what they read of this section's pages."""
        return self.folder / f"{key}.facts" if self.folder is not None else None

    def digest(self, path: Path) -> str:
        """The hash of a file's bytes (each file read once per build, and once per process
        while its size, time and inode stay the same)."""
        name = str(path)
        if name not in self.files:
            try:
                found = path.stat()
                identity = (found.st_ino, found.st_size, found.st_mtime_ns)
                kept = _digests.get(name)
                if kept is None or kept[0] != identity:
                    kept = _digests[name] = (identity,
                                             hashlib.sha256(path.read_bytes()).hexdigest())
                self.files[name] = kept[1]
            except OSError:
                self.files[name] = "missing"
        return self.files[name]


_digests: dict[str, tuple[tuple[int, int, int], str]] = {}
"""The hash of each file a section refers to (fonts, stylesheets, pictures: 4.5 MB for the
bulletin, 6 ms to hash on every build), with what it was when hashed."""


def _write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, path)


def resource_files(html: str, base: str, cache: Cache) -> list[str]:
    """Digests of the local files `html` refers to, and of the files its stylesheets refer to."""
    return [f"{url} {cache.digest(path)}" for url, path in referenced_files(html, base)]


def cache_key(document: str, base: str, options: object, cache: Cache) -> str:
    digest = hashlib.sha256()
    for piece in (f"pamphlet {__version__} weasyprint {_weasyprint_version()}", repr(options),
                  base, document, *resource_files(document, base, cache)):
        digest.update(piece.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def placement_hints(articles: list[Article], padding: int = 0,
                    planned: int | None = None) -> list[int | None]:
    """The page each section of a newspaper-like layout is placed on, where the manifest says
    (None where it follows on): one per section of compose.group_sections, with the `padding`
    house advertisements before the back page (or at the end)."""
    hints: list[int | None] = []
    sections = group_sections(articles)
    for section in sections:
        if section.kind == "back":
            hints += [None] * padding
        if section.kind == "front":
            hints.append(1)
        elif section.kind == "page":
            hints.append(section.page)
        elif section.kind == "centre" and planned:
            hints.append(planned // 2)
        else:
            hints.append(None)
    if not any(s.kind == "back" for s in sections):
        hints += [None] * padding
    return hints


@cache
def _weasyprint_version() -> str:
    """Without importing WeasyPrint (0.4 s): a rebuild that finds every section in the cache
    lays out nothing."""
    try:
        return metadata.version("weasyprint")
    except metadata.PackageNotFoundError:
        import weasyprint

        return str(weasyprint.__version__)


RenderFunction = Callable[[str, Path, list[Path], Any], Rendered]


def lay_out_sections(html: str, base: Path, roots: list[Path], options: object,
                     limits: Limits, render: RenderFunction,
                     hints: list[int | None] | None = None, cache_folder: Path | None = None,
                     progress: Callable[[str], None] = lambda message: None,
                     workers: int | None = None,
                     each: Callable[[Part], object] | None = None) -> Rendered | None:
    """Lay out `html` section by section (see the module's docstring) with `render(html,
    base, roots, options)` in `workers` processes; None if it cannot be done that way.
    `hints` are the pages the sections are meant to start on, where the manifest says.
    `workers` defaults to WORKERS, as it is at the call. `each` is called with each section
    kept in the cache as it comes, while the workers lay out the rest (the checks read its
    pages then, not after the last), or in a kept worker that has nothing to do, while this
    process puts the sections together (`run_aside`); it must leave its result behind."""
    workers = workers or WORKERS
    parts = split(html)
    if parts is None:
        return None
    count = len(parts.parts)
    cache = Cache(cache_folder)
    base_url = base.resolve().as_uri() + "/"
    shape_keys = [hashlib.sha256(p.encode("utf-8", "surrogatepass")).hexdigest()
                  for p in parts.parts]
    shapes = [cache.shape(k) for k in shape_keys]
    owner = {ident: i for i in range(count) for ident in parts.ids(i)}
    hints = hints if hints is not None and len(hints) == count else [None] * count

    laid: dict[int, Laid] = {}
    used: dict[int, Plan] = {}
    key_of: dict[int, str] = {}
    asides: list[Aside] = []
    try:
        for _round in range(4):
            starts = _starts(count, laid, shapes, hints)
            plans = []
            for i in range(count):
                targets = {r: _page_of(r, owner, starts, laid, shapes, parts)
                           for r in parts.references(i) if r in owner}
                plan = Plan(i, starts[i], targets)
                if used.get(i) != plan:
                    plans.append(plan)
            if not plans:
                break
            documents = {p.index: section_document(parts, p) for p in plans}
            keys = {p.index: cache_key(documents[p.index], base_url, options, cache) for p in plans}
            todo = []
            for plan in plans:
                found = cache.get(keys[plan.index])
                key_of[plan.index] = keys[plan.index]
                if found is not None:
                    laid[plan.index] = found
                    used[plan.index] = plan
                else:
                    todo.append(plan)
            if todo:
                # Longest first, so that no core is left with a long section while the other idles.
                todo.sort(key=lambda plan: len(documents[plan.index]), reverse=True)

                progress(f"laying out {len(todo)} of {count} sections"
                         + (f" on {min(workers, len(todo))} cores" if workers > 1 and len(todo) > 1
                            else ""))
                calls = [(documents[p.index], base, roots, options) for p in todo]
                # Each section is put in the cache as it comes and its PDF read from there later:
                # a long issue's sections are not all held in memory.
                # A kept worker gets the sections it laid out before: it has their lines ready.
                names = [f"{base_url}#{p.index}" for p in todo]
                for n, rendered in run_each(render, calls, limits, workers, lean=True,
                                            meanwhile=import_checkers, affinity=names):
                    plan = todo[n]
                    section = _laid(rendered, plan, parts.ids(plan.index))
                    kept = cache.put(keys[plan.index], section, shape_keys[plan.index])
                    laid[plan.index] = replace(section, pdf=kept) if kept else section
                    used[plan.index] = plan
                    if kept and each is not None:
                        asides.append(run_aside(each, (_part(laid[plan.index], cache,
                                                             keys[plan.index]),), limits,
                                                lean=True))
                    del rendered, section
        else:
            return None  # the guesses did not settle: one pass will do it
        cache.prune()
        progress("putting the sections together")
        starts = _starts(count, laid, shapes, hints)
        start_pages = {ident: starts[i] + page for i in range(count)
                       for ident, page in laid[i].anchors.items()}
        pdf = assemble([laid[i] for i in range(count)])
    finally:
        for aside in asides:  # what they leave is there (or not) before the caller looks
            aside.wait()
    messages = [m for i in range(count) for m in laid[i].messages]
    parts = [_part(laid[i], cache, key_of[i]) for i in range(count)]
    return Rendered(pdf, sum(laid[i].pages for i in range(count)), start_pages, messages,
                    parts=parts)


def _part(section: Laid, cache: Cache, key: str) -> Part:
    return Part(section.pdf, section.skip, section.pages, cache.facts_file(key))


def _starts(count: int, laid: dict[int, Laid], shapes: list[dict[str, Any] | None],
            hints: list[int | None]) -> list[int]:
    """Where each section starts: after the pages of those before it, as laid out, or as
    last time, or as the manifest places it."""
    starts = []
    page = 1
    for i in range(count):
        starts.append(page)
        if i in laid:
            page += laid[i].pages
            continue
        shape = shapes[i]
        if shape is not None:
            page += int(shape["pages"])
            continue
        following = next((h for h in hints[i + 1:i + 2] if h), None)
        page += max(1, following - page) if following and following > page else 1
    return starts


def _page_of(ident: str, owner: dict[str, int], starts: list[int], laid: dict[int, Laid],
             shapes: list[dict[str, Any] | None], parts: Split) -> int:
    """The page `ident` is on: known once its section is laid out, else guessed (at the
    section's start, or its end for an id in the last tenth of it)."""
    i = owner[ident]
    if i in laid and ident in laid[i].anchors:
        return starts[i] + laid[i].anchors[ident]
    shape = shapes[i]
    if shape is not None and ident in shape.get("anchors", {}):
        return starts[i] + int(shape["anchors"][ident])
    end = starts[i + 1] - 1 if i + 1 < len(starts) else starts[i]
    text = parts.parts[i]
    return end if text.find(f'id="{ident}"') > 0.9 * len(text) else starts[i]


def assemble(sections: list[Laid]) -> bytes:
    """The sections' own pages, in order, in one PDF: links to named destinations, the
    outline, the document information and the catalog entries of the first section kept.

    Written to a temporary file and read back once pypdf's objects are gone: they hold a
    copy of every picture, and the PDF in memory as well would be a third copy of them all
    (a 64-page issue's largest process grew by 110 MB here)."""
    import_pypdf()
    with contextlib.ExitStack() as files, tempfile.TemporaryFile() as out:
        writer = _merged(sections, files)
        writer.write(out)
        del writer
        give_back_memory(out.tell())
        out.seek(0)
        return out.read()


def _merged(sections: list[Laid], files: contextlib.ExitStack) -> Any:
    """The writer with every section's pages added. pypdf keeps each reader until the
    writer is written, so they read from the sections' files, not from copies in memory."""
    import pypdf
    from pypdf.generic import NameObject

    writer = pypdf.PdfWriter()
    first: pypdf.PdfReader | None = None
    offset = 0
    by_level = all(s.levels is not None for s in sections)
    stack: list[tuple[int, Any]] = []  # the open outline items: (level, item)
    readers = _Readers()
    for section in sections:
        reader = readers.get(section.pdf, files)
        first = first or reader
        keep = range(section.skip, section.skip + section.pages)
        for n in keep:
            writer.add_page(reader.pages[n])
        for name, destination in reader.named_destinations.items():
            page = reader.get_destination_page_number(destination)
            if page in keep:
                writer.add_named_destination(name, offset + page - section.skip,
                                             _fit(destination))
        items = _flat_outline(reader.outline)
        if by_level and section.levels is not None and len(section.levels) == len(items):
            for level, item in zip(section.levels, items, strict=True):
                page = reader.get_destination_page_number(item)
                if page not in keep:
                    continue
                while stack and stack[-1][0] >= level:
                    stack.pop()
                added = writer.add_outline_item(
                    title=item.title, page_number=offset + page - section.skip,
                    parent=stack[-1][1] if stack else None, fit=_fit(item))
                stack.append((level, added))
        else:
            _copy_outline(writer, reader, reader.outline, None, offset - section.skip, keep)
        offset += section.pages
        if reader is not first and not readers.kept(reader):
            _forget_parsed(reader)
    readers.done()
    if first is not None:
        if first.metadata:
            writer.add_metadata(dict(first.metadata))
        if "/ID" in first.trailer:
            writer._ID = first.trailer["/ID"].clone(writer)
        root = first.trailer["/Root"]
        for key in ("/Lang", "/OutputIntents", "/Metadata", "/ViewerPreferences", "/PageLayout",
                    "/PageMode", "/MarkInfo"):
            if key in root:
                writer._root_object[NameObject(key)] = root.raw_get(key).clone(writer)
    try:  # the sections' identical objects (an output intent's ICC profile...) once
        writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    except TypeError:  # pypdf before 7 names the arguments differently
        writer.compress_identical_objects(remove_identicals=True, remove_orphans=True)
    return writer


_kept_readers: dict[str, tuple[tuple[int, int], Any, BinaryIO]] = {}


class _Readers:
    """pypdf readers of the sections' PDFs. In a process that builds again and again (one
    that keeps its layout workers: `pamphlet serve`), the reader of each section file is kept
    parsed for the next build, which then parses only the sections that changed (parsing a
    section's objects is most of the time it takes to put an issue together). A file in the
    cache is named by the hash of what went into it and replaced, never rewritten, so the
    same path and inode is the same PDF."""

    def __init__(self) -> None:
        self.keep = keeping_workers()
        self.used: set[str] = set()

    def get(self, source: bytes | Path, files: contextlib.ExitStack) -> Any:
        import pypdf

        if not self.keep or not isinstance(source, Path):
            return pypdf.PdfReader(files.enter_context(pdf_file(source)))
        name = str(source)
        try:
            found = source.stat()
            identity = (found.st_ino, found.st_size)
        except OSError:
            identity = (0, 0)
        kept = _kept_readers.get(name)
        if kept is None or kept[0] != identity:
            _drop_reader(name)
            handle = pdf_file(source)
            kept = _kept_readers[name] = (identity, pypdf.PdfReader(handle), handle)
        self.used.add(name)
        return kept[1]

    def kept(self, reader: Any) -> bool:
        return any(reader is kept[1] for kept in _kept_readers.values())

    def done(self) -> None:
        """Let go of the kept readers this build did not use (all, if none are kept now)."""
        for name in [n for n in _kept_readers if n not in self.used]:
            _drop_reader(name)


def _drop_reader(name: str) -> None:
    kept = _kept_readers.pop(name, None)
    if kept is not None:
        kept[2].close()


def _forget_parsed(reader: Any) -> None:
    """Drop what `reader` has parsed once its pages are copied (a 64-page issue: 14 MB).
    pypdf keeps every reader until the writer is written; anything asked of it later is
    parsed again from its file."""
    parsed = getattr(reader, "resolved_objects", None)
    if isinstance(parsed, dict):
        parsed.clear()


def _fit(destination: Any) -> Any:
    from pypdf.generic import Fit

    return Fit.xyz(destination.left, destination.top, destination.zoom)


def _flat_outline(items: list[Any]) -> list[Any]:
    """The outline items in document order (parents before their children)."""
    out = []
    for item in items:
        out += _flat_outline(item) if isinstance(item, list) else [item]
    return out


def _copy_outline(writer: Any, reader: Any, items: list[Any], parent: Any, shift: int,
                  keep: range) -> None:
    """The section's outline items on kept pages, with their children."""
    last = parent
    for item in items:
        if isinstance(item, list):
            _copy_outline(writer, reader, item, last, shift, keep)
            continue
        page = reader.get_destination_page_number(item)
        if page not in keep:
            continue
        last = writer.add_outline_item(title=item.title, page_number=page + shift, parent=parent,
                                       fit=_fit(item))
