"""Single ledger rows for the dashboard: a request's call (joined to its audit rows), the recent failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from agentrt.store._base import Store

__all__ = ["LedgerRow", "ledger_rows"]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One call of the ledger, as the audit and models pages show it."""

    ts: float
    request_id: str | None
    user: str | None
    tenant: str | None
    api_key: str | None
    model: str
    provider: str
    operation: str
    input_tokens: int
    output_tokens: int
    cost: float | None
    latency: float
    outcome: str
    attempts: int


_ROW_FIELDS: Final = (
    "ts, request_id, user_name, tenant, api_key, model, provider, operation, input_tokens, output_tokens, cost, "
    "latency, outcome, attempts"
)


async def ledger_rows(
    store: Store,
    *,
    request_id: str | None = None,
    tenant: str | None = None,
    user: str | None = None,
    since: float | None = None,
    failed: bool = False,
    limit: int = 50,
) -> list[LedgerRow]:
    """Ledger rows, newest first: a request's (``request_id``), or the recent ones (``failed``: not ``ok``)."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("request_id = ?", request_id),
        ("tenant = ?", tenant),
        ("user_name = ?", user),
        ("ts >= ?", since),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if failed:
        clauses.append("outcome <> 'ok'")
    sql = f"SELECT {_ROW_FIELDS} FROM agentrt_usage"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY ts DESC, id DESC LIMIT ?"
    rows = await store.fetchall(sql, [*params, int(limit)])
    return [
        LedgerRow(
            float(r[0]),
            r[1],
            r[2],
            r[3],
            r[4],
            str(r[5]),
            str(r[6]),
            str(r[7]),
            int(r[8]),
            int(r[9]),
            None if r[10] is None else float(r[10]),
            float(r[11]),
            str(r[12]),
            int(r[13]),
        )
        for r in rows
    ]
