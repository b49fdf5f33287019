"""What changed between two configs: the input of a hot reload."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentrt.config._paths import Loc, format_path, mask_secrets
from agentrt.config.schema import Config

__all__ = ["ConfigChange", "diff_configs"]

_SECTION = re.compile(r"^[^.\[]*")


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One changed value, at its dotted ``path``. Secrets are masked in ``old`` and ``new``.

    A key that was added has ``old=None``; a key that was removed has ``new=None``.
    Durations show as text (``30s``), sections and lists as plain data.
    """

    path: str
    old: Any
    new: Any

    @property
    def section(self) -> str:
        """The top-level section the change belongs to (``providers``), which decides who reconfigures."""
        match = _SECTION.match(self.path)
        return match.group(0) if match else self.path

    def __str__(self) -> str:
        return f"{self.path}: {self.old!r} -> {self.new!r}"


def diff_configs(old: Config, new: Config) -> list[ConfigChange]:
    """The changes from ``old`` to ``new``, in declaration order; empty when they are equal.

    Mappings are compared key by key, so one changed model is one change, not a
    change of ``models``; lists are compared whole. Secrets compare by value (a
    rotated key is a change) but show masked.
    """
    # Python mode keeps SecretStr objects, which compare by value; durations dump as text.
    before = old.model_dump(by_alias=True)
    after = new.model_dump(by_alias=True)
    changes: list[ConfigChange] = []
    _diff(before, after, (), changes)
    return changes


def _diff(old: Any, new: Any, loc: Loc, changes: list[ConfigChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            if key in new:
                _diff(value, new[key], (*loc, key), changes)
            else:
                changes.append(_change((*loc, key), value, None))
        for key, value in new.items():
            if key not in old:
                changes.append(_change((*loc, key), None, value))
        return
    if type(old) is not type(new) or old != new:
        changes.append(_change(loc, old, new))


def _change(loc: Loc, old: Any, new: Any) -> ConfigChange:
    return ConfigChange(format_path(loc), mask_secrets(old, loc), mask_secrets(new, loc))
