"""``agentrt init DIR``: a working project that runs offline, with no keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentrt.cli._common import fail, stdout

_TEMPLATE_FILES = {
    "agentrt.yaml": "agentrt.yaml",
    "providers.yaml": "providers.yaml",
    "models.yaml": "models.yaml",
    "policies.yaml": "policies.yaml",
    "gitignore": ".gitignore",
}


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project (created if missing).")] = Path(),
    name: Annotated[str | None, typer.Option(help="Project name. Default: the directory's name.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
) -> None:
    """Create agentrt.yaml with providers, models and policies in their own files."""
    from importlib.resources import files

    target = directory.resolve()
    existing = [dest for dest in _TEMPLATE_FILES.values() if (target / dest).exists()]
    if existing and not force:
        fail(f"{target} already has {', '.join(existing)}; nothing was written. Use --force to overwrite.")
    project = name or target.name or "agentrt"
    templates = files("agentrt.cli").joinpath("templates", "project")
    target.mkdir(parents=True, exist_ok=True)
    for source, dest in _TEMPLATE_FILES.items():
        text = templates.joinpath(source).read_text(encoding="utf-8").replace("__PROJECT_NAME__", project)
        (target / dest).write_text(text, encoding="utf-8")
    out = stdout()
    out.print(f"[green]✓[/] created an agentrt project in {target}", markup=True)
    out.print("  next: [bold]agentrt config validate[/] and [bold]agentrt services[/] in that directory", markup=True)
