"""The `pamphlet build` command end to end, and how it reports bad input."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pamphlet import build as build_module
from pamphlet import cli
from pamphlet.build import IssueOutcome, largest_first
from pamphlet.checks import pdf_text

runner = CliRunner()


def pamphlet(*args: str):
    return runner.invoke(cli.app, list(args))


def test_build_by_name_writes_pdf_and_html(publication):
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    assert publication.pdf.read_bytes().startswith(b"%PDF-")
    assert "Cleaners win the living wage" in publication.pdf.with_suffix(".html").read_text()
    assert "build/issue-1.office.pdf: 2 pages" in result.output


def test_build_from_a_subfolder_finds_the_publication(publication, monkeypatch):
    monkeypatch.chdir(publication.root / "issues" / "issue-1")
    assert pamphlet("build", "issue-1").exit_code == 0
    assert publication.pdf.exists()


def test_build_a_manifest_path_with_out(publication, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "elsewhere" / "paper.pdf"
    result = pamphlet("build", str(publication.manifest), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_the_installed_command_runs(publication):
    done = subprocess.run([sys.executable, "-m", "pamphlet", "build", "issue-1", "--quiet"],
                          capture_output=True, text=True, cwd=publication.root, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_unknown_issue_lists_the_issues_found(publication):
    result = pamphlet("build", "issue-2")
    assert result.exit_code == 1
    assert "no issue called 'issue-2'" in result.output
    assert "issues found: issue-1" in result.output


def test_every_problem_is_reported_at_once_with_file_and_line(publication):
    publication.write_manifest("""
        title: The Test Sheet
        layuot: bulletin
        date: 2026-11-20
        number: forty-two
        articles:
          - issue-1/lead.md
          - issue-1/missing.md
          - path: issue-1/short.md
            place: page three
        """)
    publication.article("lead.md", """
        ---
        title: A headline
        byline: [not, text]
        imagee: photo.jpg
        image: photo.jpg
        ---
        Body text.
        """)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    out = result.output
    assert "issues/issue-1.yaml:2: unknown key 'layuot' in the manifest (did you mean 'layout'?)" in out
    assert "issues/issue-1.yaml:1: the manifest has no 'layout'" in out
    assert "issues/issue-1.yaml:4: 'number' should be a whole number, not 'forty-two'" in out
    assert "issues/issue-1.yaml:7: article file not found: issue-1/missing.md" in out
    assert "issues/issue-1.yaml:8: 'place: page three' is not a place pamphlet knows" in out
    assert "issues/issue-1/lead.md:3: 'byline' should be a piece of text, not a list" in out
    assert "issues/issue-1/lead.md:4: unknown key 'imagee' in the front matter (did you mean 'image'?)" in out
    assert "issues/issue-1/lead.md:5: picture not found: photo.jpg" in out
    assert "Traceback" not in out
    assert not publication.pdf.exists()


def test_unknown_layout_lists_the_layouts_found(publication):
    publication.use_layout("tabloid")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "issues/issue-1.yaml:3: unknown layout 'tabloid'" in result.output
    assert "layouts found: bulletin, newspaper, pamphlet" in result.output


def test_yaml_syntax_error_names_the_line(publication):
    publication.write_manifest("""
        title: The Test Sheet
        layout: bulletin
        date: 2026-11-20
        articles:
          - issue-1/lead.md
         - issue-1/short.md
        """)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "issues/issue-1.yaml:6: this is not valid YAML" in result.output


def test_duplicate_keys_are_errors(publication):
    publication.article("short.md", """
        ---
        title: One
        title: Two
        ---
        Text.
        """)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "issues/issue-1/short.md:3: this is not valid YAML: the key 'title' appears twice" \
        in result.output


def test_unquoted_yes_no_and_bad_dates_get_a_hint(publication):
    publication.write_manifest("""
        title: no
        layout: bulletin
        date: 20/11/2026
        articles: [issue-1/lead.md]
        """)
    out = pamphlet("build", "issue-1").output
    assert "'title' should be a piece of text, not 'false', which YAML reads as yes/no " \
        "(put the text in quotes)" in out
    assert "'date' should be a date written as YYYY-MM-DD, not '20/11/2026'" in out


def test_front_matter_without_closing_fence(publication):
    publication.article("short.md", "---\ntitle: Open\n\nText with no end to the front matter.\n")
    out = pamphlet("build", "issue-1").output
    assert "issues/issue-1/short.md:1: the front matter starting with '---' has no closing" in out


def test_non_utf8_article_names_the_byte(publication):
    (publication.root / "issues" / "issue-1" / "short.md").write_bytes(
        b"---\ntitle: Caf\xe9\n---\nText.\n")
    out = pamphlet("build", "issue-1").output
    assert "issues/issue-1/short.md:2: this file is not UTF-8 text (bad byte at position 14)" in out


def test_failed_build_leaves_the_last_pdf_untouched(publication):
    assert pamphlet("build", "issue-1").exit_code == 0
    before = publication.pdf.read_bytes()
    publication.article("short.md", "---\ntitle: [broken\n---\nText.\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "the last PDF is unchanged" in result.output
    assert publication.pdf.read_bytes() == before
    left = sorted(p.name for p in publication.pdf.parent.iterdir() if not p.name.endswith(".lock"))
    # .cache: the laid-out sides of the bulletin, kept for the next build
    assert left == [".cache", "issue-1.office.html", "issue-1.office.pdf"], \
        "no temporary files are left behind"
    cached = [p.name for p in (publication.pdf.parent / ".cache").rglob("*")]
    assert not any(name.startswith(".tmp") for name in cached), cached


def test_crash_while_writing_leaves_the_last_pdf_untouched(publication, monkeypatch):
    assert pamphlet("build", "issue-1").exit_code == 0
    before = publication.pdf.read_bytes()

    def broken_write(path, data):
        raise OSError("disk full")

    monkeypatch.setattr("pamphlet.build.write_atomically", broken_write)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "build/issue-1.office.pdf: cannot write this file: disk full" in result.output
    assert "Traceback" not in result.output
    assert publication.pdf.read_bytes() == before


def test_an_unexpected_failure_is_one_line_without_debug(publication, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("internal")

    monkeypatch.setattr("pamphlet.cli.build_targets", boom)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 2
    assert "pamphlet failed unexpectedly: RuntimeError: internal" in result.output
    assert "--debug" in result.output and "Traceback" not in result.output


def test_debug_shows_the_traceback_of_unexpected_errors(publication, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("internal")

    monkeypatch.setattr("pamphlet.cli.build_targets", boom)
    result = pamphlet("--debug", "build", "issue-1")
    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)


def test_strict_turns_warnings_into_errors(publication):
    publication.write_manifest(publication.manifest.read_text() + "pages: 4\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0
    assert "warning: the issue fills 2 pages but the manifest plans 4" in result.output
    publication.pdf.unlink()
    result = pamphlet("build", "issue-1", "--strict")
    assert result.exit_code == 1
    assert not publication.pdf.exists()


@pytest.mark.parametrize("flag", ["--version"])
def test_version(flag):
    result = pamphlet(flag)
    assert result.exit_code == 0 and result.output.startswith("pamphlet ")


def _use_layout_css(publication, name: str, css: str) -> None:
    publication.use_layout(name, {"layout.yaml": "extends: bulletin\n", "style.css": css})


def test_text_a_layout_hides_is_reported(publication):
    _use_layout_css(publication, "hiding", "p { visibility: hidden; }\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0
    assert "warning: short.md: paragraph 1 is missing from the PDF (starts 'The new kettle" \
        in result.output
    assert "warning: lead.md: paragraph 3 is missing from the PDF" in result.output
    assert pamphlet("build", "issue-1", "--strict").exit_code == 1


def test_a_layout_cannot_clip_overflowing_text(publication):
    _use_layout_css(publication, "clipping",
                    "p { overflow: hidden; max-lines: 1; line-clamp: 1; continue: discard; }\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0
    assert "missing" not in result.output


def test_what_weasyprint_cannot_load_is_reported_and_nothing_leaves_the_machine(publication):
    _use_layout_css(publication, "remote",
                    "body { background: url(https://example.org/texture.png); }\n"
                    "h2 { background: url(file:///etc/hostname); }\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0
    assert "warning: WeasyPrint: Failed to load image at 'https://example.org/texture.png'" \
        in result.output
    assert "pamphlet loads only files inside the publication folder" in result.output
    assert "file:///etc/hostname" in result.output


def test_an_article_that_does_not_start_on_its_page_is_reported(publication):
    publication.write_manifest("""
        title: The Test Paper
        layout: newspaper
        date: 2026-11-20
        articles:
          - issue-1/lead.md
          - path: issue-1/short.md
            place: page 3
        """)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    assert "warning: short.md is placed on page 3 but starts on page 2: the pages before it " \
        "hold too little" in result.output
    assert "warning: 2 blank page(s) added to make the page count a multiple of 4" in result.output


def test_verbose_says_what_each_step_does(publication):
    result = pamphlet("build", "issue-1", "--verbose")
    assert result.exit_code == 0
    steps = [line.strip() for line in result.output.splitlines() if line.startswith("  ")]
    # The bulletin's two sides are laid out side by side (on as many cores as there are).
    assert re.fullmatch(r"laying out 2 of 2 sections( on [0-9]+ cores)?…", steps[2]), steps
    assert steps[:2] + steps[3:] == ["reading the manifest and articles…",
                                     "laying out the pages…", "putting the sections together…",
                                     "checking the office PDF…"]
    one_pass = pamphlet("build", "issue-1", "--verbose", "-t", "email").output
    assert [line.strip() for line in one_pass.splitlines() if line.startswith("  ")] == [
        "reading the manifest and articles…", "laying out the pages…", "laying out page 1…",
        "laying out page 2…", "writing the PDF…", "checking the email PDF…"]


def test_build_all_builds_every_issue_and_reports_the_broken_one(publication):
    issues = publication.root / "issues"
    (issues / "issue-2.yaml").write_text(publication.manifest.read_text().replace(
        "The Test Sheet", "The Second Sheet"))
    (issues / "broken.yaml").write_text("title: Broken\nlayout: bulletin\ndate: 2026-11-20\n"
                                        "articles: [issue-1/missing.md]\n")
    result = pamphlet("build", "--all")
    assert result.exit_code == 1
    assert "2 of 3 issues built; not built: broken" in result.output
    assert "broken.yaml:4: article file not found: issue-1/missing.md" in result.output
    built = sorted(p.name for p in (publication.root / "build").glob("*.pdf"))
    assert built == ["issue-1.office.pdf", "issue-2.office.pdf"]
    assert "THE SECOND SHEET" in pdf_text((publication.root / "build" / "issue-2.office.pdf").read_bytes())
    assert pamphlet("build").exit_code == 1, "an issue name or --all"
    assert pamphlet("build", "issue-1", "--all").exit_code == 1


def test_build_all_starts_the_issues_with_the_most_text_first(tmp_path, monkeypatch):
    issues = tmp_path / "issues"
    for name, words in (("short", 10), ("long", 900), ("middle", 200), ("empty", 0)):
        (issues / name).mkdir(parents=True)
        (issues / f"{name}.yaml").write_text(f"title: {name}\n")
        for part in range(2):
            (issues / name / f"{part}.md").write_text("word " * words)
    manifests = sorted(issues.glob("*.yaml"))
    assert [m.stem for m in largest_first(manifests)] == ["long", "middle", "short", "empty"]
    started = tmp_path / "started"
    monkeypatch.setattr(build_module, "_build_one", functools.partial(_record_start, started))
    outcomes = build_module.build_many(manifests, workers=2)
    assert [o.manifest for o in outcomes] == manifests, "reported in the issues' own order"
    first_two = started.read_text().split()[:2]
    assert sorted(first_two) == ["long", "middle"]
    (issues / "gone.yaml").symlink_to(issues / "nowhere.yaml")
    assert largest_first([issues / "gone.yaml"]) == [issues / "gone.yaml"]


def _record_start(record: Path, manifest: Path, *args: object) -> IssueOutcome:
    """In a worker of build_many: notes which issue it started, and takes a while."""
    with record.open("a") as out:
        out.write(manifest.stem + "\n")
    time.sleep(0.3)
    return IssueOutcome(manifest)
