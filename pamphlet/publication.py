"""Finding the publication folder and the manifest an editor means by `issue-42`."""

from __future__ import annotations

from pathlib import Path

from .errors import PamphletError, Problem

ISSUES = "issues"


def find_root(start: Path) -> Path | None:
    """The folder itself or its nearest parent that has an issues/ folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ISSUES).is_dir():
            return folder
    return None


def root_of_manifest(manifest: Path) -> Path:
    """A manifest in some/issues/ belongs to some/; any other manifest to its own folder."""
    folder = manifest.resolve().parent
    return folder.parent if folder.name == ISSUES else folder


def resolve_manifest(name: str, cwd: Path) -> Path:
    """`issue-42` means issues/issue-42.yaml in the publication folder; a .yaml path is taken as is."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") or len(candidate.parts) > 1:
        path = (cwd / candidate).resolve()
        if not path.is_file():
            raise PamphletError([Problem(None, None, f"no manifest at {name}",
                                         "check the path to the .yaml file")])
        return path
    root = find_root(cwd)
    if root is None:
        raise PamphletError([Problem(None, None, f"cannot find issue '{name}': no issues/ folder "
                                     "here or in any folder above", "run pamphlet inside your "
                                     "publication folder, or give the path to the .yaml file")])
    for suffix in (".yaml", ".yml"):
        path = root / ISSUES / f"{name}{suffix}"
        if path.is_file():
            return path
    known = sorted(p.stem for p in (root / ISSUES).glob("*.y*ml"))
    raise PamphletError([Problem(None, None, f"no issue called '{name}' in {root / ISSUES}",
                                 "issues found: " + (", ".join(known) or "none"))])
