"""Registry tools in model calls: ``tools=["calc.*"]`` and ``agents.<type>.tools``, through the real tool loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from registry_support import ASKER_AGENT, SUPPORT_TOOLS, fake_model_config, write, write_config

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext
from agentrt.errors import ToolError
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool
from agentrt.types import Completed, TextDelta


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def config_file(up: FakeUpstream, folder: Path, **extra: object) -> Path:
    write(folder / "tools" / "support.py", SUPPORT_TOOLS)
    write(folder / "h1_agents.py", ASKER_AGENT)
    config = fake_model_config(up.openai_base_url, folder)
    config["tools"] = {
        "calc": {"builtin": "calculator"},
        "support": {"python": "tools/support.py"},
        "gh": {"builtin": "datetime"},
    }
    config.update(extra)
    return write_config(folder, config)


def offered(up: FakeUpstream, index: int) -> list[str]:
    return [t["function"]["name"] for t in up.requests[index].body.get("tools", [])]


async def test_generate_runs_registry_tools_named_by_glob(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("calc__evaluate", {"expression": "6 * 7"})]), Reply(text="It is 42."))
    async with Runtime.open(config_file(up, tmp_path), plugins=False) as rt:
        completion = await rt.generate("primary", "what is 6 times 7?", tools=["calc.*"])
    assert completion.text == "It is 42."
    assert offered(up, 0) == ["calc__evaluate"]  # a name providers accept, not "calc.evaluate"
    spec = up.requests[0].body["tools"][0]["function"]
    assert spec["parameters"]["properties"]["expression"]["type"] == "string"
    answer = up.requests[1].body["messages"][-1]
    assert (answer["role"], answer["content"]) == ("tool", "42")


async def test_registry_tools_mix_with_python_tools_and_errors_reach_the_model(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(
        Reply(
            tool_calls=[
                ("shout", {"text": "hi"}),
                ("support__lookup_order", {"order_id": "A-9"}),
                ("calc__evaluate", {"expression": "1/0"}),
            ]
        ),
        Reply(text="done"),
    )
    async with Runtime.open(config_file(up, tmp_path), plugins=False) as rt:
        await rt.generate("primary", "go", tools=[shout, "support.lookup_order", "calc.evaluate"])
    assert offered(up, 0) == ["shout", "support__lookup_order", "calc__evaluate"]
    contents = [m["content"] for m in up.requests[1].body["messages"] if m["role"] == "tool"]
    assert contents[0] == "HI"
    assert contents[1] == '{"id":"A-9","status":"shipped"}'
    assert contents[2].startswith("error:")
    assert "division by zero" in contents[2]


async def test_streaming_runs_registry_tools_too(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("calc__evaluate", {"expression": "2**10"})]), Reply(text="1024 it is."))
    async with Runtime.open(config_file(up, tmp_path), plugins=False) as rt:
        events = [e async for e in rt.stream("primary", "2^10?", tools=["calc.evaluate"])]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "1024 it is."
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.completion.messages[2].content == "1024"


async def test_an_unknown_name_fails_before_any_request(up: FakeUpstream, tmp_path: Path) -> None:
    async with Runtime.open(config_file(up, tmp_path), plugins=False) as rt:
        with pytest.raises(ToolError, match=r"no tool matches 'github\.\*': the tools are calc\.evaluate"):
            await rt.generate("primary", "go", tools=["calc.*", "github.*"])
    assert up.requests == []


async def test_an_agent_type_offers_its_configured_tools(up: FakeUpstream, tmp_path: Path) -> None:
    agents = {"asker": {"class": "h1_agents:Asker", "model": "primary", "tools": ["calc.*", "gh.now"]}}
    up.script(Reply(tool_calls=[("calc__evaluate", {"expression": "3 + 4"})]), Reply(text="seven"))
    up.script(Reply(text="no tools needed"))
    async with Runtime.open(config_file(up, tmp_path, agents=agents), plugins=False) as rt:
        await rt.agents.spawn("asker", "a1")
        assert await rt.agents.ask("a1", {"text": "3 + 4?"}, timeout=30) == "seven"
        assert await rt.agents.ask("a1", {"text": "hi", "tools": ["support.refund"]}, timeout=30) == "no tools needed"
    assert offered(up, 0) == ["calc__evaluate", "gh__now"]
    assert up.requests[1].body["messages"][-1]["content"] == "7"
    assert offered(up, 2) == ["support__refund"]  # a call's own tools replace the type's


async def test_a_python_toolkit_agents_name_must_give_that_tool(up: FakeUpstream, tmp_path: Path) -> None:
    agents = {"asker": {"class": "h1_agents:Asker", "model": "primary", "tools": ["support.lookup_ordr"]}}
    from agentrt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"agents\.asker\.tools\[0\].*matches no tool.*support\.lookup_order"):
        async with Runtime.open(config_file(up, tmp_path, agents=agents), plugins=False):
            pass


class Calculating(Agent[dict[str, int]]):
    async def handle(self, activity: Activity, ctx: AgentContext[dict[str, int]]) -> str:
        return (await ctx.generate(str(activity.payload))).text


async def test_an_agent_type_registered_in_code_takes_tools_too(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("calc__evaluate", {"expression": "9 - 2"})]), Reply(text="seven"))
    async with Runtime.open(config_file(up, tmp_path), plugins=False) as rt:
        rt.agents.register("calculating", Calculating, model="primary", tools=["calc.evaluate"])
        await rt.agents.spawn("calculating", "c1")
        assert await rt.agents.ask("c1", "9 - 2?", timeout=30) == "seven"
    assert offered(up, 0) == ["calc__evaluate"]
