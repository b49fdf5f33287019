"""Benchmark: agentrt's file sink against plain structlog writing JSON lines itself.

Run: ``python benchmarks/bench_logging.py`` (about 10 s). Prints a short
report; asserts nothing about timings.

Both sides log the same event (an event name and five fields, the shape of
the one line a model call writes) to a JSON-lines file in a temporary
directory:

- agentrt: ``configure_logging`` with the console off and a rotated file sink
  (the caller renders with orjson and queues; a writer thread writes and rotates);
- structlog direct: ``structlog.configure`` with contextvars, log level,
  logger name, an ISO timestamp and orjson rendering into a
  ``BytesLoggerFactory`` file, written on the calling thread.

Reported per side: lines per second end to end (until every line is in the
file), and the time the *calling* thread spends per log call, which is what an
event loop pays (for agentrt it includes the writer thread's share of the GIL,
since both run in one process). Also: the cost of a call filtered out by its
level, through a ``structlog.get_logger`` proxy and through a bound logger.
"""

from __future__ import annotations

import gc
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog

from agentrt.config import LoggingSection
from agentrt.logging import bind_context, configure_logging

LINES = 100_000
REPEATS = 3


def file_only(path: Path) -> LoggingSection:
    """The logging section the benchmark runs: console off, a rotated JSON-lines file."""
    return LoggingSection.model_validate(
        {"level": "info", "console": {"format": "off"}, "file": {"path": path, "rotate": {"backups": 50}}}
    )


def _log_lines(log: Any, count: int) -> float:
    """Log ``count`` lines; return the seconds the calling thread spent."""
    # log.info looked up per call, as library code does: a structlog proxy
    # pays its __getattr__ on every call.
    start = time.perf_counter()
    for i in range(count):
        log.info(
            "model_call_done",
            model="gpt-4o-mini",
            provider="openai",
            input_tokens=812,
            output_tokens=i,
            latency_ms=231.4,
        )
    return time.perf_counter() - start


def _count_lines(directory: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in directory.iterdir())


def _best(run: Callable[[Path], tuple[float, float]]) -> tuple[float, float]:
    results = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="agentrt-bench-") as tmp:
            gc.collect()
            results.append(run(Path(tmp)))
    return min(r[0] for r in results), min(r[1] for r in results)


def bench_agentrt(directory: Path) -> tuple[float, float]:
    """(end-to-end seconds, calling-thread seconds) for LINES lines through configure_logging."""
    handle = configure_logging(
        file_only(directory / "agentrt.jsonl"), secrets=["sk-test-0123456789abcdefghij"]
    )
    try:
        log = structlog.get_logger("agentrt.calls")
        with bind_context(request_id="req-42"):
            start = time.perf_counter()
            caller = _log_lines(log, LINES)
            handle.flush()
            total = time.perf_counter() - start
    finally:
        handle.close()
    assert _count_lines(directory) == LINES, "lines lost"
    return total, caller


def bench_structlog_direct(directory: Path) -> tuple[float, float]:
    """The same lines with structlog writing JSON (orjson) straight to the file on the calling thread."""
    previous = structlog.get_config()
    with open(directory / "direct.jsonl", "wb") as file:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=_NamedBytesLoggerFactory(file),
            cache_logger_on_first_use=True,
        )
        try:
            log = structlog.get_logger("agentrt.calls")
            with bind_context(request_id="req-42"):
                start = time.perf_counter()
                caller = _log_lines(log, LINES)
                file.flush()
                total = time.perf_counter() - start
        finally:
            structlog.configure(**previous)
    assert _count_lines(directory) == LINES, "lines lost"
    return total, caller


class _NamedBytesLoggerFactory:
    """BytesLoggerFactory that keeps the logger name, so add_logger_name has the same work to do."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def __call__(self, *args: Any) -> structlog.BytesLogger:
        logger = structlog.BytesLogger(self._file)
        logger.name = args[0] if args else ""
        return logger


def bench_filtered(directory: Path) -> tuple[float, float]:
    """Seconds per filtered (debug at info) call: through a structlog proxy, through a bound logger."""
    handle = configure_logging(file_only(directory / "agentrt.jsonl"))
    try:
        proxy = structlog.get_logger("agentrt.calls")
        bound = proxy.bind(agent="a-1")
        results = []
        for log in (proxy, bound):
            start = time.perf_counter()
            for i in range(LINES):
                log.debug("model_call_chunk", index=i)
            results.append((time.perf_counter() - start) / LINES)
    finally:
        handle.close()
    return results[0], results[1]


def main() -> int:
    start = time.perf_counter()
    agentrt_total, agentrt_caller = _best(bench_agentrt)
    direct_total, direct_caller = _best(bench_structlog_direct)
    with tempfile.TemporaryDirectory(prefix="agentrt-bench-") as tmp:
        proxy_filtered, bound_filtered = bench_filtered(Path(tmp))

    agentrt_rate = LINES / agentrt_total
    direct_rate = LINES / direct_total
    us = 1e6 / LINES
    print(f"{LINES:,} lines, best of {REPEATS}, Python {sys.version.split()[0]}, structlog {structlog.__version__}")
    print(
        f"agentrt file sink: {agentrt_rate:,.0f} lines/s; structlog direct write: {direct_rate:,.0f} lines/s; "
        f"ratio {agentrt_rate / direct_rate:.2f}x"
    )
    print("calling thread per log call (what the event loop pays):")
    print(f"  agentrt (queues the line):         {agentrt_caller * us:6.2f} µs")
    print(f"  structlog direct (writes inline):  {direct_caller * us:6.2f} µs")
    print("filtered call (debug at level info):")
    print(f"  via a structlog.get_logger proxy:  {proxy_filtered * 1e6:6.2f} µs")
    print(f"  via a bound logger (.bind()):      {bound_filtered * 1e6:6.2f} µs")
    print(f"(benchmark took {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
