"""`pamphlet serve`: a live preview in the browser that builds the issue again whenever one of
its files changes.

A `Previewer` holds the build state of one issue and does the builds; a watcher thread polls
the issue's inputs by modification time and asks it to build again; a small HTTP server (the
standard library's) serves one HTML page, the build status as JSON and the page images, which
the page polls and swaps in by itself. Nothing else is served: page images are looked up by
page number, never by a path from the request.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import socketserver
import stat
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from PIL import Image

from .build import BuildResult, build
from .errors import PamphletError, Problem, Problems
from .isolation import keep_workers
from .manifest import load_issue
from .preview import page_file, page_fingerprints, page_images, spreads
from .publication import root_of_manifest
from .workspace import issue_inputs

POLL_SECONDS = 0.3
"""How often the watcher looks at the issue's files."""
DEBOUNCE_SECONDS = 0.15
"""How long to wait after a change before building: an editor's save is often several writes."""
DPI = 110
"""The resolution of the page images: a page at about its printed size on a laptop screen."""

Stamp = tuple[int, ...] | tuple[str, ...] | None
"""What a watched path looks like now: a file's mtime, size and inode, a folder's visible
names, None if it is gone."""


@dataclass(frozen=True)
class BuildState:
    """What the page shows: the last build finished and the one running, if any."""

    number: int = 0
    """Builds finished so far, good or bad; the page reloads its images when it changes."""
    state: Literal["building", "ok", "error"] = "building"
    step: str = ""
    """What the running build is doing, in an editor's words."""
    title: str = ""
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    images: tuple[Path, ...] = ()
    """The page images of the last good build, page 1 first."""
    page_size: tuple[int, int] = (0, 0)


class Previewer:
    """One issue's builds: runs them one at a time and knows the state of the last one.
    Usable without the HTTP server: `rebuild()`, `changed()`, `status()`, `page(number)`."""

    def __init__(self, manifest: Path, dpi: int = DPI,
                 notify: Callable[[BuildState], None] = lambda state: None) -> None:
        self.manifest = manifest.resolve()
        self.root = root_of_manifest(self.manifest)
        self.name = self.manifest.stem
        self.pages_dir = self.root / "build" / f"{self.name}-pages"
        self.dpi = dpi
        self.notify = notify
        """Called after every build, from the thread that built."""
        self.lock = threading.Lock()
        """Guards `current`, which the HTTP threads read while a build replaces it."""
        self.current = BuildState()
        self._building = threading.Lock()
        self._seen: dict[Path, Stamp] = {self.manifest: _stamp(self.manifest)}
        self._prints: list[str] = []
        """The page fingerprints of the images in pages_dir (none before the first build)."""

    # --- building ---------------------------------------------------------------------------

    def rebuild(self) -> BuildState:
        """Build the issue and its page images now (after a build already running)."""
        with self._building:
            before = self._snapshot()
            self._update(state="building", step="")
            started = time.perf_counter()
            outcome = self._build()
            self._seen = self._watch(before)
            with self.lock:
                self.current = replace(self.current, **outcome, step="",
                                       seconds=time.perf_counter() - started,
                                       number=self.current.number + 1)
                done = self.current
        self.notify(done)
        return done

    def _build(self) -> dict[str, Any]:
        """The new state after one build: what to show, or what is wrong."""
        try:
            result = build(self.manifest, progress=lambda step: self._update(step=step))
            self._update(step="drawing the page images")
            return self._built(result, self._page_images(result.pdf))
        except PamphletError as error:
            return {"state": "error", "problems": tuple(str(p) for p in error.problems),
                    "warnings": ()}
        except Exception as error:  # a bug in pamphlet: say so, and keep serving
            traceback.print_exc()
            problem = Problem(None, None, f"pamphlet failed unexpectedly: {type(error).__name__}: "
                              f"{error}", "the traceback is in the terminal; please report it")
            return {"state": "error", "problems": (str(problem),), "warnings": ()}

    def _page_images(self, pdf: Path) -> list[Path]:
        """Every page's image: drawn again only where the page is not drawn as in the last
        build (a tabloid page takes about 0.3 s; an edit usually changes one or two)."""
        before, self._prints = self._prints, []  # none are known good until all are drawn
        prints = page_fingerprints(pdf)
        count = len(prints)
        files = [page_file(self.pages_dir, n, count) for n in range(1, count + 1)]
        if len(before) != count:
            images = page_images(pdf, self.pages_dir, dpi=self.dpi)
        else:
            changed = [n for n, (old, new, file) in enumerate(zip(before, prints, files,
                                                                   strict=True), start=1)
                       if old != new or not file.exists()]
            if changed:
                page_images(pdf, self.pages_dir, dpi=self.dpi, pages=changed)
            images = files
        self._prints = prints
        return images

    @staticmethod
    def _built(result: BuildResult, images: list[Path]) -> dict[str, Any]:
        with Image.open(images[0]) as first:
            size = first.size
        return {"state": "ok", "problems": (), "warnings": tuple(result.warnings),
                "images": tuple(images), "page_size": size, "title": result.issue.title}

    def _update(self, **changes: Any) -> None:
        with self.lock:
            self.current = replace(self.current, **changes)

    # --- watching ---------------------------------------------------------------------------

    def watch(self, stop: threading.Event, interval: float = POLL_SECONDS) -> None:
        """Build now, then again after every change to the issue's files, until `stop` is set."""
        self.rebuild()
        while not stop.wait(interval):
            if self.changed() and not stop.wait(DEBOUNCE_SECONDS):
                self.rebuild()

    def changed(self) -> bool:
        """Whether a watched file or folder changed since the last build started."""
        return self._snapshot() != self._seen

    def _snapshot(self) -> dict[Path, Stamp]:
        return {path: _stamp(path) for path in self._seen}

    def _watch(self, before: dict[Path, Stamp]) -> dict[Path, Stamp]:
        """What to watch from now on, stamped as it was before the build read it, so that a
        change made during the build starts another one."""
        return {path: before[path] if path in before else _stamp(path) for path in self._inputs()}

    def _inputs(self) -> list[Path]:
        """The files the issue is made from and the publication's folders that hold them (a
        missing article or picture that appears there starts a build). A manifest too broken
        to read keeps what was watched before."""
        try:
            issue = load_issue(self.manifest, self.root, Problems())
        except PamphletError:
            return [self.manifest, *self._seen]
        files = issue_inputs(self.manifest, issue)
        folders = {path.parent for path in files if path.parent.is_relative_to(self.root)}
        return list(dict.fromkeys([*files, *sorted(folders)]))

    # --- what the browser asks for ----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data."""
        with self.lock:
            now = self.current
        count = len(now.images)
        return {"issue": self.name, "title": now.title, "build": now.number, "state": now.state,
                "step": now.step, "problems": list(now.problems), "warnings": list(now.warnings),
                "seconds": round(now.seconds, 2), "pages": count, "rows": rows_of(count),
                "width": now.page_size[0], "height": now.page_size[1]}

    def page(self, number: int) -> bytes | None:
        """The PNG of page `number` of the last good build; None if there is no such page."""
        with self.lock:
            images = self.current.images
        if not 1 <= number <= len(images):
            return None
        try:
            return images[number - 1].read_bytes()
        except OSError:
            return None


def rows_of(count: int) -> list[tuple[int | None, ...]]:
    """The pages side by side on the screen: spreads as the issue is read (page 1 alone on
    the right), and the two sides of a one-sheet bulletin next to each other."""
    if count > 2:
        return spreads(count)
    return [tuple(range(1, count + 1))] if count else []


def _stamp(path: Path) -> Stamp:
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return tuple(sorted(n for n in os.listdir(path) if not n.startswith(".")
                                and not n.endswith("~")))
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


# --- the HTTP side --------------------------------------------------------------------------

_PAGE_PATH = re.compile(r"/page/(\d{1,4})\.png")
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; connect-src 'self'; "
                               "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


class Handler(BaseHTTPRequestHandler):
    """GET /, /status and /page/N.png; every other path is 404, every other method 501."""

    previewer: ClassVar[Previewer]
    allowed_hosts: ClassVar[frozenset[str] | None] = None
    """The Host headers accepted (None: any), so that another web site cannot reach the
    preview through a DNS name it points at 127.0.0.1."""
    server_version = "pamphlet"
    sys_version = ""

    def do_GET(self) -> None:
        if self.allowed_hosts is not None and self.headers.get("Host", "") not in self.allowed_hosts:
            self._send(HTTPStatus.MISDIRECTED_REQUEST, "text/plain", b"unknown host name\n")
            return
        path = urlsplit(self.path).path
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE_HTML.encode("utf-8"))
        elif path == "/status":
            body = json.dumps(self.previewer.status()).encode("utf-8")
            self._send(HTTPStatus.OK, "application/json", body)
        elif (match := _PAGE_PATH.fullmatch(path)) and (png := self.previewer.page(int(match[1]))):
            self._send(HTTPStatus.OK, "image/png", png)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the base class's names
        """Quiet: the terminal is for build results, not for every poll."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        """As HTTPServer's, without its reverse DNS lookup of the address (slow offline)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


def make_server(previewer: Previewer, host: str, port: int) -> Server:
    """Bind the preview server (port 0: any free port); a plain error if it cannot be done."""
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        server = type("BoundServer", (Server,), {"address_family": family})(
            (host, port), type("BoundHandler", (Handler,), {"previewer": previewer}))
    except OSError as error:
        raise PamphletError([Problem(None, None, f"cannot listen on {host}:{port}: "
                                     f"{error.strerror or error}", "is another pamphlet serve "
                                     "running? try another --port, or --host 127.0.0.1")]) from error
    server.RequestHandlerClass.allowed_hosts = _allowed_hosts(host, server.server_address[1])
    return server


def is_loopback(host: str) -> bool:
    """Whether every address `host` stands for is this machine only."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)} if host else set()
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                   for a in addresses)


def _allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers a browser sends for this server; None (any) unless it is loopback-only."""
    if not is_loopback(host):
        return None
    names = {host, f"[{host}]", "localhost", "127.0.0.1", "[::1]"}
    return frozenset({f"{name}:{port}" for name in names} | (names if port == 80 else set()))


def url_of(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in str(host) else host}:{port}/"


def serve(manifest: Path, host: str = "127.0.0.1", port: int = 8042,
          stop: threading.Event | None = None, say: Callable[[str], None] = print,
          notify: Callable[[BuildState], None] = lambda state: None,
          ready: Callable[[Server], None] = lambda server: None) -> None:
    """Serve the live preview of `manifest` until Ctrl-C or until `stop` is set. `say` gets
    the address, `notify` every finished build, `ready` the server once it listens."""
    stop = stop or threading.Event()
    keep_workers()  # each rebuild gets a layout worker with its fonts and stylesheets ready
    # Ctrl-C reaches the layout child too; the build it breaks is not worth reporting.
    previewer = Previewer(manifest, notify=lambda done: None if stop.is_set() else notify(done))
    server = make_server(previewer, host, port)
    if not is_loopback(host):
        say(f"warning: {host or 'every address'} is not a loopback address: anyone who can "
            "reach this machine can see the issue")
    say(f"Previewing {previewer.name} at {url_of(server)} (Ctrl-C stops)")
    watcher = threading.Thread(target=previewer.watch, args=(stop,), name="pamphlet-watch",
                               daemon=True)
    watcher.start()
    threading.Thread(target=server.serve_forever, args=(0.2,), name="pamphlet-http",
                     daemon=True).start()
    ready(server)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        watcher.join(timeout=10)
        keep_workers(False)


PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pamphlet serve</title>
<style>
  :root { --page-w: 40vw; --ratio: 1.414; }
  * { box-sizing: border-box; }
  body { margin: 0; background: #e2e2e2; color: #222;
         font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { position: sticky; top: 0; z-index: 1; display: flex; align-items: baseline;
           gap: 1rem; padding: .6rem 1.2rem; background: #333; color: #eee; }
  header h1 { margin: 0; font-size: 1.05rem; font-weight: 600; }
  header .title { color: #bbb; }
  #state { margin-left: auto; padding: .1rem .6rem; border-radius: 1rem; font-size: .9rem;
           background: #555; }
  #state.ok { background: #2e6b3a; }
  #state.error { background: #9b2226; }
  #state.building { background: #8a6d1d; }
  main { padding: 1.5rem 1rem 3rem; }
  .notes { max-width: 60rem; margin: 0 auto 1.5rem; padding: .8rem 1.2rem; border-radius: 4px; }
  .notes h2 { margin: 0 0 .4rem; font-size: 1rem; }
  .notes ul { margin: 0; padding-left: 1.2rem; }
  .notes li { margin: .2rem 0; font-family: ui-monospace, Menlo, Consolas, monospace;
              font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
  #warnings { background: #fff6d6; border: 1px solid #e0c65c; }
  #problems { background: #fff; border: 2px solid #9b2226; }
  #problems h2 { color: #9b2226; }
  #problems p { margin: .6rem 0 0; color: #555; font-size: .9rem; }
  #waiting { text-align: center; color: #555; margin-top: 20vh; font-size: 1.2rem; }
  .row { display: flex; justify-content: center; margin: 0 auto 2rem; }
  .row.sheet { gap: 2rem; }
  .slot { width: var(--page-w); }
  .page { display: block; width: 100%; aspect-ratio: 1 / var(--ratio); background: #fff;
          box-shadow: 0 2px 10px rgba(0, 0, 0, .28); }
  .row.spread .slot + .slot .page { border-left: 1px solid #bbb; }
  .label { text-align: center; color: #666; font-size: .8rem; margin-top: .35rem; }
  #pages.stale { opacity: .55; transition: opacity .3s; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1 id="issue">pamphlet</h1><span class="title" id="title"></span>
  <span id="state">Connecting…</span>
</header>
<main>
  <section id="problems" class="notes" hidden>
    <h2>The issue cannot be built</h2><ul id="problem-list"></ul>
    <p>Fix the files and save: the preview builds again by itself.</p>
  </section>
  <section id="warnings" class="notes" hidden><h2>Warnings</h2><ul id="warning-list"></ul></section>
  <p id="waiting">Building…</p>
  <div id="pages"></div>
</main>
<script>
"use strict";
var shown = -1, loading = -1;
window.pamphletShown = {build: -1, at: 0};

function el(id) { return document.getElementById(id); }

function fillList(id, items) {
  var list = el(id);
  list.replaceChildren();
  items.forEach(function (text) {
    var li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
  });
}

function stateText(s) {
  if (s.state === "building") return "Building… " + (s.step || "");
  if (s.state === "error") {
    return "Error: " + s.problems.length + " problem" + (s.problems.length === 1 ? "" : "s");
  }
  return "Up to date: " + s.pages + " pages, built in " + s.seconds.toFixed(1) + " s";
}

function makeRows(s) {
  var frag = document.createDocumentFragment(), waiting = [];
  s.rows.forEach(function (row) {
    var div = document.createElement("div");
    div.className = "row " + (s.pages > 2 ? "spread" : "sheet");
    row.forEach(function (number) {
      var slot = document.createElement("div");
      slot.className = "slot";
      if (number !== null) {
        var img = new Image();
        img.className = "page";
        img.alt = "Page " + number;
        img.dataset.page = number;
        waiting.push(new Promise(function (done) { img.onload = img.onerror = done; }));
        img.src = "/page/" + number + ".png?v=" + s.build;
        var label = document.createElement("div");
        label.className = "label";
        label.textContent = number;
        slot.append(img, label);
      }
      div.appendChild(slot);
    });
    frag.appendChild(div);
  });
  return {frag: frag, loaded: Promise.all(waiting)};
}

function showPages(s) {
  if (loading === s.build) return;
  loading = s.build;
  var made = makeRows(s);
  made.loaded.then(function () {
    if (loading !== s.build) return;  // a newer build came in meanwhile
    document.documentElement.style.setProperty("--ratio", s.height / s.width);
    fit();
    el("pages").replaceChildren(made.frag);
    el("waiting").hidden = true;
    shown = s.build;
    document.body.dataset.shown = s.build;
    window.pamphletShown = {build: s.build, at: Date.now()};
  });
}

function fit() {
  var ratio = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--ratio"));
  var byWidth = (window.innerWidth - 64) / 2, byHeight = (window.innerHeight - 110) / ratio;
  document.documentElement.style.setProperty("--page-w", Math.max(160, Math.min(byWidth, byHeight)) + "px");
}

function render(s) {
  document.title = s.issue + " · pamphlet serve";
  el("issue").textContent = s.issue;
  el("title").textContent = s.title;
  el("state").textContent = stateText(s);
  el("state").className = s.state;
  document.body.dataset.build = s.build;
  document.body.dataset.state = s.state;
  var failed = s.state === "error";
  el("problems").hidden = !failed;
  fillList("problem-list", s.problems);
  el("warnings").hidden = failed || s.warnings.length === 0;
  fillList("warning-list", s.warnings);
  el("pages").hidden = failed;
  el("pages").classList.toggle("stale", s.state === "building");
  el("waiting").hidden = failed || shown >= 0;
  if (s.state === "ok" && s.build !== shown) showPages(s);
  fit();
}

function poll() {
  fetch("/status", {cache: "no-store"})
    .then(function (r) { return r.json(); })
    .then(render)
    .catch(function () {
      el("state").textContent = "Not connected: is pamphlet serve still running?";
      el("state").className = "error";
    })
    .finally(function () { setTimeout(poll, 500); });
}

window.addEventListener("resize", fit);
poll();
</script>
</body>
</html>
"""
