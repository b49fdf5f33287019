"""The public names of agentrt.logging, and the real config section satisfying its Protocols."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import agentrt.logging
from agentrt.logging import configure_logging, get_logger, read_records


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(agentrt.logging) if not name.startswith("_")}
    modules = {"reader"}  # submodule attribute set by the import system
    assert set(agentrt.logging.__all__) == public - modules - {"annotations"}
    for name in agentrt.logging.__all__:
        assert getattr(agentrt.logging, name) is not None


def test_importing_does_not_pull_in_the_config_package() -> None:
    code = "import sys, agentrt.logging; print('agentrt.config' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_the_pydantic_logging_section_configures_logging(tmp_path: Path) -> None:
    from agentrt.config import LoggingSection as section_type

    path = tmp_path / "logs" / "agentrt.jsonl"
    section = section_type.model_validate(
        {
            "level": "info",
            "console": {"format": "off"},
            "file": {"path": str(path), "rotate": {"max_bytes": 1_000_000, "backups": 2}},
            "levels": {"agentrt.providers": "debug"},
            "redact": ["session_cookie"],
        }
    )
    with configure_logging(section) as handle:
        get_logger("agentrt.providers.openai").debug("from_the_real_config", session_cookie="c")
        handle.flush()

    [record] = list(read_records(path))
    assert (record["event"], record["session_cookie"]) == ("from_the_real_config", "[REDACTED]")
