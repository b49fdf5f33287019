"""``agentrt tools list`` and ``agentrt tools call NAME --args '{...}'``: the configured tools, by hand.

``list`` starts the toolkits alone (MCP servers included, to ask them for their
tools), not the runtime: no store, no provider. ``call`` opens the runtime and
calls through ``rt.tools.call``, so the call meets the policies, approvals and
audit trail any other tool call meets, as ``--user`` / ``--tenant``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrt.cli._common import ConfigOption, EnvOption, fail, load, logging_to_stderr, reported_errors, run_async

if TYPE_CHECKING:
    from agentrt.tools._source import ToolInfo, ToolOutput

__all__ = ["app"]

app = typer.Typer(
    help="The configured tools: list them, call one by hand.", no_args_is_help=True, rich_markup_mode=None
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@app.command("list")
def list_tools(config: ConfigOption = None, env: EnvOption = None, json_output: JsonOption = False) -> None:
    """A table of tools: toolkit, tool, source, description."""
    with reported_errors():
        infos = run_async(_list(config, env))
    if json_output:
        import json

        rows = [
            {
                "name": info.full_name,
                "toolkit": info.toolkit,
                "tool": info.name,
                "source": info.source,
                "description": info.description,
                "parameters": dict(info.parameters),
            }
            for info in infos
        ]
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not infos:
        typer.echo("no tools are configured: declare toolkits under tools (see the README, section Tools)")
        return
    from rich.markup import escape
    from rich.table import Table

    from agentrt.cli._common import stdout

    table = Table(title="tools", title_justify="left")
    for column in ("toolkit", "tool", "source", "description"):
        table.add_column(column)
    for info in infos:
        summary = " ".join(info.description.strip().split("\n\n")[0].split()) or "-"  # the first paragraph
        table.add_row(escape(info.toolkit), escape(info.name), info.source, escape(summary))
    stdout().print(table)


async def _list(config: Path | None, env: str | None) -> list[ToolInfo]:
    from agentrt._preflight import config_import_path
    from agentrt.tools.registry import ToolRegistry

    loaded = load(config, env)
    with logging_to_stderr(loaded.config), config_import_path(loaded.base_dir):
        registry = ToolRegistry(loaded.config.tools, base_dir=loaded.base_dir)
        await registry.start()
        try:
            return registry.list()
        finally:
            await registry.close()


@app.command("call")
def call(
    name: Annotated[str, typer.Argument(help="The tool's full name, toolkit.tool (see `agentrt tools list`).")],
    args: Annotated[
        str, typer.Option("--args", "-a", help='The arguments as one JSON object: \'{"city": "Paris"}\'.')
    ] = ("{}"),
    user: Annotated[str | None, typer.Option("--user", "-u", help="Whom the call is for (policies apply).")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="The user's tenant (policies apply).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds; default: the tool's own.")] = None,
    config: ConfigOption = None,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """Call tool NAME once, through the runtime's policies and audit trail, and print what it returned."""
    arguments = _arguments(args)
    from agentrt.errors import AgentRTError

    with reported_errors():
        try:
            output = run_async(_call(config, env, name, arguments, user, tenant, timeout))
        except (AgentRTError, typer.Exit):
            raise
        except Exception as err:  # the tool's own exception: say it, without a traceback
            fail(f"tool {name} raised {type(err).__name__}: {err}")
    if json_output:
        import json

        typer.echo(
            json.dumps(
                {
                    "text": output.text,
                    "structured": output.structured,
                    "images": len(output.images),
                    "is_error": output.is_error,
                },
                indent=2,
                default=str,
            )
        )
    else:
        typer.echo(output.text)
        if output.images:
            typer.echo(f"[{len(output.images)} image(s) not shown]", err=True)
    if output.is_error:
        raise typer.Exit(1)


def _arguments(text: str) -> dict[str, Any]:
    import json

    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        fail(f'--args is not valid JSON ({err.msg} at character {err.pos}): write \'{{"key": "value"}}\'')
    if not isinstance(parsed, dict):
        fail('--args must be a JSON object of named arguments: \'{"key": "value"}\'')
    return parsed


async def _call(
    config: Path | None,
    env: str | None,
    name: str,
    arguments: dict[str, Any],
    user: str | None,
    tenant: str | None,
    timeout: float | None,
) -> ToolOutput:
    import os

    from agentrt.runtime import Runtime

    # The answer owns stdout: log lines go to the log file, and failures are reported as errors.
    environ = {**os.environ, "AGENTRT__LOGGING__CONSOLE__FORMAT": "off"}
    async with Runtime.open(config, env=env, environ=environ) as rt:
        return await rt.tools.call(name, arguments, user=user, tenant=tenant, timeout=timeout)
