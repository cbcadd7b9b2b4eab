"""The operator examples, served by a real uvicorn on 127.0.0.1 and read with a spec parser."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from examples import merged_echo, ticker
from typedsse import Decoder, ServerSentMessage
from typedsse import operators as ops

from conftest import Serve

pytestmark = pytest.mark.e2e


def read(
    client: httpx.Client, url: str, *, limit: int | None = None, **kwargs: Any
) -> tuple[httpx.Response, list[ServerSentMessage]]:
    """Parse the stream as it arrives; with `limit`, drop the connection after that many messages."""
    decoder = Decoder()
    messages: list[ServerSentMessage] = []
    with client.stream("GET", url, **kwargs) as response:
        for chunk in response.iter_bytes():
            messages.extend(decoder.feed(chunk))
            if limit is not None and len(messages) >= limit:
                return response, messages[:limit]
    return response, [*messages, *decoder.close()]


# --- merged echo ------------------------------------------------------------------------------


def events_of(messages: list[ServerSentMessage]) -> list[merged_echo.Echo | merged_echo.ReverseEcho]:
    classes = {"echo": merged_echo.Echo, "reverse_echo": merged_echo.ReverseEcho}
    return [classes[m.event].model_validate({"data": m.json(), "id": m.id}) for m in messages]


def positions(events: list[merged_echo.Echo | merged_echo.ReverseEcho], kind: type[Any], source: str) -> list[str]:
    """The position of `source` in the id of each of its own events."""
    return [ops.cursors(event.id)[source] for event in events if type(event) is kind]


@pytest.fixture
def echo_client(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    monkeypatch.setattr(merged_echo, "INTERVAL", 0.02)
    return serve(merged_echo.app)


def test_merged_echo_streams_both_sources_with_composite_ids(echo_client: httpx.Client) -> None:
    response, messages = read(echo_client, "/echo", params={"message": "hello"})

    assert response.status_code == 200
    events = events_of(messages)
    assert sorted((event.event_name, event.data.message) for event in events) == [
        ("echo", "hello"),
        ("echo", "hello"),
        ("echo", "hello"),
        ("reverse_echo", "olleh"),
        ("reverse_echo", "olleh"),
        ("reverse_echo", "olleh"),
    ]
    assert positions(events, merged_echo.Echo, "echo") == ["0", "1", "2"]
    assert positions(events, merged_echo.ReverseEcho, "reverse") == ["0", "1", "2"]
    assert events[0].id == "echo:0"
    assert events[-1].id == "echo:2,reverse:2"


def test_merged_echo_resumes_every_source_from_one_last_event_id(echo_client: httpx.Client) -> None:
    params = {"message": "hello", "count": "4"}
    _, first = read(echo_client, "/echo", limit=3, params=params)
    response, rest = read(echo_client, "/echo", params=params, headers={"Last-Event-ID": first[-1].id})

    assert response.status_code == 200
    events = events_of([*first, *rest])
    # Across the two connections, each source's events arrive exactly once and in order.
    assert positions(events, merged_echo.Echo, "echo") == ["0", "1", "2", "3"]
    assert positions(events, merged_echo.ReverseEcho, "reverse") == ["0", "1", "2", "3"]
    assert events[-1].id == "echo:3,reverse:3"

    done, nothing = read(echo_client, "/echo", params=params, headers={"Last-Event-ID": events[-1].id})
    assert (done.status_code, nothing) == (204, [])


def test_merged_echo_resumed_stream_keeps_the_position_of_a_source_that_has_not_moved(
    echo_client: httpx.Client,
) -> None:
    _, messages = read(echo_client, "/echo", params={"message": "hi"}, headers={"Last-Event-ID": "echo:2,reverse:0"})

    assert [(m.event, m.id) for m in messages] == [
        ("reverse_echo", "echo:2,reverse:1"),
        ("reverse_echo", "echo:2,reverse:2"),
    ]


@pytest.mark.parametrize("cursor", ["echo:x", "reverse:" + "9" * 5000])
def test_merged_echo_rejects_a_cursor_it_did_not_send(echo_client: httpx.Client, cursor: str) -> None:
    response = echo_client.get("/echo", params={"message": "hi"}, headers={"Last-Event-ID": cursor})

    assert (response.status_code, response.json()) == (400, {"detail": "Last-Event-ID is not an id this stream sent"})


# --- ticker -----------------------------------------------------------------------------------


def quotes_of(messages: list[ServerSentMessage]) -> list[ticker.Quote]:
    assert {message.event for message in messages} == {"price_changed"}
    return [ticker.PriceChanged.model_validate({"data": message.json()}).data for message in messages]


def walk(symbols: tuple[str, ...], *, seed: int, ticks: int) -> dict[str, list[float]]:
    """Each symbol's prices along the walk, in order."""
    prices: dict[str, list[float]] = {symbol: [] for symbol in symbols}
    for quote in itertools.islice(ticker.random_walk(symbols, seed=seed), ticks):
        prices[quote.symbol].append(quote.price)
    return prices


def by_symbol(quotes: list[ticker.Quote]) -> dict[str, list[float]]:
    prices: dict[str, list[float]] = {}
    for quote in quotes:
        prices.setdefault(quote.symbol, []).append(quote.price)
    return prices


def test_ticker_sends_each_symbols_first_and_final_price(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    # The whole walk takes far less than one window: each symbol sends its first price at once
    # and its final one when the window ends, and nothing in between.
    monkeypatch.setattr(ticker, "TICK", 0)
    monkeypatch.setattr(ticker, "THROTTLE", 1.0)
    client = serve(ticker.app)

    response, messages = read(client, "/prices", params={"seed": 7, "ticks": 300})

    assert response.status_code == 200
    expected = walk(ticker.SYMBOLS, seed=7, ticks=300)
    assert by_symbol(quotes_of(messages)) == {symbol: [prices[0], prices[-1]] for symbol, prices in expected.items()}


def test_ticker_throttles_each_symbol_and_keeps_its_final_price(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticker, "TICK", 0.005)
    monkeypatch.setattr(ticker, "THROTTLE", 0.1)
    client = serve(ticker.app)

    _, messages = read(client, "/prices", params={"seed": 3, "ticks": 120, "symbol": ["ACME", "GLOBEX"]})

    expected = walk(("ACME", "GLOBEX"), seed=3, ticks=120)
    received = by_symbol(quotes_of(messages))
    assert sorted(received) == ["ACME", "GLOBEX"]
    for symbol, prices in received.items():
        walked = iter(expected[symbol])
        assert all(price in walked for price in prices), "prices arrive in the walk's order"
        assert len(prices) < len(expected[symbol]), "the throttle dropped some"
        assert prices[0] == expected[symbol][0]
        assert prices[-1] == expected[symbol][-1]


def test_ticker_is_deterministic_for_a_seed(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticker, "TICK", 0)
    client = serve(ticker.app)

    runs = [read(client, "/prices", params={"seed": 11, "ticks": 40, "symbol": "ACME"})[1] for _ in range(2)]

    assert runs[0] == runs[1]
    assert [quote.price for quote in quotes_of(runs[0])] == [
        walk(("ACME",), seed=11, ticks=40)["ACME"][0],
        walk(("ACME",), seed=11, ticks=40)["ACME"][-1],
    ]


@pytest.mark.parametrize(
    "symbols",
    [["ACME"] * 11, ["A" * 13], [""]],
    ids=["too-many-symbols", "too-long-a-symbol", "empty-symbol"],
)
def test_ticker_answers_an_unbounded_request_with_an_http_422(serve: Serve, symbols: list[str]) -> None:
    # Every price the stream sends carries its symbol: a request names few, and short ones.
    client = serve(ticker.app)

    response = client.get("/prices", params={"symbol": symbols, "ticks": 1})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
