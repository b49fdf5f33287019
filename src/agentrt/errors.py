"""The one exception hierarchy of agentrt.

Every error a user can meet has a class here, a message that says what to do,
and the context needed to act on it (which service, which model, which agent).
No error ever carries a secret: messages are built from names and paths, never
from values that came from a secret field or an ``Authorization`` header.

::

    AgentRTError
    ├── ConfigError                 the configuration is invalid (all problems at once)
    ├── RuntimeStateError           a runtime or resource used in the wrong state
    │   └── NoRuntimeError          Runtime.current() with no runtime open
    ├── ServiceError                the service container
    │   ├── ServiceGraphError       missing dependency or cycle, raised before any start
    │   ├── ServiceNotFound         no service registered for a type
    │   ├── ServiceStartError       a service failed to start (the started ones were stopped)
    │   └── ServiceStopError        one or more services failed to stop (every failure listed)
    ├── PluginError                 an entry point could not be loaded
    ├── StoreError                  the store's database refused a statement, stayed locked or is unreachable
    ├── ModelError                  a request the catalog refuses before any network call
    │   ├── UnknownModel            no model or alias of that name
    │   └── CapabilityError         the model cannot serve the request (a capability, max output, context)
    ├── OutputValidationError       generate_object: the model's output never validated
    ├── PromptError                 an unknown prompt, or a template that failed as it rendered
    │   └── PromptInputError        an input of a prompt is missing, unknown or of the wrong type
    ├── ToolError                   a tool is misdeclared, or the tool loop ran out of steps
    │   └── ToolArgumentsError      the arguments given to a tool did not validate (each problem listed)
    ├── ProviderError               a call to a model provider failed
    │   ├── CallFailed              every attempt of every candidate model failed (lists them)
    │   ├── CircuitOpen             the provider's breaker is open; no request was sent
    │   ├── ProviderRateLimited     429; retry_after in seconds when the provider said
    │   ├── ProviderQuotaExceeded   the account's quota or credit is used up (billing); not retried
    │   ├── ProviderTimeout         no answer within the timeout
    │   ├── ProviderUnavailable     5xx, connection refused or dropped
    │   ├── ProviderAuthError       401 / 403: the key is wrong or lacks access
    │   ├── UnknownProvider         no provider of that name is configured
    │   └── ProviderBadRequest      400: the request was refused as invalid
    │       ├── ContextLengthExceeded   the input does not fit the model's context window
    │       └── ParamsRefused       agentrt refused a parameter before sending (names it, says why)
    ├── PolicyError                 the policy refused a call before it reached a provider
    │   ├── PolicyDenied            a rule denied it (names the rule and its reason)
    │   ├── RateLimitExceeded       a rate limit would be exceeded (retry_after)
    │   └── BudgetExceeded          a token or cost budget would be exceeded (resets_at)
    └── AgentError                  the agent runtime
        ├── AgentNotFound           no agent with that id
        ├── AgentTerminated         the agent was terminated
        ├── AgentTimeout            an ask got no answer in time (also a TimeoutError)
        └── MailboxFull             the mailbox is full and configured to reject
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "AgentError",
    "AgentNotFound",
    "AgentRTError",
    "AgentTerminated",
    "AgentTimeout",
    "BudgetExceeded",
    "CallFailed",
    "CapabilityError",
    "CircuitOpen",
    "ConfigError",
    "ConfigProblem",
    "ContextLengthExceeded",
    "MailboxFull",
    "ModelError",
    "NoRuntimeError",
    "OutputValidationError",
    "ParamsRefused",
    "PluginError",
    "PolicyDenied",
    "PolicyError",
    "PromptError",
    "PromptInputError",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderQuotaExceeded",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimitExceeded",
    "RuntimeStateError",
    "ServiceError",
    "ServiceGraphError",
    "ServiceNotFound",
    "ServiceStartError",
    "ServiceStopError",
    "StoreError",
    "ToolArgumentsError",
    "ToolError",
    "UnknownModel",
    "UnknownProvider",
]


class AgentRTError(Exception):
    """Root of every error agentrt raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- configuration -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a configuration.

    ``path`` is dotted (``providers.openai.timeout``); ``source`` is ``file:line``
    when the value came from a file, else a short origin such as
    ``env AGENTRT__LOGGING__LEVEL`` or ``None``.
    """

    path: str
    message: str
    source: str | None = None

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        location = self.path or "<root>"
        return f"{location}: {self.message}{where}"


class ConfigError(AgentRTError):
    """The configuration is invalid. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[ConfigProblem], *, source: str | None = None) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        self.source = source
        count = len(self.problems)
        head = f"invalid configuration{f' in {source}' if source else ''}: "
        head += f"{count} problem{'s' if count != 1 else ''}"
        lines = [head, *(f"  - {p}" for p in self.problems)]
        super().__init__("\n".join(lines))


# --- runtime and resources ---------------------------------------------------


class RuntimeStateError(AgentRTError):
    """A runtime, service or resource was used in a state that does not allow it."""


class NoRuntimeError(RuntimeStateError):
    """``Runtime.current()`` was called where no runtime is open."""

    def __init__(self) -> None:
        super().__init__(
            "no agentrt runtime is open in this context: "
            "call this inside `async with Runtime.open(...)` or `Runtime.run(...)`"
        )


# --- services ----------------------------------------------------------------


class ServiceError(AgentRTError):
    """Base for errors of the service container."""

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service


class ServiceGraphError(ServiceError):
    """The service graph cannot start: a dependency is missing or services depend on each other in a cycle.

    ``chain`` names the services involved, in order.
    """

    def __init__(self, message: str, *, chain: Sequence[str] = ()) -> None:
        super().__init__(message, service=chain[0] if chain else None)
        self.chain = tuple(chain)


class ServiceNotFound(ServiceError, LookupError):
    """No service is registered for the requested type."""


class ServiceStartError(ServiceError):
    """A service failed to start; every service started before it was stopped again."""


class ServiceStopError(ServiceError):
    """One or more services failed to stop. ``failures`` maps each service name to its error."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = dict(failures)
        details = "; ".join(f"{name}: {type(err).__name__}: {err}" for name, err in self.failures.items())
        super().__init__(f"{len(self.failures)} service(s) failed to stop cleanly: {details}")


class PluginError(AgentRTError):
    """An entry-point plugin could not be loaded or is not what its group expects."""

    def __init__(self, message: str, *, group: str, name: str) -> None:
        super().__init__(message)
        self.group = group
        self.name = name


class StoreError(AgentRTError):
    """A statement on the store (SQLite or PostgreSQL) failed.

    ``dialect`` is ``sqlite`` or ``postgresql``; ``retryable`` is true when the
    same work may succeed if tried again (a lock held too long, a serialization
    failure or deadlock, a lost connection). The driver's own exception is the
    ``__cause__``. Messages name the store by its URL with the password masked.
    """

    def __init__(self, message: str, *, dialect: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.dialect = dialect
        self.retryable = retryable


# --- models, tools and outputs -------------------------------------------------


class ModelError(AgentRTError):
    """The model catalog refused a request before any network call."""

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


class UnknownModel(ModelError, LookupError):
    """No model or alias of that name is configured."""


class CapabilityError(ModelError):
    """The model cannot serve the request. ``capability`` says why.

    A missing capability (``chat``, ``tools``, ``json``, ``vision``, ``streaming``,
    ``embeddings``), more output than the model writes (``max_output_tokens``), or
    a request larger than its context window (``context``).
    """

    def __init__(self, message: str, *, model: str, capability: str) -> None:
        super().__init__(message, model=model)
        self.capability = capability


class OutputValidationError(AgentRTError):
    """``generate_object``: the model's output did not validate, also after the allowed re-asks.

    ``errors`` holds the last validation error text; ``output`` the last raw output.
    """

    def __init__(self, message: str, *, model: str, errors: str, output: str) -> None:
        super().__init__(message)
        self.model = model
        self.errors = errors
        self.output = output


class PromptError(AgentRTError):
    """Prompt ``prompt`` is not configured, or its template failed as it rendered (the message says where)."""

    def __init__(self, message: str, *, prompt: str) -> None:
        super().__init__(message)
        self.prompt = prompt


class PromptInputError(PromptError):
    """Input ``input`` of prompt ``prompt`` is missing, not declared, or not of its declared type.

    The message names the input and the type wanted, never the value given.
    """

    def __init__(self, message: str, *, prompt: str, input: str) -> None:
        super().__init__(message, prompt=prompt)
        self.input = input


class ToolError(AgentRTError):
    """A tool is misdeclared, or the tool loop reached ``max_steps`` without a final answer."""


class ToolArgumentsError(ToolError):
    """The arguments given to tool ``tool`` did not validate against its signature.

    ``problems`` lists each one as ``"argument: what is wrong"``, without the
    values given, so the text can go back to the model for another try.
    """

    def __init__(self, message: str, *, tool: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.tool = tool
        self.problems = tuple(problems)


# --- providers ---------------------------------------------------------------


class ProviderError(AgentRTError):
    """A call to a model provider failed."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status
        # Every try of the call this error ended, when it ended one (see agentrt.resilience.plan).
        self.attempts: list[Any] = []


class CallFailed(ProviderError):
    """Every attempt failed. ``attempts`` lists each (model, provider, error); the last error is the cause."""

    def __init__(self, message: str, *, attempts: Sequence[object], model: str | None = None) -> None:
        super().__init__(message, model=model)
        self.attempts = list(attempts)


class CircuitOpen(ProviderError):
    """The provider's circuit breaker is open after repeated failures; no request was sent.

    ``retry_after`` is when the breaker lets a trial request through.
    """

    retryable = True

    def __init__(self, message: str, *, provider: str, retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class ProviderRateLimited(ProviderError):
    """The provider answered 429. ``retry_after`` (seconds) is what it asked us to wait, if it said."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model, status=status)
        self.retry_after = retry_after


class ProviderQuotaExceeded(ProviderError):
    """The account's quota or credit is used up (OpenAI's 429 ``insufficient_quota``, Anthropic's "credit
    balance is too low"): a billing matter, so retrying the same provider cannot help."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the configured timeout."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """The provider failed on its side (5xx) or the connection failed or dropped."""

    retryable = True


class ProviderAuthError(ProviderError):
    """The provider refused the credentials (401) or their access (403): check the API key."""


class UnknownProvider(ProviderError, LookupError):
    """No provider of that name is configured (``providers:`` in the configuration)."""


class ProviderBadRequest(ProviderError):
    """The provider refused the request as invalid (400)."""


class ContextLengthExceeded(ProviderBadRequest):
    """The input does not fit the model's context window."""


class ParamsRefused(ProviderBadRequest):
    """agentrt refused a parameter of the request before sending it, as the provider would have.

    ``param`` names it; ``client_message`` says what is wrong in words fit for the
    caller of a gateway (no configuration paths), where the message may add how the
    operator can change agentrt's behaviour.
    """

    def __init__(
        self,
        message: str,
        *,
        client_message: str,
        param: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model, status=400)
        self.client_message = client_message
        self.param = param


# --- policy ------------------------------------------------------------------


class PolicyError(AgentRTError):
    """The policy refused a call before it reached a provider."""


class PolicyDenied(PolicyError):
    """A rule denied the call. ``rule`` and ``reason`` come from the configuration."""

    def __init__(self, message: str, *, rule: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.reason = reason


class RateLimitExceeded(PolicyError):
    """A rate limit would be exceeded. ``retry_after`` is when the window lets the call through."""

    def __init__(self, message: str, *, scope: str, limit: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.limit = limit
        self.retry_after = retry_after


class BudgetExceeded(PolicyError):
    """A token or cost budget would be exceeded. ``resets_at`` is when the period ends (None: never)."""

    def __init__(
        self, message: str, *, scope: str, budget: str, resets_at: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.scope = scope
        self.budget = budget
        self.resets_at = resets_at


# --- agents ------------------------------------------------------------------


class AgentError(AgentRTError):
    """Base for errors of the agent runtime."""

    def __init__(self, message: str, *, agent: str | None = None) -> None:
        super().__init__(message)
        self.agent = agent


class AgentNotFound(AgentError, LookupError):
    """No agent with that id is running."""


class AgentTerminated(AgentError):
    """The agent was terminated and takes no more activities."""


class AgentTimeout(AgentError, TimeoutError):
    """An ``ask`` got no answer within its ``timeout``; the activity stays queued and is still processed."""

    def __init__(self, message: str, *, agent: str | None = None, timeout: float | None = None) -> None:
        super().__init__(message, agent=agent)
        self.timeout = timeout


class MailboxFull(AgentError):
    """The agent's mailbox is full and its configuration says to reject rather than wait."""
