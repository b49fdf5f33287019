"""The offline quickstart: boot a runtime from agentrt.yaml, make model calls, shut down cleanly.

Everything runs on the `local` provider: no keys, no network. Run it with
`make run` (or `python main.py` in this folder with agentrt installed).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from orders import run_orders_demo
from pydantic import BaseModel
from triage import run_demo

from agentrt import Runtime
from agentrt.tools import tool
from agentrt.types import Completed, TextDelta

HERE = Path(__file__).parent


class Ticket(BaseModel):
    subject: str
    priority: int
    customer: str


@tool
def get_weather(city: str) -> dict[str, str]:
    """Today's weather in a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "sky": "sunny", "temperature": "21C"}


async def main(rt: Runtime) -> None:
    started = time.time()
    config = rt.config
    print(f"runtime {config.runtime.name!r} is up (config version {rt.config_version})")
    print("services:", ", ".join(f"{i.name} ({i.state.value.lower()})" for i in rt.services.info()))

    print("\n1. a plain call")
    c = await rt.generate("default", "Hello, agentrt!", user="alice", tenant="acme")
    tokens = f"{c.usage.input_tokens}+{c.usage.output_tokens} tokens"
    print(f"   {c.text!r}  [{c.model} via {c.provider}, {tokens}, ${c.cost:.8f}]")

    print("2. a streamed call")
    print("   ", end="")
    async for event in rt.stream("default", "streams arrive word by word", user="alice"):
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, Completed):
            print(f"  [{event.completion.usage.output_tokens} tokens]")

    print("3. a tool call: the model asks, the tool runs, the model answers")
    c = await rt.generate("default", "What's the weather like?", tools=[get_weather], user="alice")
    print(f"   {c.text!r}  [{len(c.messages)} messages, {len(c.attempts)} model calls]")

    print("4. structured output, validated")
    ticket = await rt.generate_object("default", "File a ticket for my broken printer", schema=Ticket, user="bob")
    print(f"   {ticket!r}")

    print("5. embeddings")
    vectors = await rt.embed("default", ["printer", "invoice"], user="bob")
    print(f"   {len(vectors.vectors)} vectors of {len(vectors.vectors[0])} dimensions")

    print("\n6. agents: a triage desk hands tickets to specialists by priority")
    await run_demo(rt)

    print("\n7. an agent with an MCP server's tools, one of which waits for a person's approval")
    await run_orders_demo(rt)

    print("\n8. what it all cost, from the usage ledger")
    await print_usage(rt, since=started)


async def print_usage(rt: Runtime, *, since: float) -> None:
    from agentrt.store import UsageLedger

    ledger = rt.services.get(UsageLedger)
    await ledger.flush()
    for row in await ledger.query(by="user", since=since):
        cost = "unknown" if row.cost is None else f"${row.cost:.8f}"
        tokens = f"{row.input_tokens:>5} in  {row.output_tokens:>5} out"
        print(f"   {row.key or '-':<12} {row.calls:>3} calls  {tokens}  {cost}")


if __name__ == "__main__":
    os.environ.setdefault("QUICKSTART_PYTHON", sys.executable)  # the orders MCP server runs on this interpreter
    Runtime.run(main, HERE / "agentrt.yaml")
    print("\nshut down cleanly; the log is in examples/quickstart/logs/agentrt.jsonl (try `agentrt logs`)")
