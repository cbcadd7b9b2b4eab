"""What mypy --strict and pyright strict infer for operator pipelines.

The functions here are type-checked, not run (pytest collects nothing from this module):
each `assert_type` pins one inference, and both checkers fail on any drift. Each expected error
names its mypy code and its pyright rules; `tests/type_tests/pyrightconfig.json` checks the latter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Never, TypeGuard, TypeVar, assert_type

from pydantic import BaseModel
from typing_extensions import TypeIs

from typedsse import BaseEvent
from typedsse import operators as ops

N = TypeVar("N")


class Quote(BaseModel):
    symbol: str
    price: float


class PriceChanged(BaseEvent[Quote]): ...


class TradeExecuted(BaseEvent[Quote]): ...


class Heartbeat(BaseEvent[None]): ...


class Summary(BaseEvent[str]): ...


class Failed(BaseEvent[str]): ...


class Progress(BaseEvent[int]): ...


async def prices() -> AsyncIterator[PriceChanged]:
    yield PriceChanged(data=Quote(symbol="ACME", price=1.0))


async def trades() -> AsyncIterator[TradeExecuted]:
    yield TradeExecuted(data=Quote(symbol="ACME", price=1.0))


async def heartbeats() -> AsyncIterator[Heartbeat]:
    yield Heartbeat(data=None)


async def numbers() -> AsyncIterator[int]:
    yield 1


def optional_ids() -> tuple[str, str] | None:
    return ("prices", "trades")


def optional_interval() -> float | None:
    return None


def symbol_of(event: BaseEvent[Quote]) -> str:
    return event.data.symbol


def summarize(event: PriceChanged | TradeExecuted) -> Summary:
    return Summary(data=event.data.symbol)


async def summarize_later(event: PriceChanged | TradeExecuted) -> Summary:
    return Summary(data=event.data.symbol)


class SummarizeLater:
    """An async callable object, not an `async def`."""

    async def __call__(self, event: PriceChanged | TradeExecuted) -> Summary:
        return Summary(data=event.data.symbol)


class IsCheapLater:
    async def __call__(self, event: BaseEvent[Quote]) -> bool:
        return event.data.price < 10


def is_price(event: PriceChanged | TradeExecuted) -> TypeGuard[PriceChanged]:
    return isinstance(event, PriceChanged)


def is_trade(event: PriceChanged | TradeExecuted) -> TypeIs[TradeExecuted]:
    return isinstance(event, TradeExecuted)


def is_cheap(event: BaseEvent[Quote]) -> bool:
    return event.data.price < 10


TICKER = re.compile(r"[A-Z]+")


async def lines() -> AsyncIterator[str]:
    yield "ACME 1.0"


def symbol_or_none(event: BaseEvent[Quote]) -> str | None:
    return event.data.symbol or None


async def symbol_later(event: BaseEvent[Quote]) -> str:
    return event.data.symbol


def count(total: int, event: PriceChanged | TradeExecuted) -> int:
    return total + 1


def collect(
    seen: list[PriceChanged | TradeExecuted], event: PriceChanged | TradeExecuted
) -> list[PriceChanged | TradeExecuted]:
    return [*seen, event]


def of_type(cls: type[N]) -> Callable[[object], TypeIs[N]]:
    def check(value: object) -> TypeIs[N]:
        return isinstance(value, cls)

    return check


def failed(exc: Exception) -> Failed:
    return Failed(data=str(exc))


def timed_out(exc: TimeoutError) -> Failed | None:
    return Failed(data="idle")


async def failed_later(exc: Exception) -> Failed:
    return Failed(data=str(exc))


def quiet(exc: Exception) -> None:
    return None


async def quiet_later(exc: Exception) -> None:
    return None


def quiet_timeout(exc: TimeoutError) -> None:
    return None


def lost(exc: TimeoutError | ConnectionError) -> Failed:
    return Failed(data=type(exc).__name__)


def quiet_lost(exc: TimeoutError | ConnectionError) -> None:
    return None


def lost_any(exc: TimeoutError | ConnectionError | LookupError) -> Failed:
    return Failed(data=type(exc).__name__)


async def quiet_any_later(exc: TimeoutError | ConnectionError | LookupError) -> None:
    return None


def check_sources() -> None:
    assert_type(ops.source(prices()), ops.Stream[PriceChanged])
    assert_type(ops.source([Heartbeat(data=None)]), ops.Stream[Heartbeat])
    assert_type(ops.merge(prices()), ops.Stream[PriceChanged])
    assert_type(ops.merge(prices(), trades()), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(ops.merge(prices(), trades(), ids=("prices", "trades")), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(
        ops.merge(prices(), trades(), ids=("prices", "trades"), resume={"prices": "3"}),
        ops.Stream[PriceChanged | TradeExecuted],
    )
    assert_type(ops.merge(prices(), trades(), ids=optional_ids()), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(ops.merge(numbers(), numbers(), ids=None), ops.Stream[int])
    assert_type(
        ops.merge(prices(), trades(), heartbeats(), prices(), trades(), heartbeats(), ids=tuple("abcdef")),
        ops.Stream[PriceChanged | TradeExecuted | Heartbeat],
    )
    assert_type(
        ops.merge(*[prices(), prices(), prices(), prices(), prices(), prices(), prices()], ids=tuple("abcdefg")),
        ops.Stream[PriceChanged],
    )
    assert_type(
        ops.merge(prices(), trades(), heartbeats(), prices(), trades(), heartbeats()),
        ops.Stream[PriceChanged | TradeExecuted | Heartbeat],
    )
    assert_type(
        ops.merge(*[prices(), prices(), prices(), prices(), prices(), prices(), prices()]), ops.Stream[PriceChanged]
    )
    assert_type(ops.chain(prices(), heartbeats()), ops.Stream[PriceChanged | Heartbeat])
    # No source: a stream that ends at once, of no item type (not `Unknown` to pyright).
    assert_type(ops.merge(), ops.Stream[Never])
    assert_type(ops.merge(ids=()), ops.Stream[Never])
    assert_type(ops.chain(), ops.Stream[Never])
    assert_type(ops.cursors("prices:3,trades:2"), dict[str, str])


def check_pipes_keep_the_item_type() -> None:
    merged = ops.merge(prices(), trades())
    assert_type(merged | ops.throttle(0.5), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.throttle(0.5, mode="latest", key=symbol_of), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(
        merged | ops.throttle(0.5, key=lambda event: event.data.symbol), ops.Stream[PriceChanged | TradeExecuted]
    )
    assert_type(merged | ops.debounce(0.3), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.take(3), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.skip(1), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.take_while(is_cheap), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(
        merged | ops.take_while(lambda event: event.data.price > 0, inclusive=True),
        ops.Stream[PriceChanged | TradeExecuted],
    )
    assert_type(merged | ops.distinct_until_changed(), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.tap(print), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.tap(summarize_later), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(
        merged | ops.distinct_until_changed(key=lambda event: event.data), ops.Stream[PriceChanged | TradeExecuted]
    )
    assert_type(merged | ops.timeout(30), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.filter(is_cheap), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.filter(lambda event: event.id is not None), ops.Stream[PriceChanged | TradeExecuted])
    # A predicate's answer is taken by its truth, as the builtin `filter` takes it: any value, sync or async.
    assert_type(lines() | ops.filter(TICKER.search), ops.Stream[str])
    assert_type(lines() | ops.take_while(TICKER.match), ops.Stream[str])
    assert_type(lines() | ops.take_while(TICKER.match, inclusive=True), ops.Stream[str])
    assert_type(merged | ops.filter(symbol_or_none), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.filter(symbol_later), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.take_while(symbol_later), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.chunk(size=10), ops.Stream[list[PriceChanged | TradeExecuted]])
    assert_type(merged | ops.chunk(interval=0.05), ops.Stream[list[PriceChanged | TradeExecuted]])
    assert_type(merged | ops.chunk(size=10, interval=0.05), ops.Stream[list[PriceChanged | TradeExecuted]])
    assert_type(
        merged | ops.chunk(size=10, interval=optional_interval()), ops.Stream[list[PriceChanged | TradeExecuted]]
    )
    assert_type(merged | ops.chunk(interval=0.05, leading=True), ops.Stream[list[PriceChanged | TradeExecuted]])
    assert_type(
        merged | ops.chunk(size=10, interval=0.05, leading=True), ops.Stream[list[PriceChanged | TradeExecuted]]
    )
    assert_type(
        merged | ops.chunk(size=10, interval=optional_interval(), leading=False),
        ops.Stream[list[PriceChanged | TradeExecuted]],
    )


def check_pipes_change_the_item_type() -> None:
    merged = ops.merge(prices(), trades())
    assert_type(merged | ops.map(summarize), ops.Stream[Summary])
    assert_type(merged | ops.map(summarize_later), ops.Stream[Summary])
    assert_type(merged | ops.map(summarize_later, concurrency=4), ops.Stream[Summary])
    assert_type(merged | ops.map(summarize, concurrency=1), ops.Stream[Summary])
    assert_type(merged | ops.map(SummarizeLater()), ops.Stream[Summary])
    assert_type(merged | ops.map(SummarizeLater(), concurrency=4), ops.Stream[Summary])
    assert_type(merged | ops.filter(IsCheapLater()), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.filter(is_price), ops.Stream[PriceChanged])
    assert_type(merged | ops.scan(count, 0), ops.Stream[int])
    # An empty collection as the state, typed: mypy would read `[]` as `list[Never]` (see the operators page).
    assert_type(
        merged | ops.scan(collect, list[PriceChanged | TradeExecuted]()),
        ops.Stream[list[PriceChanged | TradeExecuted]],
    )
    # A guard made by a generic function narrows once it is a value of its own (in mypy; pyright
    # narrows `ops.filter(of_type(TradeExecuted))` too).
    is_trade_made = of_type(TradeExecuted)
    assert_type(merged | ops.filter(is_trade_made), ops.Stream[TradeExecuted])
    assert_type(merged | ops.take_while(is_trade_made), ops.Stream[TradeExecuted])
    assert_type(merged | ops.take_while(is_price), ops.Stream[PriceChanged])
    assert_type(merged | ops.filter(is_trade), ops.Stream[TradeExecuted])
    assert_type(merged | ops.take_while(is_trade), ops.Stream[TradeExecuted])
    assert_type(merged | ops.take_while(is_trade, inclusive=True), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.take_while(is_price, inclusive=True), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.start_with(Heartbeat(data=None)), ops.Stream[PriceChanged | TradeExecuted | Heartbeat])
    assert_type(merged | ops.concat(heartbeats()), ops.Stream[PriceChanged | TradeExecuted | Heartbeat])
    assert_type(
        prices() | ops.start_with(Heartbeat(data=None), Failed(data="x")),
        ops.Stream[PriceChanged | Heartbeat | Failed],
    )
    assert_type(prices() | ops.concat(heartbeats(), trades()), ops.Stream[PriceChanged | Heartbeat | TradeExecuted])
    assert_type(
        prices() | ops.start_with(Heartbeat(data=None), Failed(data="x"), Summary(data="s"), Progress(data=1)),
        ops.Stream[PriceChanged | Heartbeat | Failed | Summary | Progress],
    )
    assert_type(
        prices()
        | ops.start_with(
            Heartbeat(data=None),
            Failed(data="x"),
            Summary(data="s"),
            Progress(data=1),
            TradeExecuted(data=Quote(symbol="ACME", price=1.0)),
            PriceChanged(data=Quote(symbol="ACME", price=1.0)),
        ),
        ops.Stream[PriceChanged | Heartbeat | Failed | Summary | Progress | TradeExecuted],
    )
    assert_type(prices() | ops.start_with(*[Heartbeat(data=None)] * 7), ops.Stream[PriceChanged | Heartbeat])
    # Closing items keep their types, where a list given to `concat(source([...]))` is joined by mypy.
    assert_type(
        prices() | ops.end_with(Summary(data="s"), Failed(data="x")),
        ops.Stream[PriceChanged | Summary | Failed],
    )
    assert_type(prices() | ops.end_with(*[Heartbeat(data=None)] * 7), ops.Stream[PriceChanged | Heartbeat])
    # No items, no sources: the source's type goes on as it is.
    assert_type(ops.start_with(), ops.UnionPipe[Never])
    assert_type(ops.end_with(), ops.UnionPipe[Never])
    assert_type(prices() | ops.end_with(), ops.Stream[PriceChanged])
    assert_type(ops.concat(), ops.UnionPipe[Never])
    assert_type(prices() | ops.start_with(), ops.Stream[PriceChanged])
    assert_type(prices() | ops.concat(), ops.Stream[PriceChanged])
    summaries = ops.source([Summary(data="s")])
    failures = ops.source([Failed(data="x")])
    progress = ops.source([Progress(data=1)])
    assert_type(
        prices() | ops.concat(heartbeats(), trades(), summaries, failures),
        ops.Stream[PriceChanged | Heartbeat | TradeExecuted | Summary | Failed],
    )
    assert_type(
        prices() | ops.concat(heartbeats(), trades(), summaries, failures, progress, prices()),
        ops.Stream[PriceChanged | Heartbeat | TradeExecuted | Summary | Failed | Progress],
    )
    assert_type(
        prices()
        | ops.concat(
            *[heartbeats(), heartbeats(), heartbeats(), heartbeats(), heartbeats(), heartbeats(), heartbeats()]
        ),
        ops.Stream[PriceChanged | Heartbeat],
    )
    assert_type(merged | ops.catch(failed), ops.Stream[PriceChanged | TradeExecuted | Failed])
    assert_type(merged | ops.catch(failed_later), ops.Stream[PriceChanged | TradeExecuted | Failed])
    assert_type(
        merged | ops.catch(timed_out, exceptions=TimeoutError), ops.Stream[PriceChanged | TradeExecuted | Failed]
    )
    assert_type(
        merged | ops.catch(lost, exceptions=(TimeoutError, ConnectionError)),
        ops.Stream[PriceChanged | TradeExecuted | Failed],
    )
    assert_type(
        merged | ops.catch(quiet_lost, exceptions=(TimeoutError, ConnectionError)),
        ops.Stream[PriceChanged | TradeExecuted],
    )
    assert_type(
        merged | ops.catch(lost_any, exceptions=(TimeoutError, ConnectionError, LookupError)),
        ops.Stream[PriceChanged | TradeExecuted | Failed],
    )
    assert_type(
        merged | ops.catch(quiet_any_later, exceptions=(TimeoutError, ConnectionError, LookupError)),
        ops.Stream[PriceChanged | TradeExecuted],
    )
    assert_type(merged | ops.catch(quiet), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.catch(quiet_later), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(merged | ops.catch(quiet_timeout, exceptions=TimeoutError), ops.Stream[PriceChanged | TradeExecuted])
    assert_type(
        merged | ops.catch(lambda exc: Failed(data=str(exc)), exceptions=TimeoutError),
        ops.Stream[PriceChanged | TradeExecuted | Failed],
    )


def check_pipelines_end_to_end() -> None:
    assert_type(
        ops.merge(prices(), trades()) | ops.throttle(0.5) | ops.map(summarize),
        ops.Stream[Summary],
    )
    assert_type(
        ops.source(prices()) | ops.throttle(0.5, mode="latest", key=symbol_of) | ops.chunk(size=3),
        ops.Stream[list[PriceChanged]],
    )
    assert_type(
        ops.merge(prices(), trades()) | ops.timeout(30) | ops.catch(failed) | ops.take(10),
        ops.Stream[PriceChanged | TradeExecuted | Failed],
    )


def check_async_iterables_start_pipes() -> None:
    assert_type(prices() | ops.throttle(0.5), ops.Stream[PriceChanged])
    assert_type(prices() | ops.map(summarize), ops.Stream[Summary])
    assert_type(prices() | ops.chunk(size=2), ops.Stream[list[PriceChanged]])
    assert_type(prices() | ops.start_with(Heartbeat(data=None)), ops.Stream[PriceChanged | Heartbeat])


def check_calls_apply_pipes() -> None:
    assert_type(ops.throttle(0.5)(prices()), ops.Stream[PriceChanged])
    assert_type(ops.map(summarize)(prices()), ops.Stream[Summary])


def check_a_pipeline_is_an_endpoint_stream() -> AsyncIterable[PriceChanged | TradeExecuted | Failed]:
    return ops.merge(prices(), trades()) | ops.throttle(0.5) | ops.catch(failed)


def check_four_first_events_are_an_endpoint_stream() -> AsyncIterable[
    PriceChanged | Heartbeat | Failed | Summary | Progress
]:
    return prices() | ops.start_with(Heartbeat(data=None), Failed(data="x"), Summary(data="s"), Progress(data=1))


def check_closing_events_are_an_endpoint_stream() -> AsyncIterable[PriceChanged | Summary | Failed]:
    return prices() | ops.throttle(0.5) | ops.end_with(Summary(data="s"), Failed(data="x"))


def check_a_closing_event_left_out_of_the_endpoint_type_is_an_error() -> AsyncIterable[PriceChanged | Summary]:
    return prices() | ops.end_with(Summary(data="s"), Failed(data="x"))  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


def check_four_more_sources_are_an_endpoint_stream() -> AsyncIterable[
    PriceChanged | Heartbeat | TradeExecuted | Summary | Failed
]:
    return prices() | ops.concat(
        heartbeats(), trades(), ops.source([Summary(data="s")]), ops.source([Failed(data="x")])
    )


def check_a_first_event_left_out_of_the_endpoint_type_is_an_error() -> AsyncIterable[
    PriceChanged | Heartbeat | Failed | Summary
]:
    # The four added types are kept, not widened (to `Any`, say): one the endpoint leaves out is refused.
    return prices() | ops.start_with(Heartbeat(data=None), Failed(data="x"), Summary(data="s"), Progress(data=1))  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


def check_mismatches_are_errors() -> None:
    def only_prices(event: PriceChanged) -> Summary:
        return Summary(data=event.data.symbol)

    ops.merge(prices(), trades()) | ops.map(only_prices)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnusedExpression]
    # With `ids`, merge rewrites event ids: a source of anything else would raise TypeError while streaming.
    ops.merge(numbers(), numbers(), ids=("a", "b"))  # type: ignore[type-var]  # pyright: ignore[reportCallIssue, reportArgumentType]
    ops.merge(prices(), numbers(), ids=("a", "b"))  # type: ignore[type-var]  # pyright: ignore[reportCallIssue, reportArgumentType]
    ops.merge(numbers(), numbers(), ids=optional_ids())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # `resume` is a position per named source: without `ids` it raises ValueError.
    ops.merge(prices(), trades(), resume={"a": "1"})  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # chunk() needs a size, an interval or both: with neither it raises ValueError.
    ops.chunk()  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    ops.chunk(size=None, interval=None)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # leading=True needs an interval (the window its first item opens): without one it raises ValueError.
    ops.chunk(size=10, leading=True)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    ops.chunk(size=10, interval=optional_interval(), leading=True)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # A sync function runs one call at a time: concurrency above 1 raises ValueError.
    ops.map(summarize, concurrency=4)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    ops.throttle(-1.0, mode="fastest")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # A lambda is checked before the pipe meets its source: the docs say to use an annotated function.
    ops.source([1, 2]) | ops.map(lambda v: v * 2)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnusedExpression, reportUnknownLambdaType]
