"""The layout shortcuts (pamphlet/shortcuts.py) change how much work WeasyPrint does, never
what it makes: every sample laid out with and without them gives the same pages, pixel for
pixel and word for word. Each side runs in its own process, because a shortcut, once
installed, stays for the life of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES
from helpers import page_images, page_words
from PIL import ImageChops

PROGRAM = r"""
import json, sys
from pathlib import Path
from pamphlet import shortcuts
from pamphlet.build import load, readable_roots
from pamphlet.compose import compose
from pamphlet.render import render

installed = shortcuts.install()
issue, articles, layout = load(Path(sys.argv[1]))
html = compose(issue, articles, layout)
rendered = render(html, issue.root, readable_roots(issue, layout))
Path(sys.argv[2]).write_bytes(rendered.pdf)
print(json.dumps(installed))
"""


def lay_out(sample: str, out: Path, shortcuts: bool) -> dict[str, bool]:
    environment = {**os.environ, "PAMPHLET_SHORTCUTS": "1" if shortcuts else "0"}
    done = subprocess.run([sys.executable, "-c", PROGRAM,
                           str(REPO / "issues" / f"{sample}.yaml"), str(out)],
                          capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_the_shortcuts_give_the_same_pages(sample: str, tmp_path: Path):
    plain, quick = tmp_path / "plain.pdf", tmp_path / "quick.pdf"
    assert lay_out(sample, plain, shortcuts=False) == {}
    installed = lay_out(sample, quick, shortcuts=True)
    assert installed and all(installed.values()), installed  # WeasyPrint 70 as pinned
    assert page_words(quick) == page_words(plain)
    plain_pages, quick_pages = page_images(plain, dpi=100), page_images(quick, dpi=100)
    assert len(quick_pages) == len(plain_pages) == len(page_words(plain))
    for number, (a, b) in enumerate(zip(plain_pages, quick_pages, strict=True), start=1):
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None, \
            f"{sample} page {number} differs"


def test_a_shortcut_steps_aside_when_weasyprint_is_not_what_it_expects(tmp_path: Path):
    program = ("import weasyprint; weasyprint.__version__ = '71.0'\n"
               "from pamphlet import shortcuts\n"
               "from weasyprint.layout import block, inline, page\n"
               "before = (block.block_box_layout, inline.split_first_line, page.make_page)\n"
               "print(shortcuts.install())\n"
               "assert before == (block.block_box_layout, inline.split_first_line, "
               "page.make_page)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "True" not in done.stdout
