"""``agentrt policy check``: which rule, rate limits and budgets apply to a call, and how much is left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrt.cli._common import (
    ConfigOption,
    EnvOption,
    fail,
    load,
    logging_to_stderr,
    reported_errors,
    run_async,
    stdout,
)

if TYPE_CHECKING:
    from agentrt.calls.principal import Principal
    from agentrt.config import Config
    from agentrt.models import ModelSpec
    from agentrt.policy import Explanation

app = typer.Typer(help="The usage policies: rules, rate limits, budgets.", no_args_is_help=True, rich_markup_mode=None)

OPERATIONS = ("generate", "stream", "embed", "object")


@app.command("check")
def check(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="A configured model name or alias.", show_default=False)
    ] = None,
    tool: Annotated[
        str | None, typer.Option("--tool", help="A tool call, not a model call: toolkit.tool.", show_default=False)
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="The user the call is for.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="The user's tenant.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="The API key's configured name.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag of the principal (repeatable).")] = None,
    operation: Annotated[
        str, typer.Option("--operation", "-o", help="generate, stream, embed or object.")
    ] = "generate",
    config: ConfigOption = None,
    env: EnvOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Explain what the policy would do with a call: the rule that decides (and why), the rate limits
    and budgets that apply with their current usage and headroom, and when budgets reset.

    Reads the counters of the configured backend and changes none. Exits 1 when the call would be
    refused (a rule, no rpm or budget left, or a cost budget on a model without a price)."""
    if (model is None) == (tool is None):
        fail("name the call to check: --model NAME for a model call, or --tool toolkit.tool for a tool call")
    if operation not in OPERATIONS:
        fail(f"--operation {operation!r} is not one of: {', '.join(OPERATIONS)}")
    from agentrt.calls.principal import Principal
    from agentrt.models import ModelCatalog

    with reported_errors():
        loaded = load(config, env)
        spec = None if model is None else ModelCatalog(loaded.config.models, loaded.config.providers).resolve(model)
        principal = Principal(user, tenant, api_key, tuple(tag or ()))
        with logging_to_stderr(loaded.config):
            explanation, counting = run_async(_explain(loaded.config, principal, spec or tool or "", operation))
    refused = _refused(explanation)
    if json_output:
        import json

        typer.echo(json.dumps({**explanation.as_dict(), "refused": refused, "counting": counting}, indent=2))
    else:
        _print(explanation, counting, refused)
    if refused:
        raise typer.Exit(1)



async def _explain(
    config: Config, principal: Principal, spec: ModelSpec | str, operation: str
) -> tuple[Explanation, str]:
    """The explanation (of a tool call when ``spec`` is a tool's full name), and a sentence on whose counts
    it read."""
    from agentrt.policy import PolicyBackend, PolicyEngine
    from agentrt.policy.backends import MemoryBackend
    from agentrt.policy.service import open_backend

    section = config.policies
    store: Any = None
    backend: PolicyBackend
    if section.backend == "memory":
        counting = "memory backend: each process counts for itself, so this check sees no usage"
        backend = MemoryBackend()
    elif section.backend == "sqlite" and _no_database_yet(config):
        counting = f"sqlite backend: the store {config.store.url} has no database yet, so nothing was counted"
        backend = MemoryBackend()
    else:
        if section.backend == "sqlite":
            from agentrt.store import open_store

            store = open_store(config.store.url)
            await store.open()
            counting = f"sqlite backend: the counts of every process using the store {store.url_for_logs}"
        else:
            counting = "redis backend: the counts shared by every process and machine using it"
        backend = open_backend(section, store)
    try:
        async with PolicyEngine(section, backend) as engine:
            if isinstance(spec, str):
                return await engine.explain_tool(principal, spec), counting
            return await engine.explain(principal, spec, operation), counting
    finally:
        if store is not None:
            await store.close()


def _no_database_yet(config: Config) -> bool:
    path = config.store.sqlite_path
    return path is not None and not Path(path).exists()


def _refused(explanation: Explanation) -> bool:
    return (
        not explanation.allowed
        or bool(explanation.notes)
        or any(limit.requests_left == 0 for limit in explanation.limits)
        or any(b.remaining_tokens == 0 or b.remaining_cost == 0 for b in explanation.budgets)
    )


def _print(explanation: Explanation, counting: str, refused: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = stdout()
    who = ", ".join(
        f"{label} {value}"
        for label, value in (
            ("user", explanation.user),
            ("tenant", explanation.tenant),
            ("api key", explanation.api_key),
        )
        if value is not None
    )
    what = (
        f"tool call {explanation.model}"
        if explanation.operation == "tool"
        else f"{explanation.operation} on model {explanation.model} (provider {explanation.provider})"
    )
    out.print(escape(f"{what} for {who or 'an anonymous caller'}"))
    if explanation.rule is not None:
        decided = f"rule '{explanation.rule}'"
    else:
        decided = f"policies.default ({explanation.default}; no rule matched)"
    verdict = "allowed" if explanation.allowed else "denied"
    reason = f": {explanation.reason}" if explanation.reason else ""
    out.print(f"rules: {verdict} by {escape(decided + reason)}")
    if explanation.approval_required:
        out.print("approval: required (each call waits for rt.tools.approve or POST /v1/approvals/{id})")
    for trace in explanation.rules:
        mark = "->" if trace.matched else "  "
        out.print(escape(f"  {mark} {trace.name} ({trace.effect}): {trace.detail}"))
    caps = [
        f"{name}={value}"
        for name, value in (
            ("max_input_tokens", explanation.max_input_tokens),
            ("max_output_tokens", explanation.max_output_tokens),
        )
        if value is not None
    ]
    out.print(f"per-request caps: {', '.join(caps) or 'none'}")
    if explanation.limits:
        table = Table(title="rate limits (sliding 60 s window)", title_justify="left")
        for column in ("limit", "counts for", "requests", "tokens", "requests left", "tokens left", "next request"):
            table.add_column(column)
        for limit in explanation.limits:
            table.add_row(
                escape(limit.limit),
                escape(limit.scope_key),
                f"{limit.requests}" + (f"/{limit.rpm}" if limit.rpm is not None else ""),
                f"{limit.tokens}" + (f"/{limit.tpm}" if limit.tpm is not None else ""),
                "-" if limit.requests_left is None else str(limit.requests_left),
                "-" if limit.tokens_left is None else str(limit.tokens_left),
                "now" if limit.next_request_in == 0 else f"in {limit.next_request_in:.1f}s",
            )
        out.print(table)
    else:
        out.print("rate limits: none apply")
    if explanation.budgets:
        table = Table(title="budgets", title_justify="left")
        for column in ("budget", "counts for", "used", "reserved", "remaining", "resets at"):
            table.add_column(column)
        for budget in explanation.budgets:
            table.add_row(
                escape(budget.budget),
                escape(budget.scope_key),
                _amounts(budget.used_tokens, budget.used_cost),
                _amounts(budget.reserved_tokens, budget.reserved_cost),
                _remaining(budget.remaining_tokens, budget.remaining_cost),
                budget.resets_at.isoformat() if budget.resets_at else "never",
            )
        out.print(table)
    else:
        out.print("budgets: none apply")
    out.print(escape(f"counts: {counting}"))
    for note in explanation.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", markup=True)
    out.print("[red]refused[/]" if refused else "[green]would be admitted[/]", markup=True)


def _amounts(tokens: int, cost: float) -> str:
    return f"{tokens} tokens, ${cost:.6f}"


def _remaining(tokens: int | None, cost: float | None) -> str:
    parts = []
    if tokens is not None:
        parts.append(f"{tokens} tokens")
    if cost is not None:
        parts.append(f"${cost:.6f}")
    return ", ".join(parts)
