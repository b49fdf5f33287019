"""A reload applies the cache's switch, TTL and sharing at once; a new backend waits for a restart."""

from __future__ import annotations

from pathlib import Path

from agentrt import Runtime

CONFIG = """\
logging: {{console: {{format: "off"}}}}
store: {{url: "sqlite:///{db}"}}
providers: {{offline: {{kind: local}}}}
models: {{small: {{provider: offline}}}}
cache: {{enabled: {enabled}, backend: {backend}}}
"""


def write(path: Path, *, enabled: bool, backend: str = "memory") -> None:
    text = CONFIG.format(db=path.parent / "agentrt.db", enabled=str(enabled).lower(), backend=backend)
    path.write_text(text, encoding="utf-8")


async def test_a_reload_turns_the_cache_on_and_names_a_new_backend_as_waiting(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    write(path, enabled=False)
    async with Runtime.open(path, plugins=False) as rt:
        await rt.generate("small", "hello")
        assert not (await rt.generate("small", "hello")).cached
        write(path, enabled=True, backend="redis://127.0.0.1:6399/0")
        result = await rt.reload()
        await rt.generate("small", "hello")
        again = await rt.generate("small", "hello")
    assert again.cached  # on at once, in the backend it started with
    assert "cache.backend" in result.restart_required
    assert "cache.enabled" not in result.restart_required


async def test_a_reload_resizes_a_memory_cache_at_once(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    write(path, enabled=True)
    async with Runtime.open(path, plugins=False) as rt:
        path.write_text(path.read_text(encoding="utf-8").replace("backend: memory", "backend: memory, max_bytes: 1KB"))
        result = await rt.reload()
        cache = rt.calls.cache
        assert cache is not None
        assert getattr(cache.backend, "max_bytes", None) == 1000
    assert result.restart_required == ()
