"""Layouts: folders of Jinja templates, CSS and a layout.yaml, found on a search path."""

from __future__ import annotations

import functools
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache

from . import __version__
from .errors import PamphletError, Problem, Problems
from .resources import builtin_dir
from .schema import Field, check_mapping
from .yamlfile import parse_yaml, read_text

SETTINGS_FILE = "layout.yaml"

SETTINGS_KEYS = {
    "description": Field("text", help="one line shown by 'pamphlet layouts'"),
    "extends": Field("text", help="the layout this one builds on"),
    "template": Field("text", help="the main template file"),
    "stylesheets": Field("list", help="CSS files, in order"),
    "page_size": Field("text", help="trim size, e.g. '210mm 297mm'"),
    "pad_to": Field("int", help="page count is padded to a multiple of this"),
    "pages": Field("int", help="the usual page count"),
    "max_pages": Field("int", help="more pages than this is an error"),
    "mono": Field("bool", help="black only"),
    "target": Field("text", help="what 'pamphlet build' makes by default: office, printshop, ..."),
    "press_ppi": Field("int", help="the picture resolution the print shop needs (default 300)"),
    "email_budget_kb": Field("int", help="the largest email PDF for the usual page count"),
    "icc_profile": Field("text", help="the print shop's output profile (.icc) in this folder"),
}


@dataclass
class Layout:
    name: str
    folder: Path
    chain: list[Path]
    """This layout's folder, then the folders of the layouts it extends."""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return str(self.settings.get("template", "issue.html"))

    @property
    def pad_to(self) -> int:
        return int(self.settings.get("pad_to", 1)) or 1

    @property
    def page_size_mm(self) -> tuple[float, float] | None:
        size = str(self.settings.get("page_size", ""))
        parts = size.replace("mm", " ").split()
        if len(parts) == 2:
            return float(parts[0]), float(parts[1])
        return None

    def stylesheets(self) -> list[Path]:
        """Every layout's stylesheets, the base layout's first, so later rules win."""
        sheets: list[Path] = [builtin_dir("layouts") / "base.css"]
        for folder in reversed(self.chain):
            settings = _read_settings(folder)
            for name in settings.get("stylesheets", ["style.css"]):
                path = folder / str(name)
                if path.is_file():
                    sheets.append(path)
        return sheets


def layout_dirs(root: Path) -> list[Path]:
    """The publication's layouts/ first, then the built-in ones."""
    return [root / "layouts", builtin_dir("layouts")]


def available_layouts(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in layout_dirs(root):
        if base.is_dir():
            for folder in sorted(base.iterdir()):
                settings = folder / SETTINGS_FILE
                if settings.is_file() and settings.resolve().is_relative_to(base.resolve()):
                    found.setdefault(folder.name, folder)
    return found


class _ContainedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that will not follow a symlink out of its folders."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not any(real.is_relative_to(Path(p).resolve()) for p in self.searchpath):
            raise jinja2.TemplateNotFound(template)
        return source, filename, uptodate


def copy_layout(root: Path, source: str, name: str) -> Path:
    """Copy layout `source` (from the search path) to the publication's layouts/NAME, to change."""
    found = available_layouts(root)
    target = root / "layouts" / name
    if source not in found:
        raise PamphletError([Problem(None, None, f"unknown layout '{source}'",
                                     "layouts found: " + ", ".join(sorted(found)))])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise PamphletError([Problem(None, None, f"'{name}' is not a usable layout name",
                                     "use letters, digits, - and _")])
    if target.exists():
        raise PamphletError([Problem(target, None, "this layout folder exists already",
                                     "choose another name, or delete the folder first")])
    shutil.copytree(found[source], target)
    return target


def find_layout(name: str, root: Path, where: Problem | None = None) -> Layout:
    """The layout called `name`, with the chain of layouts it extends."""
    found = available_layouts(root)
    chain: list[Path] = []
    current: str | None = name
    while current is not None:
        folder = _layout_folder(current, found, chain, root)
        if folder is None:
            file, line = (where.file, where.line) if where else (None, None)
            raise PamphletError([Problem(
                file, line, f"unknown layout '{current}'",
                "layouts found: " + ", ".join(sorted(found)) +
                f"; a layout is a folder with a {SETTINGS_FILE} under layouts/")])
        chain.append(folder)
        current = _read_settings(folder).get("extends")
        if current is not None and len(chain) > 10:
            raise PamphletError([Problem(folder / SETTINGS_FILE, None,
                                         "layouts extend each other in a loop")])
    return Layout(name=name, folder=chain[0], chain=chain, settings=_merged_settings(chain))


def _layout_folder(name: str, found: dict[str, Path], chain: list[Path], root: Path) -> Path | None:
    if chain and name == chain[-1].name:
        # A publication layout that extends the built-in one of the same name.
        builtin = builtin_dir("layouts") / name
        return builtin if (builtin / SETTINGS_FILE).is_file() and builtin not in chain else None
    return found.get(name)


def _merged_settings(chain: list[Path]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for folder in reversed(chain):
        settings.update(_read_settings(folder))
    settings.pop("extends", None)
    return settings


def _read_settings(folder: Path) -> dict[str, Any]:
    file = folder / SETTINGS_FILE
    problems = Problems()
    data = parse_yaml(read_text(file), file) or {}
    settings = check_mapping(data, SETTINGS_KEYS, file, problems, "layout settings")
    problems.raise_if_any()
    return settings


def template_environment(layout: Layout, root: Path) -> jinja2.Environment:
    """Templates are looked up in the layout's chain, then as 'NAME/file' on the search path;
    'builtin/NAME/file' always means the built-in copy, so an override can extend it.

    One environment per search path and set of files in it, kept for the process: Jinja then
    compiles each template once (0.1-0.2 s a build in a warm `pamphlet serve`) and still reads
    a template again when its file changes; a file added or removed makes a new environment."""
    chain = tuple(str(p) for p in layout.chain)
    searched = tuple(str(p) for p in layout_dirs(root) if p.is_dir())
    compiled = str(root / "build" / ".cache" / "templates")
    return _environment(chain, searched, _listing(chain + searched), compiled)


def _listing(folders: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    listing = []
    for folder in folders:
        try:
            listing.append(tuple(sorted(str(p) for p in Path(folder).rglob("*"))))
        except OSError:
            listing.append(())
    return tuple(listing)


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Each template as compiled, kept in the publication's build/.cache/templates (under its
    name, file and the hash of its text), so that a fresh command does not compile the
    layout's templates again (the newspaper's: 0.05 s of every build)."""

    def __init__(self, folder: str) -> None:
        super().__init__(folder, f"{__version__}-%s.cache")

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass  # not kept: compiled again next time


@functools.lru_cache(maxsize=8)
def _environment(chain: tuple[str, ...], searched: tuple[str, ...],
                 listing: tuple[tuple[str, ...], ...], compiled: str) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([
        _ContainedLoader(list(chain)),
        jinja2.PrefixLoader({"builtin": _ContainedLoader(str(builtin_dir("layouts")))}),
        _ContainedLoader(list(searched)),
    ])
    return jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        bytecode_cache=_CompiledTemplates(compiled))
