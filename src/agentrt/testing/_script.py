"""What a test scripts: the replies and faults a FakeUpstream answers with, and what it records.

A script is a FIFO queue consumed one item per chat or embedding request. There
is one global queue and one queue per model name; a request takes from its
model's queue first, then from the global one, and with both empty it gets the
default :class:`Reply` (an echo). The queues are guarded by a lock because a
test thread scripts while the server's loop (maybe in another thread) consumes.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from agentrt.testing._recorded import Recorded

__all__ = ["Fault", "RecordedRequest", "Reply", "ScriptBook"]


@dataclass
class Reply:
    """One scripted successful answer.

    ``text=None`` answers JSON sampled from the request's JSON schema when the
    request asked for JSON, no text when ``tool_calls`` are given, and else
    ``"echo: <last user message text>"``. ``usage=None`` counts ceil(chars / 4)
    of the input and of the output. ``finish_reason=None`` is the format's
    natural one (stop / tool_calls, end_turn / tool_use, STOP). ``delay`` is
    waited before answering (before the first event when streaming);
    ``chunk_size`` is the number of characters per streamed text delta.
    ``thinking`` is the text of the signed thinking block that opens the reply
    when an Anthropic request turned ``thinking`` on (a short default when None).
    """

    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    usage: tuple[int, int] | None = None
    cached_tokens: int = 0
    finish_reason: str | None = None
    delay: float = 0.0
    chunk_size: int = 8
    thinking: str | None = None

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"Reply(chunk_size={self.chunk_size}): use at least 1 character per delta")
        if self.delay < 0:
            raise ValueError(f"Reply(delay={self.delay}): use a delay of 0 or more seconds")


@dataclass
class Fault:
    """One scripted failure, applied to ``times`` consecutive requests.

    In the order they are applied: ``delay`` is waited first (with nothing else
    set, the request is then answered normally, with the default reply);
    ``drop`` closes the connection without a response; ``malformed`` answers 200
    with a body that is not JSON (streaming: a garbage SSE data line);
    ``cut_stream_after`` sends that many stream events (never the last one) and
    closes the connection abruptly (a plain request gets its headers and half its
    body); ``status`` answers that HTTP status in the provider's own error shape,
    with a ``Retry-After`` header when ``retry_after`` is set.
    ``error_code="context_length_exceeded"`` answers the provider's own
    context-length error (status 400 unless ``status`` says otherwise); another
    ``error_code`` fills the provider's error-kind field (OpenAI ``code``,
    Anthropic ``error.type``, Gemini ``status``).
    """

    status: int | None = None
    message: str = "injected fault"
    retry_after: float | None = None
    error_code: str | None = None
    delay: float = 0.0
    drop: bool = False
    malformed: bool = False
    cut_stream_after: int | None = None
    times: int = 1

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError(f"Fault(times={self.times}): use 1 or more requests for a fault to apply to")
        if self.delay < 0:
            raise ValueError(f"Fault(delay={self.delay}): use a delay of 0 or more seconds")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"Fault(status={self.status}): use an error status, 400 to 599")
        if self.cut_stream_after is not None and self.cut_stream_after < 0:
            raise ValueError(f"Fault(cut_stream_after={self.cut_stream_after}): use 0 or more events")


Api = Literal["openai", "anthropic", "google", "azure", "bedrock", "vertex", "ollama"]
ScriptItem = Reply | Fault | Recorded


@dataclass
class RecordedRequest:
    """One request the fake received, as the client sent it.

    ``model`` is the model the request named (Gemini's without ``models/``),
    ``headers`` have lower-case keys, ``body`` is the decoded JSON (None when
    there was no JSON body), ``query`` the URL's query parameters.
    ``rejection`` is why the fake refused the request (the error message it
    answered: bad credentials, a body the real API would refuse), None when
    it was answered as scripted.
    """

    api: Api
    path: str
    model: str | None
    headers: dict[str, str]
    body: Any
    stream: bool
    query: dict[str, str] = field(default_factory=dict)
    rejection: str | None = None


class _Entry:
    """A queued item and how many more requests it applies to."""

    __slots__ = ("item", "remaining")

    def __init__(self, item: ScriptItem) -> None:
        self.item = item
        self.remaining = item.times if isinstance(item, Fault) else 1


class ScriptBook:
    """The global queue and the per-model queues; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._global: deque[_Entry] = deque()
        self._by_model: dict[str, deque[_Entry]] = {}

    def add(self, items: tuple[ScriptItem, ...], model: str | None = None) -> None:
        for item in items:
            if not isinstance(item, Reply | Fault | Recorded):
                raise TypeError(f"script() takes Reply, Fault or Recorded items, not {type(item).__name__}")
        with self._lock:
            queue = self._global if model is None else self._by_model.setdefault(normal_model(model), deque())
            queue.extend(_Entry(item) for item in items)

    def take(self, model: str | None) -> ScriptItem:
        """The item for the next request naming ``model``; the default echo reply when none is queued."""
        with self._lock:
            queue = self._by_model.get(normal_model(model)) if model else None
            if not queue:
                queue = self._global
            if not queue:
                return Reply()
            entry = queue[0]
            entry.remaining -= 1
            if entry.remaining <= 0:
                queue.popleft()
            return entry.item

    def scripted_models(self) -> list[str]:
        with self._lock:
            return list(self._by_model)

    def clear(self) -> None:
        with self._lock:
            self._global.clear()
            self._by_model.clear()


def normal_model(name: str | None) -> str:
    """Gemini names models ``models/x`` in places and ``x`` in others: compare them without the prefix."""
    if not name:
        return ""
    return name.removeprefix("models/")
