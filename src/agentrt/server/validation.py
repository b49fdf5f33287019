"""Request bodies to validated models, or a 400 that says where the problem is (``messages.0.role: ...``)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from agentrt.server.errors import HttpError
from agentrt.server.openai_models import INVALID_TAG, TAG_PREFIX

__all__ = ["error_path", "parse_body"]

M = TypeVar("M", bound=BaseModel)

# A 400 lists this many problems, then says how many more there are.
_LISTED_PROBLEMS = 5


def parse_body(model: type[M], body: bytes) -> M:
    """``body`` (JSON) validated as ``model``; ``HttpError`` 400 naming every problem's path otherwise."""
    if not body:
        raise HttpError(400, "the request has no body: send a JSON object", code="invalid_json")
    try:
        return model.model_validate_json(body)
    except ValidationError as err:
        raise _bad_request(err) from None


def _bad_request(err: ValidationError) -> HttpError:
    problems = err.errors(include_url=False, include_input=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "not valid JSON")
        return HttpError(400, f"the request body is not valid JSON: {reason}", code="invalid_json")
    if first["type"] == "model_type" and not first["loc"]:
        return HttpError(400, "the request body must be a JSON object", code="invalid_json")
    lines = [f"{error_path(p) or '<body>'}: {_message(p)}" for p in problems[:_LISTED_PROBLEMS]]
    if len(problems) > _LISTED_PROBLEMS:
        lines.append(f"and {len(problems) - _LISTED_PROBLEMS} more")
    return HttpError(400, "; ".join(lines), code="invalid_request", param=error_path(first) or None)


def error_path(problem: ErrorDetails) -> str:
    """The dotted path of a problem as the user wrote the body: union tags left out, the
    discriminating field added where the tag itself was wrong (``messages.0.role``)."""
    parts = [str(p) for p in problem["loc"] if not (isinstance(p, str) and p.startswith(TAG_PREFIX))]
    if problem["type"].startswith(INVALID_TAG):
        parts.append(problem["type"].removeprefix(INVALID_TAG))
    return ".".join(parts)


def _message(problem: ErrorDetails) -> str:
    # pydantic prefixes the messages of our own validators; the path already says where.
    return problem["msg"].removeprefix("Value error, ")
