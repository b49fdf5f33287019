"""``agentrt generate MODEL PROMPT`` and ``agentrt chat MODEL``: model calls from the shell.

Both go through the runtime, so the configured policies, fallbacks and logs apply.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrt.cli._common import ConfigOption, EnvOption, reported_errors, run_async, stderr

if TYPE_CHECKING:
    from agentrt.runtime import Runtime
    from agentrt.types import Completion, Message

UserOption = Annotated[str | None, typer.Option("--user", "-u", help="Whom the call is for (policies apply).")]
TenantOption = Annotated[str | None, typer.Option("--tenant", "-t", help="The user's tenant (policies apply).")]
SystemOption = Annotated[str | None, typer.Option("--system", "-s", help="A system prompt.")]


def generate(
    model: Annotated[str, typer.Argument(help="A model name or alias from the configuration.")],
    prompt: Annotated[str, typer.Argument(help="The prompt; '-' reads it from standard input.")],
    system: SystemOption = None,
    user: UserOption = None,
    tenant: TenantOption = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print the answer as it arrives.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the whole completion as JSON.")] = False,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Ask a model once and print its answer (usage and cost go to standard error)."""
    text = sys.stdin.read() if prompt == "-" else prompt
    with reported_errors():
        completion = run_async(_generate(config, env, model, text, system, user, tenant, stream and not json_output))
    if json_output:
        import orjson

        typer.echo(orjson.dumps(_as_json(completion), option=orjson.OPT_INDENT_2).decode())
    else:
        if not stream:
            typer.echo(completion.text)
        _summary(completion)


async def _generate(
    config: Path | None,
    env: str | None,
    model: str,
    prompt: str,
    system: str | None,
    user: str | None,
    tenant: str | None,
    stream: bool,
) -> Completion:
    from agentrt.runtime import Runtime

    async with Runtime.open(config, env=env, environ=_quiet_console()) as rt:
        options: dict[str, Any] = {"system": system, "user": user, "tenant": tenant}
        if not stream:
            return await rt.generate(model, prompt, **options)
        return await _print_stream(rt, model, prompt, options)


async def _print_stream(rt: Runtime, model: str, prompt: str | list[Message], options: dict[str, Any]) -> Completion:
    from agentrt.types import Completed, TextDelta

    completion = None
    async for event in rt.stream(model, prompt, **options):
        if isinstance(event, TextDelta):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Completed):
            completion = event.completion
    sys.stdout.write("\n")
    assert completion is not None
    return completion


def chat(
    model: Annotated[str, typer.Argument(help="A model name or alias from the configuration.")],
    system: SystemOption = None,
    user: UserOption = None,
    tenant: TenantOption = None,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """A conversation with a model in the terminal, streamed; an empty line or Ctrl-D ends it."""
    with reported_errors():
        run_async(_chat(config, env, model, system, user, tenant))


async def _chat(
    config: Path | None, env: str | None, model: str, system: str | None, user: str | None, tenant: str | None
) -> None:
    import asyncio

    from agentrt.errors import AgentRTError
    from agentrt.runtime import Runtime
    from agentrt.types import Message

    async with Runtime.open(config, env=env, environ=_quiet_console()) as rt:
        history: list[Message] = [Message.system(system)] if system else []
        stderr().print(f"chatting with {model}; an empty line or Ctrl-D ends the conversation", style="dim")
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if not line.strip():
                break
            history.append(Message.user(line))
            sys.stdout.write(f"{model}> ")
            try:
                completion = await _print_stream(rt, model, list(history), {"user": user, "tenant": tenant})
            except AgentRTError as err:  # one failed turn does not end the conversation
                history.pop()
                stderr().print(f"error: {err}", style="red", markup=False)
                continue
            history.append(Message.assistant(completion.text))
            _summary(completion)


def _quiet_console() -> dict[str, str]:
    # The answer owns the terminal: log lines would interleave with it. The log file still gets
    # them, and failures are reported as errors.
    return {**os.environ, "AGENTRT__LOGGING__CONSOLE__FORMAT": "off"}


def _summary(completion: Completion) -> None:
    usage = completion.usage
    cost = "unknown cost" if completion.cost is None else f"${completion.cost:.6f}"
    fallback = f", {len(completion.attempts)} attempts" if len(completion.attempts) > 1 else ""
    stderr().print(
        f"[{completion.model} via {completion.provider}: {usage.input_tokens} in / {usage.output_tokens} out, "
        f"{cost}, {completion.latency * 1000:.0f} ms{fallback}]",
        style="dim",
        markup=False,
    )


def _as_json(completion: Completion) -> dict[str, Any]:
    return {
        "text": completion.text,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls],
        "finish_reason": completion.finish_reason,
        "usage": {
            "input_tokens": completion.usage.input_tokens,
            "output_tokens": completion.usage.output_tokens,
            "cached_tokens": completion.usage.cached_tokens,
        },
        "cost": completion.cost,
        "model": completion.model,
        "provider": completion.provider,
        "latency": completion.latency,
        "attempts": [
            {"model": a.model, "provider": a.provider, "latency": a.latency, "error": a.error}
            for a in completion.attempts
        ],
    }
