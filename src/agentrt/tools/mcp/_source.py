"""An MCP server as a :class:`~agentrt.tools.ToolSource`: one long-lived session, kept alive by a supervisor.

The SDK's context managers (the transport, the ``Client``, a listen stream)
must be entered and left by one task, so one task owns them all: the
supervisor. It connects, lists the tools, then waits for the connection to
end (the process exited, the HTTP transport failed, a call saw the
connection closed) and connects again after a backoff. Callers run in their
own tasks and only send requests on the session the supervisor holds; a call
made while the server restarts waits for it, up to the call's timeout.

``notifications/tools/list_changed`` refreshes the list: on a 2026-07-28
connection it comes on a ``subscriptions/listen`` stream the supervisor keeps
open, on older ones as a plain notification; both reach the message handler.
A call's timeout is the SDK's per-request read timeout, and the SDK tells the
server (``notifications/cancelled``, or the aborted HTTP request) when the
call times out or its caller is cancelled.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import structlog
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agentrt._version import __version__
from agentrt.errors import ToolError
from agentrt.tools._source import SourceState, SourceStatus, ToolInfo, ToolOutput
from agentrt.tools.mcp._messages import describe_error, redact, start_failure
from agentrt.tools.mcp._results import tool_infos, tool_output
from agentrt.tools.mcp._spec import HttpServer, McpServerSpec, StdioServer
from agentrt.tools.mcp._stderr import StderrTail
from agentrt.tools.mcp._transport import open_transport
from agentrt.tools.mcp._validation import ArgumentChecker

if TYPE_CHECKING:
    from mcp.client.session import IncomingMessage

__all__ = ["McpToolSource"]

_log = structlog.get_logger("agentrt.tools.mcp")

_CLIENT_INFO = types.Implementation(name="agentrt", version=__version__)


class _Connection:
    """One session: the SDK client once made, when it became ready, and the event that says it is over."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.ready_at: float | None = None
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._root_cause = False

    def end(self, reason: str, *, root_cause: bool = False) -> None:
        """Mark the session over. The transport's own end (``root_cause``) names the reason even when a call
        or the listen stream noticed first: "the server process exited" says more than what they saw."""
        if not self.ended.is_set() or (root_cause and not self._root_cause):
            self.end_reason = reason
            self._root_cause = root_cause
            self.ended.set()


class McpToolSource:
    """The tools of one MCP server (stdio subprocess or streamable HTTP), named ``toolkit.tool`` by the registry."""

    def __init__(self, toolkit: str, spec: McpServerSpec) -> None:
        self._toolkit = toolkit
        self._spec = spec
        server = spec.server
        self._stderr = StderrTail(toolkit, secrets=server.env.values()) if isinstance(server, StdioServer) else None
        self._tools: tuple[ToolInfo, ...] = ()
        self._by_name: dict[str, ToolInfo] = {}
        self._checker = ArgumentChecker()
        self._callbacks: list[Callable[[], None]] = []
        self._state: SourceState = "stopped"
        self._detail = "not started"
        self._restarts = 0
        self._protocol_version: str | None = None
        self._connection: _Connection | None = None
        self._transition = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._stop_scope: anyio.CancelScope | None = None
        self._first_outcome: asyncio.Future[None] | None = None
        self._list_changed = asyncio.Event()
        self._closing = False

    # --- the ToolSource protocol -----------------------------------------------------------

    @property
    def toolkit(self) -> str:
        return self._toolkit

    def tools(self) -> Sequence[ToolInfo]:
        return self._tools

    def status(self) -> SourceStatus:
        extra: dict[str, Any] = {"transport": self._spec.transport, "tools": len(self._tools)}
        if isinstance(self._spec.server, HttpServer):
            extra["url"] = self._spec.server.display_url
        else:
            extra["command"] = self._spec.server.command
        if self._protocol_version:
            extra["protocol_version"] = self._protocol_version
        if self._stderr is not None and self._state in ("restarting", "failed"):
            extra["stderr_tail"] = self._stderr.lines()[-5:]
        return SourceStatus(state=self._state, detail=self._detail, restarts=self._restarts, extra=extra)

    def subscribe(self, on_change: Callable[[], None]) -> None:
        self._callbacks.append(on_change)

    async def start(self) -> None:
        """Connect, and return once the tools are listed; :class:`ToolError` (with the server's stderr) if not."""
        if self._supervisor is not None:
            return
        self._first_outcome = asyncio.get_running_loop().create_future()
        self._stop_scope = anyio.CancelScope()
        self._set_state("starting", "connecting")
        self._supervisor = asyncio.create_task(self._supervise(), name=f"agentrt-mcp-{self._toolkit}")
        try:
            await asyncio.shield(self._first_outcome)
        except asyncio.CancelledError:
            await self.close()
            raise
        except ToolError:
            if self._supervisor is not None:  # not already closed by someone else meanwhile
                await self.close(final_state="failed")
            raise

    async def close(self, *, final_state: SourceState = "stopped") -> None:
        """End the session and stop the server process (the SDK closes its stdin, then terminates its tree)."""
        task, self._supervisor = self._supervisor, None
        self._closing = True
        detail = self._detail if final_state == "failed" else "closed"
        first = self._first_outcome
        if first is not None and not first.done():
            first.set_exception(ToolError(f"MCP toolkit {self._toolkit!r} was closed while it started"))
            first.exception()  # retrieved: start() may no longer be waiting for it
        if task is not None and self._stop_scope is not None:
            self._stop_scope.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # our own caller is being cancelled, not just the supervisor
        self._connection = None
        self._closing = False
        self._set_state(final_state, detail)

    async def call(self, tool: str, arguments: Mapping[str, Any], *, timeout: float | None = None) -> ToolOutput:
        full_name = f"{self._toolkit}.{tool}"
        deadline = None if timeout is None else time.monotonic() + timeout
        connection = await self._ready_connection(full_name, timeout)
        info = self._by_name.get(tool) or await self._relisted(connection.client, tool)
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        assert connection.client is not None
        try:
            result = await connection.client.call_tool(tool, dict(arguments), read_timeout_seconds=remaining)
        except MCPError as exc:
            if exc.code == types.INVALID_PARAMS:
                self._checker.check(full_name, tool, info.parameters, arguments)
            raise self._call_error(connection, full_name, timeout, exc) from None
        except (RuntimeError, ValidationError) as exc:
            # The SDK's checks of the answer: structured content against the tool's output schema, a result
            # shape this client cannot take (input required). The server answered, but not usably.
            raise ToolError(f"{full_name}: the MCP server's answer was not usable: {exc}") from None
        if result.is_error:
            # Refused: if the arguments do not fit the schema, that is why, and the model gets each problem.
            self._checker.check(full_name, tool, info.parameters, arguments)
        return tool_output(result)

    # --- calls -----------------------------------------------------------------------------

    async def _ready_connection(self, full_name: str, timeout: float | None) -> _Connection:
        """The live connection, waiting (up to ``timeout``, or one restart when None) while the server restarts."""
        budget = timeout if timeout is not None else self._spec.start_timeout + self._spec.restart.max_backoff
        deadline = time.monotonic() + budget
        while True:
            connection = self._connection
            if self._state == "ready" and connection is not None:
                return connection
            if self._state in ("failed", "stopped"):
                raise ToolError(f"{full_name} cannot be called: MCP toolkit {self._toolkit!r} is {self._describe()}")
            transition = self._transition
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(transition.wait(), left)
            except TimeoutError:
                break
        message = (
            f"{full_name} was not called: MCP toolkit {self._toolkit!r} is still {self._describe()} after {budget:g}s"
        )
        if timeout is not None:
            raise TimeoutError(message)
        raise ToolError(message)

    async def _relisted(self, client: Client | None, tool: str) -> ToolInfo:
        """The tool after listing again (our list may be behind the server's); ToolError naming those it has."""
        try:
            if client is not None:
                await self._refresh(client)
        except MCPError as exc:
            raise ToolError(f"MCP toolkit {self._toolkit!r} could not list its tools: {exc}") from None
        info = self._by_name.get(tool)
        if info is None:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise ToolError(f"MCP toolkit {self._toolkit!r} has no tool {tool!r}: its tools are {known}")
        return info

    def _call_error(self, connection: _Connection, full_name: str, timeout: float | None, exc: MCPError) -> Exception:
        if exc.code == types.REQUEST_TIMEOUT:
            return TimeoutError(
                f"{full_name} did not answer within {timeout:g}s; the MCP server was told to cancel it"
                if timeout is not None
                else f"{full_name} timed out: {exc.message}"
            )
        if exc.code == types.CONNECTION_CLOSED or (
            exc.code == types.INVALID_REQUEST and exc.message == "Session terminated"
        ):
            connection.end(f"the connection closed during a call of {full_name}")
            if self._closing:
                return ToolError(f"{full_name} was cut short: MCP toolkit {self._toolkit!r} was closed during the call")
            return ToolError(
                f"{full_name} failed: the MCP server of toolkit {self._toolkit!r} closed the connection "
                "during the call; it is being restarted (the call was not retried: it may have had effects)"
            )
        message = redact(self._spec.server, exc.message)
        return ToolError(f"{full_name} failed: the MCP server answered with an error: {message} (code {exc.code})")

    # --- the supervisor ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await self._keep_connected()
        except Exception as exc:
            # A bug of ours, not the server's: say so (status, log) rather than leave callers waiting for "ready".
            self._connection = None
            self._set_state("failed", f"the supervisor stopped: {describe_error(exc)}")
            _log.error("mcp supervisor failed", toolkit=self._toolkit, exc_info=exc)
        finally:
            first = self._first_outcome
            if first is not None and not first.done():
                first.set_exception(ToolError(f"MCP toolkit {self._toolkit!r} stopped before it was ready"))

    async def _keep_connected(self) -> None:
        assert self._stop_scope is not None
        failures = 0
        with self._stop_scope:
            while True:
                connection = _Connection()
                try:
                    await self._run_connection(connection)
                    reason = connection.end_reason or "the connection ended"
                except Exception as exc:
                    reason = redact(self._spec.server, describe_error(exc))
                self._connection = None
                first = self._first_outcome
                if first is not None and not first.done():
                    self._set_state("failed", reason)
                    first.set_exception(
                        ToolError(start_failure(self._toolkit, self._spec.server, self._stderr, reason))
                    )
                    return
                # A connection that stayed up longer than the longest wait resets the backoff.
                up_since = connection.ready_at
                stable = up_since is not None and time.monotonic() - up_since > self._spec.restart.max_backoff
                failures = 1 if stable else failures + 1
                self._restarts += 1
                delay = self._spec.restart.delay(failures)
                self._set_state("restarting", f"{reason}; restart {self._restarts} in {delay:.1f}s")
                _log.warning(
                    "mcp server restarting",
                    toolkit=self._toolkit,
                    reason=reason,
                    restart=self._restarts,
                    delay_s=round(delay, 2),
                )
                await anyio.sleep(delay)
                self._set_state("restarting", f"{reason}; restart {self._restarts}: connecting")

    async def _run_connection(self, connection: _Connection) -> None:
        """Connect, list the tools, serve until the connection ends; the start timeout bounds the first part."""

        def transport_ended() -> None:
            stdio = self._spec.transport == "stdio"
            connection.end("the server process exited" if stdio else "the HTTP transport closed", root_cause=True)

        client = Client(
            open_transport(self._spec.server, stderr=self._stderr, on_end=transport_ended),
            mode=self._spec.protocol,
            cache=None,  # we keep the tool list ourselves and relist on every change
            message_handler=self._on_message,
            client_info=_CLIENT_INFO,
        )
        connection.client = client
        with anyio.CancelScope() as starting:
            starting.deadline = anyio.current_time() + self._spec.start_timeout
            async with client, anyio.create_task_group() as group:
                if _announces_list_changes(client):
                    await group.start(self._listen, connection)
                await self._refresh(client, notify=self._restarts > 0)
                starting.deadline = math.inf
                self._protocol_version = client.protocol_version
                connection.ready_at = time.monotonic()
                self._connection = connection
                self._set_state("ready", f"{len(self._tools)} tools")
                if self._first_outcome is not None and not self._first_outcome.done():
                    self._first_outcome.set_result(None)
                group.start_soon(self._refresh_on_change, client)
                await connection.ended.wait()
                self._connection = None
                group.cancel_scope.cancel()
        if starting.cancelled_caught and connection.ready_at is None:
            raise TimeoutError(f"no answer to the MCP handshake and tool listing within {self._spec.start_timeout:g}s")

    async def _listen(self, connection: _Connection, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Hold a ``subscriptions/listen`` stream (2026-07-28) so the server may announce tool list changes."""
        from mcp.client.subscriptions import SubscriptionLost

        try:
            assert connection.client is not None
            async with connection.client.listen(tools_list_changed=True) as subscription:
                task_status.started()
                async for _event in subscription:
                    self._list_changed.set()
        except SubscriptionLost:
            connection.end("the server dropped the tool change subscription")
            return
        connection.end("the server closed the tool change subscription")

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._list_changed.set()
        elif isinstance(message, Exception):
            _log.debug("mcp transport error", toolkit=self._toolkit, error=describe_error(message))

    async def _refresh_on_change(self, client: Client) -> None:
        while True:
            await self._list_changed.wait()
            self._list_changed.clear()
            try:
                await self._refresh(client, notify=True)
            except MCPError as exc:
                _log.warning("mcp tool list refresh failed", toolkit=self._toolkit, error=str(exc))

    async def _refresh(self, client: Client, *, notify: bool = True) -> None:
        """List every page of the server's tools and make it the current list; callbacks run if it changed."""
        listed: list[types.Tool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        tools = tool_infos(self._toolkit, listed)
        changed = tools != self._tools
        self._tools = tools
        self._by_name = {info.name: info for info in tools}
        self._checker.forget()
        if self._state == "ready":
            self._detail = f"{len(tools)} tools"
        if changed and notify:
            _log.info("mcp tools changed", toolkit=self._toolkit, tools=len(tools))
            for callback in list(self._callbacks):
                try:
                    callback()
                except Exception:
                    _log.exception("tool list callback failed", toolkit=self._toolkit)

    # --- state -------------------------------------------------------------------------------

    def _set_state(self, state: SourceState, detail: str) -> None:
        self._state = state
        self._detail = detail
        transition, self._transition = self._transition, asyncio.Event()
        transition.set()

    def _describe(self) -> str:
        return f"{self._state} ({self._detail})" if self._detail else self._state


def _announces_list_changes(client: Client) -> bool:
    """On a 2026-07-28 connection, changes come only on a listen stream, and only if the server offers them."""
    tools = client.server_capabilities.tools
    return client.protocol_version in MODERN_PROTOCOL_VERSIONS and tools is not None and bool(tools.list_changed)
