"""After a crash, the ledger and the audit trail catch up with what the ``sqlite`` counters charged.

The ledger and the audit trail are written in batches (every 0.5 s), the
counters at once. A process killed in between leaves calls the counters hold
with no ledger or audit row. So the ``sqlite`` backend journals each call in
the store (table ``agentrt_usage_pending``, in the same transaction as its
counters), and the ledger deletes a call's journal rows in the same
transaction as it writes the call's row, which it writes only once the call's
queued audit rows are written: at every instant a charged call is in the
ledger with its audit rows, or in the journal.

At start, :func:`recover` finds the journal rows of processes that are gone
(same host, process id no longer running) and, in one transaction:

- a call that was settled gets its ledger row with the usage the counters
  hold, outcome ``recovered``;
- a call still in flight (held) gets a ledger row of 0 tokens, outcome
  ``recovered``, and its holds are released now (as its ``reservation_ttl``
  would have): what the provider used for it, if anything, is unknown;
- a call with no allow row gets one (``allow``, reason ``recovered ...``);
  its other decisions still queued at the kill (the deny of a refused first
  candidate, the real allow row's rule and reason) are lost;
- its journal rows go.

Other processes' rows that are still running, and rows of other hosts (a
SQLite file is one machine's), are left alone.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from agentrt.policy.reservation import usd
from agentrt.store.ledger import PENDING_TABLE

__all__ = ["Recovered", "owner_is_gone", "process_owner", "recover"]

RECOVERED = "recovered"
"""The ledger outcome of a call whose row the crash of its process lost."""

_COLUMNS = (
    "rid, request_id, owner, ts, state, user_name, tenant, api_key, model, provider, operation, "
    "input_tokens, output_tokens, cost"
)


def process_owner() -> str:
    """This process's owner tag for journal rows: ``host|pid|nonce`` (the nonce: one per backend)."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:8]}"


def owner_is_gone(owner: str) -> bool:
    """Whether the process that wrote rows as ``owner`` is no longer running (on this host)."""
    host, _, rest = owner.partition("|")
    pid_text = rest.partition("|")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's (or a malformed) tag: never guess that it is gone
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # running, as another user
    return False


@dataclass(frozen=True, slots=True)
class Recovered:
    """What :func:`recover` wrote: ledger rows of settled and of in-flight calls, audit rows."""

    settled: int = 0
    in_flight: int = 0
    audit_rows: int = 0

    @property
    def calls(self) -> int:
        return self.settled + self.in_flight


def recover(conn: sqlite3.Connection, own_owner: str, gone: Callable[[str], bool] = owner_is_gone) -> Recovered:
    """Write the rows the crashed processes lost (see the module docstring); run inside a transaction."""
    owners = [
        owner
        for (owner,) in conn.execute(f"SELECT DISTINCT owner FROM {PENDING_TABLE} WHERE owner != ?", (own_owner,))
        if gone(owner)
    ]
    settled = in_flight = audit_rows = 0
    for owner in owners:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM {PENDING_TABLE} WHERE owner = ? ORDER BY ts", (owner,)).fetchall()
        for row in rows:
            rid, request_id, _, ts, state, user, tenant, api_key, model, provider, operation = row[:11]
            input_tokens, output_tokens, cost = row[11:]
            if state == "settled":
                settled += 1
            else:
                in_flight += 1
                input_tokens = output_tokens = cost = 0
                _release_holds(conn, rid)
            conn.execute(
                "INSERT INTO agentrt_usage (ts, request_id, user_name, tenant, api_key, model, provider, operation, "
                "input_tokens, output_tokens, cached_tokens, cost, latency, outcome, attempts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0.0, ?, 1)",
                (
                    ts,
                    request_id,
                    user,
                    tenant,
                    api_key,
                    model,
                    provider,
                    operation,
                    input_tokens,
                    output_tokens,
                    usd(cost),
                    RECOVERED,
                ),
            )
            if request_id is not None and not conn.execute(
                # An allow row, not any row: a deny row of a refused first candidate may be written while the
                # allow row of the fallback that ran was still queued.
                "SELECT 1 FROM agentrt_audit WHERE request_id = ? AND decision = 'allow' LIMIT 1",
                (request_id,),
            ).fetchone():
                conn.execute(
                    "INSERT INTO agentrt_audit (ts, request_id, user_name, tenant, api_key, model, operation, "
                    "decision, rule, reason, limit_name) VALUES (?, ?, ?, ?, ?, ?, ?, 'allow', NULL, ?, NULL)",
                    (
                        ts,
                        request_id,
                        user,
                        tenant,
                        api_key,
                        model,
                        operation,
                        "recovered: the call was admitted, and its audit row lost when its process died",
                    ),
                )
                audit_rows += 1
        conn.execute(f"DELETE FROM {PENDING_TABLE} WHERE owner = ?", (owner,))
    return Recovered(settled, in_flight, audit_rows)


def _release_holds(conn: sqlite3.Connection, rid: str) -> None:
    holds = conn.execute("SELECT key, tokens, cost FROM agentrt_policy_hold WHERE rid = ?", (rid,)).fetchall()
    for key, tokens, cost in holds:
        conn.execute(
            "UPDATE agentrt_policy_budget SET reserved_tokens = reserved_tokens - ?, reserved_cost = reserved_cost - ? "
            "WHERE key = ?",
            (tokens, cost, key),
        )
    conn.execute("DELETE FROM agentrt_policy_hold WHERE rid = ?", (rid,))
