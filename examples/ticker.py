"""Ticker: random-walk prices for several symbols, throttled per symbol.

The market moves faster than a page can usefully draw: one of the symbols changes price every
`TICK` seconds. `ops.throttle(THROTTLE, mode="latest", key=symbol_of)` sends at most one price
per symbol every `THROTTLE` seconds, and always the newest one, so the price a client shows last
is the real last price. Each symbol has its own windows, so a busy symbol never starves a quiet
one.

The walk comes from a seeded random generator: the same `seed` gives the same prices, which is
what the tests rely on. `ticks` ends the walk after that many price changes (by default it runs
until the client leaves).

    uvicorn examples.ticker:app
    curl -N 'http://127.0.0.1:8000/prices?symbol=ACME&symbol=GLOBEX'
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel, StringConstraints

import typedsse.openapi
from typedsse import BaseEvent, sse
from typedsse import operators as ops

SYMBOLS = ("ACME", "GLOBEX", "INITECH")
"""The symbols streamed when a request names none."""
TICK = 0.02
"""Seconds between two price changes (of any symbol)."""
THROTTLE = 0.5
"""The shortest time between two prices of one symbol on the stream."""


class Quote(BaseModel):
    """A symbol's price, in its currency's major unit."""

    symbol: str
    price: float


class PriceChanged(BaseEvent[Quote]):
    """A symbol's new price (event name `price_changed`)."""


def random_walk(symbols: Sequence[str], *, seed: int) -> Iterator[Quote]:
    """Yield price changes forever: a random symbol moves up or down by a few cents each time."""
    rng = random.Random(seed)  # prices for a demo: no need for a secure generator
    cents = dict.fromkeys(symbols, 10_000)
    while True:
        symbol = rng.choice(symbols)
        cents[symbol] = max(1, cents[symbol] + rng.randint(-25, 25))
        yield Quote(symbol=symbol, price=cents[symbol] / 100)


async def price_changes(symbols: Sequence[str], *, seed: int, ticks: int | None) -> AsyncIterator[PriceChanged]:
    """Send every price change of the walk, one every `TICK` seconds."""
    for quote in itertools.islice(random_walk(symbols, seed=seed), ticks):
        yield PriceChanged(data=quote)
        await asyncio.sleep(TICK)


Symbol = Annotated[str, StringConstraints(min_length=1, max_length=12)]
"""A ticker symbol as a request names it: every price of its stream carries it."""


def symbol_of(event: PriceChanged) -> str:
    """The throttling key: each symbol is throttled on its own."""
    return event.data.symbol


app = FastAPI(title="typedsse ticker example")
typedsse.openapi.install(app)  # document every event of every stream


@app.get("/prices")
@sse(ping=15)
def prices(
    symbol: Annotated[list[Symbol] | None, Query(max_length=10, description="The symbols to stream.")] = None,
    seed: Annotated[int, Query(description="Seeds the random walk: the same seed, the same prices.")] = 0,
    ticks: Annotated[int | None, Query(ge=1, description="End after this many price changes.")] = None,
) -> AsyncIterable[PriceChanged]:
    """Stream each symbol's price at most every `THROTTLE` seconds, always the latest one."""
    symbols = tuple(dict.fromkeys(symbol)) if symbol else SYMBOLS
    return price_changes(symbols, seed=seed, ticks=ticks) | ops.throttle(THROTTLE, mode="latest", key=symbol_of)
