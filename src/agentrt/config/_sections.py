"""The sections that configure the process itself: runtime, logging, store, agents, server, observability."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator

from agentrt.config._types import ByteSize, Duration, Level, Section

__all__ = [
    "AgentSection",
    "AgentsBackendSection",
    "ApiKeySection",
    "ConsoleLogSection",
    "FileLogSection",
    "LoggingSection",
    "MailboxSection",
    "MetricsSection",
    "MonitorSection",
    "ObservabilitySection",
    "RayBackendSection",
    "RestartSection",
    "RotateSection",
    "RuntimeSection",
    "ServerSection",
    "StoreSection",
    "TracingSection",
    "UiSection",
]


class RuntimeSection(Section):
    """The runtime itself: its name, how long a shutdown may take, whether to watch the config files."""

    name: str = Field(default="agentrt", min_length=1)
    shutdown_timeout: Duration = 30.0
    watch: bool = False
    """Watch the config file and its includes, and reload when they change."""
    watch_debounce: Duration = 0.2
    """Wait this long after the last change before reloading (editors write files in several steps)."""
    include_paths: list[Path] = Field(default_factory=list)
    """Folders outside the config file's own folder that ``include`` may read (relative to that folder).

    Read from the main file only, before includes are resolved: an included file cannot widen it.
    """


# --- logging ------------------------------------------------------------------


class ConsoleLogSection(Section):
    """Console logging: one line per event, ``logfmt`` unless told otherwise."""

    format: Literal["logfmt", "pretty", "json", "off"] = "logfmt"
    stream: Literal["stderr", "stdout"] = "stderr"

    @field_validator("format", mode="before")
    @classmethod
    def _unquoted_off(cls, value: object) -> object:
        # YAML reads an unquoted `off` as false; `format: off` means no console output.
        return "off" if value is False else value


class RotateSection(Section):
    """Size-based rotation of the log file."""

    max_bytes: ByteSize = 10_000_000
    backups: int = Field(default=5, ge=0)


class FileLogSection(Section):
    """A JSON-lines log file, rotated by size. ``level`` defaults to the global level."""

    path: Path
    level: Level | None = None
    rotate: RotateSection = Field(default_factory=RotateSection)


class LoggingSection(Section):
    """Logging: global level, console and file sinks, per-logger levels, extra keys to redact."""

    level: Level = "info"
    console: ConsoleLogSection = Field(default_factory=ConsoleLogSection)
    file: FileLogSection | None = None
    levels: dict[str, Level] = Field(default_factory=dict)
    """Per-logger levels, e.g. ``{agentrt.providers: debug}``."""
    redact: list[str] = Field(default_factory=list)
    """Key names whose values are masked in logs, besides the built-in ones (api_key, authorization...)."""


# --- store ----------------------------------------------------------------------

STORE_FORMS = "sqlite:///relative.db, sqlite:////absolute/path.db, postgresql://user@host/db or memory://"
_STORE_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "memory": "memory",
}


def store_kind(url: str) -> str:
    """The store family of a URL: ``sqlite``, ``postgresql`` or ``memory``. Raises ``ValueError`` otherwise.

    Never echoes the URL: it may hold a password.
    """
    if url.strip() in ("memory", ":memory:"):
        return "memory"
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(f"the store url needs a scheme: use {STORE_FORMS}")
    # Driver suffixes (postgresql+asyncpg) select a client library; the family is what counts here.
    family = _STORE_SCHEMES.get(scheme.split("+", 1)[0].strip().lower())
    if family is None:
        shown = scheme if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,30}", scheme) else "?"
        raise ValueError(f"unsupported store url scheme {shown!r}: use {STORE_FORMS}")
    return family


class StoreSection(Section):
    """Where state lives: SQLite by default, PostgreSQL when several machines share it."""

    class Retention(Section):
        """How long the ledger, the audit trail and the stored responses keep their rows; unset keeps them for ever.

        Ledger rows older than ``ledger`` are first added to the daily rollup (calls, tokens
        and cost per day, tenant, user, model, provider; what ``agentrt usage`` reads for that
        range), then deleted. Responses stored by ``POST /v1/responses`` (``store: true``, what
        ``previous_response_id`` continues) older than ``responses`` are deleted. Pruning runs in
        the background every ``every``, ``batch_size`` rows per statement, so it never holds the
        store for long.
        """

        ledger: Duration | None = None
        audit: Duration | None = None
        responses: Duration | None = None
        every: Duration = 3600.0
        batch_size: int = Field(default=1000, ge=1, le=100_000)

        @field_validator("ledger", "audit", "responses", "every")
        @classmethod
        def _positive(cls, value: float | None) -> float | None:
            if value is not None and value <= 0:
                raise ValueError("must be longer than 0s: use e.g. 90d, or leave it out to keep every row")
            return value

    url: str = "sqlite:///agentrt.db"
    retention: Retention = Field(default_factory=Retention)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        store_kind(value)
        return value

    @property
    def kind(self) -> str:
        """``sqlite``, ``postgresql`` or ``memory``."""
        return store_kind(self.url)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a ``sqlite:///`` url; None for other stores and in-memory SQLite."""
        if self.kind != "sqlite":
            return None
        rest = self.url.partition("://")[2]
        if not rest.startswith("/"):
            return None
        path = rest[1:].split("?", 1)[0]
        if path in ("", ":memory:"):
            return None
        return Path(path)


# --- agents ------------------------------------------------------------------------

_CLASS_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def _class_ref(value: str) -> str:
    if not _CLASS_REF.match(value):
        raise ValueError("expected an import path like myapp.agents:Support (module, a colon, the class)")
    return value


class MailboxSection(Section):
    """An agent's bounded mailbox and what ``send`` does when it is full."""

    size: int = Field(default=1000, ge=1)
    when_full: Literal["wait", "reject"] = "wait"


class RestartSection(Section):
    """What the supervisor does when a handler raises, and how often it may."""

    strategy: Literal["resume", "restart", "stop"] = "restart"
    max_restarts: int = Field(default=5, ge=0)
    within: Duration = 60.0
    backoff: Duration = 0.1
    """The wait before the first restart in the window; it doubles with each restart, up to ``max_backoff``."""
    max_backoff: Duration = 30.0
    transient_retries: int = Field(default=20, ge=0)
    """How often an activity is retried after a transient error (a rate limit, a budget period, a provider
    unavailable or slow) before the error counts as a failure. Retries are not restarts."""
    max_retry_delay: Duration = 60.0
    """The longest wait between two tries of an activity (a longer ``retry_after`` is cut to this)."""


class AgentSection(Section):
    """An agent type: the class that implements it and how its instances run."""

    class_: Annotated[
        str,
        AfterValidator(_class_ref),
        Field(alias="class", json_schema_extra={"pattern": _CLASS_REF.pattern}),
    ]
    model: str | None = None
    """The model (or alias) its context uses by default."""
    mailbox: MailboxSection = Field(default_factory=MailboxSection)
    restart: RestartSection = Field(default_factory=RestartSection)
    durable: bool = False
    """Save state and journal the mailbox in the store, so a crash loses nothing acknowledged."""
    user: str | None = None
    tenant: str | None = None
    tools: list[str] = Field(default_factory=list)
    """Tools its context offers the model by default: names or globs (``calc.*``, ``github.search_*``)."""


class RayBackendSection(Section):
    """Where the agents run on Ray (``agents_backend.kind: ray``)."""

    address: str = "auto"
    """The cluster to join: ``auto`` (the one this machine is part of, or ``$RAY_ADDRESS``), ``host:6379``
    (a node's GCS), or ``ray://host:10001`` (Ray Client)."""
    namespace: str = Field(default="agentrt", min_length=1)
    """The Ray namespace of the shard hosts: deployments sharing a cluster pick different ones."""
    shards: int = Field(default=64, ge=1, le=4096)
    """How many shard hosts (Ray actors) the agents are spread over, by rendezvous hashing of their ids.
    Change it only with the hosts stopped: agents move to the shard their id hashes to."""
    node_ip: str | None = None
    """The IP this process's Ray node or client advertises (``127.0.0.1`` keeps Ray on loopback); unset:
    Ray picks the machine's address."""
    lease_ttl: Duration = 15.0
    """How long a shard host's hold on its durable agents lasts without renewal (fencing guards every save)."""
    host_resources: dict[str, float] = Field(default_factory=dict)
    """Ray custom resources each shard host asks for, so Ray places hosts only on the nodes that offer them
    (e.g. ``{agentrt_host: 0.01}`` with ``ray start --resources '{"agentrt_host": 100}'`` on those nodes
    keeps hosts off a head node); empty: Ray places them anywhere."""


class AgentsBackendSection(Section):
    """Where agents run: ``local`` (in this process; the default) or ``ray`` (shard hosts on a Ray cluster)."""

    kind: Literal["local", "ray"] = "local"
    ray: RayBackendSection = Field(default_factory=RayBackendSection)


# --- server -------------------------------------------------------------------------

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _sha256(value: str) -> str:
    if not _SHA256.match(value):
        raise ValueError(
            "expected the SHA-256 of the key as 64 hex characters: "
            "compute it with `printf %s KEY | sha256sum`"
        )
    return value.lower()


Scope = Literal["chat", "embeddings", "agents:read", "agents:write", "tools", "approvals", "dashboard", "admin"]
"""What an API key may do: ``chat`` (chat completions, models), ``embeddings``, ``agents:read``
(list, read, follow events), ``agents:write`` (spawn, tell, ask, terminate, resume), ``approvals`` (list,
approve and reject the tool calls of the key's tenant that wait for approval; never implied by a key without
``scopes``), ``dashboard`` (log in to the web dashboard at ``/ui``; never implied either), ``admin``."""


class ApiKeySection(Section):
    """An API key of the HTTP server, stored as its SHA-256, and the principal it maps to."""

    key_sha256: Annotated[str, AfterValidator(_sha256), Field(json_schema_extra={"pattern": _SHA256.pattern})]
    name: str | None = None
    user: str | None = None
    tenant: str | None = None
    tags: list[str] = Field(default_factory=list)
    admin: bool = False
    scopes: list[Scope] | None = None
    """What the key may do; None (the default) is every scope but ``admin`` (which ``admin: true`` adds)."""
    max_agents: int | None = Field(default=None, ge=0)
    """Live agents this key's tenant may have; None takes ``server.max_agents_per_tenant``."""


class UiSection(Section):
    """The web dashboard at ``/ui`` (admin keys, or keys with the ``dashboard`` scope, log in there)."""

    enabled: bool = True
    secret: SecretStr | None = None
    """Signs the dashboard's session cookies (``${UI_SECRET}``). None: a random secret per server, which
    ``serve --workers`` shares with its workers; sessions then end at a restart."""
    session_ttl: Duration = 43200.0
    """How long a dashboard login lasts."""
    live_interval: Duration = Field(default=5.0, ge=0.05)
    """Seconds between two samples of the live rates (the overview keeps the last 15 minutes of them)."""


class ServerSection(Section):
    """The HTTP server: where it listens, who may call it, how big a request may be, how long it waits."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    api_keys: list[ApiKeySection] = Field(default_factory=list)
    max_body: ByteSize = 4_000_000
    max_connections: int = Field(default=1000, ge=1)
    """Open connections at most; past it the oldest idle one is closed, or the new one refused."""
    header_timeout: Duration = 10.0
    """A new connection has this long to send its first request's headers."""
    body_timeout: Duration = 30.0
    """A request has this long to send its whole body (408 otherwise)."""
    idle_timeout: Duration = 75.0
    """A keep-alive connection with no request is closed after this long."""
    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` needs ``Authorization: Bearer <token>`` (``${VAR}`` works)."""
    max_agents_per_tenant: int | None = Field(default=None, ge=0)
    """Live (not terminated) agents each tenant (or user, for keys without a tenant) may spawn; None: no limit."""
    ui: UiSection = Field(default_factory=UiSection)
    """The web dashboard at ``/ui``."""


# --- observability --------------------------------------------------------------------


class MetricsSection(Section):
    """Prometheus metrics, served on ``/metrics``."""

    enabled: bool = True


class TracingSection(Section):
    """OpenTelemetry spans. ``service_name`` defaults to ``runtime.name``.

    ``otlp`` and ``console`` make agentrt set up the OpenTelemetry SDK (the ``otel``
    extra); ``global`` uses the tracer provider the application already set up.
    """

    enabled: bool = False
    exporter: Literal["otlp", "console", "global"] = "otlp"
    endpoint: str | None = None
    service_name: str | None = None


class MonitorSection(Section):
    """The resource monitor: memory, CPU, event-loop lag, tasks, queue depths."""

    enabled: bool = True
    interval: Duration = 30.0


class ObservabilitySection(Section):
    """Metrics, traces and the resource monitor."""

    metrics: MetricsSection = Field(default_factory=MetricsSection)
    tracing: TracingSection = Field(default_factory=TracingSection)
    monitor: MonitorSection = Field(default_factory=MonitorSection)
