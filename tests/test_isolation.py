"""Running work in limited child processes (isolation.py), forked by this process or by the
lean layout server (forkserver.py): each call's result, the time and memory limits, kept
workers, and that a served worker behaves as one forked here would."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from pamphlet import forkserver, isolation
from pamphlet.errors import PamphletError, Problem
from pamphlet.isolation import (
    ChildFailed,
    LimitExceeded,
    Limits,
    keep_workers,
    kept_worker_count,
    run_aside,
    run_each,
    run_limited,
)

REPO = Path(__file__).resolve().parent.parent

served = pytest.mark.skipif(not forkserver.supported(), reason="no layout server here")


@pytest.fixture(params=[False, pytest.param(True, marks=served)], ids=["forked", "served"])
def lean(request: pytest.FixtureRequest) -> bool:
    """Each test twice: workers forked by this process, and by the layout server."""
    return bool(request.param)


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    if x == 3:
        raise PamphletError([Problem(None, None, "three")])
    if x == 4:
        raise ValueError("four")
    return x


def _sleep(x: float) -> float:
    time.sleep(x)
    return x


def run_many(func: Any, calls: list[tuple[Any, ...]], limits: Limits, workers: int,
             lean: bool = False) -> list[Any]:
    """Every result of `run_each`, in the order of the calls."""
    return [result for _, result in sorted(run_each(func, calls, limits, workers, lean=lean))]


def test_run_each_returns_every_result_and_passes_errors_on(lean: bool):
    assert run_many(_square, [(n,) for n in range(7)], Limits(), workers=2, lean=lean) == \
        [n * n for n in range(7)]
    with pytest.raises(PamphletError):
        run_many(_fail, [(1,), (3,), (2,)], Limits(), workers=2, lean=lean)
    with pytest.raises(ChildFailed, match="four"):
        run_many(_fail, [(1,), (4,)], Limits(), workers=2, lean=lean)


def test_run_each_hands_over_each_result_as_it_is_done(lean: bool):
    done = []
    for index, result in run_each(_sleep, [(1.5,), (0.0,), (0.1,)], Limits(), workers=2,
                                      lean=lean):
        done.append((index, result))
    assert done[0] == (1, 0.0), "the quick one first, not in the order asked"
    assert sorted(done) == [(0, 1.5), (1, 0.0), (2, 0.1)]


def test_run_each_does_its_own_work_meanwhile_on_a_free_core(lean: bool, monkeypatch):
    """The caller's own work (`meanwhile`) waits for a free core: while the children are
    still at work if they leave one, else after the first result, not beside them."""
    monkeypatch.setattr(isolation, "usable_cores", lambda: 2)
    for calls, expected in (([(0.3,), (0.0,)], ["result 1", "meanwhile", "result 0"]),
                            ([(0.3,)], ["meanwhile", "result 0"])):
        events: list[str] = []
        for index, _ in run_each(_sleep, calls, Limits(), workers=2, lean=lean,
                                 meanwhile=lambda e=events: e.append("meanwhile")):
            events.append(f"result {index}")
        assert events == expected, calls


def test_run_each_stops_at_the_time_limit(lean: bool):
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as stop:
        run_many(_sleep, [(30.0,), (30.0,), (0.1,)], Limits(seconds=1.0), workers=2, lean=lean)
    assert stop.value.kind == "time"
    assert time.monotonic() - started < 10


def _hog(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def test_run_each_keeps_each_worker_under_the_memory_limit(lean: bool):
    with pytest.raises(LimitExceeded) as stop:
        run_many(_hog, [(1,), (2048,)], Limits(memory_mb=200), workers=2, lean=lean)
    assert stop.value.kind == "memory"
    assert run_many(_hog, [(1,), (2,)], Limits(memory_mb=200), workers=2, lean=lean) == [2 ** 20, 2 ** 21]


_CALLS_HERE = [0]


def _pid_and_calls(pause: float) -> tuple[int, int]:
    """This process's id and how many calls it has taken (its memory of earlier calls)."""
    time.sleep(pause)
    _CALLS_HERE[0] += 1
    return os.getpid(), _CALLS_HERE[0]


def test_kept_workers_take_the_next_build_with_what_they_have_ready(lean: bool):
    keep_workers()
    try:
        first = run_many(_pid_and_calls, [(0.3,), (0.3,)], Limits(), workers=2, lean=lean)
        assert {pid for pid, _ in first} != {os.getpid()} and len({p for p, _ in first}) == 2
        again = run_many(_pid_and_calls, [(0.0,)], Limits(), workers=2, lean=lean)
        assert again[0][0] in {pid for pid, _ in first} and again[0][1] == 2
        assert run_limited(_pid_and_calls, (0.0,), Limits(), lean=lean)[0] in {pid for pid, _ in first}
        # A mistake in the input (PamphletError) is an answer like any other: the worker stays.
        with pytest.raises(PamphletError):
            run_many(_fail, [(3,)], Limits(), workers=2, lean=lean)
        both = run_many(_pid_and_calls, [(0.3,), (0.3,)], Limits(), workers=2, lean=lean)
        assert {pid for pid, _ in both} == {pid for pid, _ in first}
        # A worker stopped at the time limit is not kept: the next call gets a fresh one.
        with pytest.raises(LimitExceeded):
            run_many(_sleep, [(30.0,), (30.0,)], Limits(seconds=0.5), workers=2, lean=lean)
        fresh = run_many(_pid_and_calls, [(0.0,)], Limits(), workers=2, lean=lean)
        assert fresh[0][0] not in {pid for pid, _ in first} and fresh[0][1] == 1
    finally:
        keep_workers(False)
    after = run_many(_pid_and_calls, [(0.0,)], Limits(), workers=2, lean=lean)
    assert after[0][1] == 1, "not kept any more: a new child for the call"
    assert all(not still_running(pid) for pid, _ in first)
    assert kept_worker_count() == 0


def _pid(name: str) -> int:
    return os.getpid()


def test_a_kept_worker_gets_again_the_calls_of_the_names_it_took(lean: bool):
    keep_workers()
    try:
        first = dict(run_each(_pid, [("front",), ("back",)], Limits(), workers=2, lean=lean,
                              affinity=["front", "back"]))
        front, back = first[0], first[1]
        assert front != back
        # Twice the same name: without affinity the two kept workers would take turns.
        for name, pid in (("back", back), ("back", back), ("front", front), ("front", front)):
            assert dict(run_each(_pid, [(name,)], Limits(), workers=2, lean=lean,
                                 affinity=[name])) == {0: pid}
        both = dict(run_each(_pid, [("back",), ("front",)], Limits(), workers=2, lean=lean,
                             affinity=["back", "front"]))
        assert both == {0: back, 1: front}
    finally:
        keep_workers(False)


def _write_after(path: str, pause: float) -> None:
    time.sleep(pause)
    Path(path).write_text(str(os.getpid()))


def test_work_set_aside_goes_to_a_kept_worker_while_the_caller_goes_on(lean: bool,
                                                                        tmp_path: Path):
    """`run_aside` hands a call to a kept worker that waits for work and returns at once;
    `wait` says whether it was done. With no kept worker (of the kind asked for), or a call
    that cannot be sent there, it is done here before `run_aside` returns. A call that fails or runs out of
    time is reported as not done (the caller does the work itself) and its worker is not
    kept."""
    here = tmp_path / "here"
    assert run_aside(_write_after, (str(here), 0.0), Limits()).wait()
    assert here.read_text() == str(os.getpid())
    keep_workers()
    try:
        workers = {pid for pid, _ in run_many(_pid_and_calls, [(0.3,), (0.3,)], Limits(),
                                              workers=2, lean=lean)}
        assert kept_worker_count() == 2
        there = tmp_path / "there"
        started = time.monotonic()
        aside = run_aside(_write_after, (str(there), 0.6), Limits(), lean)
        assert time.monotonic() - started < 0.3 and kept_worker_count() == 1
        assert not there.exists()
        assert aside.wait() and int(there.read_text()) in workers
        assert kept_worker_count() == 2
        other = tmp_path / "other"
        assert run_aside(_write_after, (str(other), 0.0), Limits(), not lean).wait()
        assert other.read_text() == str(os.getpid()), "no kept worker of that kind: here"
        done_here: list[int] = []
        assert run_aside(lambda: done_here.append(os.getpid()), (), Limits(), lean).wait()
        assert done_here == [os.getpid()] and kept_worker_count() == 2, "not sendable: here"
        assert not run_aside(_fail, (4,), Limits(), lean).wait()
        assert not run_aside(_sleep, (30.0,), Limits(seconds=0.5), lean).wait()
        assert kept_worker_count() == 0
        assert run_aside(_write_after, (str(there), 0.0), Limits(), lean).wait()
        assert there.read_text() == str(os.getpid()), "no kept worker left: done here"
    finally:
        keep_workers(False)


_FULL_COLLECTIONS: list[float] = []


def _note_full_collections(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:
        _FULL_COLLECTIONS.append(time.monotonic())


def _watch_collections() -> None:
    if _note_full_collections not in gc.callbacks:
        gc.callbacks.append(_note_full_collections)


def _full_collections() -> list[float]:
    return list(_FULL_COLLECTIONS)


def test_a_kept_worker_tidies_up_while_it_waits_not_when_asked_again(lean: bool):
    """A worker gives back the memory of its last call (a full collection) as soon as it
    is left waiting, not at the start of the next build's call, which would wait for it.
    (Whether calls sent one after another skip it hangs on timing: not tested.)"""
    keep_workers()
    try:
        run_limited(_watch_collections, (), Limits(), lean=lean)
        time.sleep(0.5)
        asked = time.monotonic()
        collected = run_limited(_full_collections, (), Limits(), lean=lean)
        assert collected and max(collected) < asked, "it collected only when asked again"
    finally:
        keep_workers(False)


def still_running(pid: int) -> bool:
    """Whether a process of ours still runs (not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_only_the_cores_the_process_may_use_get_workers():
    program = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
               "from pamphlet import sections; from pamphlet.isolation import usable_cores; "
               "print(usable_cores(), sections.WORKERS)")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def _where() -> dict[str, Any]:
    """What a worker sees of where it runs."""
    return {"pid": os.getpid(), "parent": os.getppid(), "mark": os.environ.get("PAMPHLET_MARK"),
            "folder": os.getcwd(), "temp": tempfile.gettempdir(), "path": list(sys.path),
            "weasyprint": "weasyprint" in sys.modules, "typer": "typer" in sys.modules}


@served
def test_a_served_worker_runs_as_if_forked_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The layout server forks the worker (not this process), with WeasyPrint ready and
    without the command line's libraries, but in this process's environment, folder, temporary
    folder and import path as they are at the call, not as they were when the server began."""
    import typer  # noqa: F401  (this process has it; a lean worker should not)

    monkeypatch.setenv("PAMPHLET_MARK", "edition 7")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "extra"))
    seen = run_limited(_where, (), Limits(), lean=True)
    assert seen["parent"] != os.getpid(), "forked by the server"
    assert seen["parent"] == forkserver.start().process.pid
    assert seen["weasyprint"] and not seen["typer"]
    assert seen["mark"] == "edition 7"
    assert seen["folder"] == str(tmp_path)
    assert seen["temp"] == str(tmp_path)
    assert seen["path"] == sys.path
    forked = run_limited(_where, (), Limits(), lean=False)
    assert forked["parent"] == os.getpid() and forked["typer"]


@served
def test_without_its_server_a_lean_call_is_forked_here(monkeypatch: pytest.MonkeyPatch):
    """A server that has died, or none at all: the call is forked by this process instead."""
    server = forkserver._launch()
    assert server is not None
    server.process.kill()
    server.process.wait()
    monkeypatch.setattr(forkserver, "_servers", [server])
    assert run_limited(_where, (), Limits(), lean=True)["parent"] == os.getpid()
    monkeypatch.setattr(forkserver, "_servers", [None])
    assert run_limited(_where, (), Limits(), lean=True)["parent"] == os.getpid()
    server.client.close()


def test_the_server_is_started_before_the_command_imports_much():
    """The command starts the server first (command.py): the module it does that with loads
    only what starting a process needs, so that the server's own imports begin sooner."""
    program = "import sys, pamphlet.forkserver; print(*sys.modules)"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    heavy = {"pickle", "multiprocessing", "dataclasses", "pathlib", "inspect", "weasyprint"}
    assert heavy.isdisjoint(done.stdout.split())


def _warmed_up() -> dict[str, bool]:
    """Whether this worker starts with the hyphenation patterns read and the C types of a
    layout parsed (a type WeasyPrint asks cffi for when it lays out a line), and whether
    its collections skip the patterns (frozen in the server)."""
    import pyphen
    from weasyprint.text.ffi import ffi

    patterns = [d for path, d in pyphen.hdcache.items() if path.name == "hyph_en_US.dic"]
    collected = {id(o) for o in gc.get_objects()}
    return {"patterns": bool(patterns), "types": "PangoRectangle *" in ffi._parsed_types,
            "skipped": bool(patterns) and id(patterns[0]) not in collected}


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def _wait_until_idle(pid: int, deadline: float = 60) -> None:
    """Until the process has used no processor time for half a second."""
    stop, before = time.monotonic() + deadline, -1
    while time.monotonic() < stop:
        now = _cpu_ticks(pid)
        if now == before:
            return
        before = now
        time.sleep(0.5)
    raise AssertionError("the server did not settle")


@served
def test_a_server_warms_up_for_its_workers_until_it_is_first_asked(
        monkeypatch: pytest.MonkeyPatch):
    """Left waiting, the server reads the hyphenation patterns and lays out a page once, and
    every worker it forks has that done, out of its collections' way; asked at once, it does
    not make the request wait for that, and its workers do it themselves."""
    asked_at_once, left_waiting = forkserver._launch(), forkserver._launch()
    assert asked_at_once is not None and left_waiting is not None
    try:
        monkeypatch.setattr(forkserver, "_servers", [asked_at_once])
        assert run_limited(_warmed_up, (), Limits(), lean=True) == {"patterns": False,
                                                                     "types": False,
                                                                     "skipped": False}
        _wait_until_idle(left_waiting.process.pid)
        monkeypatch.setattr(forkserver, "_servers", [left_waiting])
        for _ in range(2):
            assert run_limited(_warmed_up, (), Limits(), lean=True) == {"patterns": True,
                                                                         "types": True,
                                                                         "skipped": True}
    finally:
        for server in (asked_at_once, left_waiting):
            server.client.close()
            server.process.wait(30)


SERVER_PROGRAM = """
import sys
from pamphlet import forkserver
from pamphlet.isolation import Limits, run_limited
server = forkserver.start()
print(server.process.pid, run_limited(sys.getrecursionlimit, (), Limits(), lean=True))
"""


@served
def test_the_server_leaves_with_the_process_that_started_it():
    done = subprocess.run([sys.executable, "-c", SERVER_PROGRAM], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    pid, answer = done.stdout.split()
    assert answer == str(sys.getrecursionlimit())
    assert not still_running(int(pid)), "the server is gone once its process has left"


BUILD_PROGRAM = """
import sys
from pathlib import Path
from pamphlet.build import build
result = build(Path(sys.argv[1]), Path(sys.argv[2]))
print(result.pages, "weasyprint" in sys.modules)
"""


@served
def test_a_build_lays_out_its_pages_without_importing_weasyprint(tmp_path: Path):
    """The build leaves WeasyPrint to the server's workers: its own process stays small."""
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    manifest = tmp_path / "issues" / "busworker-2026-11-24.yaml"
    done = subprocess.run([sys.executable, "-c", BUILD_PROGRAM, str(manifest),
                           str(tmp_path / "bulletin.pdf")], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "False"]
