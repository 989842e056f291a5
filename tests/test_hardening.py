"""Hostile or broken input: never a leak, a hang, a traceback or a lost PDF.
The rows of the bad-input table in the design notes, one class per test."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pypdf
import pytest
from conftest import write
from PIL import Image
from test_cli import pamphlet


def use_manifest(publication, extra: str = "", layout: str = "bulletin") -> None:
    publication.write_manifest(f"""
        title: The Test Sheet
        layout: {layout}
        date: 2026-11-20
        articles:
          - issue-1/lead.md
          - issue-1/short.md
        """ + extra)


# --- A. Manifest YAML -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("title: x\nlayout: bulletin\ndate: 2026-11-20\narticles:\n\t- issue-1/lead.md\n",
     "issue-1.yaml:5: this is not valid YAML: found character '\\t' that cannot start any token "
     "(YAML does not allow tabs for indentation: use spaces)"),
    ("title: &t x\nsubtitle: *t\nlayout: bulletin\ndate: 2026-11-20\narticles: [issue-1/lead.md]\n",
     "issue-1.yaml:2: this is not valid YAML: aliases (*name) are not allowed"),
    ("title: x\nlayout: bulletin\ndate: 2026-11-20\narticles: " + "[" * 100 + "]" * 100 + "\n",
     "this is nested more than 40 levels deep"),
    ("title: !!python/object/apply:os.system ['touch pwned']\n",
     "issue-1.yaml:1: this is not valid YAML: could not determine a constructor for the tag"),
    ("title: x\nlayout: bulletin\ndate: 2024-13-45\narticles: [issue-1/lead.md]\n",
     "issue-1.yaml:3: this is not valid YAML: '2024-13-45' is not a real date"),
    ("title: x\nprice: 1:10\nlayout: bulletin\ndate: 2026-11-20\narticles: [issue-1/lead.md]\n",
     "issue-1.yaml:2: YAML reads 'price: 1:10' as the number 70 (put it in quotes"),
    ("", "issue-1.yaml:1: the manifest has no 'title'"),
    ("- just\n- a list\n", "the manifest must be a set of 'key: value' lines (found a list)"),
    ("title: x\nlayout: bulletin\ndate: 2026-11-20\narticles: issue-1/lead.md\n",
     "issue-1.yaml:4: 'articles' should be a list, not 'issue-1/lead.md'"),
])
def test_bad_manifests_get_one_clear_line(publication, text, expected):
    publication.manifest.write_text(text)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not (publication.root / "pwned").exists()


def test_a_huge_manifest_is_refused_before_it_is_parsed(publication):
    publication.manifest.write_text("title: x\n# " + "x" * 2_000_000 + "\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "KB, more than pamphlet reads (1024 KB)" in result.output


# --- B. References and paths ------------------------------------------------------------------

@pytest.mark.parametrize(("reference", "expected"), [
    ("../../../etc/passwd", "is outside the publication folder"),
    ("/etc/passwd", "is an absolute path (paths must be relative to the file that names them)"),
    ("~/notes.md", "is an absolute path"),
    ("C:\\\\Windows\\\\win.ini", "is an absolute path"),
    ("https://example.org/story.md", "is a web address, not a file"),
    ("issue-1", "is not a regular file"),
    ("issue-1/LEAD.md", "not found: issue-1/LEAD.md (did you mean 'lead.md'?)"),
])
def test_article_references_stay_inside_the_publication(publication, reference, expected):
    publication.manifest.write_text(publication.manifest.read_text().replace(
        "issue-1/short.md", f'"{reference}"'))
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "issues/issue-1.yaml:7: article file" in result.output
    assert expected in result.output


def test_a_symlink_out_of_the_publication_is_refused(publication, tmp_path):
    secret = write(tmp_path / "secret.md", "---\ntitle: Secret\n---\nPrivate.\n")
    (publication.root / "issues" / "issue-1" / "short.md").unlink()
    (publication.root / "issues" / "issue-1" / "short.md").symlink_to(secret)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "'issue-1/short.md' is outside the publication folder" in result.output


def test_a_fifo_is_refused_without_hanging(publication):
    fifo = publication.root / "issues" / "issue-1" / "short.md"
    fifo.unlink()
    os.mkfifo(fifo)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "'issue-1/short.md' is not a regular file" in result.output


# --- C. Article content -----------------------------------------------------------------------

@pytest.fixture
def listener():
    """A local HTTP server that counts the requests it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_a_hostile_article_makes_no_request_and_attaches_nothing(publication, listener):
    url, hits = listener
    use_manifest(publication, "raw_html: true\n")
    publication.article("short.md", f"""
        ---
        title: Hostile
        ---
        <link rel="attachment" href="file:///etc/passwd">
        <a rel="attachment" href="{url}/leak">leak</a>

        <style>@import url({url}/evil.css);</style>
        <p style="background: url({url}/bg.png)">Styled.</p>

        <iframe src="{url}/frame"></iframe><object data="{url}/obj"></object>
        """)
    publication.use_layout("remote", {
        "layout.yaml": "extends: bulletin\n",
        "style.css": f"@import url({url}/import.css);\nbody {{ background: url({url}/layout.png); }}\n"})
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    assert hits == []
    reader = pypdf.PdfReader(publication.pdf)
    assert "/EmbeddedFiles" not in reader.trailer["/Root"].get("/Names", {})
    assert not reader.attachments
    html = publication.pdf.with_suffix(".html").read_text()
    for gone in ("<style", "<link", "<iframe", "<object", "attachment", "style="):
        assert gone not in html.split("</head>")[1], gone


@pytest.mark.parametrize("raw_html", [False, True])
def test_a_remote_picture_is_an_error_and_no_request(publication, listener, raw_html):
    url, hits = listener
    use_manifest(publication, f"raw_html: {str(raw_html).lower()}\n")
    body = f'<img src="{url}/raw.png">' if raw_html else f"![A pic]({url}/p.jpg)"
    publication.article("short.md", f"---\ntitle: Pic\n---\nText.\n\n{body}\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "issues/issue-1/short.md:" in result.output
    assert "is a web address, not a file" in result.output
    assert hits == []


def test_raw_html_is_text_unless_the_manifest_allows_it(publication):
    publication.article("short.md", """
        ---
        title: Tags
        ---
        Some <b>bold</b> and <script>alert(1)</script> here.

        [a link](javascript:alert(1)) and <span onclick="alert(1)">click</span>
        """)
    result = pamphlet("build", "issue-1")
    assert "issues/issue-1/short.md:4: HTML tags are printed as text" in result.output
    html = publication.pdf.with_suffix(".html").read_text()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<script" not in html
    assert 'href="javascript:' not in html

    use_manifest(publication, "raw_html: true\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    assert "issues/issue-1/short.md:4: removed <script> from the raw HTML" in result.output
    assert "issues/issue-1/short.md:6: removed the onclick attribute from the raw HTML" in result.output
    html = publication.pdf.with_suffix(".html").read_text()
    assert "<b>bold</b>" in html
    assert "<script" not in html and "onclick" not in html and 'href="javascript:' not in html


def test_article_text_is_never_a_template_and_fields_are_escaped(publication):
    use_manifest(publication)
    publication.manifest.write_text(publication.manifest.read_text().replace(
        "title: The Test Sheet", "title: \"<b>Hi</b>{{ 7*7 }}\""))
    publication.article("short.md",
                        "---\ntitle: \"{{ config }}\"\n---\nSum: {{ 7*7 }} {% if 1 %}x{% endif %}\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    html = publication.pdf.with_suffix(".html").read_text()
    assert "Sum: {{ 7*7 }} {% if 1 %}x{% endif %}" in html
    assert "{{ config }}" in html and "49" not in html
    assert "&lt;b&gt;Hi&lt;/b&gt;" in html


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p.write_text("not a picture"), "'pic.jpg' is damaged or is not a picture"),
    (lambda p: Image.new("L", (9000, 5000)).save(p, "PNG"), "'pic.jpg' is 9000 x 5000 pixels, "
     "more than pamphlet takes (40 million)"),
    (lambda p: Image.new("L", (20000, 10000)).save(p, "PNG"), "has too many pixels to be a safe"),
    (lambda p: Image.new("RGB", (20, 20)).save(p, "BMP"), "'pic.jpg' is a BMP picture, which "
     "pamphlet does not print"),
])
def test_pictures_are_checked_by_content(publication, make, expected):
    make(publication.root / "issues" / "issue-1" / "pic.jpg")
    publication.article("short.md", "---\ntitle: Pic\nimage: pic.jpg\n---\nText.\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "issues/issue-1/short.md:3: picture" in result.output
    assert expected in result.output


def test_an_extremely_long_word_and_an_empty_article_still_build(publication):
    publication.article("short.md", "---\ntitle: Empty\n---\n")
    publication.article("lead.md", "---\ntitle: Long\n---\n" + "x" * 3000 + "\n")
    result = pamphlet("build", "issue-1", "--target", "email")
    assert result.exit_code == 0, result.output
    # On paper the word runs off the sheet: the office PDF is refused, in one plain line.
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "page 1: something is printed within 5 mm of the right edge" in result.output
    assert "Traceback" not in result.output and not publication.pdf.exists()


# --- D. Resource limits and build state -------------------------------------------------------

def _long_newspaper(publication) -> None:
    use_manifest(publication, layout="newspaper")
    # Each sentence its own, so that no line is laid out or drawn from one made before.
    paragraphs = [" ".join(f"Workers at depot {n * 12 + i} voted {i + 2} to {n} to strike "
                           f"over pay and {n + i} hours." for i in range(12))
                  for n in range(120)]
    publication.article("lead.md", "---\ntitle: Long\nplace: front\n---\n" +
                        "\n\n".join(paragraphs) + "\n")


def test_a_render_past_the_time_limit_is_stopped_and_the_old_pdf_kept(publication):
    assert pamphlet("build", "issue-1").exit_code == 0
    before = publication.pdf.read_bytes()
    _long_newspaper(publication)
    result = pamphlet("build", "issue-1", "--timeout", "1")
    assert result.exit_code == 1
    assert "laying out issue-1 took longer than 1 s, so it was stopped" in result.output
    assert publication.pdf.read_bytes() == before
    assert not [p for p in publication.pdf.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_c_library_failing_an_allocation_counts_as_memory():
    """Under the memory limit some C code (Pillow's decoders, cffi) fails a malloc by
    returning an error without setting one: Python raises SystemError. That is the memory
    limit, not a layout problem."""
    from pamphlet.isolation import _failure

    assert _failure(MemoryError())[0] == "memory"
    assert _failure(SystemError("error return without exception set"))[0] == "memory"
    try:
        try:
            raise MemoryError
        except MemoryError:
            raise ValueError("while handling it") from None
    except ValueError as error:
        chained = error
    assert _failure(chained)[0] == "memory"
    status, (summary, details) = _failure(ValueError("a real bug"))
    assert status == "error" and summary == "ValueError: a real bug" and "a real bug" in details


def test_a_picture_that_does_not_fit_in_memory_stops_the_render(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    """WeasyPrint leaves out a picture it cannot load and goes on, whatever the reason; out of
    memory, the render stops instead, so that the build reports the limit, not a paper with a
    hole in it."""
    import weasyprint.images

    from pamphlet.render import render

    Image.new("RGB", (20, 20), "red").save(tmp_path / "photo.jpg")

    def too_big(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(weasyprint.images.RasterImage, "__init__", too_big)
    with pytest.raises(MemoryError):
        render('<p>Text</p><img src="photo.jpg">', tmp_path, [tmp_path])


def test_a_render_past_the_memory_limit_is_stopped(publication):
    _long_newspaper(publication)
    # A small file that decodes to 150 MB of pixels (under the 40 Mpx cap): WeasyPrint must
    # unpack a PNG, more than the heap the test process may already hold spare.
    Image.new("RGBA", (7500, 5000), "red").save(publication.root / "issues" / "issue-1" / "big.png")
    publication.article("short.md", "---\ntitle: Big\nimage: big.png\n---\nA big picture.\n")
    # A fresh process: what the test process already maps would blur a 64 MB limit.
    result = subprocess.run([sys.executable, "-m", "pamphlet", "build", "issue-1", "--target",
                             "archive", "--memory", "64"], cwd=publication.root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "laying out issue-1" in result.stderr and "memory" in result.stderr
    assert "Traceback" not in result.stderr
    assert not publication.pdf.exists()


def test_two_builds_of_one_issue_at_once_do_not_corrupt_each_other(publication):
    command = [sys.executable, "-m", "pamphlet", "build", "issue-1", "-q"]
    runs = [subprocess.Popen(command, cwd=publication.root, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read() if run.stderr else ""
        if run.stderr:
            run.stderr.close()
    assert len(pypdf.PdfReader(publication.pdf).pages) == 2
    assert not [p for p in publication.pdf.parent.iterdir() if p.name.endswith(".tmp")]


def test_an_output_path_that_cannot_be_written_is_reported(publication):
    (publication.root / "taken.pdf").mkdir()
    result = pamphlet("build", "issue-1", "--out", "taken.pdf")
    assert result.exit_code == 1
    assert "taken.pdf: cannot write this file: Is a directory" in result.output
    assert not [p for p in publication.root.iterdir() if p.name.endswith(".tmp")]


def test_the_renderer_reads_nothing_outside_its_folders(publication, tmp_path):
    from pamphlet.render import LocalFetcher
    outside = write(tmp_path / "outside.css", "p { color: red; }")
    fetcher = LocalFetcher([publication.root])
    inside = write(publication.root / "inside.css", "p {}")
    assert fetcher.fetch(inside.as_uri()).read() == b"p {}"
    for url in (outside.as_uri(), "file:///etc/hostname", "http://127.0.0.1:9/x",
                "data:text/css,p{}", (publication.root / ".." / "outside.css").as_uri()):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert Path(tmp_path).exists()


# --- Remote pictures, only from hosts the manifest names --------------------------------------

@pytest.fixture
def picture_server():
    """A local server with a picture, a redirect to another host, a huge body and a stall."""
    import io
    import time
    hits: list[str] = []
    png = io.BytesIO()
    Image.new("RGB", (40, 30), "navy").save(png, "PNG")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            if self.path == "/stall":
                time.sleep(3)
            body = png.getvalue() if self.path != "/huge" else b"\0" * (3 * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _remote_article(publication, url: str, hosts: str = "[127.0.0.1]") -> None:
    use_manifest(publication, f"remote_images: {hosts}\n")
    publication.article("short.md", f"---\ntitle: Remote\nimage: {url}\n---\nText.\n")


def test_remote_pictures_need_the_host_named_in_the_manifest(publication, picture_server):
    url, hits = picture_server
    _remote_article(publication, f"{url}/pic.png", hosts="[images.example.org]")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "pictures from 127.0.0.1 are not allowed (add '127.0.0.1' to remote_images" \
        in result.output
    assert hits == []


def test_a_named_host_on_a_local_address_is_still_refused(publication, picture_server):
    url, hits = picture_server
    _remote_article(publication, f"{url}/pic.png")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "127.0.0.1 leads to 127.0.0.1, a private or local address" in result.output
    assert hits == []


@pytest.fixture
def loopback_counts_as_public(monkeypatch):
    """Stand-in for a public server: the tests can only serve from this machine."""
    monkeypatch.setattr("pamphlet.remote.is_public", lambda address: address == "127.0.0.1")


def test_a_remote_picture_from_a_named_host_is_downloaded_once(publication, picture_server,
                                                               loopback_counts_as_public):
    url, hits = picture_server
    _remote_article(publication, f"{url}/pic.png")
    assert pamphlet("build", "issue-1").exit_code == 0
    assert pamphlet("build", "issue-1").exit_code == 0
    assert hits == ["/pic.png"]
    assert list((publication.root / "build" / ".remote").glob("*.png"))


@pytest.mark.parametrize(("path", "expected"), [
    ("/redirect", "pictures from 169.254.169.254 are not allowed"),
    ("/huge", "is 3 MB, more than 2 MB"),
    ("/stall", "could not fetch the picture from 127.0.0.1: timed out"),
])
def test_remote_pictures_are_vetted_at_every_hop(publication, picture_server,
                                                 loopback_counts_as_public, monkeypatch,
                                                 path, expected):
    monkeypatch.setattr("pamphlet.remote.MAX_BYTES", 2 * 1024 * 1024)
    monkeypatch.setattr("pamphlet.remote.TIMEOUT", 1.0)
    url, hits = picture_server
    _remote_article(publication, f"{url}{path}")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert expected in result.output
    assert hits == [path]


def test_layout_templates_and_fonts_do_not_follow_symlinks_out(publication, tmp_path):
    from pamphlet.fonts import find_fonts
    from pamphlet.resources import builtin_dir
    secret = write(tmp_path / "secret.html", "SECRET {{ issue.title }}")
    folder = publication.use_layout("sneaky", {"layout.yaml": "extends: bulletin\n"})
    (folder / "issue.html").symlink_to(secret)
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "template not found: issue.html" in result.output
    font = next((builtin_dir("fonts") / "oswald").glob("*.ttf"))
    outside = tmp_path / "Outside.ttf"
    outside.write_bytes(font.read_bytes())
    (publication.root / "fonts").mkdir()
    (publication.root / "fonts" / "Outside.ttf").symlink_to(outside)
    assert all(f.path.parent != publication.root / "fonts" for f in find_fonts(publication.root))
