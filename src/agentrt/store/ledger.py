"""The usage ledger: one row per model call, written in batches off the hot path, summed in SQL.

The call pipeline calls ``ledger.record(UsageRecord(...))`` once per call; that
is an append to a list. A background task writes the rows in batches (see
``agentrt.store._batch``); ``close()`` writes the rest, so a clean stop loses
nothing. ``query()`` sums what has been written, grouped by user, tenant,
model, provider or UTC day: rows still queued are not in it until the next
flush (``await ledger.flush()`` first when that matters).

The runtime's ledger writes each batch in one transaction with the audit
trail's queued decisions, or after them (``UsageLedger(audit=...)``), and a call's decisions are queued
before its usage: on every store and policy backend, a call in the ledger
has its audit rows. What a SIGKILL can lose:

- ``sqlite`` policy backend (SQLite store): nothing the counters know. Each
  call they hold or charged is journaled (``PENDING_TABLE``) until its ledger
  row is written, and the next start writes the lost rows, outcome
  ``recovered`` (``agentrt.policy.backends._recovery``). Lost: the rows of the
  last ``flush_interval`` (0.5 s) of calls that charged nothing (refusals,
  failed calls whose hold was released), ledger and audit rows alike.
- ``redis`` and ``memory`` backends, on a SQLite or a PostgreSQL store (the
  ``sqlite`` backend needs a SQLite store): the rows still queued, at most
  those of the last ``flush_interval``; no recovery. A call may keep its
  audit rows and lose its ledger row, never the other way round; Redis keeps
  what those calls used on its counters (``memory`` counters die with the process).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from agentrt.store._base import Store
from agentrt.store._batch import BatchedTable
from agentrt.store.retention import DAY_OF_TS, ROLLUP_MIGRATION, ROLLUP_TABLE

if TYPE_CHECKING:
    from agentrt.store.audit import AuditTrail

__all__ = ["PENDING_TABLE", "USAGE_MIGRATIONS", "UsageBy", "UsageLedger", "UsageRecord", "UsageSummary"]

UsageBy = Literal["user", "tenant", "model", "provider", "day"]

_COLUMNS: Final = """
    ts DOUBLE PRECISION NOT NULL,
    request_id TEXT,
    user_name TEXT,
    tenant TEXT,
    api_key TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION,
    latency DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    attempts BIGINT NOT NULL
"""
_INDEXES: Final = """;
CREATE INDEX agentrt_usage_ts ON agentrt_usage (ts);
CREATE INDEX agentrt_usage_user ON agentrt_usage (user_name, ts);
CREATE INDEX agentrt_usage_tenant ON agentrt_usage (tenant, ts);
CREATE INDEX agentrt_usage_model ON agentrt_usage (model, ts)
"""

PENDING_TABLE: Final = "agentrt_usage_pending"
"""The journal of calls charged on the policy counters and not yet in the ledger.

The ``sqlite`` policy backend writes a row in the same transaction as its
counters (``held`` at admit, ``settled`` with the usage); the ledger deletes
the rows of a request in the same transaction as it writes the request's row,
and only after the call's queued audit rows are written. So a crash before the
ledger's write leaves the call here, and the next start writes its ledger row,
marked ``recovered``, and its allow row if that was lost too
(``agentrt.policy.backends._recovery``).
"""

USAGE_MIGRATIONS: Final[list[str | dict[str, str]]] = [
    {
        "sqlite": f"CREATE TABLE agentrt_usage (id INTEGER PRIMARY KEY, {_COLUMNS})" + _INDEXES,
        "postgresql": f"CREATE TABLE agentrt_usage (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {_COLUMNS})"
        + _INDEXES,
    },
    # 2: a call's ledger row is found by its request id (joined to its audit row; crash reconciliation).
    "CREATE INDEX agentrt_usage_request ON agentrt_usage (request_id)",
    # 3: calls the policy counters charged whose ledger row is not written yet (see PENDING_TABLE).
    f"""CREATE TABLE {PENDING_TABLE} (
        rid TEXT PRIMARY KEY,
        request_id TEXT,
        owner TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL,
        user_name TEXT,
        tenant TEXT,
        api_key TEXT,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        operation TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost BIGINT NOT NULL
    );
    CREATE INDEX {PENDING_TABLE}_request ON {PENDING_TABLE} (request_id)""",
    # 4: the daily rollup of the rows that retention pruned (see agentrt.store.retention).
    ROLLUP_MIGRATION,
    # 5: the deployment that served a call (routing), and whether the response cache answered it.
    "ALTER TABLE agentrt_usage ADD COLUMN deployment TEXT; "
    "ALTER TABLE agentrt_usage ADD COLUMN cached BOOLEAN NOT NULL DEFAULT FALSE",
]
"""The ``usage`` component's schema versions (``store.migrate("usage", USAGE_MIGRATIONS)``)."""

_INSERT: Final = (
    "INSERT INTO agentrt_usage (ts, request_id, user_name, tenant, api_key, model, provider, operation, "
    "input_tokens, output_tokens, cached_tokens, cost, latency, outcome, attempts, deployment, cached) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_GROUP_KEYS: Final[dict[str, dict[str, str]]] = {
    "user": {"sqlite": "user_name", "postgresql": "user_name"},
    "tenant": {"sqlite": "tenant", "postgresql": "tenant"},
    "model": {"sqlite": "model", "postgresql": "model"},
    "provider": {"sqlite": "provider", "postgresql": "provider"},
    "day": DAY_OF_TS,
}
# The same keys on the rollup, where a missing tenant or user is ''.
_ROLLUP_KEYS: Final[dict[str, str]] = {
    "user": "NULLIF(user_name, '')",
    "tenant": "NULLIF(tenant, '')",
    "model": "model",
    "provider": "provider",
    "day": "day",
}


@dataclass(slots=True, kw_only=True)
class UsageRecord:
    """One model call, as the ledger keeps it.

    ``ts`` is epoch seconds (UTC); ``api_key`` is the key's configured name,
    never the key; ``cost`` is USD, None when the model has no price;
    ``latency`` is seconds; ``outcome`` is ``"ok"``, the error's class name
    (``ProviderTimeout``), or ``"recovered"`` for a row written at start for a
    call whose process died before writing it; ``attempts`` counts every try, fallbacks included.
    ``deployment`` names the deployment that served (``provider/name``) for a model with deployments;
    ``cached`` marks a call served from the response cache (0 tokens, $0, no attempt).
    """

    ts: float = field(default_factory=time.time)
    request_id: str | None = None
    user: str | None = None
    tenant: str | None = None
    api_key: str | None = None
    model: str
    provider: str
    operation: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost: float | None = None
    latency: float = 0.0
    outcome: str = "ok"
    attempts: int = 1
    deployment: str | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Calls and their usage for one group (``key``: the user, tenant, model, provider or ``YYYY-MM-DD``).

    ``key`` is None for rows without that field (calls with no user) and for
    the one summary of an ungrouped query. ``cost`` (USD) is None when any
    call of the group used tokens but had no price: a partial sum would
    understate it.
    """

    key: str | None
    calls: int
    failures: int
    input_tokens: int
    output_tokens: int
    cost: float | None


class UsageLedger(BatchedTable[UsageRecord]):
    """Records every model call in the store's ``agentrt_usage`` table.

    ``await ledger.start()`` applies the table's migrations and starts the
    background writer; ``record()`` queues; ``flush()`` writes now; ``close()``
    writes everything and stops (also ``async with UsageLedger(store) as ledger``).

    Given the ``audit`` trail, each batch is written in the transaction of the
    decisions the trail has queued, or after them (the runtime's ledger does
    so): a call's decisions are queued before its usage, so its ledger row, and
    the deletion of its journal row, never reach the store before its audit rows.
    """

    component = "usage"
    migrations = USAGE_MIGRATIONS
    insert_sql = _INSERT
    # A call's row is written with the deletion of its journal rows: a crash cannot leave both or neither.
    also_sql = f"DELETE FROM {PENDING_TABLE} WHERE request_id = ?"

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_pending: int = 1_000_000,
        audit: AuditTrail | None = None,
    ) -> None:
        super().__init__(
            store, batch_size=batch_size, flush_interval=flush_interval, max_pending=max_pending, after=audit
        )

    @staticmethod
    def also_row(record: UsageRecord) -> tuple[Any, ...] | None:
        return None if record.request_id is None else (str(record.request_id),)

    @staticmethod
    def to_row(record: UsageRecord) -> tuple[Any, ...]:
        return _row(record)

    async def query(
        self,
        by: UsageBy | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
        user: str | None = None,
        tenant: str | None = None,
        model: str | None = None,
    ) -> list[UsageSummary]:
        """Sum the written calls in ``[since, until)`` (epoch seconds), optionally filtered, grouped by ``by``.

        Groups come ordered by key (those without a key last). Ungrouped
        (``by=None``), the answer is one summary, or none when no call matches.
        """
        return await summarize_usage(self.store, by, since=since, until=until, user=user, tenant=tenant, model=model)


async def summarize_usage(
    store: Store,
    by: UsageBy | None = None,
    *,
    since: float | None = None,
    until: float | None = None,
    user: str | None = None,
    tenant: str | None = None,
    model: str | None = None,
) -> list[UsageSummary]:
    """What :meth:`UsageLedger.query` answers, for a store without a running ledger (the CLI)."""
    if by is not None and by not in _GROUP_KEYS:
        raise ValueError(f"cannot group usage by {by!r}: use one of {', '.join(_GROUP_KEYS)} or None")
    where: list[str] = []
    params: list[Any] = []
    rollup_where: list[str] = []
    rollup_params: list[Any] = []
    for clause, value, rollup_clause, rollup_value in (
        ("ts >= ?", since, "day >= ?", None if since is None else _day(since)),
        ("ts < ?", until, "day <= ?", None if until is None else _day(until - 1e-6)),
        ("user_name = ?", user, "user_name = ?", user),
        ("tenant = ?", tenant, "tenant = ?", tenant),
        ("model = ?", model, "model = ?", model),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
            rollup_where.append(rollup_clause)
            rollup_params.append(rollup_value)
    key = _GROUP_KEYS[by][store.dialect] if by is not None else "NULL"
    rollup_key = _ROLLUP_KEYS[by] if by is not None else "NULL"
    # The rows still in the ledger, and the days of the rollup (pruned rows) in the range: a day at
    # either end of the range counts whole in the rollup, which holds no finer time than the day.
    rows_sql = (
        f"SELECT {key} AS k, COUNT(*) AS calls, "
        "SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS failures, "
        "CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, "
        "CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, "
        "COALESCE(SUM(cost), 0) AS cost, "
        "SUM(CASE WHEN cost IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) AS unpriced "
        "FROM agentrt_usage"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (f" GROUP BY {key}" if by is not None else "")
    )
    rollup_sql = (
        f"SELECT {rollup_key} AS k, SUM(calls), SUM(failures), SUM(input_tokens), SUM(output_tokens), "
        f"SUM(cost), SUM(unpriced) FROM {ROLLUP_TABLE}"
        + (f" WHERE {' AND '.join(rollup_where)}" if rollup_where else "")
        + (f" GROUP BY {rollup_key}" if by is not None else "")
    )
    sql = (
        "SELECT k, SUM(calls), SUM(failures), CAST(SUM(input_tokens) AS BIGINT), "
        "CAST(SUM(output_tokens) AS BIGINT), SUM(cost), SUM(unpriced) "
        f"FROM ({rows_sql} UNION ALL {rollup_sql}) AS usage_parts WHERE calls > 0 GROUP BY k "
        "ORDER BY k IS NULL, k"
    )
    rows = await store.fetchall(sql, [*params, *rollup_params])
    return [_summary(row) for row in rows if row[1]]


def _day(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _summary(row: Sequence[Any]) -> UsageSummary:
    key, calls, failures, input_tokens, output_tokens, cost, unpriced = row
    return UsageSummary(
        key=None if key is None else str(key),
        calls=int(calls),
        failures=int(failures or 0),
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        cost=None if unpriced else float(cost),
    )


def _row(rec: UsageRecord) -> tuple[Any, ...]:
    # Coerced here, off the hot path, so that a value of the wrong type is rejected alone
    # (TypeError/ValueError drop this record) instead of failing the whole batch in the database.
    return (
        float(rec.ts),
        _text(rec.request_id),
        _text(rec.user),
        _text(rec.tenant),
        _text(rec.api_key),
        str(rec.model),
        str(rec.provider),
        str(rec.operation),
        int(rec.input_tokens),
        int(rec.output_tokens),
        int(rec.cached_tokens),
        None if rec.cost is None else float(rec.cost),
        float(rec.latency),
        str(rec.outcome),
        int(rec.attempts),
        _text(rec.deployment),
        bool(rec.cached),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
