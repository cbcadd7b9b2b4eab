"""What mypy --strict and pyright strict infer for what a client reads back: checked, not run.

`EventCatalog.decode` is typed `BaseEvent[Any]` (the catalog is built at run time); a `match`
on its class, or `isinstance`, narrows it and its `data`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from contextlib import aclosing
from typing import Any, assert_type

from typedsse import BaseEvent, Decoder, EventCatalog, ServerSentMessage, StreamError
from typedsse.decoding import aiter_messages, parse


class Count(BaseEvent[int]): ...


class Token(BaseEvent[str], encoding="text"): ...


async def check_decoded_events_narrow_by_class(chunks: AsyncIterable[bytes]) -> None:
    events = EventCatalog.of(Count | Token | StreamError)
    async for message in aiter_messages(chunks):
        assert_type(message, ServerSentMessage)
        event = events.decode(message)
        assert_type(event, BaseEvent[Any])
        match event:
            case Count(data=total):
                assert_type(total, int)
            case Token():
                assert_type(event, Token)
                assert_type(event.data, str)
            case StreamError(data=error):
                assert_type(error.message, str)
            case _:
                pass
        if isinstance(event, Count):
            assert_type(event.data, int)


def check_sync_reading() -> None:
    assert_type(Decoder().feed(b"data: 1\n\n"), list[ServerSentMessage])
    assert_type(parse(b"data: 1\n\n"), list[ServerSentMessage])


async def check_bytes_like_chunks(buffer: bytearray, view: memoryview, chunks: AsyncIterable[bytearray]) -> None:
    # A buffer a socket is read into, or a view of it: the decoder takes them as it takes bytes.
    assert_type(Decoder().feed(buffer), list[ServerSentMessage])
    assert_type(Decoder().feed(view), list[ServerSentMessage])
    assert_type(parse(buffer), list[ServerSentMessage])
    async for message in aiter_messages(chunks):
        assert_type(message, ServerSentMessage)


async def check_messages_close_as_the_async_generator_they_are(chunks: AsyncIterable[bytes]) -> None:
    # Leaving an `async for` early does not close an async generator: `aclose` and `aclosing` do.
    messages = aiter_messages(chunks)
    assert_type(messages, AsyncGenerator[ServerSentMessage, None])
    async for _ in messages:
        break
    await messages.aclose()
    async with aclosing(aiter_messages(chunks)) as closing:
        async for message in closing:
            assert_type(message, ServerSentMessage)
