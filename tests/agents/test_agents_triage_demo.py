"""The quickstart's triage demo: tickets routed by their words, answered most urgent first."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from agents_support import local_config, with_agents

from agentrt import Runtime
from agentrt.agents import AgentRuntime

QUICKSTART = Path(__file__).parent.parent.parent / "examples" / "quickstart"

AGENTS = {
    "triage": {"class": "triage:Triage", "model": "default"},
    "billing": {"class": "triage:Specialist", "model": "default"},
    "tech": {"class": "triage:Specialist", "model": "default"},
}


@pytest.fixture
def triage_module(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.syspath_prepend(str(QUICKSTART))
    if not hasattr(Runtime, "agents"):  # until the runtime exposes rt.agents itself
        monkeypatch.setattr(Runtime, "agents", property(lambda rt: rt.services.get(AgentRuntime)), raising=False)
    import triage

    yield triage
    sys.modules.pop("triage", None)


async def test_the_demo_routes_by_words_and_answers_by_priority(
    triage_module: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with with_agents(Runtime.open(local_config(tmp_path, agents=AGENTS), plugins=False)) as rt:
        await triage_module.run_demo(rt)  # type: ignore[attr-defined]
        billing = [h.ticket for h in rt.agents.state("billing").handled]  # type: ignore[attr-defined]
        tech = [h.ticket for h in rt.agents.state("tech").handled]  # type: ignore[attr-defined]
    assert billing == ["T-103", "T-106", "T-101"]  # high, high (first come first), then low
    assert tech == ["T-104", "T-102", "T-107", "T-105"]  # critical, normal, normal, low
    out = capsys.readouterr().out
    assert "T-104 -> tech    critical (api, down; critical because of outage, down, all users)" in out
    assert "billing  T-103 (high), T-106 (high), T-101 (low)" in out
    assert "model usage for these answers:" in out


def test_classify_explains_its_choice(triage_module: object) -> None:
    routing = triage_module.classify({"id": "T-1", "text": "Refund my invoice ASAP"})  # type: ignore[attr-defined]
    assert (routing.specialist, routing.priority) == ("billing", "high")
    assert routing.reason == "invoice, refund; high because of asap"
    fallback = triage_module.classify({"id": "T-2", "text": "Hello there"})  # type: ignore[attr-defined]
    assert (fallback.specialist, fallback.priority, fallback.reason) == (
        "tech",
        "normal",
        "no routing word: tech by default",
    )
