"""The composed HTML of each sample issue, compared with a reviewed copy in tests/golden/.

When a layout or the composer changes on purpose, refresh the copies and review the diff:

    PAMPHLET_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES

from pamphlet.build import load
from pamphlet.compose import compose
from pamphlet.resources import builtin_dir

GOLDEN = Path(__file__).parent / "golden"


def normalised(html: str) -> str:
    """Machine-independent: absolute file URLs become {publication}/ and {pamphlet}/."""
    html = html.replace(REPO.as_uri() + "/issues", "{publication}/issues")
    for name in ("layouts", "fonts"):
        html = html.replace(builtin_dir(name).as_uri(), "{pamphlet}/" + name)
    return html


@pytest.mark.parametrize("name", SAMPLES)
def test_composed_html_matches_golden_copy(name):
    issue, articles, layout = load(REPO / "issues" / f"{name}.yaml")
    html = normalised(compose(issue, articles, layout))
    golden = GOLDEN / f"{name}.html"
    if os.environ.get("PAMPHLET_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(html, encoding="utf-8")
    assert golden.exists(), "no golden copy yet: run with PAMPHLET_UPDATE_GOLDEN=1 and review it"
    assert html == golden.read_text(encoding="utf-8"), (
        f"{name}: composed HTML changed; if on purpose, refresh with PAMPHLET_UPDATE_GOLDEN=1")


def test_compose_is_deterministic():
    issue, articles, layout = load(REPO / "issues" / "issue-42.yaml")
    assert compose(issue, articles, layout) == compose(issue, articles, layout)
