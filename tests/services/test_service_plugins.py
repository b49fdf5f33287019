"""Plugins found through entry points: a real distribution installed with pip, and broken ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentrt.services
from agentrt.errors import PluginError
from agentrt.services import discover_entry_points, discover_services

PLUGIN_PKG = Path(__file__).parent / "plugin_pkg"
SRC = Path(agentrt.services.__file__).resolve().parents[2]  # so a subprocess imports this agentrt


def env_with(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), str(SRC)])
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def test_a_pip_installed_plugin_is_discovered_and_its_service_starts(tmp_path: Path) -> None:
    # Built from a copy, so no build artefacts land in the repository.
    source = tmp_path / "plugin_pkg"
    shutil.copytree(
        PLUGIN_PKG, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
    )
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
            "--no-index", "--target", str(site), str(source),
        ],
        check=True,
        capture_output=True,
        env=env_with(),
        timeout=120,
    )  # fmt: skip
    script = textwrap.dedent(
        """
        import asyncio, json
        from agentrt.services import ServiceContainer, discover_entry_points, discover_services

        async def main():
            definitions = discover_services()
            kinds = discover_entry_points("agentrt.providers")
            container = ServiceContainer()
            for definition in definitions:
                container.register(definition)
            async with container:
                greeter = container.get(definitions[0].provides)
                health = await container.health()
                infos = container.info()
            print(json.dumps({
                "services": [
                    {"name": i.name, "origin": i.origin, "version": i.version, "state": i.state.value,
                     "provides": i.provides}
                    for i in infos
                ],
                "greeting": greeter.greet("tests"),
                "closed": greeter.closed,
                "health": {name: [r.healthy, r.detail] for name, r in health.items()},
                "kinds": {name: getattr(obj, "kind", None) for name, obj in kinds.items()},
            }))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env_with(site), timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["services"] == [
        {
            "name": "example_service",
            "origin": "plugin:agentrt-example-plugin",
            "version": "2.1",
            "state": "running",
            "provides": "agentrt_example_plugin.ExampleGreeter",
        }
    ]
    assert out["greeting"] == "hello, tests"
    assert out["closed"] is True
    assert out["health"] == {"example_service": [True, "plugin=example"]}
    assert out["kinds"] == {"example": "example"}


# --- fake distributions: a *.dist-info directory and a module, on sys.path -----------------


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path (in this process) where tests lay out fake distributions."""
    root = tmp_path / "site"
    root.mkdir()
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if module is not None and str(root) in str(getattr(module, "__file__", "") or ""):
            del sys.modules[name]


def fake_distribution(site: Path, dist: str, entry_points: dict[str, dict[str, str]], code: str) -> str:
    """Write distribution ``dist`` with one module (returned: its unique name) and entry points.

    ``{module}`` in the entry point values is replaced by the module name.
    """
    module = f"fake_plugin_{uuid.uuid4().hex[:12]}"
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {value.format(module=module)}" for name, value in points.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return module


SERVICES_CODE = """
    from collections.abc import AsyncIterator
    from agentrt.services import ServiceDefinition, service

    class Alpha: ...
    class Beta: ...

    @service(version="5")
    async def alpha() -> AsyncIterator[Alpha]:
        yield Alpha()

    async def beta_factory():
        yield Beta()

    def several():
        return [alpha, ServiceDefinition(name="beta", provides=Beta, factory=beta_factory)]

    def broken_factory():
        raise LookupError("no such backend")

    def not_iterable():
        return 42

    def wrong_items():
        return ["not a service"]

    NOT_A_SERVICE = 3
    """


def test_services_come_from_definitions_or_callables_with_the_distribution_as_origin(site: Path) -> None:
    fake_distribution(
        site,
        "acme-plugins",
        {"agentrt.services": {"one": "{module}:alpha", "many": "{module}:several"}},
        SERVICES_CODE,
    )
    found = [(d.name, d.version, d.origin) for d in discover_services()]
    # In the order entry_points.txt declares them: `one`, then what `many` returns.
    assert found == [
        ("alpha", "5", "plugin:acme-plugins"),
        ("alpha", "5", "plugin:acme-plugins"),
        ("beta", "0", "plugin:acme-plugins"),
    ]


def test_a_group_nobody_declares_gives_nothing(site: Path) -> None:
    assert discover_services("agentrt.tests.nobody") == []
    assert discover_entry_points("agentrt.tests.nobody") == {}


def test_an_entry_point_whose_module_raises_on_import_is_a_plugin_error(site: Path) -> None:
    fake_distribution(
        site,
        "broken-plugin",
        {"agentrt.services": {"explodes": "{module}:thing"}},
        "raise RuntimeError('boom at import')\n",
    )
    with pytest.raises(PluginError) as caught:
        discover_services()
    error = caught.value
    assert (error.group, error.name) == ("agentrt.services", "explodes")
    assert "'explodes'" in str(error)
    assert "broken-plugin" in str(error)
    assert "could not be loaded: RuntimeError: boom at import" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


def test_an_entry_point_naming_a_missing_attribute_is_a_plugin_error(site: Path) -> None:
    fake_distribution(site, "typo-plugin", {"agentrt.providers": {"kind": "{module}:Missing"}}, "X = 1\n")
    with pytest.raises(PluginError, match=r"'kind' .* of group 'agentrt.providers' .*AttributeError") as c:
        discover_entry_points("agentrt.providers")
    assert c.value.group == "agentrt.providers"


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("NOT_A_SERVICE", "names a int, not a service"),
        ("broken_factory", "raised when called: LookupError: no such backend"),
        ("not_iterable", "returned a int, not an iterable"),
        ("wrong_items", "does not give a service"),
    ],
)
def test_an_entry_point_that_gives_no_service_is_a_plugin_error(
    site: Path, target: str, problem: str
) -> None:
    fake_distribution(
        site, "odd-plugin", {"agentrt.services": {"odd": f"{{module}}:{target}"}}, SERVICES_CODE
    )
    with pytest.raises(PluginError, match=problem) as caught:
        discover_services()
    assert caught.value.name == "odd"


def test_entry_points_of_any_group_load_by_name(site: Path) -> None:
    module = fake_distribution(
        site,
        "kinds-plugin",
        {"agentrt.tests.kinds": {"alpha": "{module}:Alpha", "beta": "{module}:Beta"}},
        SERVICES_CODE,
    )
    loaded = discover_entry_points("agentrt.tests.kinds")
    assert sorted(loaded) == ["alpha", "beta"]
    assert loaded["alpha"] is sys.modules[module].Alpha


def test_one_name_declared_by_two_distributions_is_a_plugin_error(site: Path) -> None:
    group = {"agentrt.tests.kinds": {"same": "{module}:Alpha"}}
    fake_distribution(site, "first-plugin", group, SERVICES_CODE)
    fake_distribution(site, "second-plugin", group, SERVICES_CODE)
    with pytest.raises(PluginError, match="declared by two distributions") as caught:
        discover_entry_points("agentrt.tests.kinds")
    assert caught.value.name == "same"


def test_discovery_is_not_cached_across_calls(site: Path) -> None:
    assert discover_entry_points("agentrt.tests.late") == {}
    fake_distribution(site, "late-plugin", {"agentrt.tests.late": {"x": "{module}:Alpha"}}, SERVICES_CODE)
    assert list(discover_entry_points("agentrt.tests.late")) == ["x"]
