"""Arguments checked against a tool's input schema when the server refused a call.

The model gets every problem at once, named by argument and without the
values given (as for a Python tool), instead of whatever text the server
chose. Only refused calls are checked: the server must validate its inputs
anyway, and jsonschema costs some 25 µs a call, a quarter of what agentrt
allows itself per tool call, so a call that succeeds pays nothing. A schema
that is itself invalid is left to the server to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentrt.errors import ToolArgumentsError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator  # type: ignore[import-untyped]

__all__ = ["ArgumentChecker"]


class ArgumentChecker:
    """Compiled validators by tool name, for the listing they were built from (compiling costs, checking is cheap)."""

    def __init__(self) -> None:
        self._validators: dict[str, Validator | None] = {}

    def forget(self) -> None:
        """Drop the validators: the tool listing changed."""
        self._validators.clear()

    def check(self, full_name: str, tool: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> None:
        """:class:`ToolArgumentsError` listing each problem when ``arguments`` do not fit ``schema``."""
        if tool not in self._validators:
            self._validators[tool] = _compile(schema)
        validator = self._validators[tool]
        if validator is None:
            return
        problems = sorted(_problem(error) for error in validator.iter_errors(dict(arguments)))
        if problems:
            raise ToolArgumentsError(
                f"the arguments of {full_name} do not fit its schema: {'; '.join(problems)}",
                tool=full_name,
                problems=problems,
            )


def _compile(schema: Mapping[str, Any]) -> Validator | None:
    from jsonschema import SchemaError  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]
    from referencing import Registry

    cls = validator_for(dict(schema))
    try:
        cls.check_schema(dict(schema))
    except SchemaError:
        return None
    # An empty registry: a $ref resolves inside the schema, never by fetching a URL.
    return cls(dict(schema), registry=Registry())


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "arguments"
    if error.validator == "required":
        return f"{where}: a required argument is missing ({error.message.split(' ')[0]})"
    if error.validator == "additionalProperties":
        return f"{where}: unexpected argument(s) ({error.message})"
    if error.validator in ("type", "enum", "const", "format", "pattern"):
        # jsonschema's message starts with the value given; the model and the logs get the rule only.
        return f"{where}: must match {error.validator} {error.validator_value!r}"
    return f"{where}: fails {error.validator} {error.validator_value!r}"
