"""A separate client process of the Ray backend: ``python ray_client.py CONFIG_JSON PREFIX AGENT...``.

Opens a Runtime from the configuration (``agents_backend.kind: ray``, joining the
cluster with ``ray.init(address=...)``), then, on every agent named, tells
TELLS payloads ``{"id": "<prefix>-<agent>-t<n>"}`` and asks ASKS more. Prints one
JSON line: the ids acknowledged (tell returned) and the ask answers.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

TELLS = 20
ASKS = 5


async def main(config: dict[str, Any], prefix: str, agent_ids: list[str]) -> dict[str, Any]:
    from agentrt import Runtime

    acknowledged: list[str] = []
    answers: list[Any] = []
    async with Runtime.open(config) as rt:
        for agent_id in agent_ids:
            ids = [f"{prefix}-{agent_id}-t{n}" for n in range(TELLS)]
            await asyncio.gather(*(rt.agents.tell(agent_id, {"id": i}) for i in ids))
            acknowledged += ids
        for agent_id in agent_ids:
            for n in range(ASKS):
                answers.append(await rt.agents.ask(agent_id, {"id": f"{prefix}-{agent_id}-a{n}"}, timeout=30))
    return {"acknowledged": acknowledged, "answers": answers}


if __name__ == "__main__":
    result = asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3:]))
    print(json.dumps(result), flush=True)
