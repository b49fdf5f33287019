"""Our AWS event-stream framing: AWS's example frames (tests/fixtures/eventstream, from botocore's tests),
a round trip of any message in any split (Hypothesis), corrupt bytes refused, and botocore's decoder
reading what we encode."""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.providers._eventstream import EventStreamError, EventStreamParser, encode_message

VECTORS = json.loads((Path(__file__).parent.parent / "fixtures" / "eventstream" / "vectors.json").read_text())


def _as_botocore(value: Any) -> Any:
    # botocore reports a timestamp header as int milliseconds and a UUID header as its 16 bytes.
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


def _expected(spec: dict[str, Any]) -> Any:
    ((kind, value),) = spec.items()
    return bytes.fromhex(value) if kind == "bytes" else value


@pytest.mark.parametrize("case", VECTORS["positive"], ids=lambda c: c["name"])
def test_eventstream_decodes_the_example_frames(case: dict[str, Any]) -> None:
    frame = bytes.fromhex(case["frame"])
    parser = EventStreamParser()
    # Byte by byte: every split point of the frame is a piece boundary once.
    messages = [message for i in range(len(frame)) for message in parser.feed(frame[i : i + 1])]
    assert len(messages) == 1
    assert parser.pending == 0
    (message,) = messages
    assert {k: _as_botocore(v) for k, v in message.headers.items()} == {
        k: _expected(v) for k, v in case["headers"].items()
    }
    assert message.payload == bytes.fromhex(case["payload"])


@pytest.mark.parametrize("case", VECTORS["negative"], ids=lambda c: c["name"])
def test_eventstream_refuses_the_corrupt_example_frames(case: dict[str, Any]) -> None:
    with pytest.raises(EventStreamError):
        EventStreamParser().feed(bytes.fromhex(case["frame"]))


_HEADER_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.uuids(),
    st.integers(min_value=0, max_value=2**41).map(lambda ms: datetime.fromtimestamp(ms / 1000, UTC)),
)
_MESSAGES = st.tuples(
    st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda n: len(n.encode()) < 256), _HEADER_VALUES, max_size=6
    ),
    st.binary(max_size=300),
)


@given(messages=st.lists(_MESSAGES, min_size=1, max_size=4), cuts=st.lists(st.integers(min_value=1, max_value=64)))
def test_eventstream_round_trip_in_any_split(messages: list[tuple[dict[str, Any], bytes]], cuts: list[int]) -> None:
    stream = b"".join(encode_message(headers, payload) for headers, payload in messages)
    parser = EventStreamParser()
    decoded = []
    at = 0
    for size in [*cuts, len(stream)]:
        decoded += parser.feed(stream[at : at + size])
        at += size
    decoded += parser.feed(stream[at:])
    assert parser.pending == 0
    assert [(dict(m.headers), m.payload) for m in decoded] == [(h, p) for h, p in messages]


@given(message=_MESSAGES, data=st.data())
def test_eventstream_refuses_any_flipped_bit(message: tuple[dict[str, Any], bytes], data: st.DataObject) -> None:
    frame = bytearray(encode_message(*message))
    bit = data.draw(st.integers(min_value=0, max_value=len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    parser = EventStreamParser()
    try:
        decoded = parser.feed(bytes(frame))
    except EventStreamError:
        return
    # A flipped length bit may announce a longer message: nothing is delivered, the bytes wait (a cut stream).
    assert decoded == []
    assert parser.pending == len(frame)


def test_eventstream_crc_is_zlib_crc32_of_the_prelude() -> None:
    frame = encode_message({":event-type": "messageStop"}, b"{}")
    assert int.from_bytes(frame[8:12], "big") == zlib.crc32(frame[:8])


def test_botocore_reads_what_we_encode() -> None:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    headers = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
    payload = b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'
    buffer.add_data(encode_message(headers, payload))
    (message,) = list(buffer)
    assert message.headers == headers
    assert message.payload == payload
