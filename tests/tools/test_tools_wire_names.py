"""Wire names: every registry tool gets a name providers accept, one-to-one, the same at every step."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from agentrt.tools import ToolSet, tool
from agentrt.tools._source import ToolInfo, ToolOutput
from agentrt.tools._wire import MAX_WIRE_NAME, wire_names

PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Toolkit names as the config allows them; tool names as MCP servers send them (anything printable).
toolkit_names = st.from_regex(r"[A-Za-z0-9_-]{1,70}", fullmatch=True)
tool_names = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=80)
full_names = st.builds(lambda kit, name: f"{kit}.{name}", toolkit_names, tool_names)


@given(st.lists(full_names, max_size=30), st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), max_size=5))
def test_wire_names_are_valid_unique_and_deterministic(names: list[str], taken: list[str]) -> None:
    mapping = wire_names(names, taken=taken)
    assert set(mapping) == set(names)
    wires = list(mapping.values())
    assert all(PROVIDER_NAME.match(wire) and len(wire) <= MAX_WIRE_NAME for wire in wires)
    assert len(set(wires)) == len(wires)  # one-to-one: a tool call finds its tool again
    assert not set(wires) & set(taken)
    assert wire_names(list(reversed(names)), taken=taken) == mapping  # the order given does not matter


def test_plain_names_stay_readable_and_clashes_get_a_hash() -> None:
    mapping = wire_names(["github.search", "github_.search", "a.b.c", "kit.x" + "y" * 70], taken=["a__b_c"])
    assert mapping["github.search"] == "github__search"
    assert mapping["github_.search"] == "github___search"
    assert re.fullmatch(r"a__b_c_[0-9a-f]{8}", mapping["a.b.c"])  # "a__b_c" was taken by a Python tool
    assert len(mapping["kit.x" + "y" * 70]) == 64


@given(st.lists(full_names, min_size=1, max_size=10, unique=True), st.data())
async def test_a_toolset_maps_wire_names_back_to_full_names(names: list[str], data: st.DataObject) -> None:
    infos = [ToolInfo(n.partition(".")[0], n.partition(".")[2], "d", {"type": "object"}, "mcp") for n in names]
    called: list[str] = []

    async def caller(full_name: str, arguments: object) -> ToolOutput:
        called.append(full_name)
        return ToolOutput(f"ran {full_name}")

    @tool
    def github__search(q: str) -> str:
        """A Python tool whose name a registry tool's plain wire name could take."""
        return q

    toolset = ToolSet.with_registry_tools([github__search], infos, caller)
    wire = {toolset.full_name(name): name for name in toolset.names()}
    assert wire["github__search"] == "github__search"
    assert [spec.name for spec in toolset.specs()] == list(toolset.names())
    chosen = data.draw(st.sampled_from(names))
    info = toolset.info(wire[chosen])
    assert info is not None
    assert info.full_name == chosen
    assert await toolset.invoke(wire[chosen], {}) == f"ran {chosen}"
    assert called == [chosen]
    assert toolset.info("github__search") is None
