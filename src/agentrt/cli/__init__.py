"""The ``agentrt`` command.

Kept light on purpose: this module imports only typer; each command imports the
parts it needs when it runs, so ``agentrt --help`` starts fast.
"""

from __future__ import annotations

from agentrt.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
