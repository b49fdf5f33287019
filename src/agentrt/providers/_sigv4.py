"""AWS Signature Version 4 for one HTTP request, written from AWS's specification.

Tested against AWS's published SigV4 test suite (tests/fixtures/sigv4). The
steps, in AWS's words: a *canonical request* (method, normalised and
URI-encoded path, sorted query, lower-cased sorted headers with trimmed
values, the names of the signed headers, the SHA-256 of the body), a *string
to sign* (algorithm, timestamp, credential scope, hash of the canonical
request), a *signing key* derived by HMAC from the secret key, date, region
and service, and the ``Authorization`` header carrying the signature.

The path is encoded as it goes on the wire and then once more (every service
but S3 does this), so a Bedrock model id ``anthropic.claude-v2:1`` sent as
``/model/anthropic.claude-v2%3A1/converse`` is signed as ``...%253A1...``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "AwsCredentials",
    "canonical_request",
    "credentials_from_env",
    "sign_request",
    "signature",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key, its secret and (for temporary credentials) the session token."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never the secret, not even in a traceback's locals
        token = self.session_token is not None
        return f"AwsCredentials(access_key_id={self.access_key_id[:4]}..., session_token={token})"


def credentials_from_env(environ: Mapping[str, str] | None = None) -> AwsCredentials | None:
    """The standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` variables."""
    env = os.environ if environ is None else environ
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return AwsCredentials(key, secret, env.get("AWS_SESSION_TOKEN") or None)


def _normalise_path(path: str) -> str:
    """Dot segments resolved and repeated slashes collapsed, a trailing slash kept (RFC 3986, as AWS does)."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normal = "/" + "/".join(segments)
    if path.endswith(("/", "/.", "/..")) and normal != "/":
        normal += "/"
    return normal


def _encode(text: str) -> str:
    # AWS's unreserved characters are A-Z a-z 0-9 - _ . ~; everything else is %XX of its UTF-8 bytes.
    return quote(text, safe="-_.~")


def _canonical_query(query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((_encode(unquote(key)), _encode(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _header_value(value: str) -> str:
    # Folded lines become one, inner runs of spaces one space, ends trimmed.
    return " ".join(value.split())


def canonical_request(
    method: str, path: str, query: str, headers: Iterable[tuple[str, str]], payload_hash: str
) -> tuple[str, str]:
    """The canonical request and the ``SignedHeaders`` list, for a path and query as sent on the wire."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.strip().lower(), []).append(_header_value(value))
    names = sorted(merged)
    canonical_headers = "".join(f"{name}:{','.join(merged[name])}\n" for name in names)
    signed = ";".join(names)
    uri = quote(_normalise_path(path or "/"), safe="/-_.~")
    text = "\n".join([method.upper(), uri, _canonical_query(query), canonical_headers, signed, payload_hash])
    return text, signed


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """The string to sign: algorithm, timestamp, scope and the canonical request's SHA-256."""
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def signature(secret_access_key: str, date: str, region: str, service: str, to_sign: str) -> str:
    """The hex signature of ``to_sign`` with the key derived for (date, region, service)."""
    key = ("AWS4" + secret_access_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to add to a request so that AWS accepts it: ``x-amz-date``, the session token, ``authorization``.

    ``headers`` are the ones the request will carry and that are signed
    (``host`` is taken from the URL when absent; ``content-type`` is worth
    signing). Other headers (user-agent, accept) may be added after signing.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    added = {"x-amz-date": amz_date}
    if credentials.session_token:
        added["x-amz-security-token"] = credentials.session_token
    signed_headers = {name.lower(): value for name, value in headers.items()}
    signed_headers.setdefault("host", parts.netloc)
    signed_headers.update(added)
    canonical, names = canonical_request(
        method, parts.path, parts.query, signed_headers.items(), hashlib.sha256(body).hexdigest()
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    hex_signature = signature(
        credentials.secret_access_key, amz_date[:8], region, service, string_to_sign(amz_date, scope, canonical)
    )
    added["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={names}, Signature={hex_signature}"
    )
    return added
