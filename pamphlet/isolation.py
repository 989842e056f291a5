"""Running the layout in a child process with a time and memory limit, so that a runaway
render (WeasyPrint has no limits of its own) is stopped with a message, not left to hang."""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import resource
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import IO, Any, Protocol, TypeVar

from . import forkserver, shortcuts
from .errors import PamphletError
from .speed import give_back_memory

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    seconds: float = 300.0
    """Wall-clock time for one render."""
    memory_mb: int = 4096
    """Memory the render may take on top of what the process already has."""


class LimitExceeded(Exception):
    """The render ran out of time ('time') or memory ('memory'), or died ('crash');
    `details` is what the child wrote to stderr (shown under --debug)."""

    def __init__(self, kind: str, limits: Limits, details: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.limits = limits
        self.details = details


class ChildFailed(Exception):
    """The child raised something unexpected; `details` is its traceback."""

    def __init__(self, summary: str, details: str) -> None:
        super().__init__(summary)
        self.details = details


def can_isolate() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


PROGRESS_LOGGER = "weasyprint.progress"


def run_limited(func: Callable[..., T], args: tuple[Any, ...], limits: Limits,
                progress: Callable[[str], None] | None = None, lean: bool = False) -> T:
    """`func(*args)` in a forked child under `limits`; in-process where fork is missing.
    What the child logs on PROGRESS_LOGGER is passed to `progress` as it happens. `lean`:
    see `run_each`."""
    [(_, result)] = list(run_each(func, [args], limits, 1, progress, lean))
    return result


def usable_cores() -> int:
    """The cores this process may run on (fewer than the machine's under `taskset` or in a
    container limited to some of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def run_each(func: Callable[..., T], calls: list[tuple[Any, ...]], limits: Limits,
             workers: int = 2, progress: Callable[[str], None] | None = None,
             lean: bool = False, meanwhile: Callable[[], object] | None = None,
             affinity: list[str] | None = None) -> Iterator[tuple[int, T]]:
    """`func(*args)` for each of `calls`, shared out among `workers` forked children that each
    take the next call when they finish one; each result handed over as soon as it is there,
    with the index of its call, so the caller can put one away before the next arrives. Each
    child has the memory limit; all of them together have the time limit. In-process, one
    after another, where fork is missing. With `keep_workers()`, the children are kept for
    the next call when they are done. `lean` children are forked by the layout server
    (forkserver.py), small and with WeasyPrint ready, not by this process. `meanwhile` is
    called once, while this process would only wait: as soon as the first calls are sent if
    a core is left free, else once the first result is handed over (on a core the children
    hold, it would slow them). `affinity`
    names each call (say, a page of an issue): a kept worker that took a call of that name
    before gets it again, since it has that call's lines and fonts ready."""
    if not can_isolate():
        for index, args in enumerate(calls):
            with _forwarding(progress or (lambda message: None)):
                result = func(*args)
            yield index, result
        return
    deadline = time.monotonic() + limits.seconds
    pending = list(enumerate(calls))
    names = affinity if affinity is not None and len(affinity) == len(calls) else [""] * len(calls)
    running: dict[Connection, tuple[_Worker, int]] = {}

    def send_next(worker: _Worker) -> None:
        """The first pending call this worker took before, else the first pending call."""
        at = next((n for n, (index, _) in enumerate(pending) if names[index] in worker.seen),
                  0)
        index, args = pending.pop(at)
        worker.connection.send((func, args))
        running[worker.connection] = (worker, index)

    def do_meanwhile() -> None:
        nonlocal meanwhile
        if meanwhile is not None:
            later, meanwhile = meanwhile, None
            later()

    try:
        for worker in _workers(min(workers, len(calls)), limits.memory_mb, lean, set(names) - {""}):
            send_next(worker)
        if len(running) < usable_cores():
            do_meanwhile()
        while running:
            ready = multiprocessing.connection.wait(list(running),
                                                    max(0.0, deadline - time.monotonic()))
            if not ready:
                raise LimitExceeded("time", limits)
            for connection in ready:
                assert isinstance(connection, Connection)
                worker, index = running[connection]
                try:
                    status, payload = connection.recv()
                except EOFError:
                    raise LimitExceeded("crash", limits, worker.tail()) from None
                if status == "progress":
                    if progress is not None:
                        progress(payload)
                    continue
                worker.calls += 1
                if names[index]:
                    worker.seen.add(names[index])
                if status != "ok":
                    del running[connection]
                    if status == "problems":  # a plain error in the input: the worker is fine
                        _done_with(worker)
                    else:
                        worker.stop()
                    _raise_for(status, payload, limits)
                finished = index
                if pending:
                    send_next(worker)
                else:
                    del running[connection]
                    _done_with(worker)
                yield finished, payload
                del payload
                do_meanwhile()
    finally:
        for worker, _ in running.values():
            worker.stop(grace=0)  # still at work on a call: time is up, or a call failed


class Aside:
    """A call handed to a kept worker by `run_aside`; `wait` for it before using what it
    leaves behind."""

    def __init__(self, worker: _Worker | None, deadline: float) -> None:
        self.worker = worker
        self.deadline = deadline

    def wait(self) -> bool:
        """Whether the call was done (at once if it was done here). A call that failed, or
        took longer than the time limit, has done nothing that the caller can count on."""
        worker, self.worker = self.worker, None
        if worker is None:
            return True
        try:
            while worker.connection.poll(max(0.0, self.deadline - time.monotonic())):
                status, _ = worker.connection.recv()
                if status != "progress":
                    worker.calls += 1
                    if status == "ok":
                        _done_with(worker)
                        return True
                    break
        except (EOFError, OSError):
            pass
        worker.stop(grace=0)
        return False


def run_aside(func: Callable[..., object], args: tuple[Any, ...], limits: Limits,
              lean: bool = False) -> Aside:
    """`func(*args)` in a kept worker that waits for work (see `keep_workers`; `lean`: one
    the layout server forked, see `run_each`), while this process goes on; here and now if
    there is none. For work that leaves its result behind (a file) and that the caller does
    itself when it finds nothing there."""
    worker = _idle_worker(limits.memory_mb, lean)
    if worker is not None:
        try:
            worker.connection.send((func, args))
            return Aside(worker, time.monotonic() + limits.seconds)
        except OSError:  # the worker has gone since
            worker.stop(grace=0)
        except Exception:  # a call that cannot be pickled: nothing was sent
            _done_with(worker)
    func(*args)
    return Aside(None, 0.0)


def _idle_worker(memory_mb: int, lean: bool) -> _Worker | None:
    """The kept worker of this kind that has waited longest (it has tidied up since its
    last call), if one waits."""
    with _pool_lock:
        for worker in list(_idle):
            if (worker.memory_mb, worker.lean) == (memory_mb, lean) and worker.process.is_alive():
                _idle.remove(worker)
                return worker
    return None


_keeping = False
_idle: list[_Worker] = []
_pool_lock = threading.Lock()
WORKER_CALLS = 200
"""Calls a kept worker takes before it is replaced by a fresh one (whatever it gathers)."""
EXIT_GRACE = 10.0
"""Seconds a child that has answered gets to exit by itself: it removes its temporary font
folder on the way out, which killing it would leave behind."""


IDLE_SECONDS = 0.05
"""How long a worker that has answered waits for its next call before it tidies up: the
build sends the next at once, if it has one."""


def keep_workers(keep: bool = True) -> None:
    """For a process that builds again and again (`pamphlet serve`): keep the layout workers
    between builds instead of forking new ones, so that a rebuild gets a worker that has its
    fonts, stylesheets and libraries ready. False stops the kept ones."""
    global _keeping
    _keeping = keep
    if keep:
        atexit.register(keep_workers, False)
        return
    with _pool_lock:
        idle, _idle[:] = list(_idle), []
    for worker in idle:
        worker.stop()


def keeping_workers() -> bool:
    """Whether this process keeps its workers: it builds again and again."""
    return _keeping


def kept_worker_count() -> int:
    """How many workers wait for the next call."""
    with _pool_lock:
        return len(_idle)


class _Process(Protocol):
    """What the pool uses of a worker's process: multiprocessing's, or one the layout
    server forked."""

    def is_alive(self) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class _Worker:
    process: _Process
    connection: Connection
    stderr: IO[bytes]
    memory_mb: int
    lean: bool
    calls: int = 0
    seen: set[str] = field(default_factory=set)
    """The names (run_each's `affinity`) of the calls it took."""

    def tail(self) -> str:
        """The end of what the child wrote to stderr: a dying C library's last words."""
        self.stderr.seek(0)
        return self.stderr.read()[-4000:].decode("utf-8", "replace")

    def stop(self, grace: float = EXIT_GRACE) -> None:
        """Ask the worker to exit, and kill it if it has not within `grace` seconds."""
        with contextlib.suppress(OSError):
            self.connection.send(None)
        _end(self.process, grace)
        self.connection.close()
        self.stderr.close()


def _end(process: _Process, grace: float) -> None:
    process.join(grace)
    if process.is_alive():
        process.kill()
        process.join()
    process.close()


def _workers(count: int, memory_mb: int, lean: bool, names: AbstractSet[str] = frozenset()
             ) -> list[_Worker]:
    """`count` workers: kept ones first, if any (those that took calls of these `names`
    before ahead of the others), then new ones forked now (by the layout server if `lean`
    and it can, else by this process)."""
    taken: list[_Worker] = []
    with _pool_lock:
        for worker in sorted(_idle, key=lambda w: not (w.seen & names)):
            if len(taken) < count and (worker.memory_mb, worker.lean) == (memory_mb, lean):
                _idle.remove(worker)
                if worker.process.is_alive():
                    taken.append(worker)
                else:
                    worker.stop()
    context = multiprocessing.get_context("fork")
    while len(taken) < count:
        parent_end, child_end = context.Pipe(duplex=True)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the worker's stop)
        child: _Process | None = None
        if lean:
            child = forkserver.fork_worker(child_end, memory_mb, stderr.fileno())
        if child is None:
            forked = context.Process(target=_worker, args=(child_end, memory_mb, stderr.fileno()),
                                     daemon=_keeping)
            forked.start()
            child = forked
        child_end.close()
        taken.append(_Worker(child, parent_end, stderr, memory_mb, lean))
    return taken


def _done_with(worker: _Worker) -> None:
    if _keeping and worker.calls < WORKER_CALLS and worker.process.is_alive():
        with _pool_lock:
            _idle.append(worker)
    else:
        worker.stop()


def _raise_for(status: str, payload: Any, limits: Limits) -> None:
    if status == "problems":
        raise PamphletError(payload)
    if status == "memory":
        raise LimitExceeded("memory", limits)
    raise ChildFailed(*payload)


def _worker(connection: Connection, memory_mb: int, stderr: int) -> None:
    """A child of `run_each`: calls each `(func, args)` it is sent, until None."""
    try:
        _set_up_child(connection, memory_mb, stderr)
        untidy = False
        while (call := connection.recv()) is not None:
            if untidy:  # the last call's laid-out pages, before this one adds its own
                give_back_memory()
            func, args = call
            try:
                connection.send(("ok", func(*args)))
            except PamphletError as error:
                connection.send(("problems", error.problems))
            except BaseException as error:
                connection.send(_failure(error))
            del call, func, args
            # A kept worker that waits for the next build tidies up now, not when that
            # build has asked and waits for it; one with more to do does it before that.
            untidy = connection.poll(IDLE_SECONDS)
            if not untidy:
                give_back_memory()
    except (EOFError, OSError):
        pass  # the parent has gone or stopped us: nothing to report to
    finally:
        connection.close()
        _exit()


def _failure(error: BaseException) -> tuple[str, Any]:
    """What a child reports of an error: memory ran out (a MemoryError, or a C library's
    SystemError "error return without exception set", which is how some of them fail an
    allocation under the memory limit), or anything else, with its traceback."""
    unset = isinstance(error, SystemError) and "without exception set" in str(error)
    if isinstance(error, MemoryError) or isinstance(error.__context__, MemoryError) or unset:
        return ("memory", None)
    return ("error", (f"{type(error).__name__}: {error}",
                      "".join(traceback.format_exception(error))))


def _set_up_child(connection: Connection, memory_mb: int, stderr: int) -> None:
    """In a forked child: a dying C library's last words go to the parent (not the editor),
    WeasyPrint's progress is forwarded, and the memory limit is set above what is mapped."""
    os.dup2(stderr, 2)
    logger = logging.getLogger(PROGRESS_LOGGER)
    logger.setLevel(logging.INFO)
    logger.addHandler(_Forward(lambda message: connection.send(("progress", message))))
    mapped = _address_space()
    if mapped:
        limit = mapped + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _exit() -> None:
    """Leave a forked child at once (nothing of the parent's is cleaned up twice), after
    letting go of the layout's kept fonts, whose temporary folder is this child's own."""
    try:
        shortcuts.forget_font_configs()
    finally:
        os._exit(0)


class _Forward(logging.Handler):
    def __init__(self, send: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        self.send(record.getMessage())


@contextmanager
def _forwarding(progress: Callable[[str], None]) -> Iterator[None]:
    logger = logging.getLogger(PROGRESS_LOGGER)
    handler = _Forward(progress)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _address_space() -> int:
    """The address space this process already maps (VmSize) in bytes; 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
