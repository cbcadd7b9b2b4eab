from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from itertools import pairwise

from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from typedsse.decoding import Decoder, ServerSentMessage, parse
from typedsse.encoding import comment, encode, encode_message, retry_frame
from typedsse.events import MAX_RETRY, BaseEvent


class Chat(BaseEvent[str]): ...


class OddlyNamed(BaseEvent[str], name="ns:odd \u00e9vent\u2028\ufeff"): ...


class Token(BaseEvent[str], encoding="text"): ...


class DataNamedText(BaseEvent[str], name="data", encoding="text"): ...


FIXED_CLASSES: list[type[BaseEvent[str]]] = [Chat, OddlyNamed, Token, DataNamedText]
# The JSON an encoder writes for a `str` payload, for messages written with `encode_message`.
JSON_STR = Chat.data_serializer()

_SSE_LINE_BREAK = re.compile(r"\r\n|\r")
_NO_BREAKS = st.characters(codec="utf-8", exclude_characters="\r\n\0")

payloads = st.lists(
    st.one_of(st.text(), st.sampled_from(["\r", "\n", "\r\n", " ", "  ", ":", "\ufeff", "data: x", "\n\n", "\u2028"]))
).map("".join)
names = st.one_of(
    st.sampled_from(["message", "data", "id", "ns:chat", "a b", "\ufeff", "\u00e9"]),
    st.text(_NO_BREAKS, min_size=1).filter(lambda name: name == name.strip() and name != "error"),
)
# What the line syntax carries (`encode_message`), and what an event's id may be: a client sends it
# back in a `Last-Event-ID` header, which carries no other control character and trims the ends.
ids = st.one_of(st.none(), st.sampled_from(["", " ", " 1", "a:b"]), st.text(_NO_BREAKS))
_HEADER_TEXT = st.characters(codec="utf-8", exclude_characters="".join(chr(c) for c in range(32) if c != 9) + "\x7f")
event_ids = st.one_of(
    st.none(),
    st.sampled_from(["", "1", "a:b", "a b", "a\tb"]),
    st.text(_HEADER_TEXT).filter(lambda text: text == text.strip(" \t")),
)
retries = st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_RETRY))


@dataclass(frozen=True)
class Sent:
    """One encoded event and what a spec-conforming parser must give back for it."""

    wire: bytes
    event: str
    payload: str
    is_json: bool
    id: str | None
    retry: int | None


@st.composite
def sent_events(draw: st.DrawFn) -> Sent:
    payload, retry = draw(payloads), draw(retries)
    if draw(st.booleans()):
        cls, event_id = draw(st.sampled_from(FIXED_CLASSES)), draw(event_ids)
        wire = encode(cls(data=payload, id=event_id, retry=retry))
        return Sent(wire, cls.event_name, payload, cls.encoding == "json", event_id, retry)
    name, is_json, event_id = draw(names), draw(st.booleans()), draw(ids)
    data = JSON_STR.to_json(payload).decode() if is_json else payload
    return Sent(
        encode_message(event=name, data=data, id=event_id, retry=retry), name, payload, is_json, event_id, retry
    )


@st.composite
def extra_frames(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A frame that dispatches nothing: a comment (a keep-alive) or a bare `retry`."""
    if draw(st.booleans()):
        return comment(draw(st.text(_NO_BREAKS))), None
    milliseconds = draw(st.integers(min_value=0, max_value=MAX_RETRY))
    return retry_frame(milliseconds), milliseconds


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cut % (len(stream) + 1) for cut in cuts), len(stream)]
    return [stream[start:end] for start, end in pairwise(bounds)]


def decode(chunks: list[bytes]) -> tuple[Decoder, list[ServerSentMessage]]:
    decoder = Decoder()
    messages = [message for chunk in chunks for message in decoder.feed(chunk)]
    return decoder, messages + decoder.close()


def received(sent: Sent, message: ServerSentMessage) -> tuple[str, str, str, int | None]:
    data = json.loads(message.data) if sent.is_json else message.data
    return message.event, data, message.id, message.retry


def expected(events: list[Sent]) -> list[tuple[str, str, str, int | None]]:
    last_event_id = ""  # the last event ID persists until an `id` field changes it
    result: list[tuple[str, str, str, int | None]] = []
    for sent in events:
        if sent.id is not None:
            last_event_id = sent.id
        # Clients see text payloads with every line break as LF; JSON escapes them.
        payload = sent.payload if sent.is_json else _SSE_LINE_BREAK.sub("\n", sent.payload)
        result.append((sent.event, payload, last_event_id, sent.retry))
    return result


def httpx_sse_decode(chunks: list[bytes]) -> list[tuple[str, str, str, int | None]]:
    """Decode as httpx-sse does: httpx's incremental UTF-8 text, then its CR/LF/CRLF line splitter."""
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    line_decoder = SSELineDecoder()
    lines: list[str] = []
    for text in [*(text_decoder.decode(chunk) for chunk in chunks), text_decoder.decode(b"", final=True)]:
        if text:  # httpx never hands out empty text
            lines.extend(line_decoder.decode(text))
    lines.extend(line_decoder.flush())
    sse_decoder = SSEDecoder()
    events = [sse_decoder.decode(line.rstrip("\n")) for line in lines]
    return [(event.event, event.data, event.id, event.retry) for event in events if event is not None]


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.tuples(sent_events(), st.lists(extra_frames(), max_size=2)), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=0)),
)
def test_decoder_round_trips_encoded_events_split_anywhere(
    events: list[tuple[Sent, list[tuple[bytes, int | None]]]], cuts: list[int]
) -> None:
    stream = b"".join(sent.wire + b"".join(frame for frame, _ in extras) for sent, extras in events)
    decoder, messages = decode(split(stream, cuts))

    sent_events_only = [sent for sent, _ in events]
    assert len(messages) == len(sent_events_only)
    assert [received(sent, message) for sent, message in zip(sent_events_only, messages, strict=True)] == expected(
        sent_events_only
    )
    assert decoder.last_event_id == next((s.id for s in reversed(sent_events_only) if s.id is not None), "")
    retries_sent = [retry for sent, extras in events for retry in [sent.retry, *(r for _, r in extras)]]
    assert decoder.retry == next((retry for retry in reversed(retries_sent) if retry is not None), None)


@settings(max_examples=200, deadline=None)
@given(
    cls=st.sampled_from(FIXED_CLASSES),
    payload=payloads,
    event_id=event_ids,
    retry=retries,
    cuts=st.lists(st.integers(min_value=0)),
)
def test_encode_round_trips_fixed_classes_split_anywhere(
    cls: type[BaseEvent[str]], payload: str, event_id: str | None, retry: int | None, cuts: list[int]
) -> None:
    _, messages = decode(split(encode(cls(data=payload, id=event_id, retry=retry)), cuts))

    sent = Sent(b"", cls.event_name, payload, cls.encoding == "json", event_id, retry)
    assert [received(sent, message) for message in messages] == expected([sent])


@settings(max_examples=200, deadline=None)
@given(events=st.lists(sent_events(), min_size=1, max_size=5), cuts=st.lists(st.integers(min_value=0)))
def test_decoder_agrees_with_httpx_sse(events: list[Sent], cuts: list[int]) -> None:
    chunks = split(b"".join(sent.wire for sent in events), cuts)
    _, messages = decode(chunks)

    assert [(m.event, m.data, m.id, m.retry) for m in messages] == httpx_sse_decode(chunks)


# Arbitrary streams, not only those the encoder writes: blocks of lines with every line end, and noise.
line_ends = st.sampled_from(["\r", "\n", "\r\n"])
field_names = st.sampled_from(["data", "data", "data", "event", "id", "retry", "", "x", "\ufeffdata"])
field_values = st.one_of(
    st.sampled_from(["", "1", "-1", "12a", "\uff11", "\ufeff", "\0", "a"]), st.text(_NO_BREAKS, max_size=4)
)
noise = st.one_of(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xe2\x82", b"\xac", b"\xff", b"\x00"]),
    st.binary(max_size=6),
)


@st.composite
def blocks(draw: st.DrawFn) -> bytes:
    """Lines (fields, comments, blank lines) ended by a blank line, with any mix of line ends."""
    lines = draw(
        st.lists(
            st.tuples(field_names, st.sampled_from(["", ":", ": ", ":  "]), field_values, line_ends),
            min_size=1,
            max_size=4,
        )
    )
    return ("".join(f"{name}{colon}{value}{end}" for name, colon, value, end in lines) + draw(line_ends)).encode()


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"]))
    return bom + b"".join(draw(st.lists(st.one_of(blocks(), blocks(), noise))))


def reference_parse(stream: bytes) -> list[ServerSentMessage]:
    """WHATWG HTML's algorithm, literally, on a whole stream: a slow but obvious oracle."""
    text = stream.decode("utf-8", errors="replace").removeprefix("\ufeff")
    *lines, _unterminated = re.split(r"\r\n|\r|\n", text)
    data, event_type, last_event_id, retry = "", "", "", None
    messages: list[ServerSentMessage] = []
    for line in lines:
        if line == "":
            if data == "":
                event_type, retry = "", None
                continue
            messages.append(ServerSentMessage(event_type or "message", data.removesuffix("\n"), last_event_id, retry))
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\0" not in value:
            last_event_id = value
        elif field == "retry" and re.fullmatch(r"[0-9]+", value):
            retry = int(value)
    return messages


@settings(max_examples=200, deadline=None)
@given(stream=streams(), cuts=st.lists(st.integers(min_value=0)))
def test_decoder_matches_reference_on_any_stream_split_anywhere(stream: bytes, cuts: list[int]) -> None:
    _, messages = decode(split(stream, cuts))
    _, byte_by_byte = decode([stream[i : i + 1] for i in range(len(stream))])

    assert messages == byte_by_byte == parse(stream) == reference_parse(stream)
