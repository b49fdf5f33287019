"""The root of the configuration, ``Config``, and the checks that span several sections."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from agentrt.config._cache import CacheSection
from agentrt.config._catalog import PROVIDER_SECRET_FIELDS, ModelSection, ProviderSection
from agentrt.config._paths import Loc, url_password, walk_secrets, walk_strings
from agentrt.config._policy import PoliciesSection, policy_reference_problems
from agentrt.config._prompts import PromptSection, resolve_prompt_files
from agentrt.config._sections import (
    AgentsBackendSection,
    AgentSection,
    LoggingSection,
    ObservabilitySection,
    RuntimeSection,
    ServerSection,
    StoreSection,
    store_kind,
)
from agentrt.config._tools import (
    ToolkitSection,
    resolve_toolkit_paths,
    tool_reference_problems,
    toolkit_secret_values,
)
from agentrt.config._types import Section

__all__ = ["Config"]


class Config(Section):
    """The whole configuration of a runtime, as validated from ``agentrt.yaml``.

    ``Config()`` is valid and runs offline: no providers, SQLite store in the working
    directory, console logging. Besides field validation, construction checks that
    every reference resolves (a model's provider, fallbacks, an agent's model...) and
    reports every problem at once in one ``ValidationError``.
    """

    runtime: RuntimeSection = Field(default_factory=RuntimeSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    store: StoreSection = Field(default_factory=StoreSection)
    providers: dict[str, ProviderSection] = Field(default_factory=dict)
    models: dict[str, ModelSection] = Field(default_factory=dict)
    policies: PoliciesSection = Field(default_factory=PoliciesSection)
    tools: dict[str, ToolkitSection] = Field(default_factory=dict)
    """Toolkits by name; a tool is named ``toolkit.tool``."""
    prompts: dict[str, PromptSection] = Field(default_factory=dict)
    """Prompt templates by name, rendered by ``rt.prompt(name, **inputs)``."""
    agents: dict[str, AgentSection] = Field(default_factory=dict)
    agents_backend: AgentsBackendSection = Field(default_factory=AgentsBackendSection)
    """Where the agents run: ``local`` (this process) or ``ray`` (shard hosts on a Ray cluster)."""
    server: ServerSection = Field(default_factory=ServerSection)
    observability: ObservabilitySection = Field(default_factory=ObservabilitySection)
    cache: CacheSection = Field(default_factory=CacheSection)
    """The response cache (off by default): backend, size bound, TTL, tenant sharing."""
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Overlays by environment name, deep-merged over the file when that environment is selected."""

    @model_validator(mode="wrap")
    @classmethod
    def _check_references(cls, data: Any, handler: ModelWrapValidatorHandler[Config]) -> Config:
        # Runs on the raw data, next to field validation rather than after it, so that a
        # typo in a field and a dangling reference elsewhere are reported together.
        extra = list(_reference_problems(data)) if isinstance(data, Mapping) else []
        try:
            config = handler(data)
        except ValidationError as exc:
            if not extra:
                raise
            raise _merged(exc, extra) from None
        if extra:
            raise ValidationError.from_exception_data(cls.__name__, extra)
        return config

    def secret_values(self) -> list[str]:
        """The plain value of every secret set in this config, for log redaction.

        Provider API keys and headers (also inside ``environments`` overlays) and the
        password of any URL (store, policy backend, base_url). Never log this list.
        """
        found: list[str] = []
        for provider in self.providers.values():
            for field in PROVIDER_SECRET_FIELDS:
                secret = getattr(provider, field)
                if secret is not None:
                    found.append(secret.get_secret_value())
            found.extend(header.get_secret_value() for header in provider.headers.values())
        found.extend(toolkit_secret_values(self.tools))
        for _, value in walk_secrets(self.environments, ("environments",)):
            if isinstance(value, str):
                found.append(value)
        for text in walk_strings(self.model_dump(mode="json")):
            if "@" in text and (password := url_password(text)):
                found.append(password)
        return list(dict.fromkeys(value for value in found if value))

    def resolve_paths(self, base_dir: Path) -> Config:
        """A copy whose relative file paths are made absolute against ``base_dir``.

        That is ``logging.file.path``, ``runtime.include_paths``, each ``prompts.<name>.file``, a toolkit's
        ``python:`` file and MCP ``cwd``, and the database of a
        ``sqlite:///relative.db`` store. The loader passes the directory of the main config file, so relative
        paths in a file mean "next to this file", whatever the working directory.
        """
        base = Path(base_dir).expanduser().absolute()
        update: dict[str, Any] = {}
        log_file = self.logging.file
        if log_file is not None:
            path = log_file.path.expanduser()
            if not path.is_absolute() or path != log_file.path:
                new_file = log_file.model_copy(update={"path": base / path})
                update["logging"] = self.logging.model_copy(update={"file": new_file})
        include_paths = [(base / path.expanduser()).resolve() for path in self.runtime.include_paths]
        if include_paths != self.runtime.include_paths:
            update["runtime"] = self.runtime.model_copy(update={"include_paths": include_paths})
        toolkits = resolve_toolkit_paths(self.tools, base)
        if toolkits is not None:
            update["tools"] = toolkits
        db = self.store.sqlite_path
        if db is not None and (not db.is_absolute() or db != db.expanduser()):
            query = self.store.url.partition("?")[1:]
            url = f"sqlite:///{base / db.expanduser()}{''.join(query)}"
            update["store"] = self.store.model_copy(update={"url": url})
        prompts = resolve_prompt_files(self.prompts, base)
        if prompts is not None:
            update["prompts"] = prompts
        return self.model_copy(update=update) if update else self


# --- references between sections ---------------------------------------------------


def _merged(exc: ValidationError, extra: list[InitErrorDetails]) -> ValidationError:
    """One ValidationError with the errors of ``exc`` followed by ``extra``."""
    errors = exc.errors(include_url=False)
    details = [
        InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {})) for e in errors
    ]
    try:
        return ValidationError.from_exception_data(exc.title, details + extra)
    except (KeyError, TypeError, ValueError):
        # A custom error type from a nested validator cannot be rebuilt from its name:
        # keep its type and rendered message instead.
        kept = [_problem(e["loc"], e["type"], e["msg"], e["input"]) for e in errors]
        return ValidationError.from_exception_data(exc.title, kept + extra)


def _problem(loc: Loc, kind: str, message: str, value: Any) -> InitErrorDetails:
    # The message goes in through ctx: used as the template itself, braces in a name would break it.
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return InitErrorDetails(type=error, loc=loc, input=value, ctx={"message": message})


def _suggest(name: str, candidates: set[str]) -> str:
    import difflib  # lazily: only a config with a dangling reference needs it

    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _known(kind: str, names: set[str]) -> str:
    return f"known {kind}: {', '.join(sorted(names))}" if names else f"no {kind} are declared"


def _mappings(value: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping):
                yield str(key), item


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def _reference_problems(data: Mapping[str, Any]) -> Iterator[InitErrorDetails]:
    """Dangling and clashing names, found on raw data so they survive other validation errors."""
    providers = data.get("providers")
    provider_names = {str(key) for key in providers} if isinstance(providers, Mapping) else set()
    models = list(_mappings(data.get("models")))
    model_names = {name for name, _ in models}

    owners: dict[str, str] = {}
    for name, spec in models:
        provider = spec.get("provider")
        if isinstance(provider, str) and provider not in provider_names:
            yield _problem(
                ("models", name, "provider"),
                "unknown_provider",
                f"unknown provider {provider!r}{_suggest(provider, provider_names)}: "
                f"declare it under providers ({_known('providers', provider_names)})",
                provider,
            )
        yield from _deployment_problems(name, spec.get("deployments"), provider_names)
        for index, alias in _strings(spec.get("aliases")):
            if alias in model_names:
                yield _problem(
                    ("models", name, "aliases", index),
                    "alias_clash",
                    f"alias {alias!r} is also the name of a model: rename the alias or the model",
                    alias,
                )
            elif owners.setdefault(alias, name) != name:
                yield _problem(
                    ("models", name, "aliases", index),
                    "alias_clash",
                    f"alias {alias!r} is already an alias of model {owners[alias]!r}: "
                    "an alias names exactly one model",
                    alias,
                )

    refs = model_names | owners.keys()

    def unknown_model(loc: Loc, ref: str) -> InitErrorDetails:
        return _problem(
            loc,
            "unknown_model",
            f"unknown model {ref!r}{_suggest(ref, refs)}: name a model or an alias declared under models",
            ref,
        )

    for name, spec in models:
        for index, ref in _strings(spec.get("fallbacks")):
            if ref not in refs:
                yield unknown_model(("models", name, "fallbacks", index), ref)
    for name, spec in _mappings(data.get("agents")):
        agent_model = spec.get("model")
        if isinstance(agent_model, str) and agent_model not in refs:
            yield unknown_model(("agents", name, "model"), agent_model)

    policies = data.get("policies")
    if isinstance(policies, Mapping):
        yield from _policy_problems(policies, refs, provider_names, unknown_model)
    yield from _server_problems(data.get("server"))
    yield from _store_problems(data.get("store"), policies)
    yield from _environment_problems(data.get("environments"))
    for loc, kind, message, value in tool_reference_problems(data):
        yield _problem(loc, kind, message, value)


def _deployment_problems(model: str, deployments: Any, provider_names: set[str]) -> Iterator[InitErrorDetails]:
    """A deployment naming an undeclared provider, or two deployments of one model that are the same."""
    if not isinstance(deployments, list):
        return
    seen: dict[tuple[str, str | None], int] = {}
    for index, deployment in enumerate(deployments):
        if not isinstance(deployment, Mapping):
            continue
        provider = deployment.get("provider")
        if not isinstance(provider, str):
            continue
        if provider not in provider_names:
            yield _problem(
                ("models", model, "deployments", index, "provider"),
                "unknown_provider",
                f"unknown provider {provider!r}{_suggest(provider, provider_names)}: "
                f"declare it under providers ({_known('providers', provider_names)})",
                provider,
            )
        name = deployment.get("name")
        key = (provider, name if isinstance(name, str) else None)
        if key in seen:
            yield _problem(
                ("models", model, "deployments", index),
                "duplicate_deployment",
                f"deployment {index} repeats deployment {seen[key]} (provider {provider!r}, the same name): "
                "list each provider and name once, and use weight to send it more calls",
                provider,
            )
        else:
            seen[key] = index


def _policy_problems(
    policies: Mapping[str, Any],
    refs: set[str],
    provider_names: set[str],
    unknown_model: Callable[[Loc, str], InitErrorDetails],
) -> Iterator[InitErrorDetails]:
    for loc, kind, message, value in policy_reference_problems(policies, refs, provider_names):
        yield _problem(loc, kind, message, value)
    seen: dict[str, int] = {}
    rules = policies.get("rules")
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        name = rule.get("name") if isinstance(rule, Mapping) else None
        if isinstance(name, str):
            first = seen.setdefault(name, index)
            if first != index:
                yield _problem(
                    ("policies", "rules", index, "name"),
                    "duplicate_name",
                    f"rule name {name!r} is already used by rules[{first}]: "
                    "give each rule its own name, denials and the audit trail report it",
                    name,
                )


def _store_problems(store: Any, policies: Any) -> Iterator[InitErrorDetails]:
    """A policy backend that cannot live in the configured store (start: "service 'policy' failed")."""
    url = store.get("url") if isinstance(store, Mapping) else None
    backend = policies.get("backend", "sqlite") if isinstance(policies, Mapping) else "sqlite"
    if not isinstance(url, str) or backend != "sqlite":
        return
    try:
        kind = store_kind(url)
    except ValueError:
        return  # the store section reports its own url
    if kind == "postgresql":
        yield _problem(
            ("policies", "backend"),
            "backend_store_mismatch",
            "the sqlite policy backend (the default) keeps its counters in the store, which is PostgreSQL here: "
            "set policies.backend to a redis:// URL (shared by every process) or to memory (one process)",
            backend,
        )


def _server_problems(server: Any) -> Iterator[InitErrorDetails]:
    keys = server.get("api_keys") if isinstance(server, Mapping) else None
    seen: dict[str, int] = {}
    for index, entry in enumerate(keys if isinstance(keys, list) else []):
        digest = entry.get("key_sha256") if isinstance(entry, Mapping) else None
        if isinstance(digest, str):
            first = seen.setdefault(digest.lower(), index)
            if first != index:
                yield _problem(
                    ("server", "api_keys", index, "key_sha256"),
                    "duplicate_key",
                    f"this key is already listed as api_keys[{first}]: list each key once",
                    digest,
                )


def _environment_problems(environments: Any) -> Iterator[InitErrorDetails]:
    sections = [name for name in Config.model_fields if name != "environments"]
    for env, overlay in _mappings(environments):
        for key in overlay:
            if key not in sections:
                yield _problem(
                    ("environments", env, str(key)),
                    "unknown_section",
                    f"unknown section {key!r}{_suggest(str(key), set(sections))}: "
                    f"an environment overlays {', '.join(sections)}",
                    key,
                )
