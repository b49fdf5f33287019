"""The layers above the file: environment overlays, ``${VAR}`` interpolation, ``AGENTRT__`` variables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from agentrt.config._paths import Loc, format_path, is_secret_path
from agentrt.config._source import Origins, walk_strings
from agentrt.errors import ConfigProblem

__all__ = ["ENV_PREFIX", "apply_env_vars", "apply_overlay", "interpolate", "plain_copy"]

ENV_PREFIX = "AGENTRT__"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# --- overlays -------------------------------------------------------------------------


def apply_overlay(
    data: dict[str, Any], overlay: Mapping[str, Any], origins: Origins, overlay_loc: Loc
) -> None:
    """Deep-merge ``overlay`` into ``data`` in place: mappings merge, anything else replaces.

    The merged paths take the origins the overlay had under ``overlay_loc``, so a
    problem in an overlaid value points at the overlay's line, not the base's.
    """
    for key, value in overlay.items():
        _merge(data, key, value, origins, (key,), (*overlay_loc, key))


def _merge(target: dict[str, Any], key: str, value: Any, origins: Origins, loc: Loc, from_loc: Loc) -> None:
    current = target.get(key)
    if isinstance(current, dict) and isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            _merge(current, sub_key, sub_value, origins, (*loc, sub_key), (*from_loc, sub_key))
        return
    target[key] = plain_copy(value)
    origins.replace(loc, [((*loc, *rel), origin) for rel, origin in origins.under(from_loc)])


def plain_copy(value: Any) -> Any:
    """A deep copy of mappings (as dicts) and lists; the layers edit the tree in place, never the input."""
    if isinstance(value, Mapping):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


# --- ${VAR} interpolation -----------------------------------------------------------------


def interpolate(
    data: Any, environ: Mapping[str, str], origins: Origins, *, skip_loc: Loc = ("environments",)
) -> tuple[Any, dict[Loc, ConfigProblem]]:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; ``$${`` is a literal ``${``.

    ``environments`` is skipped: the selected overlay was merged (and is interpolated
    in place); the others may name variables that only exist where they are used.
    Returns the new data and one problem per path that names an unset variable.
    """
    problems: dict[Loc, ConfigProblem] = {}

    def visit(loc: Loc, text: str) -> str:
        if "${" not in text:
            return text
        result, messages = _substitute(text, environ, secret=is_secret_path(loc))
        if messages:
            problems[loc] = ConfigProblem(format_path(loc), "; ".join(messages), origins.get(loc))
        return result

    return walk_strings(data, (), visit, lambda loc: loc == skip_loc), problems


def _substitute(text: str, environ: Mapping[str, str], *, secret: bool) -> tuple[str, list[str]]:
    out: list[str] = []
    messages: list[str] = []
    pos = 0
    while pos < len(text):
        start = text.find("${", pos)
        if start < 0:
            out.append(text[pos:])
            break
        if start > pos and text[start - 1] == "$":
            out.append(text[pos : start - 1] + "${")
            pos = start + 2
            continue
        out.append(text[pos:start])
        match = _REFERENCE.match(text, start)
        if match is None:
            shown = "" if secret else f" {text[start : start + 40]!r}"
            messages.append(
                f"malformed variable reference{shown}: write ${{NAME}} or ${{NAME:-default}}, "
                "or $${ for a literal ${"
            )
            out.append(text[start:])
            break
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                messages.append(
                    f"environment variable {name} is not set: "
                    f"set it, or give a default with ${{{name}:-value}}"
                )
                value = ""
            else:
                value = default
        out.append(value)
        pos = match.end()
    return "".join(out), messages


# --- AGENTRT__SECTION__KEY variables ------------------------------------------------------


def apply_env_vars(
    data: dict[str, Any], environ: Mapping[str, str], origins: Origins
) -> tuple[list[Loc], list[ConfigProblem]]:
    """Set ``AGENTRT__SECTION__KEY[__SUBKEY...]=value`` into ``data`` in place.

    Keys are lower-cased; a list element is addressed by its index. The value is read
    as a YAML scalar (``true``, ``5``, ``30s``) or flow collection (``[a, b]``).
    Returns the paths set and the variables that could not be applied.
    """
    applied: list[Loc] = []
    problems: list[ConfigProblem] = []
    for name in sorted(key for key in environ if key.upper().startswith(ENV_PREFIX)):
        origin = f"env {name}"
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(parts):
            problems.append(
                ConfigProblem(
                    "",
                    f"cannot read variable {name}: write AGENTRT__SECTION__KEY with single names between __",
                    origin,
                )
            )
            continue
        loc = _indexed(data, tuple(parts))
        blocked = _set(data, loc, _env_value(environ[name], secret=is_secret_path(loc)))
        if blocked is None:
            origins.replace(loc, [(loc, origin)])
            applied.append(loc)
        else:
            problems.append(
                ConfigProblem(
                    format_path(loc),
                    f"cannot set it: {format_path(blocked) or 'the top level'} is not a mapping "
                    "(or has no element with that index)",
                    origin,
                )
            )
    return applied, problems


def _env_value(raw: str, *, secret: bool) -> Any:
    # Secrets stay text: read as YAML, a key such as 0x1f or 1e10 would turn into a number.
    if secret:
        return raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        return raw  # YAML 1.1 reads on/off/yes/no as booleans: `format=off` means the text "off"
    if isinstance(value, dict | list) and not raw.lstrip().startswith(("[", "{")):
        return raw  # `a: b` in a variable is text, not a mapping someone meant to write
    if isinstance(value, str | int | float | bool | dict | list) or value is None:
        return value
    return raw  # dates and other YAML types: let the schema read the text


def _set(data: dict[str, Any], loc: Loc, value: Any) -> Loc | None:
    """Set ``value`` at ``loc``, creating mappings where there is nothing (or null).

    Returns the path that blocked it, or None.
    """
    node: Any = data
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, list) and isinstance(part, int):
            if last:
                node[part] = value
                return None
            node = node[part]
            continue
        if not isinstance(node, dict):
            return loc[:depth]
        if last:
            node[part] = value
            return None
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    return None  # pragma: no cover - loc is never empty


def _indexed(data: dict[str, Any], loc: Loc) -> Loc:
    """``loc`` with the indices of existing list elements as ints, the form validation errors use."""
    out: list[Any] = []
    node: Any = data
    for part in loc:
        if isinstance(node, list) and isinstance(part, str) and part.isdigit() and int(part) < len(node):
            out.append(int(part))
            node = node[int(part)]
        else:
            out.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(out)
