from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest
from fastapi import FastAPI

from typedsse import BaseEvent, LastEventId, MessageTooLargeError, TypedSSEError, sse
from typedsse.decoding import Decoder, ServerSentMessage, aiter_messages, parse

from conftest import LiveServer


def message(data: str, event: str = "message", event_id: str = "", retry: int | None = None) -> ServerSentMessage:
    return ServerSentMessage(event=event, data=data, id=event_id, retry=retry)


def feed_all(decoder: Decoder, chunks: list[bytes]) -> list[ServerSentMessage]:
    messages = [message for chunk in chunks for message in decoder.feed(chunk)]
    return messages + decoder.close()


# (chunks fed in order, messages dispatched): WHATWG HTML, "Parsing/Interpreting an event stream".
SPEC_CASES = [
    pytest.param([b"\xef\xbb\xbfdata: x\n\n"], [message("x")], id="bom-stripped"),
    pytest.param([b"\xef", b"\xbb", b"\xbfdata: x\n\n"], [message("x")], id="bom-split-across-chunks"),
    pytest.param([b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n"], [], id="bom-stripped-only-once"),
    pytest.param([b"\n\xef\xbb\xbfdata: x\n\n"], [], id="bom-after-first-line-not-stripped"),
    pytest.param([b"data: x\n\n", b"\xef\xbb\xbfdata: y\n\n"], [message("x")], id="bom-mid-stream-not-stripped"),
    pytest.param([b"data: \xef\xbb\xbfx\n\n"], [message("\ufeffx")], id="bom-in-value-kept"),
    pytest.param([b"data: a\ndata: b\n\n"], [message("a\nb")], id="lf"),
    pytest.param([b"data: a\r\ndata: b\r\n\r\n"], [message("a\nb")], id="crlf"),
    pytest.param([b"data: a\rdata: b\r\r"], [message("a\nb")], id="cr"),
    pytest.param([b"data: a\rdata: b\r\ndata: c\n\r\n"], [message("a\nb\nc")], id="mixed-line-ends"),
    pytest.param([b"data: a\n\r\n\rdata: b\r\n\n"], [message("a"), message("b")], id="blank-lines-of-each-kind"),
    pytest.param([b"data: x\r", b"\ndata: y\r\n\r\n"], [message("x\ny")], id="cr-at-chunk-end-then-lf"),
    pytest.param([b"data: x\r", b"", b"\ndata: y\n\n"], [message("x\ny")], id="cr-at-chunk-end-empty-chunk-then-lf"),
    pytest.param([b"data: x\r", b"\rdata: y\n\n"], [message("x"), message("y")], id="cr-at-chunk-end-then-cr"),
    pytest.param([b"data: x\r", b"\n", b"\n"], [message("x")], id="crlf-split-then-lf"),
    pytest.param([b"data: \xc3\xa9\r", b"\xc3", b"\xa9\n\n"], [message("\u00e9")], id="cr-then-split-character"),
    pytest.param([b"data: x\n\r", b"\n"], [message("x")], id="blank-crlf-split"),
    pytest.param([b": comment\ndata: x\n:\n\n"], [message("x")], id="comments-ignored"),
    pytest.param([b":data: x\n\n"], [], id="comment-looking-like-field"),
    pytest.param([b": keep-alive\n\n"], [], id="comment-block-not-dispatched"),
    pytest.param([b"data\n\n"], [message("")], id="field-without-colon"),
    pytest.param([b"data: a\ndata\ndata: b\n\n"], [message("a\n\nb")], id="data-without-colon-gives-empty-line"),
    pytest.param([b"event\ndata: x\n\n"], [message("x")], id="event-without-colon"),
    pytest.param([b"data:x\n\n"], [message("x")], id="no-space-after-colon"),
    pytest.param([b"data: x\n\n"], [message("x")], id="one-leading-space-stripped"),
    pytest.param([b"data:  x\n\n"], [message(" x")], id="second-leading-space-kept"),
    pytest.param([b"data:\tx\n\n"], [message("\tx")], id="leading-tab-kept"),
    pytest.param([b"data: x \n\n"], [message("x ")], id="trailing-space-kept"),
    pytest.param([b"data: a: b\n\n"], [message("a: b")], id="colon-in-value"),
    pytest.param([b"data::\n\n"], [message(":")], id="colon-as-value"),
    pytest.param([b"Data: x\n\n"], [], id="field-name-case-sensitive"),
    pytest.param([b"data : x\n\n"], [], id="space-before-colon-makes-another-field"),
    pytest.param([b"foo: bar\ndata: x\nfoo\n\n"], [message("x")], id="unknown-fields-ignored"),
    pytest.param([b"data: x\n\n"], [message("x")], id="default-type-message"),
    pytest.param([b"event: tick\ndata: x\n\n"], [message("x", event="tick")], id="event-type"),
    pytest.param([b"event:\ndata: x\n\n"], [message("x")], id="empty-event-type-gives-message"),
    pytest.param([b"event: a\nevent: b\ndata: x\n\n"], [message("x", event="b")], id="last-event-field-wins"),
    pytest.param(
        [b"event: a\ndata: x\n\ndata: y\n\n"],
        [message("x", event="a"), message("y")],
        id="event-type-reset-by-dispatch",
    ),
    pytest.param([b"event: a\n\ndata: x\n\n"], [message("x")], id="empty-data-buffer-no-dispatch-even-with-event"),
    pytest.param([b"id: 1\nretry: 5\n\n"], [], id="empty-data-buffer-no-dispatch-even-with-id-and-retry"),
    pytest.param([b"data: x\n\n\n\n"], [message("x")], id="extra-blank-lines-ignored"),
    pytest.param([b"data: x\ndata:\n\n"], [message("x\n")], id="only-one-trailing-lf-removed"),
    pytest.param([b"data:\n\n"], [message("")], id="empty-data"),
    pytest.param([b"data:\ndata:\n\n"], [message("\n")], id="two-empty-data-lines"),
    pytest.param([b"data: a\ndata: b\ndata: c\n\n"], [message("a\nb\nc")], id="data-lines-joined-with-lf"),
    pytest.param([b"data: a\n\ndata: b\n"], [message("a")], id="unterminated-last-event-discarded"),
    pytest.param([b"data: a\n\ndata: b"], [message("a")], id="unterminated-last-line-discarded"),
    pytest.param([b"data: a\n\n\r"], [message("a")], id="trailing-cr-at-end"),
    pytest.param([b"id: 1\ndata: x\n\n"], [message("x", event_id="1")], id="id"),
    pytest.param([b"id:  1 \ndata: x\n\n"], [message("x", event_id=" 1 ")], id="id-spaces-kept"),
    pytest.param(
        [b"id: 1\ndata: a\n\ndata: b\n\n"],
        [message("a", event_id="1"), message("b", event_id="1")],
        id="id-persists-across-events",
    ),
    pytest.param(
        [b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"],
        [message("a", event_id="1"), message("b", event_id="1")],
        id="id-with-nul-ignored",
    ),
    pytest.param(
        [b"id: 1\ndata: a\n\nid\ndata: b\n\n"], [message("a", event_id="1"), message("b")], id="id-without-colon-resets"
    ),
    pytest.param(
        [b"id: 1\ndata: a\n\nid:\ndata: b\n\n"], [message("a", event_id="1"), message("b")], id="id-empty-value-resets"
    ),
    pytest.param([b"id: 7\n\ndata: x\n\n"], [message("x", event_id="7")], id="id-from-undispatched-block-persists"),
    pytest.param([b"id: 1\nid: 2\ndata: x\n\n"], [message("x", event_id="2")], id="last-id-field-wins"),
    pytest.param([b"retry: 1500\ndata: x\n\n"], [message("x", retry=1500)], id="retry"),
    pytest.param([b"retry: 007\ndata: x\n\n"], [message("x", retry=7)], id="retry-leading-zeros"),
    pytest.param([b"retry: 12a\ndata: x\n\n"], [message("x")], id="retry-with-letter-ignored"),
    pytest.param([b"retry: -1\ndata: x\n\n"], [message("x")], id="retry-negative-ignored"),
    pytest.param([b"retry:\ndata: x\n\n"], [message("x")], id="retry-empty-ignored"),
    pytest.param([b"retry\ndata: x\n\n"], [message("x")], id="retry-without-colon-ignored"),
    pytest.param([b"retry:  12\ndata: x\n\n"], [message("x")], id="retry-with-second-space-ignored"),
    pytest.param([b"retry: 1.5\ndata: x\n\n"], [message("x")], id="retry-decimal-ignored"),
    pytest.param([b"retry: 1_0\ndata: x\n\n"], [message("x")], id="retry-underscore-ignored"),
    pytest.param(["retry: \uff11\uff12\ndata: x\n\n".encode()], [message("x")], id="retry-non-ascii-digits-ignored"),
    pytest.param([b"retry: 5\nretry: x\ndata: a\n\n"], [message("a", retry=5)], id="invalid-retry-keeps-valid-one"),
    pytest.param(
        [b"retry: 5\ndata: a\n\ndata: b\n\n"], [message("a", retry=5), message("b")], id="retry-belongs-to-its-block"
    ),
    pytest.param([b"retry: 5\n\ndata: x\n\n"], [message("x")], id="retry-in-undispatched-block-not-on-next"),
    pytest.param([b"data: \xe2\x82", b"\xac\n\n"], [message("\u20ac")], id="multibyte-split-across-chunks"),
    pytest.param(
        [b"data: \xf0", b"\x9f", b"\x98", b"\x80\n\n"], [message("\U0001f600")], id="four-byte-split-in-every-place"
    ),
    pytest.param([b"data: \xff\n\n"], [message("\ufffd")], id="invalid-byte-replaced"),
    pytest.param([b"data: \xe2\x82x\n\n"], [message("\ufffdx")], id="truncated-sequence-replaced-once"),
    pytest.param([b"data: \xed\xa0\x80\n\n"], [message("\ufffd\ufffd\ufffd")], id="encoded-surrogate-replaced"),
    pytest.param([b"data: \xe2\x82", b"\n\n"], [message("\ufffd")], id="sequence-cut-by-line-end-replaced"),
    pytest.param(
        ["data: a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g\n\n".encode()],
        [message("a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g")],
        id="only-cr-and-lf-end-lines",
    ),
    pytest.param([b"data: a\x00b\n\n"], [message("a\x00b")], id="nul-in-data-kept"),
    pytest.param([b""], [], id="empty-stream"),
]


@pytest.mark.parametrize(("chunks", "expected"), SPEC_CASES)
def test_decoder_feed_follows_spec(chunks: list[bytes], expected: list[ServerSentMessage]) -> None:
    assert feed_all(Decoder(), chunks) == expected


@pytest.mark.parametrize(("chunks", "expected"), SPEC_CASES)
def test_decoder_feed_byte_by_byte_matches_whole_stream(chunks: list[bytes], expected: list[ServerSentMessage]) -> None:
    stream = b"".join(chunks)
    byte_by_byte = feed_all(Decoder(), [stream[i : i + 1] for i in range(len(stream))])
    assert byte_by_byte == feed_all(Decoder(), [stream]) == expected


@pytest.mark.parametrize(("chunks", "expected"), SPEC_CASES)
def test_parse_follows_spec(chunks: list[bytes], expected: list[ServerSentMessage]) -> None:
    assert parse(b"".join(chunks)) == expected


def test_decoder_feed_dispatches_on_blank_line() -> None:
    decoder = Decoder()
    assert decoder.feed(b"event: tick\ndata: 1\n") == []
    assert decoder.feed(b"id: 9") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [message("1", event="tick", event_id="9")]
    assert decoder.close() == []


def test_decoder_feed_dispatches_cr_terminated_event_without_waiting() -> None:
    decoder = Decoder()
    assert decoder.feed(b"data: x\r\r") == [message("x")]


@pytest.mark.parametrize(
    ("stream", "retry"),
    [
        (b"", None),
        (b"retry: 3000\n", 3000),
        (b"retry: 3000\n\n", 3000),
        (b"retry: 3000\nretry: 0\n", 0),
        (b"retry: 3000\nretry: 12a\nretry: -1\nretry:\nretry: \xef\xbc\x91\n", 3000),
        (b"retry: " + b"9" * 5000 + b"\n", None),
    ],
    ids=["none", "set-before-dispatch", "set-without-message", "latest-wins", "invalid-ignored", "too-many-digits"],
)
def test_decoder_retry_is_latest_valid_value(stream: bytes, retry: int | None) -> None:
    decoder = Decoder()
    decoder.feed(stream)
    assert decoder.retry == retry


def test_decoder_last_event_id_set_at_blank_line() -> None:
    decoder = Decoder()
    assert decoder.last_event_id == ""
    decoder.feed(b"id: 5\n")
    assert decoder.last_event_id == ""
    decoder.feed(b"\n")
    assert decoder.last_event_id == "5"
    decoder.feed(b"id\n\n")
    assert decoder.last_event_id == ""


def test_decoder_resumes_from_a_last_event_id_it_is_given() -> None:
    # A client resuming from an ID it stored sets it; the first blank line reset it to "" (the
    # ID buffer was still empty), so a message without an id lost the position to resume from.
    decoder = Decoder()
    decoder.last_event_id = "42"
    assert decoder.feed(b"data: a\n\n") == [message("a", event_id="42")]
    assert decoder.last_event_id == "42"
    assert decoder.feed(b"id: 43\ndata: b\n\n") == [message("b", event_id="43")]
    assert decoder.last_event_id == "43"
    with pytest.raises(TypeError, match="last_event_id must be a str, got int"):
        decoder.last_event_id = 44  # type: ignore[assignment]


def test_decoder_close_discards_pending_data_and_starts_next_stream() -> None:
    decoder = Decoder()
    assert decoder.feed(b"id: 1\nretry: 10\ndata: a\n\nid: 2\ndata: b\n") == [message("a", event_id="1", retry=10)]
    assert decoder.feed(b"data: \xe2\x82") == []
    assert decoder.close() == []
    assert (decoder.last_event_id, decoder.retry) == ("1", 10)
    assert decoder.feed(b"\xef\xbb\xbfdata: c\n\n") == [message("c", event_id="1")]


def test_server_sent_message_json_parses_data() -> None:
    assert message('{"a": [1, null]}').json() == {"a": [1, None]}


def test_server_sent_message_json_raises_on_invalid_data() -> None:
    with pytest.raises(json.JSONDecodeError):
        message("not json").json()


def test_server_sent_message_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        message("x").data = "y"  # type: ignore[misc]


@pytest.mark.anyio
async def test_aiter_messages_yields_messages_across_chunks() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in [b"id: 1\ndata: a\r", b"\n\r", b"\nevent: e\ndata: \xc3", b"\xa9\n\ndata: unterminated\n"]:
            yield chunk

    assert [m async for m in aiter_messages(chunks())] == [
        message("a", event_id="1"),
        message("\u00e9", event="e", event_id="1"),
    ]


@pytest.mark.parametrize(("chunks", "expected"), SPEC_CASES)
def test_decoder_with_a_roomy_max_size_decodes_as_without_one(
    chunks: list[bytes], expected: list[ServerSentMessage]
) -> None:
    assert feed_all(Decoder(max_size=10_000), chunks) == expected
    assert feed_all(Decoder(max_size=10_000), [bytes([b]) for chunk in chunks for b in chunk]) == expected


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: " + b"x" * 200],  # a line that never ends, in one chunk
        [b"data: "] + [b"x"] * 200,  # the same, a byte at a time
        [b"data: " + b"x" * 200 + b"\n\n"],  # a complete line, too long
        [b"data: xxxxxxxxxx\n"] * 20,  # many data lines, no blank line
        [b"id: " + b"1" * 200],  # an id that never ends
    ],
    ids=["endless-line", "endless-line-bytewise", "long-line", "endless-message", "endless-id"],
)
def test_decoder_max_size_bounds_what_a_server_can_make_it_hold(chunks: list[bytes]) -> None:
    decoder = Decoder(max_size=100)
    decoder.feed(b"id: 7\ndata: ok\n\n")
    with pytest.raises(MessageTooLargeError, match=r"more than 100 characters \(max_size\)"):
        feed_all(decoder, chunks)
    assert isinstance(MessageTooLargeError("x"), TypedSSEError | ValueError)
    # The decoder starts afresh, keeping what a reconnection needs.
    assert decoder.last_event_id == "7"
    assert decoder.feed(b"data: next\n\n") == [message("next", event_id="7")]


def test_decoder_max_size_counts_a_message_up_to_its_dispatch() -> None:
    decoder = Decoder(max_size=20)
    for _ in range(10):  # 10 messages of 12 characters each: each within the bound
        assert decoder.feed(b"data: 12345678901\n\n") == [message("12345678901")]
    with pytest.raises(ValueError, match="max_size must be a positive int"):
        Decoder(max_size=0)


@pytest.mark.anyio
async def test_aiter_messages_takes_a_max_size() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: " + b"x" * 50

    with pytest.raises(MessageTooLargeError):
        async for _ in aiter_messages(chunks(), max_size=10):
            pass


@pytest.mark.parametrize(
    "data",
    ["NaN", "[1, Infinity]", "-Infinity", "[" * 100_000 + "]" * 100_000, "9" * 5_000, "1e400", '{"x": -1e999}'],
    ids=["nan", "infinity", "minus-infinity", "nested-too-deep", "too-many-digits", "past-float", "minus-past-float"],
)
def test_server_sent_message_json_raises_one_error_type_for_what_it_cannot_read(data: str) -> None:
    # Python's json reads NaN and Infinity, which are not JSON, and raises RecursionError or a
    # plain ValueError for the rest: a client catching JSONDecodeError would have crashed.
    # A number past the range of a float it reads as infinity, as if the server had sent one.
    with pytest.raises(json.JSONDecodeError):
        message(data).json()


def test_server_sent_message_json_reads_every_float_within_range() -> None:
    assert message("[1.7976931348623157e308, -1e-400, 0.5, 2e0]").json() == [1.7976931348623157e308, -0.0, 0.5, 2.0]


def test_decoder_max_size_hands_over_what_the_chunk_completed_before() -> None:
    # The messages before the oversized line were lost with the exception, while
    # `last_event_id` had moved past them: resuming from it skipped them for good.
    decoder = Decoder(max_size=100)
    with pytest.raises(MessageTooLargeError) as info:
        decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: " + b"x" * 200)
    assert info.value.messages == [message("a", event_id="1"), message("b", event_id="2")]
    assert decoder.last_event_id == "2"
    with pytest.raises(MessageTooLargeError) as info:
        decoder.feed(b"data: " + b"x" * 200 + b"\n\n")
    assert info.value.messages == []


@pytest.mark.anyio
async def test_decoder_refuses_text_chunks_naming_the_fix() -> None:
    # A body read as text (httpx's `aiter_text()`) failed inside the codec with "can't concat
    # str to bytes", naming neither the decoder nor what to pass instead.
    async def text_chunks() -> AsyncIterator[str]:
        yield "data: x\n\n"

    decoder = Decoder()
    decoder.feed(b"data: a")
    with pytest.raises(TypeError, match=r"takes the stream's bytes .*got str; .*aiter_bytes\(\)"):
        decoder.feed("\n\n")  # type: ignore[arg-type]
    assert decoder.feed(b"\n\n") == [message("a")]  # the refused chunk left the decoder as it was
    with pytest.raises(TypeError, match="got str"):
        parse("data: x\n\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str"):
        async for _ in aiter_messages(text_chunks()):  # type: ignore[arg-type]
            pass
    assert parse(bytearray(b"data: x\n\n")) + parse(memoryview(b"data: y\n\n")) == [message("x"), message("y")]


@pytest.mark.anyio
async def test_aiter_messages_reads_bytes_like_chunks() -> None:
    # A buffer a socket is read into, or a view of it, is read as its bytes are (and typed so:
    # tests/type_tests/test_decoding_types.py).
    async def chunks() -> AsyncIterator[bytearray | memoryview]:
        yield bytearray(b"data: \xc3")
        yield memoryview(b"\xa9\n\n")

    assert [m async for m in aiter_messages(chunks())] == [message("\u00e9")]


@pytest.mark.parametrize("chunks", [[b"data: a\n\n"], iter([b"data: a\n\n"]), b"data: a\n\n"])
def test_aiter_messages_refuses_a_sync_body_where_it_is_called_naming_the_fix(chunks: object) -> None:
    # A sync body (TestClient's `iter_bytes()`, a list) failed only at the first read, with
    # Python's "'list' object is not an async iterable", naming neither the decoder nor the fix.
    with pytest.raises(
        TypeError, match=r"takes an async iterable of bytes .*got (list|list_iterator|bytes); .*`Decoder`"
    ):
        aiter_messages(chunks)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_size", [0, -1, 2.5, True, "64"])
def test_aiter_messages_refuses_a_bad_max_size_where_it_is_called(max_size: object) -> None:
    # It failed only at the first read, inside the consumer's loop, far from the mistake.
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: a\n\n"  # pragma: no cover - never read

    with pytest.raises(ValueError, match="max_size must be a positive int or None"):
        aiter_messages(chunks(), max_size=max_size)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_aiter_messages_is_still_an_async_generator() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: a\n\n"

    messages = aiter_messages(chunks())
    assert inspect.isasyncgen(messages)  # `aclose`, `asend`, `athrow` as before
    assert [m async for m in messages] == [message("a")]


@pytest.mark.anyio
@pytest.mark.parametrize("end", ["aclose", "too-large", "source-ends"])
async def test_aiter_messages_closes_the_chunks_iterator_however_it_ends(end: str) -> None:
    # Closed early, aiter_messages left its source suspended: the source's `finally` ran only
    # when the garbage collector or the loop's shutdown got to it, in another task.
    closed: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: a\n\n"
            yield b"data: " + b"x" * 50 if end == "too-large" else b"data: b\n\n"
            if end != "source-ends":
                yield b"data: c\n\n"
        finally:
            closed.append("closed")

    source = chunks()
    messages = aiter_messages(source, max_size=20)
    assert await anext(messages) == message("a")
    if end == "aclose":
        await messages.aclose()
    elif end == "too-large":
        with pytest.raises(MessageTooLargeError):
            await anext(messages)
    else:
        assert [m async for m in messages] == [message("b")]
    assert closed == ["closed"]
    assert source.ag_frame is None  # finished, not left suspended


@pytest.mark.anyio
async def test_aiter_messages_read_in_aclosing_closes_the_chunks_when_the_loop_breaks() -> None:
    # A `break` leaves an async generator suspended; `aclosing`, which the type checkers refused
    # while `aiter_messages` was typed as a bare iterator, closes it and its source at once.
    closed: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: a\n\ndata: done\n\n"
            yield b"data: b\n\n"  # pragma: no cover - never read
        finally:
            closed.append("closed")

    source = chunks()
    async with contextlib.aclosing(aiter_messages(source)) as messages:
        async for received in messages:
            if received.data == "done":
                break
        assert closed == []
    assert closed == ["closed"]
    assert source.ag_frame is None


@pytest.mark.anyio
async def test_aiter_messages_carries_the_last_event_id_it_resumes_from() -> None:
    # A new `aiter_messages` per connection reported `""` for the messages a resumed stream
    # sent before its first id: kept as the position, that resumed from the stream's start.
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: a\n\nid: 8\ndata: b\n\ndata: c\n\nid\ndata: d\n\n"

    assert [m async for m in aiter_messages(chunks(), last_event_id="7")] == [
        message("a", event_id="7"),
        message("b", event_id="8"),
        message("c", event_id="8"),
        message("d"),  # an empty `id` resets it, as the spec says
    ]
    assert [m.id async for m in aiter_messages(chunks())] == ["", "8", "8", ""]
    with pytest.raises(TypeError, match="last_event_id must be a str, got int"):
        aiter_messages(chunks(), last_event_id=7)  # type: ignore[arg-type]


class Tick(BaseEvent[int]): ...


class Done(BaseEvent[None]): ...


@pytest.mark.anyio
async def test_aiter_messages_keeps_the_position_of_a_stream_resumed_from_uvicorn(
    live_server: Callable[..., LiveServer],
) -> None:
    app = FastAPI()

    @app.get("/ticks")
    @sse()
    async def ticks(last_event_id: LastEventId = None) -> AsyncIterator[Tick | Done]:
        start = int(last_event_id) + 1 if last_event_id else 0
        for n in range(start, 3):
            yield Tick(data=n, id=str(n))
        yield Done(data=None)

    position = ""
    async with httpx.AsyncClient(base_url=live_server(app).url, timeout=10) as client:
        async with (
            client.stream("GET", "/ticks") as response,
            contextlib.aclosing(aiter_messages(response.aiter_bytes())) as messages,
        ):
            async for received in messages:
                position = received.id
                if received.id == "2":
                    break  # the connection drops before `done`
        async with client.stream("GET", "/ticks", headers={"Last-Event-ID": position}) as response:
            resumed = [m async for m in aiter_messages(response.aiter_bytes(), last_event_id=position)]
    assert [(m.event, m.id) for m in resumed] == [("done", "2")]  # `done` has no id: it is still at 2


@pytest.mark.anyio
@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.parametrize("end", ["aclose", "too-large"])
async def test_aiter_messages_closes_a_chunks_generator_held_in_a_task_group_quietly(end: str, group: str) -> None:
    # Closed at a `yield` inside a task group, the source raises the close's `GeneratorExit`
    # back in a `BaseExceptionGroup`: the consumer's close failed with it, and it replaced the
    # `MessageTooLargeError` that ended the stream.
    closed: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            if group == "anyio":
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(anyio.sleep_forever)  # a keep-alive beside the reads
                    yield b"data: a\n\n"
                    yield b"data: " + b"x" * 50
            else:
                async with asyncio.TaskGroup() as task_group:
                    task_group.create_task(asyncio.Event().wait())
                    yield b"data: a\n\n"
                    yield b"data: " + b"x" * 50
        finally:
            closed.append("closed")

    messages = aiter_messages(chunks(), max_size=20)
    assert await anext(messages) == message("a")
    if end == "aclose":
        await messages.aclose()
    else:
        with pytest.raises(MessageTooLargeError):
            await anext(messages)
    assert closed == ["closed"]
