"""Test helpers for code built on agentrt.

:class:`FakeUpstream` is a loopback HTTP server speaking the OpenAI, Anthropic
and Gemini wire formats, scripted with :class:`Reply` and :class:`Fault` items,
recording each :class:`RecordedRequest`.

Names resolve on first use, so ``from agentrt.testing import Reply`` does not
import aiohttp, and ``python -m agentrt.testing.fake_upstream`` does not import
its module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentrt.testing._script import Fault, RecordedRequest, Reply
    from agentrt.testing.fake_upstream import FakeUpstream

__all__ = ["FakeUpstream", "Fault", "RecordedRequest", "Reply"]

_EXPORTS = {
    "FakeUpstream": "agentrt.testing.fake_upstream",
    "Fault": "agentrt.testing._script",
    "RecordedRequest": "agentrt.testing._script",
    "Reply": "agentrt.testing._script",
}


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'agentrt.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
