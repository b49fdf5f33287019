"""Provider reasoning state through the OpenAI format and back: Gemini 3's ``thoughtSignature``,
Anthropic's signed thinking blocks.

Both APIs refuse the next turn of a tool loop unless that state comes back
unchanged; agentrt keeps it in ``ToolCall.provider_data``. An OpenAI client
knows nothing of it, so the gateway hands it out twice:

- as LiteLLM does: ``provider_specific_fields`` on each tool call (the call's
  ``provider_data`` as is) and ``thinking_blocks`` on the assistant message;
  clients that keep unknown fields send them back (LiteLLM, and any client that
  echoes the message it got);
- inside the tool call's ``id``: ``<provider id>__agentrt__<data>``, the data
  being the compressed JSON in URL-safe base64. Every OpenAI client sends
  the id back, on the assistant's ``tool_calls`` and on the ``tool`` message
  answering it, so even a client that rebuilds messages from ids alone keeps
  the loop going. The gateway takes the data out again before the provider
  sees the id.

A call without provider data keeps its id as the provider gave it.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson

from agentrt.providers._anthropic_wire import THINKING_BLOCKS

__all__ = ["THINKING_BLOCKS", "decode_call_id", "encode_call_id", "thinking_blocks"]

_MARK = "__agentrt__"


def encode_call_id(call_id: str, provider_data: dict[str, Any] | None) -> str:
    """The id a client sees for a call: the provider's, and its provider data when it has any."""
    if not provider_data:
        return call_id
    packed = zlib.compress(orjson.dumps(provider_data, option=orjson.OPT_SORT_KEYS), 9)
    return call_id + _MARK + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode_call_id(seen: str) -> tuple[str, dict[str, Any] | None]:
    """The provider's id and the provider data an id a client sent back carries (None: none, or not ours)."""
    call_id, mark, payload = seen.partition(_MARK)
    if not mark:
        return seen, None
    try:
        packed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        data = orjson.loads(zlib.decompress(packed))
    except (binascii.Error, ValueError, zlib.error, orjson.JSONDecodeError):
        return seen, None  # not what the gateway made: the client's own id, passed on as it is
    return (call_id, data) if isinstance(data, dict) else (seen, None)


def thinking_blocks(provider_data: dict[str, Any] | None) -> list[Any] | None:
    """Anthropic's thinking blocks in a call's provider data (LiteLLM's ``thinking_blocks``), if any."""
    blocks = (provider_data or {}).get(THINKING_BLOCKS)
    return blocks if isinstance(blocks, list) and blocks else None
