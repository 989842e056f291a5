"""A plain `pip install` must carry the built-in layouts and fonts inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, capture_output=True)
    return next(out.glob("pamphlet_press-*.whl"))


def test_wheel_carries_layouts_and_fonts(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for layout in ("newspaper", "bulletin", "pamphlet"):
        assert f"pamphlet/_data/layouts/{layout}/layout.yaml" in names
    assert "pamphlet/_data/layouts/base.css" in names
    assert "pamphlet/mail/email.txt" in names  # pamphlet send's default message
    assert "pamphlet/hyphenation/hyph_en_US.dic.json" in names  # shortcuts.PARSED_PATTERNS
    fonts = {n for n in names if n.startswith("pamphlet/_data/fonts/")}
    assert sum(n.endswith(".ttf") for n in fonts) >= 20
    assert sum(n.endswith("OFL.txt") for n in fonts) == 5


def test_installed_package_builds_with_its_own_layouts(wheel, publication, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import pamphlet.resources as r; "
                            "print(r.builtin_dir('layouts'))"], env=env, check=True,
                           capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(target)
    done = subprocess.run([sys.executable, "-m", "pamphlet", "build", "issue-1"], env=env,
                          capture_output=True, text=True, cwd=publication.root, check=False)
    assert done.returncode == 0, done.stderr
    assert publication.pdf.exists()
