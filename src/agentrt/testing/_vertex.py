"""Gemini on Vertex AI: Gemini's generateContent format, authorised by an OAuth access token.

Bodies, answers and errors are Gemini's (see :mod:`agentrt.testing._google`);
the requests go to ``/v1/projects/{p}/locations/{l}/publishers/google/models/
{model}:{method}`` with ``Authorization: Bearer <token>``. The token is one the
fake's token endpoint issued (``FakeUpstream.token_uri``) to a trusted service
account (``FakeUpstream.trust_service_account``), or the fake's ``api_key``.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.testing._google import GoogleDialect
from agentrt.testing._script import Api

__all__ = ["VertexDialect", "grant_token"]

_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class VertexDialect(GoogleDialect):
    api: Api = "vertex"

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        return hmac.compare_digest(headers.get("authorization", ""), f"Bearer {api_key}")

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        message = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
        return 401, self.error(401, message, "UNAUTHENTICATED")


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def grant_token(
    form: Mapping[str, str], token_uri: str, trusted: Mapping[str, bytes], issued: set[str]
) -> tuple[int, dict[str, Any]]:
    """Google's OAuth token endpoint for a service account's signed JWT (RFC 7523): a token, or its 400."""
    if form.get("grant_type") != _JWT_BEARER:
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
    try:
        header_b64, claims_b64, signature_b64 = str(form.get("assertion", "")).split(".")
        header, claims = orjson.loads(_b64(header_b64)), orjson.loads(_b64(claims_b64))
    except (ValueError, orjson.JSONDecodeError):
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: malformed assertion."}
    key = trusted.get(str(claims.get("iss")))
    if header.get("alg") != "RS256" or key is None:
        return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public = serialization.load_pem_public_key(key)
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        signed = f"{header_b64}.{claims_b64}".encode()
        public.verify(_b64(signature_b64), signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    now = time.time()
    # google-auth names Google's own endpoint as the audience whatever the token_uri; both are accepted.
    if claims.get("aud") not in (token_uri, _GOOGLE_TOKEN_URI):
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token"}
    if not (float(claims.get("iat", 0)) - 300 <= now <= float(claims.get("exp", 0)) + 300):
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token"}
    if _CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
        return 400, {"error": "invalid_scope", "error_description": "Vertex AI needs the cloud-platform scope."}
    token = "ya29.fake-" + secrets.token_urlsafe(24)
    issued.add(token)
    return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
