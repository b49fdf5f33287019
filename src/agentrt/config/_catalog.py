"""The sections that declare providers and models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from agentrt.config._types import Duration, Section

__all__ = [
    "BUILTIN_PROVIDER_KINDS",
    "PROVIDER_SECRET_FIELDS",
    "BreakerSection",
    "Capability",
    "ModelSection",
    "PricingSection",
    "ProviderSection",
    "RetrySection",
]

BUILTIN_PROVIDER_KINDS = ("openai", "anthropic", "google", "local", "azure", "bedrock", "vertex", "ollama")
# A provider's fields that hold credentials: masked in `config show`, blanked out of logs.
PROVIDER_SECRET_FIELDS = ("api_key", "ad_token", "aws_access_key_id", "aws_secret_access_key", "aws_session_token")

Capability = Literal["chat", "tools", "json", "vision", "streaming", "embeddings"]

_KIND = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _kind(value: str) -> str:
    if not _KIND.match(value):
        raise ValueError(
            f"expected a provider kind such as {', '.join(BUILTIN_PROVIDER_KINDS)} "
            "or the name a plugin registered (letters, digits, _ . -)"
        )
    return value


class RetrySection(Section):
    """Retries of failed provider calls: exponential backoff from ``backoff`` up to ``max_backoff``."""

    attempts: int = Field(default=3, ge=1)
    """Total attempts, the first one included."""
    backoff: Duration = 0.5
    max_backoff: Duration = 20.0

    @model_validator(mode="after")
    def _check_backoff(self) -> RetrySection:
        if self.max_backoff < self.backoff:
            raise ValueError("max_backoff is smaller than backoff: raise max_backoff or lower backoff")
        return self


class BreakerSection(Section):
    """The circuit breaker of a provider: open after ``failures`` in a row, try again after ``cooldown``.

    ``failures: 0`` turns the breaker off (it never opens).
    """

    failures: int = Field(default=5, ge=0)
    cooldown: Duration = 30.0


class ProviderSection(Section):
    """A provider endpoint: its kind, credentials and how calls to it are protected."""

    kind: Annotated[str, AfterValidator(_kind), Field(json_schema_extra={"pattern": _KIND.pattern})]
    """``openai`` (or any OpenAI-compatible endpoint), ``anthropic``, ``google``, ``local``, ``azure``,
    ``bedrock``, ``vertex``, ``ollama``, a plugin's."""
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout: Duration = Field(default=60.0, gt=0)
    """Bounds each try of a plain call, and the silence between two events of a stream."""
    max_concurrency: int = Field(default=64, ge=1)
    retry: RetrySection = Field(default_factory=RetrySection)
    breaker: BreakerSection = Field(default_factory=BreakerSection)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra HTTP headers; treated as secrets because they often carry credentials."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific settings, e.g. the scripts of the ``local`` provider."""
    preset: str | None = None
    """``kind: openai`` only: an OpenAI-compatible service (groq, deepseek, ...) whose base_url and key
    variable (e.g. GROQ_API_KEY) are used when ``base_url`` / ``api_key`` are not given."""
    region: str | None = None
    """``bedrock``: the AWS region (else AWS_REGION); ``vertex``: the Google Cloud location."""
    ad_token: SecretStr | None = None
    """``azure``: a Microsoft Entra ID token, sent as a bearer token instead of the ``api-key`` header."""
    aws_access_key_id: SecretStr | None = None
    """``bedrock``: AWS credentials (else the standard AWS_* environment variables)."""
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "${" in value:
            return value
        kind = info.data.get("kind")
        problem = _base_url_problem(value, http_only=kind in BUILTIN_PROVIDER_KINDS)
        if problem:
            raise ValueError(problem)
        if kind == "openai" and info.data.get("api_key") is not None and _has_credentials(value):
            raise ValueError(
                "base_url carries credentials (user:password@), which are sent as an Authorization header, "
                "and api_key is sent as one too: keep only one of them"
            )
        return value


    @model_validator(mode="after")
    def _one_authorization(self) -> ProviderSection:
        # aiohttp refuses a request that has both (a ValueError with a traceback at the first call).
        url = self.base_url
        authorization = any(name.lower() == "authorization" for name in self.headers)
        if authorization and url and "${" not in url and _has_credentials(url):
            raise ValueError(
                "base_url carries credentials (user:password@), which are sent as an Authorization header, "
                "and headers has an Authorization header too: keep only one of them"
            )
        return self


def _base_url_problem(url: str, *, http_only: bool) -> str | None:
    """What is wrong with a provider's base_url, in words that never repeat the URL (it may hold a password)."""
    from urllib.parse import urlsplit

    example = "write it like https://api.example.com/v1"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"base_url is not a valid URL: {example}"
    if not parts.scheme or not parts.netloc:
        return f"base_url needs a scheme and a host: {example}"
    if http_only and parts.scheme.lower() not in ("http", "https"):
        return f"base_url must start with https:// (or http:// for a local server): {example}"
    return None


def _has_credentials(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    return parts.username is not None or parts.password is not None


class PricingSection(Section):
    """Prices in USD per million tokens. ``cached_input`` defaults to ``input``.

    ``input`` and ``output`` are both required: a price list that names one of
    them would silently make the other free (write ``output: 0`` if it is).
    """

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _both_prices(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [key for key in ("input", "output") if key in data]
            if len(given) == 1:
                missing = "output" if given == ["input"] else "input"
                raise ValueError(
                    f"pricing gives {given[0]} but not {missing}: give both (USD per million tokens), "
                    f"with {missing}: 0 if it really is free, or remove pricing to use the built-in price list"
                )
        return data


def _default_capabilities() -> list[Capability]:
    return ["chat", "streaming"]


def _provider_or_deployments(schema: dict[str, Any]) -> None:
    # The JSON Schema of a model: provider may be left out when deployments are listed (see below).
    schema.pop("required", None)
    schema["anyOf"] = [{"required": ["provider"]}, {"required": ["deployments"]}]


class ModelSection(Section):
    """A model: which provider serves it, what it can do, what it costs, where to go when it fails."""

    model_config = ConfigDict(json_schema_extra=_provider_or_deployments)

    provider: str
    name: str | None = None
    """The provider's own name for the model; None means the key under ``models``."""
    capabilities: list[Capability] = Field(default_factory=_default_capabilities)
    context_window: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    pricing: PricingSection | None = None
    """None: looked up in the built-in price list, if the model is there."""
    fallbacks: list[str] = Field(default_factory=list)
    """Models (or aliases) tried in order when this one fails."""
    aliases: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    """Default request parameters (temperature, ...), overridden per call."""
    object_retries: int = Field(2, ge=0)
    """generate_object: how many times invalid output is sent back to the model to be corrected."""
    deployments: list[DeploymentSection] = Field(default_factory=list)
    """Where the model is served, when more than one place: provider, name, weight, rpm/tpm, tags.
    Empty: the model's own ``provider`` and ``name`` are its one deployment."""
    routing: RoutingSection | None = None
    """How the deployments are ordered for each call (``strategy``: shuffle, least-busy, latency, usage,
    cost); None: shuffle, weighted."""
    cache: ModelCacheSection | None = None
    """This model's response-cache settings (``ttl``, ``enabled``); None: the top-level ``cache``'s."""

    @model_validator(mode="before")
    @classmethod
    def _provider_from_deployments(cls, data: Any) -> Any:
        # A model listing deployments may leave out provider: its first deployment's stands for it.
        if isinstance(data, dict) and "provider" not in data:
            deployments = data.get("deployments")
            if isinstance(deployments, list) and deployments and isinstance(deployments[0], dict):
                first = deployments[0]
                if "provider" in first:
                    data = {**data, "provider": first["provider"]}
        return data


# The routing and cache sections import PricingSection from here: imported last, and resolved then.
from agentrt.config._cache import DeploymentSection, ModelCacheSection, RoutingSection  # noqa: E402

ModelSection.model_rebuild()
