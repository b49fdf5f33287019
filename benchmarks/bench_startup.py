"""Start-up cost: ``import agentrt`` and ``agentrt --help``, against a bare interpreter.

Goal (issue 2): each under 150 ms on the 2-core reference machine. Reported as
the median of several runs, next to ``python -c pass`` measured in the same run
(the floor no Python program can beat).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15
GOAL_MS = 150.0


def median_ms(command: list[str]) -> float:
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache and .pyc files
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    python = sys.executable
    cli = shutil.which("agentrt", path=str(Path(python).parent)) or "agentrt"
    floor = median_ms([python, "-c", "pass"])
    rows = [
        ("python -c pass (floor)", floor),
        ("import agentrt", median_ms([python, "-c", "import agentrt"])),
        ("agentrt --help", median_ms([cli, "--help"])),
        ("agentrt --version", median_ms([cli, "--version"])),
    ]
    for name, ms in rows:
        verdict = "" if name.endswith("(floor)") else ("  within goal" if ms < GOAL_MS else "  OVER GOAL")
        print(f"{name:28s} {ms:7.1f} ms  ({ms / floor:4.1f}x floor){verdict}")
    print(f"goal: each under {GOAL_MS:.0f} ms (median of {RUNS} runs)")


if __name__ == "__main__":
    main()
