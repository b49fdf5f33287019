"""``agentrt mcp serve --stdio``: the runtime's tools, agents and prompts to one MCP client over stdio.

An MCP client (Claude Desktop, Cursor, an IDE) starts the command and talks to
it on stdin/stdout; stdout carries the protocol and nothing else, so the
runtime's console log goes to stderr whatever the configuration says (the log
file, if configured, gets it too). The session ends when the client closes
stdin.

Who the calls run as: ``--key`` (an API key of ``server.api_keys``: its user,
tenant, tags and scopes, exactly as over HTTP), or ``--user``/``--tenant``
(every scope but ``admin``: whoever can start the command can read the
configuration anyway). Policies, limits, budgets and the audit trail apply to
that principal. Over HTTP, ``agentrt serve`` publishes the same at ``/mcp``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from agentrt.cli._common import ConfigOption, EnvOption, fail, reported_errors, run_async

if TYPE_CHECKING:
    from pathlib import Path

    from agentrt.mcp_server import Caller
    from agentrt.runtime import Runtime

__all__ = ["app", "serve"]

app = typer.Typer(help="Serve the runtime's tools, agents and prompts over MCP.", no_args_is_help=True)

StdioOption = Annotated[
    bool, typer.Option("--stdio", help="Speak MCP on stdin/stdout (the way desktop clients start a server).")
]
UserOption = Annotated[str | None, typer.Option("--user", "-u", help="The user calls run as (policies, budgets).")]
TenantOption = Annotated[str | None, typer.Option("--tenant", "-t", help="The tenant calls run as.")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Run as this API key of server.api_keys (its user, tenant and scopes). Default: $AGENTRT_MCP_KEY.",
        envvar="AGENTRT_MCP_KEY",
        show_envvar=False,
    ),
]


@app.command("serve")
def serve(
    config: ConfigOption = None,
    env: EnvOption = None,
    stdio: StdioOption = False,
    user: UserOption = None,
    tenant: TenantOption = None,
    key: KeyOption = None,
) -> None:
    """Serve the configured tools, the agents (as tools) and the prompts to an MCP client."""
    if not stdio:
        fail("pass --stdio: this command serves MCP on stdin/stdout; over HTTP, `agentrt serve` publishes /mcp")
    if key is not None and (user is not None or tenant is not None):
        fail("pass --key or --user/--tenant, not both: a key names its own user and tenant")
    with reported_errors():
        run_async(_serve(config, env, key, user, tenant))


async def _serve(config: Path | None, env: str | None, key: str | None, user: str | None, tenant: str | None) -> None:
    from agentrt.mcp_server import serve_stdio
    from agentrt.runtime import Runtime

    # stdout is the protocol's: the console log goes to stderr, before anything is logged.
    environ = {**os.environ, "AGENTRT__LOGGING__CONSOLE__STREAM": "stderr"}
    async with Runtime.open(config, env=env, environ=environ) as rt:
        await serve_stdio(rt, _caller(rt, key, user, tenant))


def _caller(rt: Runtime, key: str | None, user: str | None, tenant: str | None) -> Caller:
    from agentrt.calls.principal import Principal
    from agentrt.mcp_server import Caller
    from agentrt.server.auth import DEFAULT_SCOPES, ApiKeys

    if key is None:
        return Caller(Principal(user=user, tenant=tenant), DEFAULT_SCOPES, label="stdio")
    found = ApiKeys(rt.config.server).lookup(key)
    if found is None:
        fail("--key is not one of server.api_keys: check the key, or create one with `agentrt keys create`")
    return Caller(found.principal, found.scopes, found.admin, found.label, found.max_agents)
