"""The registry: one client per configured provider, kinds from built-ins and plugins, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import agentrt.providers
from agentrt.config import ProviderSection
from agentrt.errors import ConfigError, PluginError, RuntimeStateError, UnknownProvider
from agentrt.providers import (
    AnthropicClient,
    GoogleClient,
    LocalClient,
    OpenAIClient,
    ProviderClient,
    ProviderRegistry,
    available_kinds,
    builtin_kinds,
)
from agentrt.types import ChatRequest, Message, ProviderResponse, StreamFinish, Usage

SRC = Path(agentrt.providers.__file__).resolve().parents[2]  # so a subprocess imports this agentrt


def sections(**kinds: str) -> dict[str, ProviderSection]:
    return {name: ProviderSection(kind=kind) for name, kind in kinds.items()}


async def test_one_client_per_configured_provider_of_the_built_in_kinds() -> None:
    async with ProviderRegistry(sections(a="openai", b="anthropic", c="google", d="local")) as registry:
        assert registry.names() == ["a", "b", "c", "d"]
        assert [type(registry.get(n)) for n in registry] == [OpenAIClient, AnthropicClient, GoogleClient, LocalClient]
        assert all(isinstance(registry.get(n), ProviderClient) for n in registry)
        assert [(registry.get(n).name, registry.get(n).kind) for n in "ab"] == [("a", "openai"), ("b", "anthropic")]
        assert "a" in registry
        assert "z" not in registry
        assert len(registry) == 4


def test_an_unknown_kind_is_a_config_error_at_construction_listing_the_known_kinds() -> None:
    with pytest.raises(ConfigError) as caught:
        ProviderRegistry(sections(good="local", bad="openia"), kinds=builtin_kinds())
    [problem] = caught.value.problems
    assert problem.path == "providers.bad.kind"
    for kind in ("anthropic", "google", "local", "openai"):
        assert kind in problem.message
    assert "'openia'" in problem.message


async def test_get_of_an_unconfigured_name_and_use_after_close() -> None:
    registry = ProviderRegistry(sections(offline="local"))
    with pytest.raises(UnknownProvider, match="configured: offline") as caught:
        registry.get("nope")
    assert isinstance(caught.value, LookupError)
    await registry.aclose()
    await registry.aclose()
    with pytest.raises(RuntimeStateError):
        registry.get("offline")


class FakeClient:
    """A hand-written client, as a test or a plugin would provide one."""

    kind = "fake"

    def __init__(self, name: str, section: ProviderSection) -> None:
        self.name = name
        self.closed = 0

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        return ProviderResponse("fake", [], "stop", Usage(), request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Any]:
        yield StreamFinish("stop", Usage(), [], request.model)

    async def embed(self, request: Any) -> Any:
        raise NotImplementedError

    async def check(self) -> str:
        return "fake"

    async def aclose(self) -> None:
        self.closed += 1
        if self.name == "breaks":
            raise OSError("cannot close")


async def test_kinds_replaces_the_table_and_a_failing_close_does_not_stop_the_others() -> None:
    made: list[FakeClient] = []

    def factory(name: str, section: ProviderSection) -> FakeClient:
        made.append(FakeClient(name, section))
        return made[-1]

    registry = ProviderRegistry(sections(breaks="fake", fine="fake"), kinds={"fake": factory})
    response = await registry.get("fine").complete(ChatRequest(model="m", messages=[Message.user("x")]))
    assert response.text == "fake"
    await registry.aclose()
    assert [(c.name, c.closed) for c in made] == [("breaks", 1), ("fine", 1)]


def test_a_factory_returning_something_else_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="lacks the ProviderClient methods"):
        ProviderRegistry(sections(x="odd"), kinds={"odd": lambda name, section: object()})


# --- plugins: fake distributions (a *.dist-info directory and a module) on sys.path ----------------

PLUGIN_CODE = """
    from collections.abc import AsyncIterator
    from agentrt.types import ProviderResponse, StreamFinish, Usage

    class EchoUpper:
        kind = "upper"

        def __init__(self, name, section):
            self.name = name
            self.prefix = section.options.get("prefix", "")

        async def complete(self, request):
            text = self.prefix + request.messages[-1].text.upper()
            return ProviderResponse(text, [], "stop", Usage(), request.model)

        async def stream(self, request) -> AsyncIterator:
            yield StreamFinish("stop", Usage(), [], request.model)

        async def embed(self, request):
            raise NotImplementedError

        async def check(self):
            return "upper"

        async def aclose(self):
            pass

    NOT_A_FACTORY = 3
    """


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if module is not None and str(root) in str(getattr(module, "__file__", "") or ""):
            del sys.modules[name]


def fake_distribution(site: Path, dist: str, points: dict[str, str]) -> None:
    module = f"fake_provider_{uuid.uuid4().hex[:12]}"
    (site / f"{module}.py").write_text(textwrap.dedent(PLUGIN_CODE))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = ["[agentrt.providers]", *(f"{kind} = {module}:{attr}" for kind, attr in points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


async def test_a_plugin_kind_is_found_through_its_entry_point(site: Path) -> None:
    fake_distribution(site, "acme-upper", {"upper": "EchoUpper"})
    assert "upper" in available_kinds()
    section = ProviderSection(kind="upper", options={"prefix": "> "})
    async with ProviderRegistry({"shout": section}) as registry:
        response = await registry.get("shout").complete(ChatRequest(model="m", messages=[Message.user("hi")]))
    assert response.text == "> HI"


def test_a_plugin_may_not_replace_a_built_in_kind(site: Path) -> None:
    fake_distribution(site, "acme-hijack", {"openai": "EchoUpper"})
    with pytest.raises(PluginError, match="built in and cannot be replaced") as caught:
        available_kinds()
    assert caught.value.name == "openai"


def test_plugins_are_not_loaded_when_only_built_in_kinds_are_configured(site: Path) -> None:
    fake_distribution(site, "acme-hijack", {"openai": "EchoUpper"})
    registry = ProviderRegistry(sections(offline="local"))  # the hijacking plugin is never looked at
    assert registry.names() == ["offline"]


def test_a_plugin_entry_point_that_is_not_callable_is_a_plugin_error(site: Path) -> None:
    fake_distribution(site, "acme-broken", {"three": "NOT_A_FACTORY"})
    with pytest.raises(PluginError, match="not a factory"):
        ProviderRegistry(sections(x="three"))


def test_in_a_fresh_interpreter_a_plugin_serves_and_no_sdk_is_imported(site: Path) -> None:
    fake_distribution(site, "acme-upper", {"upper": "EchoUpper"})
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        import agentrt, agentrt.providers
        from agentrt.config import ProviderSection
        from agentrt.providers import ProviderRegistry
        from agentrt.types import ChatRequest, Message

        before = sorted(m for m in ("aiohttp", "openai", "anthropic", "google.genai") if m in sys.modules)

        async def main():
            configured = {"shout": ProviderSection(kind="upper"), "offline": ProviderSection(kind="local")}
            registry = ProviderRegistry(configured)
            response = await registry.get("shout").complete(ChatRequest(model="m", messages=[Message.user("hi")]))
            await registry.aclose()
            return response.text

        text = asyncio.run(main())
        print(json.dumps({"before": before, "text": text}))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(SRC)]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"before": [], "text": "HI"}
