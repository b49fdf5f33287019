"""``agentrt keys create``: a new API key for the HTTP server, printed once, and its config line.

The server stores only the key's SHA-256; the key itself is shown once, here,
and cannot be recovered: lose it and create another.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["app", "create"]

app = typer.Typer(help="API keys of the HTTP server.", no_args_is_help=True, rich_markup_mode=None)


@app.callback()
def _keys() -> None:
    """API keys of the HTTP server."""


@app.command("create")
def create(
    user: Annotated[str | None, typer.Option("--user", "-u", help="The user the key's requests are for.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="The user's tenant.")] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="A name for the key, shown in logs and policies.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag for policies; repeat for several.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May call the admin endpoints (/admin/reload).")] = False,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="What the key may do: chat, embeddings, agents:read, agents:write, admin; repeat for several "
            "(default: all but admin).",
        ),
    ] = None,
    max_agents: Annotated[
        int | None, typer.Option("--max-agents", min=0, help="Live agents the key's tenant may have.")
    ] = None,
) -> None:
    """Print a new random API key once, and the line that admits it under server.api_keys."""
    from agentrt.server.keys import SCOPES, config_line, new_api_key

    unknown = sorted(set(scope or ()) - set(SCOPES))
    if unknown:
        raise typer.BadParameter(f"unknown scope {', '.join(unknown)}: use {', '.join(SCOPES)}", param_hint="--scope")
    key = new_api_key()
    line = config_line(
        key, name=name, user=user, tenant=tenant, tags=tag, admin=admin, scopes=scope, max_agents=max_agents
    )
    typer.echo(f"API key (shown only this once; the server keeps only its hash):\n\n  {key}\n")
    typer.echo("Add this line under `server: api_keys:` in the configuration, then reload or restart:\n")
    typer.echo(f"  {line}")


def main() -> None:
    """``python -m agentrt.cli.keys_cmd create``: the command on its own, until the CLI app lists it."""
    app()


if __name__ == "__main__":
    main()
