"""One process of the cross-process deployment-limit test: a runtime whose policy counts on a shared Redis.

Usage: ``python routing_worker.py <redis_url> <key_prefix> <store_path> <calls>``. Prints ``ready``, waits for
``go`` on stdin, makes ``calls`` calls to model ``m`` at once, and prints one JSON line: the calls each
deployment served, and the refusals by error type.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import Any

from agentrt import Runtime

RPM = {"a": 25, "b": 15}


def config(redis_url: str, prefix: str, store_path: str) -> dict[str, Any]:
    return {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{store_path}"},
        "providers": {"a": {"kind": "local"}, "b": {"kind": "local"}},
        "models": {
            "m": {
                "deployments": [
                    {"provider": "a", "name": "local-a", "rpm": RPM["a"]},
                    {"provider": "b", "name": "local-b", "rpm": RPM["b"]},
                ],
            }
        },
        "policies": {"backend": redis_url, "key_prefix": prefix},
    }


async def main(redis_url: str, prefix: str, store_path: str, calls: int) -> None:
    async with Runtime.open(config(redis_url, prefix, store_path), plugins=False) as rt:
        await rt.generate("m", "warm up", cache=False)  # imports and connections, before the race
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        results = await asyncio.gather(*(rt.generate("m", f"call {i}") for i in range(calls)), return_exceptions=True)
    served = Counter(r.deployment for r in results if not isinstance(r, BaseException))
    refused = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    print(json.dumps({"served": dict(served), "refused": dict(refused)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
