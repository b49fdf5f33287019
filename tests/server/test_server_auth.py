"""API keys: hashed lookup, the principal policies see, admin-only routes, reload, and `agentrt keys create`."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml
from server_support import ADMIN_KEY, USER_KEY, Served, auth, log_records, server_config, serving
from typer.testing import CliRunner

from agentrt import Runtime
from agentrt.calls import Admission, Principal
from agentrt.cli.keys_cmd import app as keys_app
from agentrt.config import ApiKeySection, ServerSection
from agentrt.server import ApiKeys, HttpServer, config_line, hash_key, new_api_key
from agentrt.server.errors import HttpError
from agentrt.testing import FakeUpstream

CHAT = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}


def test_a_key_maps_to_its_principal_by_hash() -> None:
    key = new_api_key()
    keys = ApiKeys(
        ServerSection(api_keys=[ApiKeySection(key_sha256=hash_key(key).upper(), user="u", tenant="t", tags=["x"])])
    )
    found = keys.authenticate(f"Bearer {key}")
    assert found.principal == Principal(user="u", tenant="t", api_key=hash_key(key)[:8], tags=("x",))
    assert not found.admin
    assert keys.lookup(key) is found
    assert keys.lookup(key + "x") is None
    assert keys.authenticate(f"bearer   {key}") is found  # the scheme is case-insensitive


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("", "missing_api_key"),
        ("Bearer nope", "invalid_api_key"),
        (f"Basic {USER_KEY}", "invalid_api_key"),
        (USER_KEY, "invalid_api_key"),
    ],
)
def test_a_missing_or_wrong_key_is_a_401(header: str | None, code: str) -> None:
    keys = ApiKeys(ServerSection(api_keys=[ApiKeySection(key_sha256=hash_key(USER_KEY))]))
    with pytest.raises(HttpError) as caught:
        keys.authenticate(header)
    assert (caught.value.info.status, caught.value.info.code) == (401, code)
    assert USER_KEY not in caught.value.info.message


def test_without_configured_keys_every_request_is_refused_with_what_to_do() -> None:
    with pytest.raises(HttpError) as caught:
        ApiKeys(ServerSection()).authenticate(f"Bearer {USER_KEY}")
    assert caught.value.info.status == 401
    assert "agentrt keys create" in caught.value.info.message
    assert "server.api_keys" in caught.value.info.message


def test_a_non_admin_key_on_an_admin_route_is_a_403() -> None:
    keys = ApiKeys(ServerSection(api_keys=[ApiKeySection(key_sha256=hash_key(USER_KEY), name="k")]))
    with pytest.raises(HttpError) as caught:
        keys.authenticate(f"Bearer {USER_KEY}", admin=True)
    assert caught.value.info.status == 403
    assert "admin" in caught.value.info.message


class RecordingPolicy:
    def __init__(self) -> None:
        self.principals: list[Principal] = []

    async def admit(self, admission: Admission) -> object | None:
        self.principals.append(admission.principal)
        return None

    async def settle(self, reservation: object | None, usage: object, cost: float | None) -> None:
        return None

    async def release(self, reservation: object | None) -> None:
        return None


async def test_policies_see_the_principal_of_each_key(up: FakeUpstream, tmp_path: Path) -> None:
    from agentrt.calls import PolicyHook

    policy = RecordingPolicy()
    async with serving(up, tmp_path, overrides=[(PolicyHook, policy)]) as s, aiohttp.ClientSession() as http:
        for key in (USER_KEY, ADMIN_KEY):
            async with http.post(s.url + "/v1/chat/completions", json=CHAT, headers=auth(key)) as response:
                assert response.status == 200
    assert policy.principals == [
        Principal(user="alice", tenant="acme", api_key="alice-laptop", tags=("beta",)),
        Principal(user="root", tenant=None, api_key=hash_key(ADMIN_KEY)[:8], tags=()),
    ]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings"])
async def test_a_refused_key_reaches_no_provider_and_no_log_line(
    served: Served, http: aiohttp.ClientSession, path: str
) -> None:
    wrong = "sk-agentrt-THISisAwrongKEYthatMustNotLeak0"
    async with http.post(served.url + path, json=CHAT, headers=auth(wrong)) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        body = await response.json()
    assert body["error"]["code"] == "invalid_api_key"
    assert served.up.requests == []
    text = orjson.dumps(log_records(served.rt)).decode()
    assert "http_auth_failed" in text
    assert wrong not in text
    assert "THISisAwrongKEY" not in text


async def test_the_operations_endpoints_need_no_key_and_the_api_does(
    served: Served, http: aiohttp.ClientSession
) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        async with http.get(served.url + path) as response:
            assert response.status == 200, path
    for path in ("/v1/models", "/v1/models/default"):
        async with http.get(served.url + path) as response:
            assert response.status == 401, path


async def test_reload_is_for_admin_keys_only(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.post(served.url + "/admin/reload") as response:
        assert response.status == 401
    async with http.post(served.url + "/admin/reload", headers=auth(USER_KEY)) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "admin_key_required"
    async with http.post(served.url + "/admin/reload", headers=auth(ADMIN_KEY)) as response:
        assert response.status == 200
        report = await response.json()
    assert report["applied"] is True
    assert report["version"] == served.rt.config_version


async def test_a_reload_swaps_the_keys_in_at_once(up: FakeUpstream, tmp_path: Path) -> None:
    config_file = tmp_path / "agentrt.yaml"
    config = server_config(up, tmp_path)
    config_file.write_text(yaml.safe_dump(config))
    new_key = new_api_key()
    async with (
        Runtime.open(config_file, plugins=False) as rt,
        HttpServer(rt, port=0) as server,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(server.url + "/v1/models", headers=auth(new_key)) as response:
            assert response.status == 401
        config["server"]["api_keys"] = [
            *config["server"]["api_keys"][1:],  # alice's key is revoked
            yaml.safe_load(config_line(new_key, name="fresh"))[0],
        ]
        config_file.write_text(yaml.safe_dump(config))
        async with http.post(server.url + "/admin/reload", headers=auth(ADMIN_KEY)) as response:
            report = await response.json()
        assert report["applied"] is True
        assert "server" in report["reconfigured"]
        assert report["restart_required"] == []
        assert [c["path"] for c in report["changes"]] == ["server.api_keys"]
        async with http.get(server.url + "/v1/models", headers=auth(new_key)) as response:
            assert response.status == 200
        async with http.get(server.url + "/v1/models", headers=auth(USER_KEY)) as response:
            assert response.status == 401


async def test_an_invalid_reload_changes_nothing_and_says_why(up: FakeUpstream, tmp_path: Path) -> None:
    config_file = tmp_path / "agentrt.yaml"
    config = server_config(up, tmp_path)
    config_file.write_text(yaml.safe_dump(config))
    async with Runtime.open(config_file, plugins=False) as rt, HttpServer(rt, port=0) as server:
        config_file.write_text(yaml.safe_dump({**config, "server": {"api_keys": [{"key_sha256": "short"}]}}))
        async with aiohttp.ClientSession() as http:
            async with http.post(server.url + "/admin/reload", headers=auth(ADMIN_KEY)) as response:
                assert response.status == 200
                report = await response.json()
            assert report["applied"] is False
            assert any("key_sha256" in problem for problem in report["problems"])
            async with http.get(server.url + "/v1/models", headers=auth(USER_KEY)) as response:
                assert response.status == 200


# --- agentrt keys create --------------------------------------------------------------------


def test_keys_create_prints_a_key_once_and_a_line_that_admits_it() -> None:
    result = CliRunner().invoke(
        keys_app,
        [
            "create",
            "--user",
            "bob",
            "--tenant",
            "acme: corp",
            "--name",
            "bob's key",
            "--admin",
            "--tag",
            "a",
            "--tag",
            "b",
        ],
    )
    assert result.exit_code == 0, result.output
    keys = [word for word in result.output.split() if word.startswith("sk-agentrt-")]
    assert len(keys) == 1
    key = keys[0]
    assert len(key) == len("sk-agentrt-") + 32
    line = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("- {"))
    assert key not in line
    entry = ApiKeySection.model_validate(yaml.safe_load(line)[0])
    assert entry.key_sha256 == hash_key(key)
    assert (entry.user, entry.tenant, entry.name, entry.admin, entry.tags) == (
        "bob",
        "acme: corp",
        "bob's key",
        True,
        ["a", "b"],
    )
    found = ApiKeys(ServerSection(api_keys=[entry])).authenticate(f"Bearer {key}", admin=True)
    assert found.principal.user == "bob"


def test_keys_create_takes_scopes_and_a_max_agents() -> None:
    result = CliRunner().invoke(
        keys_app, ["create", "--tenant", "acme", "--scope", "agents:read", "--scope", "chat", "--max-agents", "5"]
    )
    assert result.exit_code == 0, result.output
    key = next(word for word in result.output.split() if word.startswith("sk-agentrt-"))
    line = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("- {"))
    entry = ApiKeySection.model_validate(yaml.safe_load(line)[0])
    assert (entry.scopes, entry.max_agents) == (["agents:read", "chat"], 5)
    found = ApiKeys(ServerSection(api_keys=[entry])).authenticate(f"Bearer {key}")
    assert found.allows("chat")
    assert found.allows("agents:read")
    assert not found.allows("agents:write")
    assert not found.admin
    refused = CliRunner().invoke(keys_app, ["create", "--scope", "agents:everything"])
    assert refused.exit_code != 0
    assert "unknown scope agents:everything" in refused.output


def test_a_key_without_scopes_keeps_every_scope_but_admin_and_admin_true_adds_it() -> None:
    plain, admin, listed = new_api_key(), new_api_key(), new_api_key()
    keys = ApiKeys(
        ServerSection(
            api_keys=[
                ApiKeySection(key_sha256=hash_key(plain)),
                ApiKeySection(key_sha256=hash_key(admin), admin=True),
                ApiKeySection(key_sha256=hash_key(listed), scopes=["admin"]),
            ]
        )
    )
    default = keys.authenticate(f"Bearer {plain}")
    assert all(default.allows(s) for s in ("chat", "embeddings", "agents:read", "agents:write"))
    assert not default.allows("admin")
    assert keys.authenticate(f"Bearer {admin}", admin=True).allows("admin")
    assert keys.authenticate(f"Bearer {listed}", admin=True).allows("agents:write")  # admin covers the rest


def test_every_new_key_is_different() -> None:
    keys = {new_api_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("sk-agentrt-") and len(k) == 43 for k in keys)


def test_a_key_line_without_options_is_a_bare_hash() -> None:
    key = new_api_key()
    assert config_line(key) == f'- {{key_sha256: "{hash_key(key)}"}}'


async def test_the_call_log_names_the_key_and_never_contains_it(served: Served, http: aiohttp.ClientSession) -> None:
    for key in (USER_KEY, ADMIN_KEY, USER_KEY):  # the same keep-alive connection for all three
        async with http.post(served.url + "/v1/chat/completions", json=CHAT, headers=auth(key)) as response:
            assert response.status == 200
    calls = [r for r in log_records(served.rt) if r["event"] == "model_call"]
    assert [r.get("key_name") for r in calls] == ["alice-laptop", hash_key(ADMIN_KEY)[:8], "alice-laptop"]
    text = served.rt.config.logging.file.path.read_text()  # type: ignore[union-attr]
    assert USER_KEY not in text
    assert ADMIN_KEY not in text


def test_a_reload_says_which_server_settings_wait_for_a_restart() -> None:
    from structlog.testing import capture_logs

    keys = ApiKeys(ServerSection(body_timeout=30))
    with capture_logs() as logs:
        keys.reconfigure(ServerSection(body_timeout=5, max_connections=10, metrics_token="t"))
    [warning] = [r for r in logs if r["event"] == "server_settings_need_restart"]
    assert warning["settings"] == ["body_timeout", "max_connections"]  # the token is read per request
