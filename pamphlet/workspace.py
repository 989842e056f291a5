"""An editor's week: start a publication, start the next issue from the last one, see every issue.

`init_publication` copies the starter publication in `pamphlet/starter/` (plain files, easy to
edit); `new_issue` writes the next issue's manifest by editing the text of the last one, so its
comments and key order survive; `list_issues` says which PDFs need building again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote

import yaml

from .articles import FRONT_MATTER_KEYS, MAX_IMAGE_BYTES, slug, split_front_matter, unique
from .errors import PamphletError, Problem, Problems
from .layouts import find_layout, layout_dirs
from .manifest import MANIFEST_KEYS, load_issue
from .markup import render_markdown
from .model import Issue
from .paths import Refused, resolve_inside
from .publication import ISSUES
from .resources import PACKAGE_DIR
from .schema import check_mapping
from .targets import TARGETS
from .yamlfile import MAX_BYTES, parse_yaml, read_text

STARTER = PACKAGE_DIR / "starter"
"""The starter publication, copied file for file by `init_publication`."""

STARTER_ISSUE = "first-issue"
STANDING = "standing"
NEW_TITLE = "New article"
DEFAULT_GAP = dt.timedelta(days=7)
COPIED_FRONT_MATTER = ("place", "section", "kicker")
"""What a new, empty article keeps from the article it replaces."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_DATE_LINE = re.compile(r"^date:[ \t]*\d{4}-\d{2}-\d{2}", re.MULTILINE)

PdfState = Literal["missing", "stale", "current"]


# --- pamphlet init ----------------------------------------------------------------------------


def today() -> dt.date:
    """The date a new publication's first issue gets (a function, so tests can fix it)."""
    return dt.date.today()


def init_publication(folder: Path) -> list[Path]:
    """Make `folder` a publication that builds straight away: a sample bulletin issue, a
    standing item and GUIDE.md. The sample issue is dated today. Returns the files written."""
    sources = sorted(_starter_files())
    if (folder / ISSUES).exists():
        raise PamphletError([Problem(
            folder, None, "this folder already has an issues/ folder: it is a publication already",
            "start the next issue with 'pamphlet new NAME', or give an empty or new folder")])
    if folder.exists() and not folder.is_dir():
        raise PamphletError([Problem(folder, None, "this is a file, not a folder",
                                     "give the name of a new or empty folder")])
    taken = [folder / rel for rel in sources if (folder / rel).exists()]
    if taken:
        raise PamphletError([Problem(path, None, "this file is already there and would be "
                                     "overwritten", "move it away, or use another folder")
                             for path in taken])
    files = {}
    for rel in sources:
        data = (STARTER / rel).read_bytes()
        if rel == PurePosixPath(ISSUES, f"{STARTER_ISSUE}.yaml"):
            text = _DATE_LINE.sub(f"date: {today().isoformat()}", data.decode("utf-8"),
                                  count=1)
            data = text.encode("utf-8")
        files[folder / rel] = data
    return _write_all(files, [folder / ISSUES])


def _starter_files() -> Iterator[PurePosixPath]:
    """Every file of the starter publication, relative to it (no caches or hidden files)."""
    for path in STARTER.rglob("*"):
        rel = path.relative_to(STARTER)
        if path.is_file() and not any(p.startswith((".", "__")) for p in rel.parts):
            yield PurePosixPath(*rel.parts)


# --- pamphlet new -----------------------------------------------------------------------------


def new_issue(root: Path, name: str, source: str | None = None) -> list[Path]:
    """Write issues/NAME.yaml from issues/SOURCE.yaml (default: the latest-dated issue) and an
    empty article in issues/NAME/ for each of the source's articles that is not a standing
    item. Returns the files written: the manifest first, then the articles in order."""
    issues = root / ISSUES
    if not _NAME.match(name):
        raise PamphletError([Problem(None, None, f"'{name}' is not a simple issue name",
                                     "use letters, digits, - and _ only, starting with a letter "
                                     "or digit, e.g. issue-43 or 2026-12-01")])
    if not issues.is_dir():
        raise PamphletError([Problem(root, None, "there is no issues/ folder here",
                                     "run pamphlet inside your publication folder, or start one "
                                     "with 'pamphlet init'")])
    taken = [p for p in (issues / f"{name}.yaml", issues / f"{name}.yml", issues / name)
             if p.exists() or p.is_symlink()]
    if taken:
        raise PamphletError([Problem(p, None, f"there is already an issue called '{name}'"
                                     if p.suffix else f"the folder for issue '{name}' is already "
                                     "there", "choose another name, or move the old one away")
                             for p in taken])
    manifest = _source_manifest(issues, source)
    problems = Problems()
    issue = load_issue(manifest, root, problems)
    problems.raise_if_any()

    text = read_text(manifest)
    date = issue.date + _gap(issue, issues)
    number = issue.number + 1 if issue.number is not None else None
    articles = _plan_articles(issue, name)
    new_text = _edit_manifest(text, manifest, date, number, articles)

    files = {issues / plan.new_reference: _empty_article(plan.front_matter)
             for plan in articles if plan.new_reference}
    files[issues / f"{name}.yaml"] = new_text.encode("utf-8")  # last: a manifest means it is all there
    written = _write_all(files, [issues / name])
    return written[-1:] + written[:-1]


def _source_manifest(issues: Path, source: str | None) -> Path:
    found = _manifests(issues)
    names = ", ".join(p.stem for p in found) or "none"
    if source is None:
        dated = []
        for path in found:
            problems = Problems()
            try:
                candidate = load_issue(path, issues.parent, problems)
            except PamphletError:
                continue
            if not problems:
                dated.append((candidate.date, path.stem, path))
        if not dated:
            raise PamphletError([Problem(issues, None, "there is no issue to start the new one from",
                                         f"issues found: {names}; name one to copy, or fix the "
                                         "problems 'pamphlet build' reports in them")])
        return max(dated)[2]
    stem = source.removesuffix(".yaml").removesuffix(".yml")
    for path in found:
        if path.stem == stem:
            return path
    raise PamphletError([Problem(issues / f"{stem}.yaml", None, f"there is no issue called '{source}'",
                                 f"issues found: {names}")])


def _manifests(issues: Path) -> list[Path]:
    return sorted(p for p in issues.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def issue_manifests(root: Path) -> list[Path]:
    """Every manifest in the publication's issues/ folder."""
    issues = root / ISSUES
    return _manifests(issues) if issues.is_dir() else []


def _gap(issue: Issue, issues: Path) -> dt.timedelta:
    """The time from the issue before the source (the latest earlier one with the same title)
    to the source; a week if there is none."""
    earlier = []
    for path in _manifests(issues):
        if path == issue.manifest:
            continue
        problems = Problems()
        try:
            other = load_issue(path, issue.root, problems)
        except PamphletError:
            continue
        if not problems and other.title == issue.title and other.date < issue.date:
            earlier.append(other.date)
    return issue.date - max(earlier) if earlier else DEFAULT_GAP


@dataclass
class _Planned:
    """What becomes of one entry of the source's `articles:`."""

    reference: str
    new_reference: str = ""
    """issues/-relative path of the new empty article; '' for a standing item (kept)."""
    front_matter: dict[str, str] | None = None


def _is_standing(reference: str) -> bool:
    parts = PurePosixPath(reference.replace("\\", "/")).parts
    return bool(parts) and parts[0] == STANDING


def _plan_articles(issue: Issue, name: str) -> list[_Planned]:
    used: set[str] = set()
    planned = []
    for ref in issue.articles:
        if _is_standing(ref.reference):
            planned.append(_Planned(ref.reference))
            continue
        name_slug = unique(slug(PurePosixPath(ref.reference).stem), used)
        planned.append(_Planned(ref.reference, f"{name}/{name_slug}.md",
                                _front_matter(ref.reference, issue)))
    return planned


def _front_matter(reference: str, issue: Issue) -> dict[str, str]:
    """'New article' and the place, section and kicker of the article it replaces (if that
    article can be read; a missing one is not this command's business)."""
    meta: dict[str, str] = {"title": NEW_TITLE}
    try:
        path = resolve_inside(reference, issue.manifest.parent, issue.root, MAX_BYTES)
        front, _, _ = split_front_matter(read_text(path), path)
    except (Refused, PamphletError):
        return meta
    clean = check_mapping(front, FRONT_MATTER_KEYS, path, Problems(), "front matter", 1)
    for key in COPIED_FRONT_MATTER:
        if isinstance(clean.get(key), str):
            meta[key] = clean[key]
    return meta


def _empty_article(meta: dict[str, str] | None) -> bytes:
    lines = ["---", *(f"{key}: {json.dumps(value, ensure_ascii=False)}"
                      for key, value in (meta or {"title": NEW_TITLE}).items()), "---", ""]
    return "\n".join(lines).encode("utf-8")


def _edit_manifest(text: str, manifest: Path, date: dt.date, number: int | None,
                   articles: list[_Planned]) -> str:
    """The new manifest's text: the source's text with the date, the number and the paths of
    the non-standing articles replaced (and a teaser's text set to true), so its comments and
    layout stay. If the edit does not read back as intended, the data is written out plainly
    with PyYAML instead (comments lost)."""
    data = parse_yaml(text, manifest)
    wanted = _plain(data)
    wanted["date"] = date
    if number is not None:
        wanted["number"] = number
    entries = wanted["articles"]
    for i, plan in enumerate(articles):
        if not plan.new_reference:
            continue
        if isinstance(entries[i], dict):
            entries[i]["path"] = plan.new_reference
            if isinstance(entries[i].get("teaser"), str):
                entries[i]["teaser"] = True
        else:
            entries[i] = plan.new_reference
    try:
        edited = _edit_text(text, date, number, articles)
        if _plain(parse_yaml(edited, manifest)) == wanted:
            return edited
    except (PamphletError, yaml.YAMLError, ValueError, KeyError, IndexError):
        pass
    return yaml.dump(wanted, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes text of several lines (contact, imprint) as a | block."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _represent_text)


def _edit_text(text: str, date: dt.date, number: int | None, articles: list[_Planned]) -> str:
    """Replace scalars in place, found by their position in the YAML node tree."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("the manifest is not a mapping")
    edits: list[tuple[int, int, str]] = []

    def replace(node: yaml.Node, value: str) -> None:
        if not isinstance(node, yaml.ScalarNode):
            raise ValueError("not a scalar")
        edits.append((node.start_mark.index, node.end_mark.index, value))

    top = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    replace(top["date"], date.isoformat())
    if number is not None:
        replace(top["number"], str(number))
    items = top["articles"]
    if not isinstance(items, yaml.SequenceNode) or len(items.value) != len(articles):
        raise ValueError("articles do not match")
    for node, plan in zip(items.value, articles, strict=True):
        if not plan.new_reference:
            continue
        if isinstance(node, yaml.MappingNode):
            options = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            replace(options["path"], plan.new_reference)
            teaser = options.get("teaser")
            if isinstance(teaser, yaml.ScalarNode) and teaser.tag.endswith(":str"):
                replace(teaser, "true")
        else:
            replace(node, plan.new_reference)
    for start, end, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]
    return text


def _plain(value: Any) -> Any:
    """YAML data as plain dicts, lists, ints and floats (for comparing and for safe_dump)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _write_all(files: dict[Path, bytes], folders: list[Path]) -> list[Path]:
    """Write new files in order, never overwriting one (an editor's work); `folders` must not
    exist yet. If one cannot be written, what was written is taken away again."""
    made: list[Path] = []
    written: list[Path] = []
    current = folders[0]
    try:
        for folder in folders:
            current = folder
            folder.mkdir(parents=True)
            made.append(folder)
        for path, data in files.items():
            current = path
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("xb") as out:
                written.append(path)
                out.write(data)
    except OSError as error:
        for path in reversed(written):
            path.unlink(missing_ok=True)
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        raise PamphletError([Problem(current, None, f"cannot write this: {error.strerror or error}",
                                     "check that you may write to the folder and that the disk "
                                     "is not full; nothing was left half-made")]) from error
    return written


# --- pamphlet list ----------------------------------------------------------------------------


@dataclass
class IssueSummary:
    name: str
    number: int | None
    date: dt.date | None
    layout: str
    articles: int
    pdf_state: PdfState
    """'missing': never built; 'stale': something it is made from changed since; 'current'."""
    problem: str = ""
    """The manifest's first problem, '' if it loads."""


def list_issues(root: Path) -> list[IssueSummary]:
    """Every issue in issues/, oldest first (then by name); a manifest with a problem is listed
    with its first problem, undated ones last."""
    issues = root / ISSUES
    summaries = [_summary(path, root) for path in (_manifests(issues) if issues.is_dir() else [])]
    return sorted(summaries, key=lambda s: (s.date is None, s.date or dt.date.min, s.name))


def pdf_state(manifest: Path, root: Path, target: str | None = None) -> PdfState:
    """Whether the issue's PDF for `target` (or its newest PDF) is missing, stale or current."""
    problems = Problems()
    try:
        issue: Issue | None = load_issue(manifest, root, problems)
    except PamphletError:
        issue = None
    return _pdf_state(manifest, root, issue if not problems else None, target)


def _summary(manifest: Path, root: Path) -> IssueSummary:
    problems = Problems()
    try:
        issue: Issue | None = load_issue(manifest, root, problems)
    except PamphletError as error:
        problems.extend(error.problems)
        issue = None
    if issue is not None and not problems:
        number = int(issue.number) if issue.number is not None else None
        return IssueSummary(manifest.stem, number, issue.date, issue.layout,
                            len(issue.articles), _pdf_state(manifest, root, issue))
    fields = _valid_fields(manifest)
    number = int(fields["number"]) if "number" in fields else None
    return IssueSummary(manifest.stem, number, fields.get("date"),
                        fields.get("layout", ""),
                        len(issue.articles) if issue is not None else 0,
                        _pdf_state(manifest, root, issue), str(problems.items[0]))


def _valid_fields(manifest: Path) -> dict[str, Any]:
    """The manifest keys that are right, from a manifest that has problems."""
    try:
        data = parse_yaml(read_text(manifest), manifest)
    except PamphletError:
        return {}
    return check_mapping(data, MANIFEST_KEYS, manifest, Problems(), "manifest")


def built_pdf(root: Path, name: str, target: str | None = None) -> Path | None:
    """The issue's PDF for `target`, or its most recently built one; None if not built."""
    names = [target] if target else list(TARGETS)
    found = [pdf for t in names if (pdf := root / "build" / f"{name}.{t}.pdf").is_file()]
    return max(found, key=_mtime, default=None)


def _pdf_state(manifest: Path, root: Path, issue: Issue | None,
               target: str | None = None) -> PdfState:
    pdf = built_pdf(root, manifest.stem, target)
    if pdf is None:
        return "missing"
    built = _mtime(pdf)
    inputs = issue_inputs(manifest, issue) if issue is not None else [manifest]
    newest = max((_mtime(p) for p in inputs), default=0)
    return "stale" if newest > built else "current"


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def issue_inputs(manifest: Path, issue: Issue) -> list[Path]:
    """The files a build of the issue reads: the manifest, its articles and their pictures,
    and the layout's files (its chain of folders and the shared files beside them)."""
    files = [manifest]
    for ref in issue.articles:
        try:
            article = resolve_inside(ref.reference, manifest.parent, issue.root, MAX_BYTES)
        except Refused:
            continue
        files.append(article)
        files.extend(_pictures(article, issue))
    if issue.layout:
        try:
            layout = find_layout(issue.layout, issue.root)
        except PamphletError:
            layout = None
        if layout is not None:
            for folder in layout.chain:
                files.extend(p for p in folder.rglob("*") if p.is_file())
            for base in layout_dirs(issue.root):
                if base.is_dir():
                    files.extend(p for p in base.iterdir() if p.is_file())
    return files


def _pictures(article: Path, issue: Issue) -> list[Path]:
    """The local pictures an article names, in its front matter and its Markdown."""
    try:
        front, body, _ = split_front_matter(read_text(article), article)
    except PamphletError:
        return []
    names: list[str] = []
    if isinstance(front, dict) and isinstance(front.get("image"), str):
        names.append(front["image"])

    def collect(src: str, line: int | None) -> str | None:
        names.append(unquote(src))
        return None

    render_markdown(body, resolve_image=collect, allow_html=issue.raw_html)
    found = []
    for src in names:
        try:
            found.append(resolve_inside(src, article.parent, issue.root, MAX_IMAGE_BYTES))
        except Refused:
            continue
    return found

