"""Dashboard sessions: a signed cookie naming the API key that logged in, and CSRF tokens bound to it.

The cookie holds ``<payload>.<signature>``: the payload is the session id, the
SHA-256 digest of the key (what ``server.api_keys`` stores, never the key) and
the expiry; the signature is an HMAC-SHA256 of it under the dashboard's secret
(``server.ui.secret``, else random per process). Each request looks the digest
up among the configured keys again, so a key removed or stripped of its
``dashboard`` scope by a reload ends its sessions at once; logging out revokes
the session id in this process.

CSRF: every form carries ``csrf_token``, an HMAC of the session id (htmx sends
it as the ``X-CSRF-Token`` header); before login, the login form's token is
double-submitted (the same random value in a cookie and in the form). The
cookies are also ``SameSite=Strict``, so another site's form cannot send them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "LOGIN_COOKIE", "SESSION_COOKIE", "Session", "Sessions"]

SESSION_COOKIE = "agentrt_ui_session"
LOGIN_COOKIE = "agentrt_ui_login"
"""The login form's double-submitted CSRF value (there is no session yet to bind a token to)."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# Revoked session ids are kept until their cookie would have expired anyway; this caps the memory.
_MAX_REVOKED = 100_000


@dataclass(frozen=True, slots=True)
class Session:
    """A valid session: its id, the digest of the key that logged in, when it ends (epoch seconds)."""

    sid: str
    digest: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one secret."""

    __slots__ = ("_revoked", "_secret", "ttl")

    def __init__(self, secret: bytes | None, ttl: float) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self.ttl = ttl
        self._revoked: dict[str, float] = {}

    def _sign(self, purpose: bytes, payload: bytes) -> bytes:
        return hmac.new(self._secret, purpose + b"\0" + payload, hashlib.sha256).digest()

    def issue(self, digest: str, *, now: float | None = None) -> tuple[str, Session]:
        """A new session for the key whose SHA-256 is ``digest``: the cookie value and the session."""
        now = time.time() if now is None else now
        session = Session(secrets.token_urlsafe(18), digest, now + self.ttl)
        payload = orjson.dumps([session.sid, session.digest, session.expires])
        return f"{_b64(payload)}.{_b64(self._sign(b'session', payload))}", session

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie value holds, or None (absent, tampered with, expired or revoked)."""
        if not cookie or "." not in cookie or len(cookie) > 1024:
            return None
        body, _, signature = cookie.partition(".")
        try:
            payload = _unb64(body)
            valid = hmac.compare_digest(_unb64(signature), self._sign(b"session", payload))
            if not valid:
                return None
            sid, digest, expires = orjson.loads(payload)
            session = Session(str(sid), str(digest), float(expires))
        except (ValueError, TypeError):  # bad base64, JSON, or shape: not a cookie we made
            return None
        now = time.time() if now is None else now
        if session.expires <= now or session.sid in self._revoked:
            return None
        return session

    def revoke(self, session: Session, *, now: float | None = None) -> None:
        """End ``session`` in this process (logout)."""
        now = time.time() if now is None else now
        if len(self._revoked) >= _MAX_REVOKED:
            self._revoked = {sid: end for sid, end in self._revoked.items() if end > now}
        self._revoked[session.sid] = session.expires

    def csrf_token(self, session: Session) -> str:
        """The CSRF token of ``session``'s forms."""
        return _b64(self._sign(b"csrf", session.sid.encode()))[:32]

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf_token(session).encode())


def new_login_token() -> str:
    """The random value double-submitted by the login form."""
    return secrets.token_urlsafe(24)


def same_token(cookie: str | None, field: str | None) -> bool:
    """Whether the login form's field matches its cookie (both present)."""
    return bool(cookie) and bool(field) and hmac.compare_digest(str(cookie).encode(), str(field).encode())
