"""``agentrt logs``: read the JSON-lines log file as readable, coloured lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agentrt.cli._common import ConfigOption, EnvOption, fail, load, reported_errors


def _parse_grep(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (for example --grep user=alice)")
        pairs.append((key, value))
    return pairs


def logs(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing lines as they are written.")] = False,
    level: Annotated[
        str | None, typer.Option("--level", "-l", help="Only this level and above (debug, info, warning, error).")
    ] = None,
    grep: Annotated[
        list[str] | None, typer.Option("--grep", "-g", help="Only records where KEY equals VALUE; repeatable.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read this file instead of the one in the configuration.")
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the JSON lines as they are.")] = False,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Print the log file written by the runtime (logging.file.path in the configuration)."""
    import orjson

    from agentrt.logging.reader import LEVELS, format_record, read_records

    if level is not None and level.lower() not in LEVELS:
        fail(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    pairs = _parse_grep(grep or [])
    path = file
    if path is None:
        with reported_errors():
            loaded = load(config, env)
        if loaded.config.logging.file is None:
            fail("the configuration writes no log file (logging.file is not set); pass --file PATH")
        path = loaded.config.logging.file.path
    if not path.exists() and not follow:
        fail(f"no log file at {path} yet: the runtime writes it when it runs")
    color = sys.stdout.isatty()
    try:
        for record in read_records(path, follow=follow, level=level, grep=pairs):
            line = orjson.dumps(record).decode() if raw else format_record(record, color=color)
            sys.stdout.write(line + "\n")
            if follow:
                sys.stdout.flush()
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    except BrokenPipeError:  # `agentrt logs | head`
        raise typer.Exit(0) from None
