"""The offline quickstart: boot a runtime from agentrt.yaml, show what runs, shut down cleanly.

Run it with `make run` (or `python main.py` in this folder with agentrt installed).
"""

from __future__ import annotations

from pathlib import Path

from agentrt import Runtime

HERE = Path(__file__).parent


async def main(rt: Runtime) -> None:
    config = rt.config
    print(f"runtime {config.runtime.name!r} is up (config version {rt.config_version})")
    print(f"  providers: {', '.join(f'{n} ({p.kind})' for n, p in config.providers.items())}")
    print(f"  models:    {', '.join(config.models)}")
    print("  services:")
    for info in rt.services.info():
        deps = ", ".join(info.dependencies) or "-"
        print(f"    {info.name:<16} {info.state.value.lower():<8} v{info.version:<4} depends on: {deps}")
    health = await rt.services.health()
    unhealthy = [name for name, report in health.items() if not report.healthy]
    print(f"  health:    {'all healthy' if not unhealthy else 'unhealthy: ' + ', '.join(unhealthy)}")


if __name__ == "__main__":
    Runtime.run(main, HERE / "agentrt.yaml")
    print("shut down cleanly")
