"""A caller's extra parameters (``ChatRequest.params``) checked before they reach the wire.

``params`` are merged into the request body so that a new provider feature works
without waiting for agentrt. Three rules keep that from breaking a call:

- **What agentrt controls stays agentrt's.** The model, the conversation
  (``messages``, ``contents``, ``system``, ...) and ``stream`` in ``params`` are
  refused (``ProviderBadRequest``): they would silently replace what the call
  says. The output cap, under any of its names (``max_tokens``,
  ``max_completion_tokens``, ``max_output_tokens``, ``maxOutputTokens``, and
  Gemini's ``generationConfig.maxOutputTokens``), may only *lower* the cap the
  call carries (a policy reserved that much): the smallest wins, it is sent once
  under the kind's own name, and a larger one is ignored with a warning.
- **One answer per call.** ``n`` (Gemini ``candidateCount``) above 1 is refused:
  a completion holds one choice, and streamed choices would interleave.
- **OpenAI-only parameters on the other kinds** (the gateway passes what OpenAI
  clients send) are translated where the API has an equivalent, and otherwise
  dropped with one warning line per provider and set of names; a combination
  the API refuses (Anthropic: a forced tool choice with extended thinking) is
  adjusted the same way. With the provider option ``drop_params: false`` a drop
  or an adjustment is a ``ProviderBadRequest`` instead (a 400 at the gateway).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from agentrt.errors import ConfigError, ConfigProblem, ParamsRefused

__all__ = ["CAP_NAMES", "CHAT_ONLY", "OPENAI_ONLY", "ParamGuard", "read_drop_params"]

CAP_NAMES = ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens")
"""The names an output cap goes by in params, whatever the kind."""

OPENAI_ONLY = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "metadata",
        "modalities",
        "moderation",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "store",
        "stream_options",
        "top_logprobs",
        "user",
        "verbosity",
        "web_search_options",
    }
)
"""Chat Completions parameters the Anthropic and Gemini APIs do not take as they are."""

CHAT_ONLY = frozenset(
    {
        *CAP_NAMES,
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "n",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "stop",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_logprobs",
        "top_p",
    }
)
"""Parameters of a chat answer, which an embeddings request does not take. A model's configured
``params`` (``temperature: 0.3``) serve its chat calls; its embeddings calls leave them out."""

_ADVICE = {
    "model": "choose the model by its configured name",
    "stream": "call stream() (rt.stream) for a stream and generate() for one answer",
}
_CONVERSATION_ADVICE = "pass the conversation, system prompt included, as the call's messages"

_log = structlog.get_logger("agentrt.providers")


def read_drop_params(provider: str, options: Mapping[str, Any]) -> bool:
    """The ``drop_params`` provider option (default true); ``ConfigError`` unless it is a bool."""
    value = options.get("drop_params", True)
    if not isinstance(value, bool):
        raise ConfigError(
            [
                ConfigProblem(
                    f"providers.{provider}.options.drop_params",
                    f"expected true (drop parameters the API does not take, with a warning) or false "
                    f"(refuse them), got {value!r}",
                )
            ]
        )
    return value


class ParamGuard:
    """The checks of one provider client; ``controlled`` names the body fields params may not set."""

    __slots__ = ("_controlled", "_drop", "_provider", "_warned")

    def __init__(self, provider: str, *, drop_params: bool, controlled: Iterable[str]) -> None:
        self._provider = provider
        self._drop = drop_params
        self._controlled = frozenset(controlled)
        self._warned: set[tuple[str, frozenset[str]]] = set()

    @property
    def provider(self) -> str:
        return self._provider

    def split(self, params: Mapping[str, Any], cap: int | None, *, model: str) -> tuple[dict[str, Any], int | None]:
        """A copy of ``params`` without the output cap and ``n``, and the cap to send.

        Raises ``ProviderBadRequest`` for a controlled field, ``n`` above 1, or a
        cap that is not a whole number.
        """
        if not params:  # the usual case: nothing to check
            return {}, cap
        rest = dict(params)
        refused = self._controlled.intersection(rest)
        if refused:
            key = min(refused)
            advice = _ADVICE.get(key, _CONVERSATION_ADVICE)
            raise self._bad_request(
                f"params[{key!r}] sets a field agentrt controls; {advice}, not through params", model, param=key
            )
        caps = {name: rest.pop(name) for name in CAP_NAMES if name in rest}
        self.check_n(rest.pop("n", None), "n", model)
        return rest, self.cap(cap, caps, model=model)

    def cap(self, cap: int | None, caps: Mapping[str, Any], *, model: str) -> int | None:
        """The output cap to send: the smallest of the call's ``cap`` and those found in params."""
        if not caps:
            return cap
        smallest = cap
        for name, value in caps.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise self._bad_request(
                    f"params[{name!r}] must be a whole number of tokens ≥ 1, got {value!r}", model, param=name
                )
            smallest = value if smallest is None else min(smallest, value)
        if cap is not None and smallest == cap and any(value > cap for value in caps.values()):
            self._warn_once("param_output_cap_ignored", frozenset(caps), model, cap=cap)
        return smallest

    def check_n(self, value: Any, name: str, model: str) -> None:
        """``n`` (or ``candidateCount``) may only ask for one answer."""
        if value is None or value == 1:
            return
        raise self._bad_request(
            f"params[{name!r}]={value!r} asks for several answers; agentrt returns one per call, "
            "so make one call per answer (concurrently if need be)",
            model,
            param=name,
        )

    def drop(
        self, params: dict[str, Any], names: Iterable[str], *, model: str, why: str = "", always: bool = False
    ) -> None:
        """Remove ``names`` from ``params`` (a warning), or refuse them when ``drop_params`` is false.

        ``always``: drop them even then (parameters meant for another kind of call).
        """
        dropped = frozenset(name for name in names if name in params)
        if not dropped:
            return
        if not self._drop and not always:
            listed = ", ".join(sorted(dropped))
            raise self._bad_request(
                f"the API does not take {listed}{why}; remove them",
                model,
                param=min(dropped),
                advice=f", or set providers.{self._provider}.options.drop_params: true to drop them with a warning",
            )
        for name in dropped:
            del params[name]
        self._warn_once("params_dropped", dropped, model)

    def relax(self, name: str, what: str, *, model: str) -> None:
        """Accept that the API's rules change what the caller asked for ``name`` (a warning), or refuse
        it when ``drop_params`` is false. ``what`` says what is refused and what is sent instead."""
        if not self._drop:
            raise self._bad_request(
                f"{what}; change the request",
                model,
                param=name,
                advice=f", or set providers.{self._provider}.options.drop_params: true to let agentrt adjust it "
                "with a warning",
            )
        self._warn_once("param_adjusted", frozenset({name}), model, reason=what)

    def _warn_once(self, event: str, names: frozenset[str], model: str, **fields: Any) -> None:
        # Once per provider and set of names: a client that always sends them must not flood the log.
        key = (event, names)
        if key in self._warned:
            return
        self._warned.add(key)
        _log.warning(event, provider=self._provider, model=model, params=sorted(names), **fields)

    def refuse(self, what: str, model: str, *, param: str) -> ParamsRefused:
        """The error for a request the API would refuse and agentrt cannot adjust: ``what`` says why."""
        return self._bad_request(what, model, param=param)

    def _bad_request(self, what: str, model: str, *, param: str | None = None, advice: str = "") -> ParamsRefused:
        # The client of a gateway gets `what` alone; `advice` names configuration, for the operator.
        return ParamsRefused(
            f"{self._provider}: model {model!r}: {what}{advice}",
            client_message=f"model {model!r}: {what}",
            param=param,
            provider=self._provider,
            model=model,
        )
