"""``notifications/tools/list_changed`` refreshes the source's tool list and runs the subscribed callbacks.

The 2026-07-28 protocol sends it on a ``subscriptions/listen`` stream, older
versions as a plain notification: both are tested, over stdio and HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp_support import HttpMcpServer, eventually, http_spec, stdio_spec

from agentrt.tools.mcp import source_from_spec
from agentrt.tools.mcp._source import McpToolSource


@pytest.fixture(
    params=[("stdio", "auto"), ("stdio", "legacy"), ("http", "auto"), ("http", "legacy")],
    ids=["stdio-2026", "stdio-legacy", "http-2026", "http-legacy"],
)
async def changing(request: pytest.FixtureRequest) -> AsyncIterator[McpToolSource]:
    transport, protocol = request.param
    server: HttpMcpServer | None = None
    if transport == "stdio":
        spec = stdio_spec("changing", protocol=protocol)
    else:
        server = await HttpMcpServer("changing").astart()
        spec = http_spec(server.url, protocol=protocol)
    source = source_from_spec("garden", spec)
    try:
        await source.start()
        expected = "2026-07-28" if protocol == "auto" else "2025-11-25"
        assert source.status().extra["protocol_version"] == expected
        yield source
    finally:
        await source.close()
        if server is not None:
            server.stop()


async def test_a_tool_added_by_the_server_appears_and_callbacks_run(changing: McpToolSource) -> None:
    changes: list[list[str]] = []
    changing.subscribe(lambda: changes.append(sorted(t.name for t in changing.tools())))
    assert sorted(t.name for t in changing.tools()) == ["grow", "grow_quietly"]

    assert (await changing.call("grow", {"name": "leaf"}, timeout=10)).text == "added leaf"
    await eventually(lambda: changes == [["grow", "grow_quietly", "leaf"]])
    leaf = next(t for t in changing.tools() if t.name == "leaf")
    assert leaf.full_name == "garden.leaf"
    assert leaf.description == "the leaf tool"
    assert (await changing.call("leaf", {}, timeout=10)).text == "leaf here"
    assert changing.status().extra["tools"] == 3


async def test_a_callback_that_raises_does_not_stop_the_others(changing: McpToolSource) -> None:
    seen: list[str] = []

    def broken() -> None:
        raise RuntimeError("subscriber bug")

    changing.subscribe(broken)
    changing.subscribe(lambda: seen.append("second"))
    await changing.call("grow", {"name": "twig"}, timeout=10)
    await eventually(lambda: seen == ["second"])
    assert changing.status().state == "ready"


async def test_a_tool_the_server_added_without_telling_is_found_by_listing_again() -> None:
    source = source_from_spec("garden", stdio_spec("changing"))
    await source.start()
    try:
        await source.call("grow_quietly", {"name": "bud"}, timeout=10)
        assert "bud" not in {t.name for t in source.tools()}
        assert (await source.call("bud", {}, timeout=10)).text == "bud here"
        assert "bud" in {t.name for t in source.tools()}
    finally:
        await source.close()
