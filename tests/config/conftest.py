"""Fixtures for the config tests: real files in a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write("agentrt.yaml", text)``: write dedented text under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def design_example() -> Path:
    """DESIGN.md's example configuration."""
    return FIXTURES / "design_example.yaml"
