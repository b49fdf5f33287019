"""The reasoning the fake handed out, so that it can check the client sends it back unchanged.

Anthropic signs each thinking block, and Gemini signs function calls with a
``thoughtSignature``; both refuse a later turn whose signed parts were altered.
The fake cannot verify a signature, so it remembers those it issued (and those
found in recorded replies it replayed) and refuses any other.
"""

from __future__ import annotations

import base64
import re
import threading

__all__ = ["ReasoningLedger"]

# A recorded reply's signatures: Anthropic's signature_delta / thinking block, Gemini's thoughtSignature.
_RECORDED_SIGNATURE = re.compile(rb'"(?:signature|thoughtSignature)"\s*:\s*"([^"]+)"')


class ReasoningLedger:
    """Signatures issued, each with the thinking text it signs (None: any text, for recorded replies)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thinking: dict[str, str | None] = {}
        self._count = 0

    def sign(self, thinking: str) -> str:
        """A new signature for ``thinking``, remembered."""
        with self._lock:
            self._count += 1
            signature = base64.b64encode(f"agentrt-fake-signature-{self._count:06d}".encode()).decode()
            self._thinking[signature] = thinking
        return signature

    def learn_recorded(self, raw: bytes) -> None:
        """Accept the signatures a recorded reply carries, whatever text comes with them."""
        found = [m.decode() for m in _RECORDED_SIGNATURE.findall(raw) if m]
        with self._lock:
            for signature in found:
                self._thinking.setdefault(signature, None)

    def issued(self, signature: str) -> bool:
        with self._lock:
            return signature in self._thinking

    def matches(self, signature: str, thinking: str) -> bool:
        """Whether ``signature`` was issued for exactly this thinking text."""
        with self._lock:
            if signature not in self._thinking:
                return False
            expected = self._thinking[signature]
        return expected is None or expected == thinking

    def clear(self) -> None:
        with self._lock:
            self._thinking.clear()
            self._count = 0
