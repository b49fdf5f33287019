"""A function's parameters as a tool's arguments: their JSON Schema, and their validation.

The parameters become the fields of a pydantic model made for the function, so a
tool accepts what pydantic accepts (``int``, ``list[str]``, ``Literal``, enums,
pydantic models, ``Optional``, ``Annotated[..., Field(...)]``) and coerces the
model's JSON the same way (``"3"`` for an ``int``). The fields get neutral names
(``p0``, ``p1``...) with the parameter's name as alias, so a parameter may be
called ``json``, ``schema`` or ``model_config`` without clashing with pydantic.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.errors import PydanticUserError
from pydantic.fields import FieldInfo

from agentrt.errors import ToolArgumentsError, ToolError

__all__ = ["ArgumentModel", "build_arguments"]

_MODEL_CONFIG = ConfigDict(
    extra="forbid",  # an argument the function does not take is the model's mistake: say so
    validate_by_alias=True,
    validate_by_name=False,
    arbitrary_types_allowed=False,  # a type without a JSON Schema cannot be explained to a model
)

# Mappings in a JSON Schema whose keys are names chosen by the user, not schema keywords:
# a property called "title" must survive the removal of pydantic's "title" keywords.
_NAMED_SCHEMAS = frozenset({"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"})
# Keywords whose values are data (a default, the allowed values), copied as they are.
_DATA_KEYWORDS = frozenset({"default", "const", "enum", "examples"})


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    field: str
    positional_only: bool


@dataclass(frozen=True, slots=True)
class ArgumentModel:
    """How to turn a model's arguments into a call of one function.

    ``schema`` is the JSON Schema the model sees; ``injected`` names the
    parameters the caller supplies instead (``exclude=`` of the tool), and
    ``injected_required`` those of them without a default.
    """

    tool: str
    schema: dict[str, Any]
    model: type[BaseModel]
    parameters: tuple[_Parameter, ...]
    injected: tuple[str, ...]
    injected_required: frozenset[str]

    def bind(
        self, arguments: Mapping[str, Any], injected: Mapping[str, Any] | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """Validate ``arguments`` (and ``injected``) into the positional and keyword arguments of a call."""
        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.tool!r}: expected a JSON object of named arguments, "
                f"got {type(arguments).__name__}",
                tool=self.tool,
                problems=("<arguments>: expected an object",),
            )
        try:
            validated = self.model.model_validate(dict(arguments))
        except ValidationError as err:
            raise _arguments_error(self.tool, err) from None
        values = validated.__dict__
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for parameter in self.parameters:
            if parameter.positional_only:
                args.append(values[parameter.field])
            else:
                kwargs[parameter.name] = values[parameter.field]
        if self.injected:
            given = injected or {}
            missing = self.injected_required - given.keys()
            if missing:
                raise ToolError(
                    f"tool {self.tool!r} needs {', '.join(sorted(missing))} from its caller "
                    "(they are excluded from the model's arguments): pass them with invoke(..., injected={...})"
                )
            for name in self.injected:
                if name in given:
                    kwargs[name] = given[name]
        return args, kwargs


def build_arguments(
    fn: Callable[..., Any],
    *,
    tool: str,
    descriptions: Mapping[str, str],
    exclude: Iterable[str] = (),
) -> ArgumentModel:
    """The :class:`ArgumentModel` of ``fn``; :class:`ToolError` naming the parameter if one cannot be a tool's."""
    label = _label(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as err:
        raise ToolError(f"cannot make a tool of {label}: its signature cannot be read ({err})") from None
    excluded = frozenset(exclude)
    unknown = excluded - signature.parameters.keys()
    if unknown:
        raise ToolError(
            f"cannot make a tool of {label}: exclude names {', '.join(sorted(unknown))}, "
            f"which {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of it"
        )
    hints = _type_hints(fn, label, signature, excluded)

    fields: dict[str, Any] = {}
    parameters: list[_Parameter] = []
    injected: list[str] = []
    injected_required: set[str] = set()
    for name, parameter in signature.parameters.items():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            stars = "*" if parameter.kind is inspect.Parameter.VAR_POSITIONAL else "**"
            raise ToolError(
                f"cannot make a tool of {label}: parameter {stars}{name} takes any arguments, and a model "
                "needs each one named and typed: declare the parameters one by one"
            )
        if name in excluded:
            injected.append(name)
            if parameter.default is inspect.Parameter.empty:
                injected_required.add(name)
            continue
        if name not in hints:
            raise ToolError(
                f"cannot make a tool of {label}: parameter {name!r} has no type hint, "
                "and the model needs its type: annotate it (e.g. `name: str`)"
            )
        field_name = f"p{len(parameters)}"
        fields[field_name] = (hints[name], _field(name, parameter, hints[name], descriptions.get(name)))
        parameters.append(_Parameter(name, field_name, parameter.kind is inspect.Parameter.POSITIONAL_ONLY))

    try:
        model = create_model(f"{tool}_arguments", __config__=_MODEL_CONFIG, **fields)
        schema = model.model_json_schema()
    except (PydanticUserError, TypeError, ValueError) as err:
        raise _unsupported(label, parameters, hints, err) from None
    return ArgumentModel(
        tool=tool,
        schema=_tidy(schema),
        model=model,
        parameters=tuple(parameters),
        injected=tuple(injected),
        injected_required=frozenset(injected_required),
    )


def _label(fn: Callable[..., Any]) -> str:
    return f"function {getattr(fn, '__qualname__', None) or repr(fn)!s}"


def _type_hints(
    fn: Callable[..., Any], label: str, signature: inspect.Signature, excluded: frozenset[str]
) -> dict[str, Any]:
    """The resolved annotations of the parameters the model fills.

    Excluded parameters and the return annotation are left unresolved on purpose:
    a context type imported only under ``TYPE_CHECKING`` must not stop a tool.
    """
    wanted = {
        name: parameter.annotation
        for name, parameter in signature.parameters.items()
        if name not in excluded and parameter.annotation is not inspect.Parameter.empty
    }
    holder = types.SimpleNamespace(__annotations__=wanted)
    try:
        return typing.get_type_hints(holder, globalns=_globals_of(fn), include_extras=True)
    except Exception as err:  # NameError for an undefined name, SyntaxError for a bad string, ...
        raise ToolError(
            f"cannot make a tool of {label}: its type hints cannot be resolved ({type(err).__name__}: {err}); "
            "with `from __future__ import annotations`, the types must be defined at module level"
        ) from None


def _globals_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The module namespace string annotations of ``fn`` are resolved in (through wrappers and partials)."""
    target: Any = fn
    for _ in range(100):  # a bound on pathological wrapper chains
        target = inspect.unwrap(target)
        if isinstance(target, functools.partial):
            target = target.func
        elif inspect.ismethod(target):
            target = target.__func__
        elif not inspect.isfunction(target) and inspect.isfunction(type(target).__call__):
            target = type(target).__call__  # an instance of a class with __call__
        else:
            break
    namespace = getattr(target, "__globals__", None)
    return namespace if isinstance(namespace, dict) else {}


def _field(name: str, parameter: inspect.Parameter, hint: Any, description: str | None) -> FieldInfo:
    options: dict[str, Any] = {"alias": name}
    if parameter.default is not inspect.Parameter.empty:
        options["default"] = parameter.default
    # A description given in Annotated[..., Field(description=...)] is the more deliberate one.
    if description and not _annotated_description(hint):
        options["description"] = description
    field: FieldInfo = Field(**options)
    return field


def _annotated_description(hint: Any) -> bool:
    if typing.get_origin(hint) is not Annotated:
        return False
    return any(isinstance(meta, FieldInfo) and meta.description for meta in hint.__metadata__)


def _unsupported(label: str, parameters: list[_Parameter], hints: Mapping[str, Any], err: Exception) -> ToolError:
    """Name the parameter whose type pydantic cannot validate or describe, if one alone is the cause."""
    for parameter in parameters:
        hint = hints[parameter.name]
        try:
            TypeAdapter(hint).json_schema()
        except (PydanticUserError, TypeError, ValueError):
            return ToolError(
                f"cannot make a tool of {label}: parameter {parameter.name!r} has type {_type_name(hint)}, "
                "which has no JSON Schema a model could follow: use str, int, float, bool, list, dict, "
                "Literal, an Enum, a dataclass or a pydantic model"
            )
    return ToolError(f"cannot make a tool of {label}: its parameters have no JSON Schema ({err})")


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _arguments_error(tool: str, err: ValidationError) -> ToolArgumentsError:
    problems = []
    for error in err.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "<arguments>"
        problems.append(f"{location}: {error['msg']}")
    return ToolArgumentsError(
        f"invalid arguments for tool {tool!r}: {'; '.join(problems)}. "
        "Call it again with arguments that follow its parameters schema",
        tool=tool,
        problems=problems,
    )


def _tidy(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without pydantic's generated ``title`` keywords, which only cost the model tokens."""
    tidy = _strip_titles(schema)
    tidy.setdefault("properties", {})
    return typing.cast(dict[str, Any], tidy)


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in _DATA_KEYWORDS:
                result[key] = value
            elif key in _NAMED_SCHEMAS and isinstance(value, dict):
                result[key] = {name: _strip_titles(sub) for name, sub in value.items()}
            else:
                result[key] = _strip_titles(value)
        return result
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    return node
