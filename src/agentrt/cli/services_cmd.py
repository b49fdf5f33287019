"""``agentrt services``: boot the runtime, list its services, shut down."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.cli._common import ConfigOption, EnvOption, reported_errors, run_async, stdout

if TYPE_CHECKING:
    from agentrt.services import ServiceInfo


def services(config: ConfigOption = None, env: EnvOption = None) -> None:
    """Start the runtime from the configuration, list every service with state, version and
    dependencies, then stop it."""
    from rich.table import Table

    with reported_errors():
        infos = run_async(_collect(config, env))
    table = Table(title="services", title_justify="left")
    for column in ("name", "provides", "version", "state", "depends on", "origin", "start"):
        table.add_column(column)
    for info in infos:
        started = f"{info.start_seconds * 1000:.1f} ms" if info.start_seconds is not None else "-"
        table.add_row(
            info.name,
            info.provides,
            info.version,
            info.state.value.lower(),
            ", ".join(info.dependencies) or "-",
            info.origin,
            started,
        )
    stdout().print(table)


async def _collect(config: Path | None, env: str | None) -> list[ServiceInfo]:
    from agentrt.runtime import Runtime

    async with Runtime.open(config, env=env) as rt:
        return rt.services.info()
