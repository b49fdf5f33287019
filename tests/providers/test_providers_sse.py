"""The SSE parser: the WHATWG rules, and the same events however the bytes are split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentrt.providers._sse import SSEEvent, SSEParser


def parse(*chunks: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_fields_comments_and_multi_line_data() -> None:
    body = (
        b": a comment, ignored\n"
        b"event: message_start\n"
        b'data: {"a": 1}\n'
        b"\n"
        b"data: first line\n"
        b"data:second line\n"
        b"id: 7\n"
        b"retry: 100\n"
        b"unknown: field\n"
        b"\n"
    )
    assert parse(body) == [
        SSEEvent("message_start", b'{"a": 1}'),
        SSEEvent("message", b"first line\nsecond line"),
    ]


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert parse(b"data:  two spaces\n\n") == [SSEEvent("message", b" two spaces")]


def test_a_field_without_a_colon_has_an_empty_value() -> None:
    assert parse(b"data\n\n") == [SSEEvent("message", b"")]


def test_blank_lines_without_data_dispatch_nothing_and_reset_the_event_name() -> None:
    assert parse(b"event: ping\n\n\n\ndata: x\n\n") == [SSEEvent("message", b"x")]


def test_crlf_and_cr_line_endings() -> None:
    assert parse(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n") == [
        SSEEvent("message", b"a"),
        SSEEvent("message", b"b"),
        SSEEvent("message", b"c"),
    ]


def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    assert parse(b"data: a\r", b"\ndata: b\r\n\r", b"\n") == [SSEEvent("message", b"a\nb")]


def test_an_event_cut_off_by_the_end_of_the_body_is_not_dispatched() -> None:
    assert parse(b'data: complete\n\ndata: {"half": ') == [SSEEvent("message", b"complete")]


def test_a_line_longer_than_any_buffer_arrives_whole() -> None:
    big = b"x" * 1_000_000
    chunks = [b"data: "] + [big[i : i + 65536] for i in range(0, len(big), 65536)] + [b"\n\n"]
    assert parse(*chunks) == [SSEEvent("message", big)]


_text = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b)
_events = st.lists(
    st.tuples(st.sampled_from(["", "message_start", "delta"]), st.lists(_text, min_size=1, max_size=3)),
    max_size=6,
)


@given(
    events=_events,
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_any_split_of_any_stream_gives_the_same_events(
    events: list[tuple[str, list[bytes]]], ending: bytes, cuts: list[int]
) -> None:
    body = b""
    for name, lines in events:
        if name:
            body += b"event: " + name.encode() + ending
        for line in lines:
            body += b"data: " + line + ending
        body += ending
    expected = [SSEEvent(name or "message", b"\n".join(lines)) for name, lines in events]
    points = sorted({min(c, len(body)) for c in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert parse(*chunks) == expected
