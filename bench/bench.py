"""Build-speed and file-size figures for the sample issues (not a test: it only prints).

    python bench/bench.py            # each sample once, cold, in a temporary copy
    python bench/bench.py --runs 3   # best of three

For each sample: the whole `pamphlet build` (a fresh process, as an editor runs it), the
pipeline inside one process, plain WeasyPrint on the same composed HTML in one call, pages,
and PDF size.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ["issue-42", "busworker-2026-11-24", "outsourcing-pamphlet"]


def best(runs: int, action) -> float:  # noqa: ANN001 - a callable taking nothing
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    runs = parser.parse_args().runs

    import weasyprint

    from pamphlet.build import build, load
    from pamphlet.compose import compose

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(REPO / "issues", root / "issues")
        print(f"{'issue':<24} {'command':>8} {'pipeline':>9} {'weasyprint':>11} {'pages':>6} "
              f"{'PDF':>9}")
        for name in SAMPLES:
            manifest = root / "issues" / f"{name}.yaml"
            command = best(runs, lambda m=manifest: subprocess.run(
                [sys.executable, "-m", "pamphlet", "build", str(m), "-q"], check=True))
            result = build(manifest)
            pipeline = best(runs, lambda m=manifest: build(m))
            issue, articles, layout = load(manifest)
            html = compose(issue, articles, layout)
            plain = best(runs, lambda h=html, r=issue.root: weasyprint.HTML(
                string=h, base_url=r.as_uri() + "/").write_pdf())
            print(f"{name:<24} {command:>7.1f}s {pipeline:>8.1f}s {plain:>10.1f}s "
                  f"{result.pages:>6} {result.size / 1024:>7.0f}KB")


if __name__ == "__main__":
    main()
