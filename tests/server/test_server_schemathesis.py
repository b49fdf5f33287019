"""schemathesis against the server's own /openapi.json: generated requests, valid and invalid, never a 5xx.

aiohttp apps cannot be called in-process by schemathesis (no ASGI), so the
server runs on a loopback port, with its runtime and FakeUpstream on an event
loop in a thread of their own, and schemathesis calls it over HTTP with a
valid key.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from server_support import auth, server_config
from test_server_agents import Tallier, agents_services

from agentrt import Runtime
from agentrt.agents import AgentRuntime
from agentrt.server import HttpServer
from agentrt.testing import FakeUpstream

EXAMPLES_PER_OPERATION = 30


class ServerThread:
    """A FakeUpstream, a runtime and its HttpServer, served from an event loop in a daemon thread."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="server-under-test", daemon=True)
        self.url = ""

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def __enter__(self) -> ServerThread:
        self._thread.start()

        async def start() -> None:
            self.up = FakeUpstream()
            await self.up.start()
            store = {"url": f"sqlite:///{self._tmp_path / 'agents.db'}"}
            self.rt = Runtime.open(server_config(self.up, self._tmp_path, store=store), plugins=False)
            agents_services(self.rt)  # the agents API is fuzzed too
            await self.rt.start()
            self.rt.services.get(AgentRuntime).register("tallier", Tallier)
            self.server = HttpServer(self.rt, port=0)
            await self.server.start()

        self.run(start())
        self.url = self.server.url
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            await self.server.stop(1.0)
            await self.rt.stop()
            await self.up.stop()

        try:
            self.run(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


def operations(server: ServerThread) -> list[Any]:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]


def test_the_document_loads_and_lists_every_operation(server: ServerThread) -> None:
    labels = {op.label for op in operations(server)}
    assert {
        "POST /v1/chat/completions",
        "POST /v1/embeddings",
        "GET /v1/models",
        "POST /v1/messages",
        "POST /v1/responses",
        "POST /mcp",
        "POST /v1/approvals/{approval_id}",
        "GET /readyz",
        "POST /v1/agents/{agent_id}/ask",
    } <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_generated_request_gets_a_server_error(server: ServerThread, mode: GenerationMode) -> None:
    # Positive cases must also get an answer the document describes; negative ones only no 5xx.
    checks: list[Any] = [not_a_server_error]
    if mode is GenerationMode.POSITIVE:
        checks += [response_schema_conformance, status_code_conformance]
    failures: list[str] = []
    checked = 0
    for operation in operations(server):
        try:
            checked += fuzz(server, operation, mode, checks, failures)
        except Unsatisfiable:  # negative mode, an operation without parameters or body: nothing to make invalid
            assert mode is GenerationMode.NEGATIVE
    assert checked > 0
    assert failures == []


def fuzz(server: ServerThread, operation: Any, mode: GenerationMode, checks: list[Any], failures: list[str]) -> int:
    """Send up to EXAMPLES_PER_OPERATION generated requests; record each failed check; return how many were sent."""
    headers = auth()
    sent = 0

    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        response = case.call(base_url=server.url, headers=headers, timeout=10)
        sent += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as err:  # schemathesis raises a group of failures
            # Recorded, not raised: every operation gets all its examples, and the report lists them all.
            failures.append(f"{operation.label}: {response.status_code} {response.text[:300]}\n{err}")

    run()
    return sent
