"""Our SigV4 signer against AWS's published test suite (tests/fixtures/sigv4, see SOURCES.md there),
and against botocore's signer for a Bedrock request (a model id with ``:`` in the path)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrt.providers._sigv4 import AwsCredentials, canonical_request, sign_request, signature, string_to_sign

SUITE = Path(__file__).parent.parent / "fixtures" / "sigv4"
KEY = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
WHEN = "20150830T123600Z"
SCOPE = "20150830/us-east-1/service/aws4_request"
# Repeated query keys: the suite sorts them by value too, which we do, but a request of ours never has them;
# the three cases still run. get-space's request line has a raw space in its path: parsed by rsplit below.
CASES = sorted(path.parent for path in SUITE.rglob("*.req"))


def _parse(raw: str) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    head, _, body = raw.partition("\n\n")
    lines = head.split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rsplit(" ", 1)[0]
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[:1] in (" ", "\t"):  # a folded line continues the previous header's value
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, path, query, headers, body.encode()


@pytest.mark.parametrize("case", CASES, ids=lambda p: str(p.relative_to(SUITE)))
def test_sigv4_suite_case(case: Path) -> None:
    name = case.name
    expected_creq = (case / f"{name}.creq").read_text()
    method, path, query, headers, body = _parse((case / f"{name}.req").read_text())
    if name == "get-vanilla-with-session-token":  # the suite signs the token without listing it in the .req
        token = next(line.split(":", 1)[1] for line in expected_creq.splitlines() if line.startswith("x-amz-security"))
        headers.append(("X-Amz-Security-Token", token))
    creq, signed = canonical_request(method, path, query, headers, hashlib.sha256(body).hexdigest())
    assert creq == expected_creq
    sts = string_to_sign(WHEN, SCOPE, creq)
    assert sts == (case / f"{name}.sts").read_text()
    hex_signature = signature(KEY.secret_access_key, WHEN[:8], "us-east-1", "service", sts)
    authz = f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{SCOPE}, SignedHeaders={signed}, Signature={hex_signature}"
    assert authz == (case / f"{name}.authz").read_text()


def test_sigv4_suite_is_complete() -> None:
    # The suite as published has 34 signed requests; a lost fixture must not pass as fewer tests.
    assert len(CASES) == 34


def test_sign_request_matches_botocore_for_a_bedrock_call() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    moment = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)
    ours = sign_request(
        "POST",
        url,
        {"content-type": "application/json"},
        body,
        credentials=AwsCredentials("AKIDEXAMPLE", "secret/key+value", "session-token-value"),
        region="eu-west-1",
        service="bedrock",
        now=moment,
    )
    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json"})
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "secret/key+value", "session-token-value"), "bedrock", "eu-west-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None)):
        signer.add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-security-token"] == "session-token-value"
    assert ours["x-amz-date"] == "20260301T093005Z"


def test_credentials_repr_hides_the_secret() -> None:
    shown = repr(AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI-SECRET", "token-SECRET"))
    assert "SECRET" not in shown


_SEGMENT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#%\x00"), min_size=1, max_size=12)
_QUERY_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="&=#%\x00"), max_size=8)
_HEADER_NAME = st.from_regex(r"x-[a-z0-9-]{1,10}", fullmatch=True)
_HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    segments=st.lists(_SEGMENT, min_size=1, max_size=4),
    query=st.lists(st.tuples(_QUERY_TEXT.filter(bool), _QUERY_TEXT), max_size=3, unique_by=lambda kv: kv[0]),
    headers=st.dictionaries(_HEADER_NAME, _HEADER_VALUE, max_size=3),
    body=st.binary(max_size=64),
    token=st.one_of(st.none(), st.text(alphabet="abcdefABCDEF0123456789+/=", min_size=8, max_size=30)),
)
def test_sign_request_agrees_with_botocore_on_any_request(
    segments: list[str], query: list[tuple[str, str]], headers: dict[str, str], body: bytes, token: str | None
) -> None:
    from urllib.parse import quote

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = "/" + "/".join(quote(segment, safe="") for segment in segments)
    search = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    url = f"https://bedrock-runtime.us-west-2.amazonaws.com{path}" + (f"?{search}" if search else "")
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    ours = sign_request(
        "POST",
        url,
        headers,
        body,
        credentials=AwsCredentials("AKIDEXAMPLE", "secret", token),
        region="us-west-2",
        service="bedrock",
        now=moment,
    )
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None)):
        SigV4Auth(Credentials("AKIDEXAMPLE", "secret", token), "bedrock", "us-west-2").add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]
