"""``agentrt models list``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrt.cli._common import ConfigOption, EnvOption, load, reported_errors, stdout

if TYPE_CHECKING:
    from agentrt.models import ModelSpec

app = typer.Typer(help="The configured models.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_models(
    config: ConfigOption = None,
    env: EnvOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """A table of models: provider, capabilities, context window, prices (USD per million tokens)."""
    from agentrt.models import ModelCatalog

    with reported_errors():
        loaded = load(config, env)
        catalog = ModelCatalog(loaded.config.models, loaded.config.providers)
    specs = catalog.specs()
    if json_output:
        import json

        typer.echo(json.dumps([_as_json(spec) for spec in specs], indent=2))
        return
    from rich.table import Table

    table = Table(title="models", title_justify="left")
    for column in ("model", "provider", "capabilities", "context", "input $/M", "output $/M", "aliases", "fallbacks"):
        table.add_column(column)
    for spec in specs:
        price = spec.pricing
        table.add_row(
            spec.name,
            f"{spec.provider} ({spec.provider_model})",
            ", ".join(sorted(spec.capabilities)),
            f"{spec.context_window:,}" if spec.context_window else "-",
            f"{price.input:g}" if price else "unknown",
            f"{price.output:g}" if price else "unknown",
            ", ".join(spec.aliases) or "-",
            ", ".join(spec.fallbacks) or "-",
        )
    stdout().print(table)


def _as_json(spec: ModelSpec) -> dict[str, Any]:
    price = spec.pricing
    return {
        "model": spec.name,
        "provider": spec.provider,
        "provider_model": spec.provider_model,
        "aliases": list(spec.aliases),
        "capabilities": sorted(spec.capabilities),
        "context_window": spec.context_window,
        "max_output_tokens": spec.max_output_tokens,
        "pricing": None if price is None else {"input": price.input, "output": price.output},
        "price_source": spec.price_source,
        "fallbacks": list(spec.fallbacks),
    }
