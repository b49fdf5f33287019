"""Runtime.run picks uvloop when installed, and the standard loop when AGENTRT_LOOP=asyncio."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import asyncio
from agentrt import Runtime

async def main(rt):
    return type(asyncio.get_running_loop()).__module__

print(Runtime.run(main, {"logging": {"console": {"format": "off"}}}))
"""


def loop_module(setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRT")}
    if setting is not None:
        env["AGENTRT_LOOP"] = setting
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_uvloop_by_default_and_the_standard_loop_on_request() -> None:
    assert loop_module(None).startswith("uvloop")
    assert loop_module("asyncio").startswith("asyncio")
