"""The audit trail: every policy decision (allow or deny, which rule, why), written like the ledger.

It also holds one row per tool call (``operation`` ``tool``, the full tool name
in ``tool``): its decision (``allow``, ``deny``, ``approved``, ``rejected`` or
``timeout`` for an approval that never came), ``outcome`` (``ok``, ``error``,
``timeout``, ...), ``duration_ms`` and a JSON ``detail`` (the arguments with
secret fields redacted, who approved, the cost). Its ``request_id`` is the
model call's that asked for the tool, so both join the ledger row.

The policy service calls ``audit.record(AuditRecord(...))`` for each decision;
rows are written in batches by the same writer as the usage ledger, so a
decision costs the caller an append. ``query()`` reads them back, newest first.

The ledger writes a call's row only after the decisions queued here before
it (``UsageLedger(audit=...)``), so no crash leaves a call in the ledger
without its audit rows. A process killed with SIGKILL loses the decisions
still queued: at most those of the last ``flush_interval`` (0.5 s). With the
``sqlite`` policy backend, a call the counters hold or charged is recovered at
the next start with an ``allow`` row (reason ``recovered ...``) if it has none;
its other rows of that last half second are lost (a refused first candidate's
``deny``, the real allow row's rule and reason), and so are the decisions of
calls that charged nothing. With the ``memory`` or ``redis`` backends every
queued decision is lost, together with the ledger rows queued after it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from agentrt.store._base import Store
from agentrt.store._batch import BatchedTable

__all__ = ["AUDIT_MIGRATIONS", "DECISIONS", "AuditRecord", "AuditTrail", "Decision", "read_audit"]

Decision = Literal["allow", "deny", "approved", "rejected", "timeout"]
DECISIONS: Final = ("allow", "deny", "approved", "rejected", "timeout")
"""Model calls are allowed or denied; a tool call that needs approval is also approved, rejected or timed out."""

_COLUMNS: Final = """
    ts DOUBLE PRECISION NOT NULL,
    request_id TEXT,
    user_name TEXT,
    tenant TEXT,
    api_key TEXT,
    model TEXT,
    operation TEXT,
    decision TEXT NOT NULL,
    rule TEXT,
    reason TEXT,
    limit_name TEXT
"""
_INDEXES: Final = """;
CREATE INDEX agentrt_audit_ts ON agentrt_audit (ts);
CREATE INDEX agentrt_audit_user ON agentrt_audit (user_name, ts)
"""

AUDIT_MIGRATIONS: Final[list[str | dict[str, str]]] = [
    {
        "sqlite": f"CREATE TABLE agentrt_audit (id INTEGER PRIMARY KEY, {_COLUMNS})" + _INDEXES,
        "postgresql": f"CREATE TABLE agentrt_audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {_COLUMNS})"
        + _INDEXES,
    },
    # 2: the audit row of a call is found by its request id (joined to its ledger row, `agentrt audit`).
    "CREATE INDEX agentrt_audit_request ON agentrt_audit (request_id)",
    # 3: tool calls have a row each: the tool, how the call ended, how long it took, its redacted arguments.
    "ALTER TABLE agentrt_audit ADD COLUMN tool TEXT;"
    "ALTER TABLE agentrt_audit ADD COLUMN outcome TEXT;"
    "ALTER TABLE agentrt_audit ADD COLUMN duration_ms DOUBLE PRECISION;"
    "ALTER TABLE agentrt_audit ADD COLUMN detail TEXT",
]
"""The ``audit`` component's schema versions."""

_FIELDS: Final = (
    "ts, request_id, user_name, tenant, api_key, model, operation, decision, rule, reason, limit_name, "
    "tool, outcome, duration_ms, detail"
)
_INSERT: Final = f"INSERT INTO agentrt_audit ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(slots=True, kw_only=True)
class AuditRecord:
    """One policy decision.

    ``rule`` names the rule that decided (None: the policy's default);
    ``reason`` is its configured reason; ``limit`` names the rate limit or
    budget that denied the call, when one did. ``api_key`` is the key's name,
    never the key. Tool calls also fill ``tool``, ``outcome``, ``duration_ms``
    and ``detail`` (a JSON object: redacted arguments, approver, cost).
    """

    ts: float = field(default_factory=time.time)
    request_id: str | None = None
    user: str | None = None
    tenant: str | None = None
    api_key: str | None = None
    model: str | None = None
    operation: str | None = None
    decision: Decision
    rule: str | None = None
    reason: str | None = None
    limit: str | None = None
    tool: str | None = None
    outcome: str | None = None
    duration_ms: float | None = None
    detail: str | None = None


class AuditTrail(BatchedTable[AuditRecord]):
    """Records policy decisions in the store's ``agentrt_audit`` table.

    Same lifetime as :class:`~agentrt.store.UsageLedger`: ``start()`` (migrates,
    starts the writer), ``record()``, ``flush()``, ``close()``.
    """

    component = "audit"
    migrations = AUDIT_MIGRATIONS
    insert_sql = _INSERT

    @staticmethod
    def to_row(record: AuditRecord) -> tuple[Any, ...]:
        return _row(record)

    async def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        decision: Decision | None = None,
        user: str | None = None,
        tenant: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
        limit: int = 100,
        tool: str | None = None,
    ) -> list[AuditRecord]:
        """The written decisions in ``[since, until)`` (epoch seconds) that match every filter given,
        newest first, at most ``limit`` of them."""
        return await read_audit(
            self.store,
            since=since,
            until=until,
            decision=decision,
            user=user,
            tenant=tenant,
            model=model,
            request_id=request_id,
            limit=limit,
            tool=tool,
        )


async def read_audit(
    store: Store,
    *,
    since: float | None = None,
    until: float | None = None,
    decision: Decision | None = None,
    user: str | None = None,
    tenant: str | None = None,
    model: str | None = None,
    request_id: str | None = None,
    limit: int = 100,
    tool: str | None = None,
) -> list[AuditRecord]:
    """What :meth:`AuditTrail.query` answers, for a store without a running trail (the CLI)."""
    if decision is not None and decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("ts >= ?", since),
        ("ts < ?", until),
        ("decision = ?", decision),
        ("user_name = ?", user),
        ("tenant = ?", tenant),
        ("model = ?", model),
        ("request_id = ?", request_id),
        ("tool = ?", tool),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = f"SELECT {_FIELDS} FROM agentrt_audit"
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    sql += " ORDER BY ts DESC, id DESC LIMIT ?"
    rows = await store.fetchall(sql, [*params, int(limit)])
    return [_record(row) for row in rows]


def _row(rec: AuditRecord) -> tuple[Any, ...]:
    if rec.decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {rec.decision!r}")
    return (
        float(rec.ts),
        _text(rec.request_id),
        _text(rec.user),
        _text(rec.tenant),
        _text(rec.api_key),
        _text(rec.model),
        _text(rec.operation),
        rec.decision,
        _text(rec.rule),
        _text(rec.reason),
        _text(rec.limit),
        _text(rec.tool),
        _text(rec.outcome),
        None if rec.duration_ms is None else float(rec.duration_ms),
        _text(rec.detail),
    )


def _record(row: Sequence[Any]) -> AuditRecord:
    ts, request_id, user, tenant, api_key, model, operation, decision, rule, reason, limit = row[:11]
    tool, outcome, duration_ms, detail = row[11:15]
    return AuditRecord(
        ts=float(ts),
        request_id=request_id,
        user=user,
        tenant=tenant,
        api_key=api_key,
        model=model,
        operation=operation,
        decision=decision,
        rule=rule,
        reason=reason,
        limit=limit,
        tool=tool,
        outcome=outcome,
        duration_ms=None if duration_ms is None else float(duration_ms),
        detail=detail,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
