"""The error table: every agentrt error class to its HTTP status, OpenAI's error shape, Retry-After."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from server_support import USER_KEY, Served, auth, log_records, serving
from structlog.testing import capture_logs

from agentrt import errors
from agentrt.calls import Admission, PolicyHook
from agentrt.server.errors import HttpError, describe_error, error_body
from agentrt.testing import FakeUpstream, Fault

# Every exception class agentrt exports, and the status the server answers it with.
EXPECTED_STATUS = {
    "AgentRTError": 500,
    "ConfigError": 500,
    "RuntimeStateError": 503,
    "NoRuntimeError": 503,
    "ServiceError": 500,
    "ServiceGraphError": 500,
    "ServiceNotFound": 500,
    "ServiceStartError": 500,
    "ServiceStopError": 500,
    "PluginError": 500,
    "StoreError": 503,  # built retryable below: a non-retryable one is a 500
    "ModelError": 400,
    "UnknownModel": 404,
    "CapabilityError": 400,
    "OutputValidationError": 502,
    "ToolError": 400,
    "ToolArgumentsError": 400,
    "PromptError": 400,
    "PromptInputError": 400,
    "ProviderError": 502,
    "CallFailed": 503,
    "CircuitOpen": 503,
    "ProviderRateLimited": 429,
    "ProviderQuotaExceeded": 429,
    "ProviderTimeout": 504,
    "ProviderUnavailable": 503,
    "ProviderAuthError": 502,
    "UnknownProvider": 502,
    "ProviderBadRequest": 400,
    "ContextLengthExceeded": 400,
    "ParamsRefused": 400,
    "PolicyError": 403,
    "PolicyDenied": 403,
    "RateLimitExceeded": 429,
    "BudgetExceeded": 429,
    "AgentError": 400,
    "AgentNotFound": 404,
    "AgentTerminated": 409,
    "AgentTimeout": 504,
    "MailboxFull": 429,
}

# Keyword arguments each class needs, beyond its message.
_ARGS: dict[str, dict[str, Any]] = {
    "ServiceGraphError": {"chain": ["a", "b"]},
    "PluginError": {"group": "agentrt.services", "name": "x"},
    "StoreError": {"dialect": "sqlite", "retryable": True},
    "CapabilityError": {"model": "m", "capability": "tools"},
    "OutputValidationError": {"model": "m", "errors": "e", "output": "o"},
    "ToolArgumentsError": {"tool": "t"},
    "PromptError": {"prompt": "triage"},
    "PromptInputError": {"prompt": "triage", "input": "ticket"},
    "CallFailed": {"attempts": []},
    "CircuitOpen": {"provider": "p", "retry_after": 12.2},
    "ProviderRateLimited": {"retry_after": 4},
    "RateLimitExceeded": {"scope": "user", "limit": "rpm", "retry_after": 0.2},
    "BudgetExceeded": {"scope": "tenant", "budget": "cost"},
    "ParamsRefused": {"client_message": "model 'm': no temperature with thinking", "param": "temperature"},
}


def exported_error_classes() -> list[type[Exception]]:
    return [
        obj for name in errors.__all__ if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, Exception)
    ]


def build(cls: type[Exception]) -> Exception:
    name = cls.__name__
    if name == "ConfigError":
        return errors.ConfigError([errors.ConfigProblem("server.port", "not a port")])
    if name == "ServiceStopError":
        return errors.ServiceStopError({"store": RuntimeError("disk full")})
    if name == "NoRuntimeError":
        return errors.NoRuntimeError()
    return cls(f"a {name} happened", **_ARGS.get(name, {}))


def test_every_exported_error_class_has_a_status() -> None:
    names = {cls.__name__ for cls in exported_error_classes()}
    assert names - set(EXPECTED_STATUS) == set(), "add the new error classes to the table (and to errors.py's map)"


@pytest.mark.parametrize("cls", exported_error_classes(), ids=lambda cls: cls.__name__)
def test_each_error_class_maps_to_its_status_in_openai_shape(cls: type[Exception]) -> None:
    exc = build(cls)
    with capture_logs():
        info = describe_error(exc)
    assert info.status == EXPECTED_STATUS[cls.__name__]
    body = orjson.loads(error_body(info, "rid-1"))
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code", "request_id"}
    assert body["error"]["request_id"] == "rid-1"
    if isinstance(exc, errors.ProviderError):
        # A provider's text (and the config paths agentrt's own messages name) stays in the log.
        assert str(exc) not in body["error"]["message"]
        assert body["error"]["code"]
    else:
        assert body["error"]["message"] == str(exc)  # agentrt's messages say what to do, and carry no secret
    assert isinstance(body["error"]["type"], str)


def test_a_parameter_agentrt_refused_is_told_in_its_words_without_configuration_paths() -> None:
    refused = errors.ParamsRefused(
        "anthropic: model 'claude': no temperature but 1 with thinking; change the request, or set "
        "providers.anthropic.options.drop_params: true",
        client_message="model 'claude': no temperature but 1 with thinking; change the request",
        param="temperature",
    )
    for exc in (refused, _failed_with(refused)):
        info = describe_error(exc)
        assert (info.status, info.code, info.param) == (400, "invalid_parameter", "temperature")
        assert info.message == "model 'claude': no temperature but 1 with thinking; change the request"
        assert info.headers["x-should-retry"] == "false"


def _failed_with(cause: Exception) -> errors.CallFailed:
    failed = errors.CallFailed("every attempt failed", attempts=[])
    failed.__cause__ = cause
    return failed


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    assert describe_error(errors.RateLimitExceeded("x", scope="u", limit="rpm", retry_after=0.2)).headers == {
        "Retry-After": "1"
    }
    assert describe_error(errors.ProviderRateLimited("x", retry_after=4.01)).headers == {"Retry-After": "5"}
    assert describe_error(errors.CircuitOpen("x", provider="p", retry_after=12.0)).headers == {"Retry-After": "12"}
    assert describe_error(errors.ProviderRateLimited("x")).headers == {}  # the provider did not say
    assert describe_error(errors.MailboxFull("x", agent="a")).headers == {"Retry-After": "1"}


def test_a_budget_says_when_it_resets() -> None:
    resets = datetime.now(UTC) + timedelta(hours=1)
    info = describe_error(errors.BudgetExceeded("x", scope="tenant", budget="cost", resets_at=resets))
    assert (info.status, info.code) == (429, "budget_exceeded")
    assert 3590 <= int(info.headers["Retry-After"]) <= 3600
    never = describe_error(errors.BudgetExceeded("x", scope="tenant", budget="cost"))
    assert "Retry-After" not in never.headers  # a budget without a period never resets: waiting will not help


def test_a_failed_call_maps_by_its_last_error() -> None:
    def failed(cause: Exception) -> errors.CallFailed:
        exc = errors.CallFailed("every model failed", attempts=[])
        exc.__cause__ = cause
        return exc

    with capture_logs():
        limited = describe_error(failed(errors.ProviderRateLimited("slow down", retry_after=3)))
        assert (limited.status, limited.headers) == (429, {"Retry-After": "3"})
        assert describe_error(failed(errors.ProviderTimeout("late"))).status == 504
        assert describe_error(failed(errors.ProviderUnavailable("down"))).status == 503
        context = describe_error(failed(errors.ContextLengthExceeded("prompt is too long: 300000 tokens")))
        bad = describe_error(failed(errors.ProviderBadRequest("unknown field 'x'")))
        quota = describe_error(failed(errors.ProviderQuotaExceeded("You exceeded your current quota")))
    assert (context.status, context.code) == (400, "context_length_exceeded")
    assert context.headers == {"x-should-retry": "false"}
    assert (bad.status, bad.code) == (400, "upstream_rejected_request")
    assert (quota.status, quota.type, quota.code) == (429, "insufficient_quota", "insufficient_quota")
    assert quota.headers == {"x-should-retry": "false"}  # the openai SDK retries a 429 unless told not to


def test_specific_codes_and_params() -> None:
    unknown = describe_error(errors.UnknownModel("no model 'x'", model="x"))
    assert (unknown.code, unknown.param) == ("model_not_found", "model")
    context = describe_error(errors.CapabilityError("too long", model="m", capability="context"))
    assert (context.status, context.code) == (400, "context_length_exceeded")
    assert describe_error(errors.StoreError("locked", dialect="sqlite", retryable=False)).status == 500


def test_an_unexpected_error_is_a_500_with_a_generic_message_and_a_logged_traceback() -> None:
    with capture_logs() as logs:
        info = describe_error(ZeroDivisionError("secret internals"))
    assert info.status == 500
    assert "secret internals" not in info.message
    assert "internal server error" in info.message
    [record] = logs
    assert record["event"] == "http_unexpected_error"
    assert record["error_id"] in info.message
    assert isinstance(record["exc_info"], ZeroDivisionError)


def test_an_http_error_is_answered_as_raised() -> None:
    info = describe_error(HttpError(418, "short and stout", code="teapot", param="body"))
    assert (info.status, info.message, info.code, info.param) == (418, "short and stout", "teapot", "body")


class Broken:
    """A policy hook with a bug in it."""

    async def admit(self, admission: Admission) -> object | None:
        return 1 / 0

    async def settle(self, reservation: object | None, usage: object, cost: float | None) -> None:
        return None

    async def release(self, reservation: object | None) -> None:
        return None


async def test_a_bug_behind_a_route_is_a_generic_500_and_its_traceback_is_logged(
    up: FakeUpstream, tmp_path: Path
) -> None:
    async with serving(up, tmp_path, overrides=[(PolicyHook, Broken())]) as s, aiohttp.ClientSession() as http:
        body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(s.url + "/v1/chat/completions", json=body, headers=auth()) as response:
            assert response.status == 500
            error = (await response.json())["error"]
        records = [r for r in log_records(s.rt) if r["event"] == "http_unexpected_error"]
    assert error["code"] == "internal_error"
    assert "division" not in error["message"]
    assert len(records) == 1
    assert "ZeroDivisionError" in records[0]["exception"]
    assert records[0]["error_id"] in error["message"]


# --- nothing of an upstream's text, a secret or a config path reaches a client ---------------


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_error_body_and_config_paths_stay_in_the_log(
    served: Served, http: aiohttp.ClientSession, stream: bool
) -> None:
    served.up.script(Fault(status=401, message="Incorrect API key provided: sk-upst***CRET. db password=hunter2"))
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with http.post(served.url + "/v1/chat/completions", json=body, headers=auth()) as response:
        raw = await response.read()
        assert response.status == 502
    error = orjson.loads(raw)["error"]
    assert error["code"] == "upstream_auth_failed"
    for leak in (b"hunter2", b"Incorrect API key", b"providers.oai", b"api_key", b"sk-upst"):
        assert leak not in raw
    assert error["request_id"] == response.headers["x-request-id"]
    logged = [r for r in log_records(served.rt) if r["event"] == "http_upstream_error"]
    assert logged
    assert "Incorrect API key" in (logged[0]["cause"] or "") + logged[0]["error"]


@pytest.mark.parametrize("stream", [False, True])
async def test_context_length_is_a_400_the_openai_sdk_does_not_resend(served: Served, stream: bool) -> None:
    import openai

    served.up.script(Fault(error_code="context_length_exceeded", times=5))
    client = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=USER_KEY, max_retries=2)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    assert caught.value.code == "context_length_exceeded"
    # The words LiteLLM maps to its ContextWindowExceededError (its context-window fallbacks act on it).
    assert "is longer than the model's context length" in caught.value.message
    assert len([r for r in served.up.requests if r.path.endswith("/chat/completions")]) == 1


async def test_an_agentrt_quota_error_is_insufficient_quota_and_not_resent(served: Served) -> None:
    import openai

    served.up.script(Fault(status=429, error_code="insufficient_quota", message="You exceeded your quota", times=5))
    client = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=USER_KEY, max_retries=2)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="plain", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "insufficient_quota"
    assert len([r for r in served.up.requests if r.path.endswith("/chat/completions")]) == 1
