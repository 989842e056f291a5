"""A lean process that forks the layout workers.

A worker forked from the build itself starts with everything the build holds (Typer,
PDFium, pypdf, Jinja, the composed issue: 70-80 MB before its first line), and the
build has to import WeasyPrint before it can fork one. The layout server is a fresh Python
started at the beginning of the build: it imports WeasyPrint and applies the speed settings
(`speed.setup`) while the build reads the manifest and composes the issue, and then forks a
worker each time one is asked for. Each worker starts at the server's size (about 52 MB) with
WeasyPrint ready, and the build never imports WeasyPrint at all.

The server reads nothing of the publication: it only forks. A worker takes on the asking
process's environment, working folder and import path before it runs anything, so it
behaves as one forked from that process would. The server is reached through one end of a
socket pair that only this process (and the processes it forks) holds; a request is one
message carrying the worker's connection, its stderr file and a socket for the answer, which
is the worker's pid and a pidfd for it (Linux 5.3 and later). Where any of that is missing,
`fork_worker` returns None and the caller forks from itself as before. The server leaves when
every process that could ask has closed its end.

The command imports this module first and starts the server before anything else, so the
module imports only what starting it needs (the server and the workers import the rest).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection

REQUEST_BYTES = 1 << 20
"""The largest request (the environment is most of it)."""

STOP_GRACE = 5.0
"""Seconds the server gets to leave by itself once this process lets go of it."""
ANSWER_WAIT = 60.0
"""Seconds to wait for the server to fork a worker (it may still be importing WeasyPrint);
after that the build forks its own."""
REAP_GRACE = 2.0
"""Seconds the server waits for its workers to leave before it leaves itself: a worker it
has collected counts in the server's own resource use, and so in the build's."""


class _Server:
    def __init__(self, client: socket.socket, process: subprocess.Popen[bytes],
                 owner: int) -> None:
        self.client = client
        """This process's end of the socket pair (processes forked from it hold it too)."""
        self.process = process
        self.owner = owner
        """The pid of the process that started it: only that one waits for it to leave."""


_lock = threading.Lock()
_servers: list[_Server | None] = []
"""The server, once started (None: it could not be started here)."""


def supported() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")
            and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal"))


def start() -> _Server | None:
    """Start the server if this process (or the one it was forked from) has none yet: it
    then has a head start on importing WeasyPrint while the build does other work. None if
    it cannot be started here."""
    with _lock:
        if not _servers:
            _servers.append(_launch() if supported() else None)
        return _servers[0]


def _launch() -> _Server | None:
    here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    package_parent = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    program = (f"import sys; sys.path.insert(0, {package_parent!r}); "
               f"from pamphlet.forkserver import serve; serve({there.fileno()})")
    try:
        process = subprocess.Popen([sys.executable, "-c", program], pass_fds=[there.fileno()],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    except OSError:
        here.close()
        return None
    finally:
        there.close()
    return _Server(here, process, os.getpid())


@atexit.register  # at import: after isolation's, which stops the kept workers first
def stop() -> None:
    """Let go of the server: it leaves once no process holds its socket (the workers it
    forked do not)."""
    with _lock:
        servers, _servers[:] = list(_servers), []
    for server in servers:
        if server is None:
            continue
        server.client.close()
        if server.owner == os.getpid():
            try:
                server.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


class ServedProcess:
    """A worker forked by the server: not this process's child, so it is watched and
    stopped through its pidfd (the calls of multiprocessing's Process that the pool uses)."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.pidfd = pidfd

    def is_alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]

    def join(self, timeout: float | None = None) -> None:
        select.select([self.pidfd], [], [], timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def fork_worker(connection: Connection, memory_mb: int, stderr: int) -> ServedProcess | None:
    """A worker forked by the server, running `isolation._worker` on `connection`; None if
    there is no server (the caller forks one itself)."""
    import pickle

    server = start()
    if server is None:
        return None
    try:
        request = pickle.dumps((memory_mb, dict(os.environ), os.getcwd(), list(sys.path)))
        answer, answer_there = socket.socketpair()
        with answer, answer_there:
            socket.send_fds(server.client, [request], [connection.fileno(), stderr,
                                                answer_there.fileno()])
            answer_there.close()
            answer.settimeout(ANSWER_WAIT)
            message, fds, _, _ = socket.recv_fds(answer, 64, 1)
    except OSError:  # the server has gone or hangs (a timeout is an OSError), or the
        return None  # working folder has been removed: fork here
    if not message or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return None
    return ServedProcess(int(message), fds[0])


def serve(fd: int) -> None:
    """The server's loop: get WeasyPrint ready, then fork a worker for each request. What
    is not needed to fork one, but saves each worker time, is done until the first request
    comes; from then on the workers have the cores (and a build asks for its workers one
    after another: a step begun between two requests would hold up the second)."""
    requests = socket.socket(fileno=fd)
    _get_ready()
    _warm_up_until_asked(requests)
    gc.freeze()  # the workers only read what the server holds: their collections skip it
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(requests, REQUEST_BYTES, 3)
        except OSError:
            break
        if not message:
            break  # every process that could ask has gone
        _reap(0)
        connection, stderr, answer = fds
        pid = os.fork()
        if pid == 0:
            os.close(answer)
            requests.close()
            _run_worker(message, connection, stderr)
        pidfd = os.pidfd_open(pid)
        with socket.socket(fileno=answer) as reply, contextlib.suppress(OSError):
            socket.send_fds(reply, [str(pid).encode()], [pidfd])
        for own in (pidfd, connection, stderr):
            os.close(own)
    _reap(REAP_GRACE)
    os._exit(0)  # nothing to flush or clean up, and tearing WeasyPrint down takes 30 ms


def _warm_up_until_asked(requests: socket.socket) -> None:
    steps = _warm_up()
    with contextlib.suppress(Exception):  # StopIteration once done; a worker does the rest
        while not select.select([requests], [], [], 0)[0]:
            next(steps)


def _get_ready() -> None:
    """What every worker needs, once: WeasyPrint with the speed settings, and the code that
    lays out a page."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C reaches the build, which stops us
    try:
        from . import render, speed  # noqa: F401  (render: imported once here, not by each)

        speed.setup()
    except Exception:  # a worker will report it, in the build's words
        pass


WARM_UP = """<!DOCTYPE html><html lang="en-US"><style>
@page { size: A6; margin: 1cm; @bottom-center { content: counter(page) } }
p { hyphens: auto; text-align: justify } img { width: 1cm }</style>
<h1>Warming up</h1><p>A <b>short</b> <i>paragraph</i> with 12 words, a <a href="#p">link</a>
and a picture, laid out once.</p><img id="p" src="PICTURE"></html>"""


def _warm_up() -> Iterator[None]:
    """What saves each worker time once done here, in steps of at most about 0.1 s, between
    which a request is answered: the English hyphenation patterns are read, then a small page
    is laid out and its PDF written, which does what the first layout in a process sets up
    (the C types WeasyPrint asks cffi for, the font machinery, the picture decoders, the PDF
    writer's code). Each worker's first layout took 0.05-0.2 s less."""
    import base64
    import io

    import pyphen
    import weasyprint
    from PIL import Image

    from .model import ENGLISH_PATTERNS
    from .speed import give_back_memory

    pyphen.Pyphen(lang=ENGLISH_PATTERNS)
    yield
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), "grey").save(picture, "JPEG")
    url = "data:image/jpeg;base64," + base64.b64encode(picture.getvalue()).decode()
    options = {"optimize_images": True}
    document = weasyprint.HTML(string=WARM_UP.replace("PICTURE", url)).render(**options)
    yield
    document.write_pdf(**options)
    del document
    give_back_memory()  # so that a worker starts no bigger than it must


def _reap(grace: float) -> None:
    """Collect the workers that have left (at each request, so that none lingers as a zombie
    for long), waiting up to `grace` seconds for the others."""
    deadline = time.monotonic() + grace
    with contextlib.suppress(ChildProcessError):
        while True:
            if not os.waitpid(-1, os.WNOHANG)[0]:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.01)


def _run_worker(request: bytes, connection: int, stderr: int) -> None:
    """In a forked worker: become the asking process's child in all but name, then work."""
    import pickle
    from multiprocessing.connection import Connection

    from . import isolation

    try:
        memory_mb, environment, folder, path = pickle.loads(request)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(environment)
        with contextlib.suppress(OSError):
            os.chdir(folder)
        sys.path[:] = path
        import tempfile

        tempfile.tempdir = None  # TMPDIR as the asking process has it
    except BaseException:  # nothing to report to yet: the build sees the worker gone
        os._exit(1)
    isolation._worker(Connection(connection), memory_mb, stderr)
