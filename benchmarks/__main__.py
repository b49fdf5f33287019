"""Run every ``bench_*.py`` in this folder, each in its own process, and print their reports.

Each benchmark compares agentrt with a floor or a peer measured in the same run,
so the figures are ratios that mean something on any machine; none asserts a
time. A benchmark that fails is reported and makes the run exit non-zero.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    selected = set(argv)
    scripts = sorted(p for p in here.glob("bench_*.py") if not selected or p.stem.removeprefix("bench_") in selected)
    failed = []
    for script in scripts:
        print(f"== {script.stem} ==", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
        if result.returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
