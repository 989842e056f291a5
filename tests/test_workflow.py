"""An editor's week from an empty folder, through the commands: init, build, list, new, preview."""

from __future__ import annotations

import os

from PIL import Image
from test_cli import pamphlet


def test_from_an_empty_folder_to_the_next_issue(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = pamphlet("init", "branch-paper")
    assert result.exit_code == 0, result.output
    assert "Next: cd branch-paper && pamphlet build first-issue" in result.output
    monkeypatch.chdir(tmp_path / "branch-paper")
    assert "first-issue" in pamphlet("list").output
    assert "not built yet" in pamphlet("list").output

    built = pamphlet("build", "first-issue")
    assert built.exit_code == 0, built.output
    assert "warning" not in built.output
    assert "PDF up to date" in pamphlet("list").output

    lead = tmp_path / "branch-paper" / "issues" / "first-issue" / "lead.md"
    later = os.stat(lead).st_mtime + 60
    os.utime(lead, (later, later))
    assert "PDF older than its sources" in pamphlet("list").output

    new = pamphlet("new", "second-issue")
    assert new.exit_code == 0, new.output
    assert "issues/second-issue.yaml: new issue with" in new.output
    listing = pamphlet("list").output.splitlines()
    assert listing[1].split()[:3] == ["second-issue", "No", "2"]
    again = pamphlet("new", "second-issue")
    assert again.exit_code == 1
    assert "Nothing was written." in again.output
    assert pamphlet("init", ".").exit_code == 1


def test_preview_builds_when_needed_and_writes_pages_and_a_sheet(publication):
    result = pamphlet("preview", "issue-1")
    assert result.exit_code == 0, result.output
    assert publication.pdf.exists()
    pages = sorted((publication.root / "build" / "issue-1-pages").glob("page-*.png"))
    assert [p.name for p in pages] == ["page-1.png", "page-2.png"]
    with Image.open(publication.root / "build" / "issue-1-sheet.png") as sheet:
        assert sheet.width == 2000
    before = publication.pdf.stat().st_mtime_ns
    one = pamphlet("preview", "issue-1", "--page", "2")
    assert one.exit_code == 0
    assert publication.pdf.stat().st_mtime_ns == before, "an up-to-date PDF is not rebuilt"
    with Image.open(pages[1]) as page:
        assert abs(page.width - 210 / 25.4 * 150) <= 1
    wrong = pamphlet("preview", "issue-1", "--page", "3")
    assert wrong.exit_code == 1
    assert "the issue has 2 pages: there is no page 3" in wrong.output


def test_commands_outside_a_publication_say_how_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = pamphlet("list")
    assert result.exit_code == 1
    assert "no issues/ folder here or in any folder above" in result.output
    assert "pamphlet init" in result.output
