"""Build speed against the targets of issue 6 (not a test: it only measures and prints).

    python bench/bench.py                # every target, 3 runs each (about 10-15 minutes)
    python bench/bench.py --runs 5       # more runs per median
    python bench/bench.py --quick        # without the 64-page issue
    python bench/bench.py --only news-16 # targets whose name contains a word

It generates a 16-page and a 64-page newspaper issue in the project's own newspaper layout
(bench/generate.py: seeded text, about 900 words and one photo a page) in a temporary
publication folder next to copies of the samples, then times, as medians of several runs:

* `pamphlet build` as an editor runs it: a fresh process, with no section cache (cold);
* the edit loop: one article changed, then built again, in a warm process (as `pamphlet serve`
  does), from the command line, and as the live preview does it (the build and the page
  images);
* plain WeasyPrint (a fresh `python -c` that imports it and writes the composed HTML in one
  call) and headless Chromium printing the same composed HTML, in the same run, for the ratios;
* `pamphlet build --all` against building the same issues one after another, and against
  itself held to one core with `taskset` (what using every core gains), if that command
  exists.

Peak memory is the largest resident set of any one process of the run (the build and its layout
workers), from /usr/bin/time. Note the machine's load (printed first) with the figures.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from generate import newspaper  # noqa: E402

SAMPLES = ["issue-42", "busworker-2026-11-24", "outsourcing-pamphlet"]
ROWS = ["plain WeasyPrint", "plain WeasyPrint, stack cache", "Chromium", "cold CLI build",
        "cold CLI, one pass", "cold CLI, no layout shortcuts", "cold CLI, with stack cache",
        "edit, warm rebuild", "edit, CLI rebuild", "edit, live preview"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-pdf-header-footer"]


@dataclass
class Run:
    seconds: float
    cpu: float = 0.0
    peak_mb: float = 0.0
    system: float = 0.0
    """Kernel time (where CPython 3.11's stack-chunk thrash shows)."""


@dataclass
class Row:
    name: str
    runs: list[Run] = field(default_factory=list)
    pages: int | None = None
    note: str = ""
    against: str = ""
    """The name of the plain-WeasyPrint row to take the ratio against."""

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def system(self) -> float:
        return statistics.median(r.system for r in self.runs)

    @property
    def peak(self) -> float:
        return max(r.peak_mb for r in self.runs)


TIME = Path("/usr/bin/time")


def process(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """One whole process: wall time, cpu (user + sys, with its children) and peak RSS.
    The peak comes from /usr/bin/time where it exists: a child forked from this (large)
    process would report this process's peak as its own."""
    peak_file = Path(tempfile.mkstemp(prefix="bench-peak-")[1])
    if TIME.exists():
        args = [str(TIME), "-f", "%M", "-o", str(peak_file), *args]
    started = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    reported = peak_file.read_text().strip().splitlines()
    peak_file.unlink()
    measured = reported and reported[-1].isdigit()
    usage_peak = (int(reported[-1]) if measured else usage.ru_maxrss) / 1024
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        stderr = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"failed ({child.returncode}): {' '.join(args)}\n{stderr}")
    if child.stderr:
        child.stderr.close()
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage_peak, usage.ru_stime)


def timed(action: Callable[[], object]) -> Run:
    started = time.perf_counter()
    action()
    return Run(time.perf_counter() - started)


def pamphlet(*args: str) -> list[str]:
    return [sys.executable, "-m", "pamphlet", *args]


def clear_cache(root: Path) -> None:
    shutil.rmtree(root / "build" / ".cache", ignore_errors=True)


def plain_weasyprint(html: Path, out: Path, stack_cache: bool = False) -> list[str]:
    code = ("import sys, weasyprint; "
            "weasyprint.HTML(filename=sys.argv[1]).write_pdf(sys.argv[2])")
    if stack_cache:
        code = "from pamphlet import speed; speed.install_stack_cache(); " + code
    return [sys.executable, "-c", code, str(html), str(out)]


def chromium(html: Path, out: Path, profile: Path) -> list[str]:
    return [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
            f"--print-to-pdf={out}", html.as_uri()]


def pdf_pages(path: Path) -> int:
    import pypdf
    return len(pypdf.PdfReader(path).pages)


class Article:
    """One article file, edited a little differently on each call (a word in its last
    paragraph), so that every rebuild has something new to lay out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_text(encoding="utf-8")
        self.count = 0

    def edit(self) -> None:
        self.count += 1
        text = self.original.rstrip("\n") + f" Edit number {self.count}.\n"
        self.path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="leave out the 64-page issue")
    parser.add_argument("--only", default="", help="only targets whose name contains this")
    options = parser.parse_args()
    runs: int = options.runs
    # As after `pip install`, which compiles the package: a process that cannot write its
    # bytecode (PYTHONDONTWRITEBYTECODE, a read-only checkout) compiles pamphlet's modules
    # again every time it starts, about 0.2-0.3 s.
    import pamphlet

    compileall.compile_dir(Path(pamphlet.__file__).parent, quiet=1)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "pub"
        shutil.copytree(REPO / "issues", root / "issues")
        sizes = [16] if options.quick else [16, 64]
        for pages in sizes:
            newspaper(root, pages)
        rows = measure(root, sizes, runs, options.only, Path(folder))
    report(rows)


def measure(root: Path, sizes: list[int], runs: int, only: str, scratch: Path) -> list[Row]:
    from pamphlet.build import build
    from pamphlet.isolation import keep_workers
    from pamphlet.serve import Previewer

    rows: list[Row] = []
    wanted = (lambda name: only in name) if only else (lambda name: True)

    def row(name: str, action: Callable[[], Run], *, against: str = "", before: Callable[[], None]
            = lambda: None, note: str = "") -> Row | None:
        if not wanted(name):
            return None
        entry = Row(name, note=note, against=against)
        for _ in range(runs):
            before()
            entry.runs.append(action())
        rows.append(entry)
        print(f"  {name}: {seconds(entry.median)} s", flush=True)
        return entry

    names = [f"news-{pages}" for pages in sizes] + SAMPLES
    for name in names:
        manifest = root / "issues" / f"{name}.yaml"
        if only and not any(only in f"{name} {row}" for row in ROWS):
            continue
        # A first build writes the composed HTML the baselines print, and warms the disk.
        clear_cache(root)
        result = build(manifest)
        html = result.html
        plain = row(f"{name} plain WeasyPrint", lambda h=html: process(
            plain_weasyprint(h, scratch / "plain.pdf"), root))
        if plain:
            plain.pages = pdf_pages(scratch / "plain.pdf")
        row(f"{name} plain WeasyPrint, stack cache", lambda h=html: process(
            plain_weasyprint(h, scratch / "plain.pdf", stack_cache=True), root),
            against=f"{name} plain WeasyPrint", note="pamphlet.speed's chunk cache installed")
        if CHROMIUM.exists():
            profile = scratch / "chromium-profile"

            def fresh_profile(p: Path = profile) -> None:
                shutil.rmtree(p, ignore_errors=True)

            chrome = row(f"{name} Chromium", lambda h=html, p=profile: process(
                chromium(h, scratch / "chrome.pdf", p), root), before=fresh_profile,
                note="same HTML; ignores running heads, see notes")
            if chrome:
                chrome.pages = pdf_pages(scratch / "chrome.pdf")
        cold = row(f"{name} cold CLI build", lambda n=name: process(pamphlet("build", n, "-q"),
                                                                    root),
                   before=lambda: clear_cache(root), against=f"{name} plain WeasyPrint")
        if cold:
            cold.pages = result.pages
            cold.note = f"{len(result.warnings)} warning(s)" if result.warnings else ""
        if name == "news-16":  # each change switched off in turn, for before/after figures
            for variable, value, what in (("PAMPHLET_SECTIONS", "0", "one pass"),
                                          ("PAMPHLET_SHORTCUTS", "0", "no layout shortcuts"),
                                          ("PAMPHLET_STACK_CACHE", "1", "with stack cache")):
                environment = {**os.environ, variable: value}
                row(f"{name} cold CLI, {what}", lambda n=name, e=environment: process(
                    pamphlet("build", n, "-q"), root, e), before=lambda: clear_cache(root),
                    against=f"{name} plain WeasyPrint", note=f"{variable}={value}")
        if not name.startswith("news-16") and "busworker" not in name:
            continue
        article = Article(_edited_article(manifest))
        keep_workers()  # as `pamphlet serve` does
        build(manifest)  # the cache, if any, holds this issue now
        row(f"{name} edit, warm rebuild", lambda m=manifest: timed(lambda: build(m)),
            before=article.edit, against=f"{name} plain WeasyPrint",
            note=f"{article.path.name} changed")
        row(f"{name} edit, CLI rebuild", lambda n=name: process(pamphlet("build", n, "-q"), root),
            before=article.edit, against=f"{name} plain WeasyPrint")
        previewer = Previewer(manifest)
        previewer.rebuild()  # the first build and every page image, as `pamphlet serve` starts
        row(f"{name} edit, live preview", lambda p=previewer: timed(p.rebuild),
            before=article.edit, against=f"{name} plain WeasyPrint",
            note="build and page images, as `pamphlet serve` after a save")
        article.path.write_text(article.original, encoding="utf-8")
        keep_workers(False)
    help_text = subprocess.run(pamphlet("build", "--help"), capture_output=True, text=True,
                               cwd=root).stdout
    if "--all" in help_text and wanted("--all"):
        measure_all(root, runs, rows)
    row("pamphlet --help", lambda: process(pamphlet("--help"), root))
    return rows


def measure_all(root: Path, runs: int, rows: list[Row]) -> None:
    """`build --all` over the samples and the 16-page issue against one build after another."""
    all_root = root.parent / "all"
    shutil.copytree(root / "issues", all_root / "issues",
                    ignore=shutil.ignore_patterns("news-64*"))
    names = [p.stem for p in sorted((all_root / "issues").glob("*.yaml"))]
    one_by_one = Row(f"{len(names)} issues one after another")
    together = Row(f"{len(names)} issues, build --all", against=one_by_one.name)
    one_core = Row(f"{len(names)} issues, build --all on one core (`taskset -c 0`)")
    pinned = shutil.which("taskset") if (os.cpu_count() or 1) > 1 else None
    for _ in range(runs):
        clear_cache(all_root)
        total = Run(0.0)
        for name in names:
            run = process(pamphlet("build", name, "-q"), all_root)
            total.seconds += run.seconds
            total.peak_mb = max(total.peak_mb, run.peak_mb)
        one_by_one.runs.append(total)
        clear_cache(all_root)
        together.runs.append(process(pamphlet("build", "--all", "-q"), all_root))
        if pinned:
            clear_cache(all_root)
            one_core.runs.append(process([pinned, "-c", "0", *pamphlet("build", "--all", "-q")],
                                         all_root))
    rows += [one_by_one, together] + ([one_core] if pinned else [])
    print(f"  build --all: {together.median:.2f} s"
          + (f", on one core {one_core.median:.2f} s" if pinned else ""), flush=True)


def _edited_article(manifest: Path) -> Path:
    """An article from the middle of the issue: for the newspaper, page 5's lead."""
    folder = manifest.with_suffix("")
    chosen = sorted(folder.glob("p05-lead.md")) or sorted(folder.glob("*.md"))
    return chosen[len(chosen) // 2] if len(chosen) > 1 else chosen[0]


def seconds(value: float) -> str:
    """Under a second to the millisecond: the bulletin's targets are 1 s and 0.25 s."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def report(rows: list[Row]) -> None:
    by_name = {r.name: r for r in rows}
    chromium_of = {r.name.rsplit(" ", 1)[0]: r for r in rows if r.name.endswith(" Chromium")}
    print()
    print(f"| {'target':<36} | {'median s':>8} | {'range s':>13} | {'× WeasyPrint':>12} "
          f"| {'× Chromium':>10} | {'peak MB':>7} | {'sys s':>5} | {'pages':>5} | note")
    print(f"|{'-' * 38}|{'-' * 10}:|{'-' * 14}:|{'-' * 13}:|{'-' * 11}:|{'-' * 8}:|{'-' * 6}:"
          f"|{'-' * 6}:|------")
    for r in rows:
        low, high = min(x.seconds for x in r.runs), max(x.seconds for x in r.runs)
        base = by_name.get(r.against)
        ratio = f"{r.median / base.median:.2f}" if base else ""
        issue = r.name.split(" ", 1)[0]
        chrome = chromium_of.get(issue)
        versus = f"{r.median / chrome.median:.2f}" if chrome and "CLI" in r.name else ""
        peak = f"{r.peak:.0f}" if r.peak else ""
        system = f"{r.system:.2f}" if r.peak else ""
        print(f"| {r.name:<36} | {seconds(r.median):>8} | {seconds(low):>6}–{seconds(high):<6} "
              f"| {ratio:>12} "
              f"| {versus:>10} | {peak:>7} | {system:>5} | {r.pages or '':>5} | {r.note}")
    cold = {int(r.name.split()[0][5:]): r for r in rows
            if r.name.startswith("news-") and r.name.endswith("cold CLI build")}
    if 16 in cold and 64 in cold:
        print(f"\n64 pages / 16 pages (cold CLI): {cold[64].median / cold[16].median:.2f}x; "
              f"peak memory 64 pages: {cold[64].peak:.0f} MB "
              f"(target {65 + 1.5 * 64:.0f} MB); 16 pages: {cold[16].peak:.0f} MB "
              f"(target {65 + 1.5 * 16:.0f} MB)")
    together = next((r for r in rows if r.name.endswith("build --all")), None)
    alone = next((r for r in rows if "build --all on one core" in r.name), None)
    if together and alone and together.runs and alone.runs:
        print(f"build --all: {alone.median / together.median:.2f}x faster on "
              f"{os.cpu_count()} cores than on one (target: 1.8x on 2 cores)")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
