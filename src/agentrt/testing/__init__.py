"""Test helpers for code built on agentrt.

:class:`FakeUpstream` is a loopback HTTP server speaking the OpenAI, Anthropic
and Gemini wire formats, scripted with :class:`Reply` and :class:`Fault` items,
recording each :class:`RecordedRequest`; :class:`Recorded` replays bytes
captured from the real APIs.

Names resolve on first use, so ``from agentrt.testing import Reply`` does not
import aiohttp, and ``python -m agentrt.testing.fake_upstream`` does not import
its module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrt._lazy import lazy_exports

if TYPE_CHECKING:
    from agentrt.testing._recorded import Recorded
    from agentrt.testing._script import Fault, RecordedRequest, Reply
    from agentrt.testing.fake_upstream import FakeUpstream

__all__ = ["FakeUpstream", "Fault", "Recorded", "RecordedRequest", "Reply"]

_EXPORTS = {
    "FakeUpstream": "agentrt.testing.fake_upstream",
    "Fault": "agentrt.testing._script",
    "Recorded": "agentrt.testing._recorded",
    "RecordedRequest": "agentrt.testing._script",
    "Reply": "agentrt.testing._script",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
