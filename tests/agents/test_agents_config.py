"""Agent types from the configuration: `agents.<type>.class` and its options, through Runtime.open."""

from __future__ import annotations

from pathlib import Path

import pytest
from agents_support import agents_of, local_config, with_agents

from agentrt import Runtime
from agentrt.agents import AgentRuntime
from agentrt.errors import ConfigError, ServiceStartError


async def test_configured_types_are_registered_with_their_options(tmp_path: Path) -> None:
    agents_section = {
        "support": {
            "class": "agents_support:Echoer",
            "model": "default",
            "mailbox": {"size": 5, "when_full": "reject"},
            "restart": {"strategy": "stop", "max_restarts": 2, "within": "10s"},
            "durable": True,
            "user": "support-bot",
            "tenant": "acme",
        }
    }
    async with with_agents(Runtime.open(local_config(tmp_path, agents=agents_section), plugins=False)) as rt:
        agents = agents_of(rt)
        kind = agents.types()["support"]
        assert kind.cls.__name__ == "Echoer"
        assert (kind.model, kind.durable, kind.user, kind.tenant) == ("default", True, "support-bot", "acme")
        assert (kind.mailbox.size, kind.mailbox.when_full) == (5, "reject")
        assert (kind.restart.strategy, kind.restart.max_restarts, kind.restart.within) == ("stop", 2, 10.0)
        await agents.spawn("support", "t-1")
        assert await agents.ask("t-1", {"text": "hello"}) == {"reply": "echo: hello", "count": 1}
    # The runtime stopped; a new one restores the durable agent from the store.
    async with with_agents(Runtime.open(local_config(tmp_path, agents=agents_section), plugins=False)) as rt:
        assert agents_of(rt).state("t-1").count == 1


async def test_a_class_that_cannot_be_imported_fails_the_start_and_says_where(tmp_path: Path) -> None:
    config = local_config(tmp_path, agents={"support": {"class": "no_such_module:Support"}})
    with pytest.raises((ServiceStartError, ConfigError)) as caught:
        async with with_agents(Runtime.open(config, plugins=False)):
            pass
    message = str(caught.value)
    assert "agents.support.class" in message or "agents.support.class" in str(caught.value.__cause__)
    assert "cannot import no_such_module:Support" in message


async def test_a_class_that_is_not_an_agent_is_refused(tmp_path: Path) -> None:
    config = local_config(tmp_path, agents={"support": {"class": "agents_support:Tally"}})
    with pytest.raises((ServiceStartError, ConfigError), match=r"not a subclass of agentrt\.agents\.Agent"):
        async with with_agents(Runtime.open(config, plugins=False)):
            pass


async def test_the_agents_service_drains_agents_when_the_runtime_stops(tmp_path: Path) -> None:
    config = local_config(tmp_path, agents={"recorder": {"class": "agents_support:Recorder"}})
    async with with_agents(Runtime.open(config, plugins=False)) as rt:
        agents: AgentRuntime = agents_of(rt)
        await agents.spawn("recorder", "r")
        for n in range(100):
            await agents.tell("r", n)
    assert agents.state("r").count == 100
