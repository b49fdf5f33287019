"""The typer application: every command and sub-command of ``agentrt``."""

from __future__ import annotations

from typing import Annotated

import typer

from agentrt._version import __version__
from agentrt.cli import (
    agents_cmd,
    audit_cmd,
    config_cmd,
    dashboard_cmd,
    generate_cmd,
    init_cmd,
    keys_cmd,
    logs_cmd,
    mcp_cmd,
    models_cmd,
    policy_cmd,
    prompts_cmd,
    providers_cmd,
    serve_cmd,
    services_cmd,
    tools_cmd,
    usage_cmd,
)

app = typer.Typer(
    name="agentrt",
    help="agentrt: run LLM agents and model calls under one validated configuration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Rich-formatted help imports rich.markdown and markdown-it (~75 ms); plain help keeps
    # `agentrt --help` under its 150 ms start-up goal.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"agentrt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """agentrt: run LLM agents and model calls under one validated configuration."""


app.add_typer(config_cmd.app, name="config")
app.command("init")(init_cmd.init)
app.command("services")(services_cmd.services)
app.command("logs")(logs_cmd.logs)
app.command("generate")(generate_cmd.generate)
app.command("chat")(generate_cmd.chat)
app.add_typer(models_cmd.app, name="models")
app.add_typer(providers_cmd.app, name="providers")
app.command("usage")(usage_cmd.usage)
app.command("audit")(audit_cmd.audit)
app.add_typer(policy_cmd.app, name="policy")
app.add_typer(prompts_cmd.app, name="prompts")
app.add_typer(tools_cmd.app, name="tools")
app.command("run")(agents_cmd.run)
app.add_typer(agents_cmd.app, name="agents")
app.command("serve")(serve_cmd.serve)
app.command("dashboard")(dashboard_cmd.dashboard)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(mcp_cmd.app, name="mcp")
