"""Chat: stream an LLM-style reply token by token, then the whole message.

`POST /chat` takes the conversation as a JSON body and streams the answer: a `Token` event for
each piece of text as the model produces it, then `Message` with the complete reply (so a client
that stores the conversation does not have to glue tokens together), then `Done`.

The model is a deterministic stand-in, with no network: the same conversation always gets the
same reply. It is injected with `Depends`, so a real client (or a test double) replaces it in
one place, e.g. `app.dependency_overrides[get_model] = ...`.

Browsers' `EventSource` can only send GET requests, so a page reads this stream with `fetch`
and a `text/event-stream` parser. From a shell:

    uvicorn examples.chat:app
    curl -N http://127.0.0.1:8000/chat -H 'content-type: application/json' \
        -d '{"messages": [{"role": "user", "content": "Hello there"}]}'

The body is bounded: at most `MAX_MESSAGES` messages, of at most `MAX_CHARACTERS` characters in
all; a larger one gets `422`, before the model sees it.

`POST /chat/batched` streams the same reply with tokens coalesced into ~50 ms batches by the
`chunk` operator: a fast model then costs the browser ~20 repaints a second, not one per token.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Annotated, Literal

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field, field_validator

import typedsse.openapi
from typedsse import BaseEvent, sse
from typedsse import operators as ops


class ChatMessage(BaseModel):
    """One turn of the conversation."""

    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _scalar_values(cls, content: str) -> str:
        # JSON can escape half an emoji ("\ud83d", from a client that cut a string between its
        # surrogates), which UTF-8 cannot write: replace it with U+FFFD, as a browser's
        # TextEncoder does, or the reply would fail at the first token that holds it.
        return content.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


MAX_MESSAGES = 100
"""The most messages a request's conversation may hold."""
MAX_CHARACTERS = 32_000
"""The most characters the messages of a request may hold in all, as a model's context is bounded."""


class ChatRequest(BaseModel):
    """The request body: the conversation so far, oldest message first."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int = Field(default=256, ge=1, le=4096)

    @field_validator("messages")
    @classmethod
    def _bounded(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        # Bounded in all rather than per message: `ChatMessage` is the reply's type too, and the
        # reply's length is the model's to decide, not a limit on what a client may send.
        if sum(len(message.content) for message in messages) > MAX_CHARACTERS:
            raise ValueError(f"the messages hold more than {MAX_CHARACTERS} characters in all")
        return messages


class Token(BaseEvent[str]):
    """A piece of the reply, such as `"You"` or `" said"` (with the space before the word)."""


class Message(BaseEvent[ChatMessage]):
    """The complete reply: every token's text, joined."""


class Done(BaseEvent[None]):
    """The end of the reply (an event with no payload)."""


# Like a real tokenizer's pieces: a word or one punctuation mark, with the spaces before it.
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")


class FakeModel:
    """A stand-in for a streaming LLM client: no network, and a reply derived from the prompt.

    Args:
        delay: Seconds between two tokens, as a real model takes time to produce each.
    """

    def __init__(self, *, delay: float = 0.04) -> None:
        self.delay = delay

    def reply(self, messages: Sequence[ChatMessage]) -> str:
        """Return the whole reply to a conversation: it answers the last user message."""
        prompt = next((message.content for message in reversed(messages) if message.role == "user"), "")
        words = prompt.split()
        if not words:
            return "Hello! Say something and I will echo it back."
        return f'You said "{" ".join(words)}". Backwards, that reads "{" ".join(reversed(words))}".'

    async def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[str]:
        """Yield the reply to `messages` token by token, at most `max_tokens` of them."""
        for index, match in enumerate(_TOKEN.finditer(self.reply(messages))):
            if index == max_tokens:
                return
            if index:
                await asyncio.sleep(self.delay)  # a real model is busy between tokens
            yield match.group()


def get_model() -> FakeModel:
    """Return the chat model (a dependency: override it to use a real one)."""
    return FakeModel()


app = FastAPI(title="typedsse chat example")
typedsse.openapi.install(app)  # document every event of every stream


@app.post("/chat")
@sse(ping=15)
async def chat(
    body: ChatRequest, model: Annotated[FakeModel, Depends(get_model)]
) -> AsyncIterator[Token | Message | Done]:
    """Stream the model's reply to the conversation in the request body."""
    pieces: list[str] = []
    async for text in model.stream(body.messages, max_tokens=body.max_tokens):
        pieces.append(text)
        yield Token(data=text)
    yield Message(data=ChatMessage(role="assistant", content="".join(pieces)))
    yield Done(data=None)


BATCH_INTERVAL = 0.05
"""Seconds a batch of tokens stays open: about 20 events a second, however fast the model is."""


@app.post("/chat/batched")
@sse(ping=15)
def chat_batched(
    body: ChatRequest, model: Annotated[FakeModel, Depends(get_model)]
) -> AsyncIterable[Token | Message | Done]:
    """Stream the same reply with its tokens batched: one `Token` per `BATCH_INTERVAL` of text."""
    pieces: list[str] = []

    def joined(texts: list[str]) -> Token:
        pieces.extend(texts)
        return Token(data="".join(texts))

    async def ending() -> AsyncIterator[Message | Done]:
        # `concat` opens this once the tokens are done, so `pieces` holds them all.
        yield Message(data=ChatMessage(role="assistant", content="".join(pieces)))
        yield Done(data=None)

    tokens = model.stream(body.messages, max_tokens=body.max_tokens)
    return tokens | ops.chunk(interval=BATCH_INTERVAL) | ops.map(joined) | ops.concat(ending())
