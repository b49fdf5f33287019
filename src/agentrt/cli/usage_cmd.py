"""``agentrt usage``: calls, failures, tokens and cost from the usage ledger, as a table or JSON."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer

from agentrt.cli._common import (
    ConfigOption,
    EnvOption,
    fail,
    load,
    logging_to_stderr,
    reported_errors,
    run_async,
    stdout,
)

if TYPE_CHECKING:
    from agentrt.store import UsageSummary
    from agentrt.store.ledger import UsageBy

By = Literal["user", "tenant", "model", "provider", "day"]
BY_CHOICES: tuple[By, ...] = ("user", "tenant", "model", "provider", "day")
WHEN_FORMS = "a duration back from now (7d, 12h, 30m) or a UTC date or time (2026-11-01, 2026-11-01T12:00)"


def usage(
    by: Annotated[
        str | None, typer.Option("--by", "-b", help="Group by user, tenant, model, provider or day (UTC).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", "-s", help="From this time: 7d, 12h or 2026-11-01 (UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", "-u", help="Before this time, same forms as --since.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's calls.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's calls.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only calls served by this model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")] = False,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Print the calls, failures, tokens and cost recorded in the usage ledger (store.url in the configuration)."""
    if by is not None and by not in BY_CHOICES:
        fail(f"cannot group by {by!r}: use --by with one of {', '.join(BY_CHOICES)}")
    now = time.time()
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until")
    with reported_errors():
        loaded = load(config, env)
        url = loaded.config.store.url
        base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
        with logging_to_stderr(loaded.config):
            summaries, shown = run_async(_query(url, base_dir, by, start, end, user, tenant, model))
    if summaries is None:
        fail(f"no usage recorded yet: the store's database does not exist ({shown})")
    if as_json:
        _print_json(summaries, by, start, end)
    else:
        _print_table(summaries, by, start, end)



def parse_when(value: str | None, now: float, option: str) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    from agentrt.config import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError:
        fail(f"{option} {value!r} is neither a duration nor a date: use {WHEN_FORMS}")


async def _query(
    url: str,
    base_dir: Path,
    by: str | None,
    since: float | None,
    until: float | None,
    user: str | None,
    tenant: str | None,
    model: str | None,
) -> tuple[list[UsageSummary] | None, str]:
    from agentrt.store import open_store
    from agentrt.store.ledger import USAGE_MIGRATIONS, summarize_usage
    from agentrt.store.sqlite import SQLiteStore

    store = open_store(url, base_dir=base_dir)
    if isinstance(store, SQLiteStore) and store.path is not None and not store.path.exists():
        return None, store.url_for_logs  # reading must not create an empty database as a side effect
    async with store:
        # Idempotent, and it makes an older database readable by this version.
        await store.migrate("usage", USAGE_MIGRATIONS)
        summaries = await summarize_usage(
            store,
            cast("UsageBy | None", by),  # checked against BY_CHOICES by the command
            since=since,
            until=until,
            user=user,
            tenant=tenant,
            model=model,
        )
    return summaries, store.url_for_logs


def _window(since: float | None, until: float | None) -> str:
    parts = []
    if since is not None:
        parts.append(f"since {_iso(since)}")
    if until is not None:
        parts.append(f"until {_iso(until)}")
    return " ".join(parts)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _total(summaries: list[UsageSummary]) -> dict[str, Any]:
    costs = [s.cost for s in summaries]
    return {
        "calls": sum(s.calls for s in summaries),
        "failures": sum(s.failures for s in summaries),
        "input_tokens": sum(s.input_tokens for s in summaries),
        "output_tokens": sum(s.output_tokens for s in summaries),
        "cost": None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
    }


def _print_json(summaries: list[UsageSummary], by: str | None, since: float | None, until: float | None) -> None:
    import orjson

    document = {
        "by": by,
        "since": _iso(since) if since is not None else None,
        "until": _iso(until) if until is not None else None,
        "rows": [
            {
                "key": s.key,
                "calls": s.calls,
                "failures": s.failures,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost": s.cost,
            }
            for s in summaries
        ],
        "total": _total(summaries),
    }
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def _print_table(summaries: list[UsageSummary], by: str | None, since: float | None, until: float | None) -> None:
    from rich.table import Table

    window = _window(since, until)
    console = stdout()
    if not summaries:
        console.print(f"no calls recorded{' ' + window if window else ''}", markup=False)
        return
    title = f"usage{' by ' + by if by else ''}{' ' + window if window else ''}"
    table = Table(title=title, title_justify="left", show_footer=by is not None and len(summaries) > 1)
    total = _total(summaries)
    table.add_column(by or "", footer="total")
    for column, key in (
        ("calls", "calls"),
        ("failures", "failures"),
        ("input tokens", "input_tokens"),
        ("output tokens", "output_tokens"),
    ):
        table.add_column(column, justify="right", footer=f"{total[key]:,}")
    table.add_column("cost (USD)", justify="right", footer=_cost(total["cost"]))
    for s in summaries:
        label = "all" if by is None else (s.key if s.key is not None else "-")
        table.add_row(
            label,
            f"{s.calls:,}",
            f"{s.failures:,}",
            f"{s.input_tokens:,}",
            f"{s.output_tokens:,}",
            _cost(s.cost),
        )
    console.print(table)


def _cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"{cost:,.4f}"
