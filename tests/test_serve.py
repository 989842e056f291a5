"""`pamphlet serve`: the Previewer on its own, the HTTP server with a plain client, and the whole
live preview in a real headless Chromium, from saving a file to seeing the new page."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Publication
from typer.testing import CliRunner

from pamphlet import serve as serve_module
from pamphlet.cli import app
from pamphlet.errors import PamphletError
from pamphlet.isolation import kept_worker_count
from pamphlet.preview import page_images
from pamphlet.serve import Previewer, Server, is_loopback, make_server, rows_of, serve, url_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PNG = b"\x89PNG\r\n\x1a\n"

# On Python 3.12+ forking the layout child from the watcher thread warns (harmless here: the
# child only lays out and writes to a pipe).
pytestmark = pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")

BROKEN_MANIFEST = """
    title: The Test Sheet
    layuot: bulletin
    layout: bulletin
    date: 2026-11-20
    articles:
      - issue-1/lead.md
      - issue-1/short.md
    """

NEW_LEAD = """
    ---
    title: Cleaners win sick pay from day one
    byline: By a cleaner
    place: front
    ---
    A second week of walkouts at the Eastgate offices ended on Friday with sick pay from the
    first day of illness for every cleaner on the contract.
    """


def touch_later(path: Path) -> None:
    """Move a file's mtime on, as a save a moment later would."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


# --- the Previewer, without a server ----------------------------------------------------------


def test_a_build_gives_status_and_page_images(publication: Publication):
    previewer = Previewer(publication.manifest)
    assert previewer.status()["state"] == "building" and previewer.status()["build"] == 0

    previewer.rebuild()
    status = json.loads(json.dumps(previewer.status()))
    assert status["state"] == "ok" and status["build"] == 1
    assert status["issue"] == "issue-1" and status["title"] == "The Test Sheet"
    assert status["pages"] == 2 and status["rows"] == [[1, 2]]
    assert status["problems"] == [] and status["seconds"] > 0
    assert status["height"] / status["width"] == pytest.approx(297 / 210, abs=0.01)
    assert sorted(p.name for p in (publication.root / "build" / "issue-1-pages").iterdir()) == \
        ["page-1.png", "page-2.png"]
    assert previewer.page(1).startswith(PNG) and previewer.page(2).startswith(PNG)
    assert previewer.page(0) is None and previewer.page(3) is None


def test_after_an_edit_only_the_pages_drawn_differently_are_drawn_again(tmp_path: Path):
    """The sample newspaper: one article edited, the images of its page(s) are drawn again,
    the others are kept; and every image is still the page of the new PDF."""
    shutil.copytree(REPO / "issues", tmp_path / "paper" / "issues")
    previewer = Previewer(tmp_path / "paper" / "issues" / "issue-42.yaml", dpi=30)
    previewer.rebuild()
    folder = previewer.pages_dir
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("page-*.png")}
    assert len(stamps) == 12
    article = tmp_path / "paper" / "issues" / "issue-42" / "labour-nurses.md"
    article.write_text(article.read_text(encoding="utf-8").replace(
        "nurses", "nurses and midwives", 1), encoding="utf-8")
    previewer.rebuild()
    assert previewer.status()["state"] == "ok"
    drawn = [name for name, stamp in stamps.items()
             if (folder / name).stat().st_mtime_ns != stamp]
    assert 1 <= len(drawn) <= 2, drawn
    fresh = page_images(previewer.current.images[0].parent.parent / "issue-42.printshop.pdf",
                        tmp_path / "fresh", dpi=30)
    assert [p.read_bytes() for p in fresh] == [p.read_bytes() for p in previewer.current.images]


def test_rows_are_spreads_and_a_sheet_is_side_by_side():
    assert rows_of(0) == []
    assert rows_of(1) == [(1,)]
    assert rows_of(2) == [(1, 2)]
    assert rows_of(8) == [(None, 1), (2, 3), (4, 5), (6, 7), (8, None)]


def test_a_changed_article_is_noticed_and_built(publication: Publication):
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    before = previewer.page(1)
    assert not previewer.changed()

    publication.article("lead.md", NEW_LEAD)
    touch_later(publication.root / "issues" / "issue-1" / "lead.md")
    assert previewer.changed()
    previewer.rebuild()
    assert previewer.status()["build"] == 2 and not previewer.changed()
    assert previewer.page(1) != before


def test_the_layout_and_manifest_are_watched_too(publication: Publication):
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    layout_file = next(p for p in previewer._seen if p.name == "layout.yaml")
    assert publication.manifest in previewer._seen
    touch_later(layout_file)
    assert previewer.changed()


def test_an_error_shows_the_problems_and_keeps_the_last_pages(publication: Publication):
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    good_page = previewer.page(1)

    publication.write_manifest(BROKEN_MANIFEST)
    previewer.rebuild()
    status = previewer.status()
    assert status["state"] == "error" and status["build"] == 2
    assert status["problems"] == ["issues/issue-1.yaml:2: unknown key 'layuot' in the manifest "
                                  "(did you mean 'layout'?)"]
    assert previewer.page(1) == good_page, "the last good pages are still there"

    publication.write_manifest(BROKEN_MANIFEST.replace("    layuot: bulletin\n", ""))
    assert previewer.changed()
    previewer.rebuild()
    assert previewer.status()["state"] == "ok" and previewer.status()["build"] == 3


def test_a_missing_article_that_appears_starts_a_build(publication: Publication):
    text = publication.manifest.read_text()
    publication.manifest.write_text(text + "  - issue-1/late.md\n")
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    assert previewer.status()["state"] == "error"
    assert "article file not found: issue-1/late.md" in previewer.status()["problems"][0]
    assert not previewer.changed()

    publication.article("late.md", "---\ntitle: Late copy\n---\nIt came in on Tuesday.\n")
    assert previewer.changed(), "the folder of the articles is watched"
    previewer.rebuild()
    assert previewer.status()["state"] == "ok"


def test_an_editor_swap_file_does_not_start_a_build(publication: Publication):
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    (publication.root / "issues" / "issue-1" / ".lead.md.swp").write_bytes(b"swap")
    (publication.root / "issues" / "issue-1" / "lead.md~").write_bytes(b"backup")
    assert not previewer.changed()


def test_a_change_during_a_build_starts_another(publication: Publication, monkeypatch):
    real_build = serve_module.build

    def build_while_editing(*args, **kwargs):
        result = real_build(*args, **kwargs)
        publication.article("short.md", "---\ntitle: Kettle Logic\n---\nNow twelve minutes.\n")
        touch_later(publication.root / "issues" / "issue-1" / "short.md")
        return result

    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    monkeypatch.setattr(serve_module, "build", build_while_editing)
    previewer.rebuild()
    assert previewer.changed(), "the edit made while building is not lost"


def test_a_bug_in_the_build_is_an_error_state_not_a_crash(publication: Publication, monkeypatch,
                                                         capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("internal")

    monkeypatch.setattr(serve_module, "build", boom)
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    status = previewer.status()
    assert status["state"] == "error"
    assert status["problems"][0].startswith("pamphlet failed unexpectedly: RuntimeError: internal")
    assert "Traceback" in capsys.readouterr().err


def test_the_watcher_builds_at_start_and_after_a_save(publication: Publication):
    built: queue.Queue[int] = queue.Queue()
    previewer = Previewer(publication.manifest, notify=lambda done: built.put(done.number))
    stop = threading.Event()
    watcher = threading.Thread(target=previewer.watch, args=(stop,))
    watcher.start()
    try:
        assert built.get(timeout=60) == 1
        publication.article("lead.md", NEW_LEAD)
        assert built.get(timeout=60) == 2
        assert previewer.status()["state"] == "ok"
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()


# --- the HTTP server, with a plain client -----------------------------------------------------


@pytest.fixture
def server(publication: Publication) -> Iterator[Server]:
    previewer = Previewer(publication.manifest)
    previewer.rebuild()
    server = make_server(previewer, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def fetch(server: Server, path: str, method: str = "GET",
          host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        connection.request(method, path, headers={"Host": host} if host else {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_server_serves_the_page_status_and_images(server):
    status, headers, body = fetch(server, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"/status" in body and b"http" not in body.replace(b"http-equiv", b""), \
        "no external resources"
    assert "default-src 'none'" in headers["Content-Security-Policy"]

    status, headers, body = fetch(server, "/status")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["state"] == "ok"

    status, headers, body = fetch(server, "/page/2.png?v=1")
    assert status == 200 and headers["Content-Type"] == "image/png" and body.startswith(PNG)


@pytest.mark.parametrize("path", [
    "/page/3.png", "/page/0.png", "/page/-1.png", "/page/1.jpg", "/page/99999.png",
    "/../../etc/passwd", "/page/..%2F..%2Fissues%2Fissue-1.yaml", "/page/1.png/../../issue-1.yaml",
    "/build/issue-1-pages/page-1.png", "/issues/issue-1.yaml", "/status/../page/1",
])
def test_nothing_else_is_served(server, path):
    status, _, body = fetch(server, path)
    assert status == 404 and body == b"not found\n"


def test_only_get_is_answered(server):
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        assert fetch(server, "/", method)[0] == 501


def test_a_foreign_host_name_is_refused(server):
    port = server.server_address[1]
    assert fetch(server, "/status", host=f"attacker.example:{port}")[0] == 421
    assert fetch(server, "/status", host=f"localhost:{port}")[0] == 200


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("192.0.2.7")


def test_a_port_in_use_is_one_clear_error(server, publication: Publication):
    with pytest.raises(PamphletError) as error:
        make_server(Previewer(publication.manifest), "127.0.0.1", server.server_address[1])
    assert "cannot listen on 127.0.0.1:" in str(error.value)
    assert "another --port" in str(error.value)


def test_a_host_that_is_not_loopback_is_served_with_a_warning(publication: Publication,
                                                              monkeypatch):
    monkeypatch.setattr(Previewer, "watch", lambda self, stop: None)
    lines: list[str] = []
    stop = threading.Event()
    serve(publication.manifest, "0.0.0.0", 0, stop=stop, say=lines.append,
          ready=lambda server: stop.set())
    assert lines[0].startswith("warning: 0.0.0.0 is not a loopback address")
    assert re.match(r"Previewing issue-1 at http://0\.0\.0\.0:\d+/", lines[1])


def test_the_command_stops_cleanly_on_ctrl_c(publication: Publication, monkeypatch):
    calls = []

    def interrupted(manifest, host, port, **kwargs):
        calls.append((manifest.name, host, port))
        raise KeyboardInterrupt

    monkeypatch.setattr("pamphlet.serve.serve", interrupted)
    result = CliRunner().invoke(app, ["serve", "issue-1"])
    assert result.exit_code == 0 and "Stopped." in result.output
    assert calls == [("issue-1.yaml", "127.0.0.1", 8042)]


# --- the whole thing in Chromium --------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("no /usr/bin/chromium: apt-get install chromium chromium-driver "
                    "(this test always runs under CI)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--no-proxy-server",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture
def live(publication: Publication) -> Iterator[str]:
    """`serve` running in a thread on a free port; yields its URL."""
    servers: queue.Queue[Server] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(publication.manifest, "127.0.0.1", 0),
                              kwargs={"stop": stop, "say": lambda line: None,
                                      "ready": servers.put})
    thread.start()
    try:
        yield url_of(servers.get(timeout=30))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not multiprocessing.active_children(), "the kept layout workers stop with the server"
    assert kept_worker_count() == 0


def wait_for(driver: object, condition: Callable[[], object], timeout: float = 60) -> object:
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda _: condition())


SHOWN_IMAGES = """
    return Array.from(document.querySelectorAll('#pages img'))
        .filter(i => i.complete && i.naturalWidth > 0 && i.offsetParent !== null)
        .map(i => i.getAttribute('src'));
"""

WATCH_STATE = """
    window.statesSeen = [];
    new MutationObserver(() => window.statesSeen.push(document.getElementById('state').textContent))
        .observe(document.getElementById('state'), {childList: true, characterData: true, subtree: true});
"""


def test_live_preview_in_chromium(publication: Publication, browser, live, tmp_path, capsys,
                                  monkeypatch):
    from selenium.webdriver.common.by import By

    browser.get(live)
    first = wait_for(browser, lambda: len(shown := browser.execute_script(SHOWN_IMAGES)) == 2
                     and shown)
    assert [re.sub(r"\?v=\d+$", "", src) for src in first] == ["/page/1.png", "/page/2.png"]
    assert browser.find_element(By.ID, "issue").text == "issue-1"
    assert browser.find_element(By.ID, "state").text.startswith("Up to date: 2 pages")
    browser.save_screenshot(str(tmp_path / "1-pages.png"))
    build = browser.execute_script("return window.pamphletShown.build")
    page_one = browser.execute_script("return fetch('/page/1.png').then(r => r.arrayBuffer())"
                                      ".then(b => Array.from(new Uint8Array(b)).join(','))")

    # An editor saves the lead article: the new page appears by itself. The build is held
    # for a second so that the page's poll (every 0.5 s) sees it building: a kept worker
    # can lay out a bulletin side faster than that.
    quick_build = serve_module.build

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return quick_build(*args, **kwargs)

    monkeypatch.setattr(serve_module, "build", slow_build)
    browser.execute_script(WATCH_STATE)
    saved = time.time()
    publication.article("lead.md", NEW_LEAD)
    shown = wait_for(browser, lambda: (s := browser.execute_script("return window.pamphletShown"))
                     ["build"] > build and s)
    seconds = shown["at"] / 1000 - saved
    with capsys.disabled():
        print(f"\npamphlet serve: save to new page shown in Chromium: {seconds:.2f} s")
    assert 0 < seconds < 30
    assert all(src.endswith(f"?v={shown['build']}") for src in browser.execute_script(SHOWN_IMAGES))
    assert any(text.startswith("Building…") for text in browser.execute_script(
        "return window.statesSeen")), "'Building…' was shown while building"
    assert browser.execute_script("return fetch('/page/1.png').then(r => r.arrayBuffer())"
                                  ".then(b => Array.from(new Uint8Array(b)).join(','))") != page_one
    browser.save_screenshot(str(tmp_path / "2-changed.png"))

    # A mistake in the manifest: the problem in plain words instead of the pages.
    publication.write_manifest(BROKEN_MANIFEST)
    problems = browser.find_element(By.ID, "problems")
    wait_for(browser, lambda: problems.is_displayed())
    assert "issues/issue-1.yaml:2: unknown key 'layuot' in the manifest (did you mean 'layout'?)" \
        in problems.text
    assert not browser.find_element(By.ID, "pages").is_displayed()
    assert browser.execute_script(SHOWN_IMAGES) == []
    assert browser.find_element(By.ID, "state").text == "Error: 1 problem"
    browser.save_screenshot(str(tmp_path / "3-error.png"))

    # Fixed, with a page count the issue does not fill: pages again, the warning above them.
    publication.write_manifest(BROKEN_MANIFEST.replace("layuot: bulletin", "pages: 4"))
    wait_for(browser, lambda: len(browser.execute_script(SHOWN_IMAGES)) == 2)
    assert not problems.is_displayed()
    warnings = browser.find_element(By.ID, "warnings")
    wait_for(browser, lambda: warnings.is_displayed())
    assert "the issue fills 2 pages but the manifest plans 4" in warnings.text
    browser.save_screenshot(str(tmp_path / "4-warning.png"))
