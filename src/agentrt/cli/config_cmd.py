"""``agentrt config validate | show | schema``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from agentrt.cli._common import ConfigOption, EnvOption, load, reported_errors, run_async, stdout

app = typer.Typer(help="Validate, show and describe the configuration.", no_args_is_help=True, rich_markup_mode=None)

PathArgument = Annotated[
    Path | None,
    typer.Argument(help="Configuration file (overrides --config).", show_default=False),
]


class OutputFormat(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command()
def validate(path: PathArgument = None, config: ConfigOption = None, env: EnvOption = None) -> None:
    """Check a configuration as start would; exit 0 when valid, 1 with every problem listed when not."""
    from agentrt._preflight import check_startable

    with reported_errors():
        loaded = load(path or config, env)
        # What start would refuse (an unknown kind, bad options, an agent class that does not import).
        run_async(check_startable(loaded))
    cfg = loaded.config
    where = str(loaded.path) if loaded.path else "configuration"
    includes = len(loaded.files) - 1 if loaded.files else 0
    summary = (
        f"{len(cfg.providers)} provider(s), {len(cfg.models)} model(s), "
        f"{len(cfg.policies.rules)} rule(s), {len(cfg.policies.limits)} limit(s), "
        f"{len(cfg.policies.budgets)} budget(s), {len(cfg.agents)} agent type(s)"
    )
    env_note = f" (env: {loaded.env})" if loaded.env else ""
    include_note = f", {includes} included file(s)" if includes else ""
    stdout().print(f"[green]✓[/] {where} is valid{env_note}: {summary}{include_note}", markup=True)


@app.command()
def show(
    path: PathArgument = None,
    config: ConfigOption = None,
    env: EnvOption = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.yaml,
) -> None:
    """Print the effective configuration (overlays and variables applied, secrets masked)."""
    from agentrt.config import render_config

    with reported_errors():
        loaded = load(path or config, env)
    typer.echo(render_config(loaded.config, fmt=fmt.value), nl=False)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of agentrt.yaml, for editors to complete and check it."""
    import json

    from agentrt.config import config_json_schema

    text = json.dumps(config_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        stdout().print(f"wrote {output}")
