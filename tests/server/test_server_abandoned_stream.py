"""A gateway client that hangs up mid-stream is charged for what it was sent (issue 10, item 1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from server_support import auth, serving

from agentrt.store.ledger import UsageLedger
from agentrt.testing import FakeUpstream, Reply

# Far more than the socket buffers hold, so the client hangs up long before the gateway could finish.
LONG_ANSWER = "lorem ipsum dolor sit amet " * 80_000


async def test_a_client_that_hangs_up_mid_stream_is_charged_for_what_it_was_sent(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply(text=LONG_ANSWER, chunk_size=64, usage=(5, 600_000)))
    store = {"url": f"sqlite:///{tmp_path / 'ledger.db'}"}
    async with serving(up, tmp_path, store=store) as served:
        body = {"model": "default", "messages": [{"role": "user", "content": "talk"}], "stream": True}
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{served.url}/v1/chat/completions", json=body, headers=auth())
            assert response.status == 200
            await response.content.readline()  # the first event, then hang up
            response.connection.transport.abort()  # type: ignore[union-attr]
            response.release()
        ledger = served.rt.services.get(UsageLedger)
        rows: list[tuple[object, ...]] = []
        for _ in range(100):  # the gateway notices the hang-up on its next write
            await ledger.flush()
            rows = await ledger.store.fetchall("SELECT outcome, output_tokens, cost FROM agentrt_usage")
            if rows:
                break
            await asyncio.sleep(0.05)
    [(outcome, output_tokens, cost)] = rows
    assert outcome == "cancelled"
    assert 0 < int(output_tokens) < 600_000  # what was sent, bounded by bytes: not the whole answer, not free
    assert cost is not None
    assert float(cost) > 0
