"""Context binding: ids that every log line inside a block carries.

Built on structlog's contextvars, so values bound here and with
``structlog.contextvars.bind_contextvars`` mix freely, and an asyncio task
started inside the block inherits them (tasks copy the context at creation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from structlog.contextvars import bind_contextvars, reset_contextvars

__all__ = ["bind_context"]


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` (request, agent, user ids...) to every log line logged inside the block.

    On exit the previous values come back exactly, including "unset", also
    when blocks nest or bind the same key. Works in sync and async code alike::

        with bind_context(request_id=rid, user="alice"):
            log.info("request_started")          # request_id=... user=alice
            await handle(request)                 # and in everything it awaits

    Enter and exit in the same thread or task (contextvars tokens are bound
    to the context that created them).
    """
    tokens = bind_contextvars(**values)
    try:
        yield
    finally:
        reset_contextvars(**tokens)
