"""pamphlet.workspace: a new publication, the next issue from the last one, the list of issues."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, write

from pamphlet import workspace
from pamphlet.articles import split_front_matter
from pamphlet.build import build, load
from pamphlet.errors import PamphletError
from pamphlet.workspace import init_publication, list_issues, new_issue

TODAY = dt.date.today()


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    """init dates the sample issue today: keep 'today' still if the tests run over midnight."""
    monkeypatch.setattr(workspace, "today", lambda: TODAY)


def front_matter(path: Path, empty: bool = True) -> dict:
    front, body, _ = split_front_matter(path.read_text(encoding="utf-8"), path)
    assert (body == "") == empty
    return dict(front)


def manifest_data(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def set_mtime(path: Path, when: float) -> None:
    os.utime(path, (when, when))


@pytest.fixture
def started(tmp_path: Path) -> Path:
    root = tmp_path / "shopfloor"
    init_publication(root)
    return root


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    """A copy of the repository's Workers' Voice No 42 and its standing items, on its own."""
    root = tmp_path / "paper"
    (root / "issues").mkdir(parents=True)
    shutil.copy(REPO / "issues" / "issue-42.yaml", root / "issues")
    for folder in ("issue-42", "standing"):
        shutil.copytree(REPO / "issues" / folder, root / "issues" / folder)
    return root


# --- init -------------------------------------------------------------------------------------


def test_init_writes_the_starter_publication_and_it_builds_clean(tmp_path):
    root = tmp_path / "new" / "shopfloor"
    written = init_publication(root)

    assert sorted(written) == sorted(p for p in root.rglob("*") if p.is_file())
    issues = root / "issues"
    assert (root / "GUIDE.md") in written
    assert (issues / "first-issue.yaml") in written
    assert (issues / "standing" / "where-we-stand.md") in written
    assert 5 <= len(list((issues / "first-issue").glob("*.md"))) <= 6  # the lead and 3-4 shorts
    guide = (root / "GUIDE.md").read_text(encoding="utf-8")
    for words in ("pamphlet build first-issue", "pamphlet new", "build/first-issue.office.pdf", "articles:"):
        assert words in guide
    data = manifest_data(issues / "first-issue.yaml")
    assert data["layout"] == "bulletin"
    assert data["date"] == TODAY
    assert "Got a story?" in data["contact"]
    assert {"path": "standing/where-we-stand.md", "box": True} in data["articles"]
    assert front_matter(issues / "first-issue" / "lead.md", empty=False)["place"] == "front"

    result = build(issues / "first-issue.yaml")
    assert result.warnings == []
    assert result.pages == 2
    assert result.pdf == root / "build" / "first-issue.office.pdf"


def test_init_refuses_an_existing_publication(started, paper):
    for root in (started, paper):
        before = sorted(root.rglob("*"))
        with pytest.raises(PamphletError) as caught:
            init_publication(root)
        [problem] = caught.value.problems
        assert problem.file == root
        assert "already" in problem.message and problem.hint
        assert sorted(root.rglob("*")) == before


def test_init_never_overwrites_a_file(tmp_path):
    guide = write(tmp_path / "GUIDE.md", "my own notes\n")
    with pytest.raises(PamphletError) as caught:
        init_publication(tmp_path)
    assert [p.file for p in caught.value.problems] == [guide]
    assert guide.read_text() == "my own notes\n"
    assert not (tmp_path / "issues").exists()


# --- new --------------------------------------------------------------------------------------


def test_new_issue_from_the_starter(started):
    issues = started / "issues"
    written = new_issue(started, "second-issue")

    source = manifest_data(issues / "first-issue.yaml")
    manifest = issues / "second-issue.yaml"
    assert written[0] == manifest
    data = manifest_data(manifest)
    assert data["number"] == 2
    assert data["date"] == TODAY + dt.timedelta(days=7)
    for key in ("title", "subtitle", "layout", "publisher", "email", "contact", "imprint"):
        assert data[key] == source[key]
    assert list(data) == list(source)  # the key order stays
    text = manifest.read_text(encoding="utf-8")
    assert "# The articles, in reading order." in text  # and so do the comments
    assert data["articles"] == [
        "second-issue/lead.md", "second-issue/short-and-sharp.md", "second-issue/pictures.md",
        "second-issue/names-changed.md", "second-issue/same-time-next-week.md",
        {"path": "standing/where-we-stand.md", "box": True}]
    assert written[1:] == [issues / a for a in data["articles"] if isinstance(a, str)]
    assert front_matter(issues / "second-issue" / "lead.md") == {
        "title": "New article", "kicker": "Start here", "place": "front"}
    assert front_matter(issues / "second-issue" / "same-time-next-week.md") == {"title": "New article"}
    assert (issues / "second-issue" / "lead.md").read_text().startswith('---\ntitle: "New article"\n')

    issue, articles, layout = load(manifest)
    assert issue.number == 2 and layout.name == "bulletin"
    assert [a.title for a in articles][:5] == ["New article"] * 5
    assert articles[-1].source == issues / "standing" / "where-we-stand.md"

    # The next one after that starts from the latest issue and keeps the gap between them.
    new_issue(started, "third-issue")
    assert manifest_data(issues / "third-issue.yaml")["number"] == 3
    assert manifest_data(issues / "third-issue.yaml")["date"] == TODAY + dt.timedelta(days=14)


def test_new_issue_from_issue_42(paper):
    issues = paper / "issues"
    source = manifest_data(issues / "issue-42.yaml")
    written = new_issue(paper, "issue-43")

    manifest = issues / "issue-43.yaml"
    data = manifest_data(manifest)
    assert data["number"] == 43
    assert data["date"] == dt.date(2026, 12, 4)  # the only issue: a week on
    for key in ("title", "subtitle", "strapline", "layout", "price", "website", "email", "pages",
                "publisher", "flash", "contact", "imprint"):
        assert data[key] == source[key]
    standing = [a for a in source["articles"] if "standing/" in str(a)]
    assert len(standing) == 4
    assert [a for a in data["articles"] if "standing/" in str(a)] == standing
    assert {"path": "standing/where-we-stand.md", "place": "page 2", "section": "News"} \
        in data["articles"]
    assert data["articles"][0] == "issue-43/lead.md"
    assert data["articles"][-4:] == ["issue-43/back-page.md", "standing/join-us.md",
                                     "standing/subscribe.md", "standing/fund.md"]
    assert len(data["articles"]) == len(source["articles"])
    text = manifest.read_text(encoding="utf-8")
    assert "  # Page 2: the standing programme box, editorial and news\n" in text
    assert "  # Page 12, the back page\n" in text
    assert "issue-42/" not in text

    assert len(written) == 1 + len(source["articles"]) - 4
    assert written[1:] == [issues / a for a in data["articles"] if str(a).startswith("issue-43/")]
    assert sorted(written[1:]) == sorted((issues / "issue-43").iterdir())
    assert front_matter(issues / "issue-43" / "lead.md") == {
        "title": "New article", "place": "front", "section": "News", "kicker": "Castlegate Buses"}
    assert front_matter(issues / "issue-43" / "letters.md") == {
        "title": "New article", "place": "page 9", "section": "Letters"}

    issue, articles, _ = load(manifest)
    assert issue.name == "issue-43" and len(articles) == len(source["articles"])
    # The source is untouched.
    assert (issues / "issue-42.yaml").read_bytes() == (REPO / "issues" / "issue-42.yaml").read_bytes()


def test_new_issue_moves_the_date_by_the_gap_before_the_source(paper):
    issues = paper / "issues"
    # An earlier issue of the same paper, a fortnight before; another publication's issue in
    # between does not count.
    text = (issues / "issue-42.yaml").read_text(encoding="utf-8")
    write(issues / "issue-41.yaml", text.replace("number: 42", "number: 41")
          .replace("date: 2026-11-27", "date: 2026-11-13"))
    write(issues / "leaflet.yaml", """
        title: Strike leaflet
        layout: bulletin
        date: 2026-11-20
        articles: [standing/fund.md]
        """)
    new_issue(paper, "issue-43")
    data = manifest_data(issues / "issue-43.yaml")
    assert data["date"] == dt.date(2026, 12, 11)
    assert data["number"] == 43

    new_issue(paper, "leaflet-2", source="leaflet")
    data = manifest_data(issues / "leaflet-2.yaml")
    assert data["date"] == dt.date(2026, 11, 27)
    assert "number" not in data
    assert data["articles"] == ["standing/fund.md"]
    assert not list((issues / "leaflet-2").iterdir())


def test_new_issue_keeps_options_and_sets_a_teaser_text_to_true(started):
    issues = started / "issues"
    write(issues / "special.yaml", """
        title: Shopfloor
        layout: bulletin
        date: 2026-05-01
        articles: [{path: first-issue/lead.md, teaser: "Last week's story", section: News},
                   "./standing/where-we-stand.md", first-issue/lead.md]
        """)
    written = new_issue(started, "special-2", source="special.yaml")
    data = manifest_data(issues / "special-2.yaml")
    assert data["articles"] == [{"path": "special-2/lead.md", "teaser": True, "section": "News"},
                                "./standing/where-we-stand.md", "special-2/lead-2.md"]
    assert [p.name for p in written] == ["special-2.yaml", "lead.md", "lead-2.md"]
    load(issues / "special-2.yaml")


def test_new_issue_falls_back_to_plain_yaml(started, monkeypatch):
    def broken(*args):
        raise ValueError("cannot edit")

    monkeypatch.setattr(workspace, "_edit_text", broken)
    new_issue(started, "second-issue")
    manifest = started / "issues" / "second-issue.yaml"
    text = manifest.read_text(encoding="utf-8")
    assert "#" not in text.split("contact:")[0]  # the comments are gone...
    assert "contact: |\n  **Got a story?" in text  # ...but the text blocks still read well
    data = manifest_data(manifest)
    assert data["number"] == 2 and data["articles"][0] == "second-issue/lead.md"
    load(manifest)


@pytest.mark.parametrize("name", ["", "two words", "../escape", "a/b", "-x", "issue.yaml", "é", "x" * 101])
def test_new_issue_refuses_a_name_that_is_not_simple(started, name):
    before = sorted(started.rglob("*"))
    with pytest.raises(PamphletError) as caught:
        new_issue(started, name)
    [problem] = caught.value.problems
    assert "not a simple issue name" in problem.message and "letters, digits" in problem.hint
    assert sorted(started.rglob("*")) == before


def test_new_issue_refuses_to_overwrite(started):
    issues = started / "issues"
    for taken, files in (("first-issue", ["first-issue.yaml", "first-issue"]),
                         ("standing", ["standing"])):
        with pytest.raises(PamphletError) as caught:
            new_issue(started, taken)
        assert [p.file for p in caught.value.problems] == [issues / f for f in files]
        assert all(p.hint for p in caught.value.problems)
    (issues / "later").mkdir()
    with pytest.raises(PamphletError) as caught:
        new_issue(started, "later")
    assert "folder" in caught.value.problems[0].message
    assert list((issues / "later").iterdir()) == []
    assert not (issues / "later.yaml").exists()


def test_new_issue_refuses_a_missing_or_broken_source(started, tmp_path):
    issues = started / "issues"
    with pytest.raises(PamphletError) as caught:
        new_issue(started, "next", source="issue-99")
    [problem] = caught.value.problems
    assert problem.file == issues / "issue-99.yaml"
    assert "issue-99" in problem.message and problem.hint == "issues found: first-issue"

    write(issues / "broken.yaml", """
        title: Shopfloor
        layuot: bulletin
        date: 2026-02-30
        articles: []
        """)
    with pytest.raises(PamphletError) as caught:
        new_issue(started, "next", source="broken")
    assert str(caught.value.problems[0]).startswith(f"{issues / 'broken.yaml'}:3: this is not valid YAML")
    write(issues / "broken.yaml", "title: Shopfloor\nlayuot: bulletin\ndate: 2026-02-03\narticles: []\n")
    with pytest.raises(PamphletError) as caught:
        new_issue(started, "next", source="broken")
    assert "unknown key 'layuot' in the manifest (did you mean 'layout'?)" in str(caught.value)
    assert not (issues / "next.yaml").exists() and not (issues / "next").exists()

    # With no source named, a broken issue is passed over for the latest good one.
    new_issue(started, "next")
    assert manifest_data(issues / "next.yaml")["number"] == 2

    empty = tmp_path / "empty"
    (empty / "issues").mkdir(parents=True)
    with pytest.raises(PamphletError) as caught:
        new_issue(empty, "first")
    assert "no issue to start" in caught.value.problems[0].message
    with pytest.raises(PamphletError) as caught:
        new_issue(tmp_path / "nowhere", "first")
    assert "no issues/ folder" in caught.value.problems[0].message


# --- list -------------------------------------------------------------------------------------


def test_list_issues_follows_the_pdf(started):
    issues = started / "issues"
    [summary] = list_issues(started)
    assert summary == workspace.IssueSummary("first-issue", 1, TODAY, "bulletin", 6, "missing", "")

    pdf = build(issues / "first-issue.yaml").pdf
    assert [s.pdf_state for s in list_issues(started)] == ["current"]

    built = pdf.stat().st_mtime
    article = issues / "first-issue" / "pictures.md"
    set_mtime(article, built + 60)
    assert [s.pdf_state for s in list_issues(started)] == ["stale"]
    set_mtime(article, built - 60)
    assert [s.pdf_state for s in list_issues(started)] == ["current"]

    # A picture the article names, in its front matter or its Markdown.
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("title:", "image: images/a b.jpg\ntitle:")
                       + "\n![x](images/c%20d.png)\n", encoding="utf-8")
    set_mtime(article, built - 60)
    for picture in ("a b.jpg", "c d.png"):
        path = write(issues / "first-issue" / "images" / picture, "picture")
        set_mtime(path, built + 60)
        assert [s.pdf_state for s in list_issues(started)] == ["stale"]
        set_mtime(path, built - 60)
        assert [s.pdf_state for s in list_issues(started)] == ["current"]

    # The manifest, a standing item, and the layout's files (a publication's own layout).
    for path in (issues / "first-issue.yaml", issues / "standing" / "where-we-stand.md"):
        set_mtime(path, built + 60)
        assert [s.pdf_state for s in list_issues(started)] == ["stale"]
        set_mtime(path, built - 60)
    override = write(started / "layouts" / "bulletin" / "layout.yaml", "extends: bulletin\n")
    set_mtime(override, built + 60)
    assert [s.pdf_state for s in list_issues(started)] == ["stale"]
    set_mtime(override, built - 60)
    assert [s.pdf_state for s in list_issues(started)] == ["current"]


def test_list_issues_sorts_by_date_and_lists_broken_manifests(started, paper):
    shutil.copytree(paper / "issues", started / "issues", dirs_exist_ok=True)
    issues = started / "issues"
    first = issues / "first-issue.yaml"
    first.write_text(first.read_text().replace(f"date: {TODAY}", "date: 2027-01-01"))
    write(issues / "a-special.yaml", "title: Special\nlayout: pamphlet\ndate: 2026-11-27\n"
          "articles: [standing/fund.md]\n")
    write(issues / "broken.yaml", "title: Broken\nlayout: bulletin\nnumber: 7\ndate: 2020-01-01\n"
          "articles: [{path: x.md, place: upstairs}]\n")
    write(issues / "unreadable.yaml", "title: [unclosed\n")
    write(issues / "undated.yaml", "title: Undated\nlayout: bulletin\narticles: [x.md]\n")
    (started / "build").mkdir()
    (started / "build" / "broken.office.pdf").write_bytes(b"%PDF")
    set_mtime(started / "build" / "broken.office.pdf", 0)

    summaries = list_issues(started)
    assert [s.name for s in summaries] == ["broken", "a-special", "issue-42", "first-issue",
                                           "undated", "unreadable"]
    by_name = {s.name: s for s in summaries}
    assert by_name["issue-42"] == workspace.IssueSummary(
        "issue-42", 42, dt.date(2026, 11, 27), "newspaper", 29, "missing", "")
    broken = by_name["broken"]
    assert (broken.number, broken.date, broken.layout, broken.articles) == \
        (7, dt.date(2020, 1, 1), "bulletin", 1)
    assert broken.problem == (f"{issues / 'broken.yaml'}:5: 'place: upstairs' is not a place "
                              "pamphlet knows (use front, page N (e.g. page 3), centre, back or box)")
    assert broken.pdf_state == "stale"
    assert by_name["unreadable"].problem.startswith(f"{issues / 'unreadable.yaml'}:2: this is not valid YAML")
    assert (by_name["unreadable"].date, by_name["unreadable"].articles) == (None, 0)
    assert by_name["undated"].problem.endswith("the manifest has no 'date' (add a line 'date: ...' "
                                               "(the issue date, written as YYYY-MM-DD))")
    assert by_name["undated"].date is None and by_name["undated"].layout == "bulletin"
    assert all(s.problem == "" for s in summaries if s.name in ("a-special", "issue-42", "first-issue"))


def test_list_issues_without_issues(tmp_path):
    assert list_issues(tmp_path) == []
