"""Shared fixtures: small publications written by the tests, and the sample issues built once."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from pamphlet.build import BuildResult, build

REPO = Path(__file__).resolve().parent.parent
SAMPLES = {
    "issue-42": {"layout": "newspaper", "size_mm": (289, 380)},
    "busworker-2026-11-24": {"layout": "bulletin", "size_mm": (210, 297)},
    "outsourcing-pamphlet": {"layout": "pamphlet", "size_mm": (148, 210)},
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


class Publication:
    """A publication folder in tmp_path with one issue, 'issue-1', that tests can change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "issues" / "issue-1.yaml"

    def article(self, name: str, text: str) -> Path:
        return write(self.root / "issues" / "issue-1" / name, text)

    def write_manifest(self, text: str) -> Path:
        return write(self.manifest, text)

    def use_layout(self, name: str, files: dict[str, str] | None = None) -> Path:
        """Switch the issue to layout `name`, first writing `files` into layouts/NAME/."""
        folder = self.root / "layouts" / name
        for file, text in (files or {}).items():
            write(folder / file, text)
        text = self.manifest.read_text()
        self.manifest.write_text(re.sub(r"(?m)^layout: .*$", f"layout: {name}", text))
        return folder

    @property
    def pdf(self) -> Path:
        return self.root / "build" / "issue-1.office.pdf"


@pytest.fixture
def publication(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Publication:
    pub = Publication(tmp_path / "paper")
    pub.write_manifest("""
        title: The Test Sheet
        subtitle: A bulletin by test workers, for test workers
        layout: bulletin
        date: 2026-11-20
        articles:
          - issue-1/lead.md
          - issue-1/short.md
        """)
    pub.article("lead.md", """
        ---
        title: Cleaners win the living wage after a week of walkouts
        byline: By a cleaner
        place: front
        ---
        The cleaners at the Eastgate offices walked out on Monday morning and stayed out
        until Friday. By then the contractor had agreed to pay the living wage.

        ## What comes next

        The branch meets on Thursday to plan the next claim, for sick pay from day one.
        """)
    pub.article("short.md", """
        ---
        title: Kettle Logic
        ---
        The new kettle in the mess room takes eleven minutes to boil. Management says
        this is a saving.
        """)
    monkeypatch.chdir(pub.root)
    return pub


@pytest.fixture(scope="session")
def sample_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    """The three sample issues, built once from a copy of the repository's issues/."""
    root = tmp_path_factory.mktemp("samples")
    shutil.copytree(REPO / "issues", root / "issues")
    return {name: build(root / "issues" / f"{name}.yaml") for name in SAMPLES}
