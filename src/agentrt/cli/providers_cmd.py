"""``agentrt providers list | check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentrt.cli._common import ConfigOption, EnvOption, load, reported_errors, run_async, stdout

app = typer.Typer(help="The configured providers.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_providers(config: ConfigOption = None, env: EnvOption = None) -> None:
    """A table of providers: kind, endpoint, timeout, retries, breaker, whether a key is set."""
    from rich.table import Table

    with reported_errors():
        loaded = load(config, env)
    table = Table(title="providers", title_justify="left")
    for column in ("provider", "kind", "base url", "key", "timeout", "retries", "breaker", "max in flight"):
        table.add_column(column)
    for name, section in loaded.config.providers.items():
        table.add_row(
            name,
            section.kind,
            section.base_url or "(default)",
            "set" if section.api_key is not None else "-",
            f"{section.timeout:g}s",
            str(section.retry.attempts),
            f"{section.breaker.failures} failures / {section.breaker.cooldown:g}s",
            str(section.max_concurrency),
        )
    stdout().print(table)


@app.command("check")
def check_providers(
    config: ConfigOption = None,
    env: EnvOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each provider.")] = 10.0,
) -> None:
    """Send one cheap authenticated request to each provider and report; exit 1 if any failed."""
    with reported_errors():
        results = run_async(_check_all(config, env, timeout))
    out = stdout()
    failed = 0
    for name, ok, detail in results:
        mark = "[green]ok[/]" if ok else "[red]failed[/]"
        failed += not ok
        out.print(f"{mark}  {name}: {_escape(detail)}", markup=True)
    if failed:
        raise typer.Exit(1)


async def _check_all(config: Path | None, env: str | None, timeout: float) -> list[tuple[str, bool, str]]:
    import asyncio

    from agentrt.errors import AgentRTError
    from agentrt.providers import ProviderRegistry

    loaded = load(config, env)
    registry = ProviderRegistry(loaded.config.providers)

    async def one(name: str) -> tuple[str, bool, str]:
        try:
            async with asyncio.timeout(timeout):
                return name, True, await registry.get(name).check()
        except TimeoutError:
            return name, False, f"no answer within {timeout:g}s"
        except AgentRTError as err:
            return name, False, f"{type(err).__name__}: {err}"

    try:
        return list(await asyncio.gather(*(one(name) for name in registry.names())))
    finally:
        await registry.aclose()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
