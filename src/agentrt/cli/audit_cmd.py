"""``agentrt audit``: the policy decisions of the audit trail, newest first, as a table or JSON."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

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
from agentrt.cli.usage_cmd import parse_when

if TYPE_CHECKING:
    from agentrt.store import AuditRecord
    from agentrt.store.audit import Decision

DECISIONS = ("allow", "deny", "approved", "rejected", "timeout")  # the last three: tool calls that needed approval


def audit(
    since: Annotated[
        str | None, typer.Option("--since", "-s", help="From this time: 7d, 12h or 2026-11-01 (UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", "-u", help="Before this time, same forms as --since.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's decisions.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's decisions.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only decisions on this model.")] = None,
    decision: Annotated[
        str | None,
        typer.Option("--decision", "-d", help="Only this decision: allow, deny, or approved/rejected/timeout (tools)."),
    ] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Only the calls of this tool (toolkit.tool).")] = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", "-r", help="Only the decisions of this request (its ledger row's id).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many rows, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines for machines instead of a table.")] = False,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Print the policy decisions of the audit trail (store.url in the configuration), newest first."""
    if decision is not None and decision not in DECISIONS:
        fail(
            f"unknown decision {decision!r}: use --decision allow or --decision deny "
            "(tool calls also: approved, rejected, timeout)"
        )
    now = time.time()
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until")
    filters: dict[str, Any] = {
        "since": start,
        "until": end,
        "decision": cast("Decision | None", decision),
        "user": user,
        "tenant": tenant,
        "model": model,
        "request_id": request_id,
        "limit": limit,
        "tool": tool,
    }
    with reported_errors():
        loaded = load(config, env)
        base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
        with logging_to_stderr(loaded.config):
            records, shown = run_async(_query(loaded.config.store.url, base_dir, filters))
    if records is None:
        fail(f"no decisions recorded yet: the store's database does not exist ({shown})")
    if as_json:
        _print_json(records)
    else:
        _print_table(records)


async def _query(url: str, base_dir: Path, filters: dict[str, Any]) -> tuple[list[AuditRecord] | None, str]:
    from agentrt.store import open_store
    from agentrt.store.audit import AUDIT_MIGRATIONS, read_audit
    from agentrt.store.sqlite import SQLiteStore

    store = open_store(url, base_dir=base_dir)
    if isinstance(store, SQLiteStore) and store.path is not None and not store.path.exists():
        return None, store.url_for_logs  # reading must not create an empty database as a side effect
    async with store:
        await store.migrate("audit", AUDIT_MIGRATIONS)  # idempotent; makes an older database readable
        records = await read_audit(store, **filters)
    return records, store.url_for_logs


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_dict(record: AuditRecord) -> dict[str, Any]:
    return {
        "ts": _iso(record.ts),
        "request_id": record.request_id,
        "decision": record.decision,
        "user": record.user,
        "tenant": record.tenant,
        "api_key": record.api_key,
        "model": record.model,
        "operation": record.operation,
        "rule": record.rule,
        "limit": record.limit,
        "reason": record.reason,
        "tool": record.tool,
        "outcome": record.outcome,
        "duration_ms": record.duration_ms,
        "detail": record.detail,
    }


def _print_json(records: list[AuditRecord]) -> None:
    import orjson

    for record in records:  # one object a line: greps and streams like the JSON log file
        typer.echo(orjson.dumps(_as_dict(record)).decode())


def _print_table(records: list[AuditRecord]) -> None:
    from rich.table import Table

    console = stdout()
    if not records:
        console.print("no decisions recorded that match", markup=False)
        return
    table = Table(title="audit trail, newest first", title_justify="left")
    for column in ("time (UTC)", "decision", "request id", "user", "tenant", "model / tool", "decided by", "reason"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(
            _iso(record.ts),
            record.decision,
            record.request_id or "-",
            record.user or "-",
            record.tenant or "-",
            record.model or record.tool or "-",
            record.limit or record.rule or "default",
            record.reason or "",
        )
    console.print(table)
