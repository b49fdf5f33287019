"""rt.prompt and rt.prompts in a running runtime: calls end to end with `local`, reload, lazy Jinja2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from agentrt import Runtime
from agentrt.errors import PromptInputError
from agentrt.types import Message

CONFIG = """\
logging: {{console: {{format: "off"}}}}
store: {{url: "sqlite:///{db}"}}
providers:
  offline: {{kind: local}}
models:
  small: {{provider: offline, aliases: [default], capabilities: [chat, json, streaming]}}
prompts:
  triage:
    description: Sort a ticket
    inputs:
      ticket: str
      urgent: {{type: bool, default: false}}
    system: {system}
    user: "Ticket: {{{{ ticket }}}}{{% if urgent %}} (urgent){{% endif %}}"
"""


class Verdict(BaseModel):
    queue: str
    urgent: bool


def write(root: Path, system: str = "You sort tickets.") -> Path:
    path = root / "agentrt.yaml"
    path.write_text(CONFIG.format(db=root / "rt.db", system=system), encoding="utf-8")
    return path


async def test_rt_prompt_feeds_generate_stream_and_generate_object_end_to_end(tmp_path: Path) -> None:
    async with Runtime.open(write(tmp_path), plugins=False) as rt:
        messages = rt.prompt("triage", ticket="my invoice is wrong", urgent=True)
        assert list(messages) == [
            Message("system", "You sort tickets."),
            Message("user", "Ticket: my invoice is wrong (urgent)"),
        ]
        assert messages.config_version == rt.config_version == 1
        completion = await rt.generate("default", messages)
        assert completion.text == "echo: Ticket: my invoice is wrong (urgent)"
        streamed = [event async for event in rt.stream("default", rt.prompt("triage", ticket="late"))]
        assert streamed[-1].completion.text == "echo: Ticket: late"  # type: ignore[union-attr]
        verdict = await rt.generate_object("default", rt.prompt("triage", ticket="refund?"), schema=Verdict)
        assert isinstance(verdict, Verdict)
        assert [info.name for info in rt.prompts.list()] == ["triage"]
        with pytest.raises(PromptInputError, match="needs input 'ticket'"):
            rt.prompt("triage")


async def test_reload_changes_a_template_and_the_version_tag(tmp_path: Path) -> None:
    path = write(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        before = rt.prompt("triage", ticket="x")
        write(tmp_path, system="You sort tickets, kindly.")
        result = await rt.reload()
        assert result.applied
        assert "prompts" in result.reconfigured, result
        after = rt.prompt("triage", ticket="x")
        assert after[0].text == "You sort tickets, kindly."
        assert (before.config_version, after.config_version) == (1, 2)
        assert rt.config_version == 2
        assert after.digest != before.digest

        path.write_text(path.read_text().replace("{{ ticket }}", "{{ tickt }}"), encoding="utf-8")
        failed = await rt.reload()
        assert "prompts" in failed.failures
        assert "tickt" in failed.failures["prompts"]
        assert rt.prompt("triage", ticket="x")[0].text == "You sort tickets, kindly."  # the old ones serve on


def test_importing_agentrt_and_the_prompts_package_does_not_import_jinja2() -> None:
    code = (
        "import sys, agentrt, agentrt.prompts, agentrt.prompts.service, agentrt.runtime\n"
        "from agentrt.cli import app\n"
        "assert 'jinja2' not in sys.modules, sorted(m for m in sys.modules if m.startswith('jinja2'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
