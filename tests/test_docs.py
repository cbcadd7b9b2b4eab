"""The documentation site: complete, in step with the package, and its examples run as shown."""

from __future__ import annotations

import ast
import asyncio
import collections.abc
import contextlib
import doctest
import functools
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import time
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import griffe
import pytest
import starlette
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from mkdocs.config import load_config
from pydantic import BaseModel, TypeAdapter

import typedsse
from typedsse import operators as ops

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
PAGES = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
README = "../README.md"  # a page path, relative to DOCS, for `code_blocks`

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<lang>[\w+-]*)(?P<attrs>[^`]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
_SNIPPET = re.compile(r'^[ \t]*--8<--[ \t]+"(?P<path>[^"]+)"', re.MULTILINE)
_DIRECTIVE = re.compile(r"^::: (?P<module>[\w.]+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class CodeBlock:
    page: str
    line: int
    lang: str
    title: str
    code: str


def code_blocks(page: str) -> Iterator[CodeBlock]:
    """Yield the fenced code blocks of a page, dedented (blocks in tabs and admonitions are indented)."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        opening = _FENCE_OPEN.match(lines[number])
        number += 1
        if opening is None:
            continue
        start, body = number, list[str]()
        closing = re.compile(rf"^{re.escape(opening['indent'])}{opening['fence']}`*[ \t]*$")
        while number < len(lines) and not closing.match(lines[number]):
            body.append(lines[number])
            number += 1
        number += 1
        title = _TITLE.search(opening["attrs"])
        yield CodeBlock(
            page=page,
            line=start,
            lang=opening["lang"],
            title=title["title"] if title else "",
            code=_SNIPPET.sub(_included, textwrap.dedent("\n".join(body)) + "\n"),
        )


def _included(snippet: re.Match[str]) -> str:
    """Return what `--8<-- "path"` or `--8<-- "path:start:end"` includes, as pymdownx.snippets does."""
    path, *lines = snippet["path"].split(":")
    text = (ROOT / path).read_text(encoding="utf-8")
    if not lines:
        return text.rstrip("\n")
    start, end = (int(line) for line in lines)
    return "\n".join(text.splitlines()[start - 1 : end])


def blocks(lang: str, *, title: str | None = None) -> list[CodeBlock]:
    return [
        block
        for page in PAGES
        for block in code_blocks(page)
        if block.lang == lang and (title is None or block.title == title)
    ]


def block_id(block: CodeBlock) -> str:
    return f"{block.page}:{block.line}"


def only_block(page: str, *, lang: str, title: str) -> CodeBlock:
    (block,) = [block for block in code_blocks(page) if block.lang == lang and block.title == title]
    return block


def nav_pages(nav: object) -> Iterator[str]:
    """Yield the page paths of an mkdocs `nav` (strings, `{title: ...}` mappings and lists of them)."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, dict):
        for value in cast(dict[str, object], nav).values():
            yield from nav_pages(value)
    elif isinstance(nav, list):
        for item in cast(list[object], nav):
            yield from nav_pages(item)


def test_docs_nav_lists_every_page() -> None:
    config = load_config(str(ROOT / "mkdocs.yml"))
    assert sorted(nav_pages(config["nav"])) == PAGES


def test_quickstart_where_next_links_every_other_page() -> None:
    # A reader who has run the quickstart finds every page from its end, in the nav's order.
    section = (DOCS / "index.md").read_text(encoding="utf-8").split("\n## Where next\n", 1)[1].split("\n## ", 1)[0]
    linked = re.findall(r"^- \[[^\]]+\]\((?P<page>[\w/-]+\.md)\)", section, re.MULTILINE)
    config = load_config(str(ROOT / "mkdocs.yml"))
    assert linked == [page for page in nav_pages(config["nav"]) if page != "index.md"]


def test_docs_include_every_example() -> None:
    included = {
        match["path"].split(":")[0] for page in PAGES for match in _SNIPPET.finditer((DOCS / page).read_text("utf-8"))
    }
    examples = {path.relative_to(ROOT).as_posix() for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    assert examples, "examples/ holds no example"
    assert examples - included == set()


@pytest.mark.parametrize("name", typedsse.__all__)
def test_reference_documents_public_name(name: str) -> None:
    modules = [importlib.import_module(m["module"]) for m in _DIRECTIVE.finditer((DOCS / "reference.md").read_text())]
    homes = [module.__name__ for module in modules if name in getattr(module, "__all__", ())]
    assert homes, f"typedsse.{name} is in no module rendered by docs/reference.md"
    assert all(getattr(importlib.import_module(home), name) is getattr(typedsse, name) for home in homes)


RENDERED = sorted(
    {match["module"] for page in PAGES for match in _DIRECTIVE.finditer((DOCS / page).read_text("utf-8"))}
)


@functools.cache
def griffe_module(module: str) -> Any:
    """The module as mkdocstrings reads it: from its source, docstrings of attributes included."""
    return griffe.load(module, search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False)


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module in RENDERED for name in importlib.import_module(module).__all__],
    ids="{0[0]}.{0[1]}".format,
)
def test_reference_shows_every_public_name_of_a_rendered_module(module: str, name: str) -> None:
    # The reference renders a module's public names that have a docstring, and leaves out the
    # others without a word (`show_if_no_docstring: false`): a constant or an alias needs one
    # as much as a function. A name of another package (`ops.Stream`, aiostream's) has its own
    # reference, which the API reference page points to.
    member = griffe_module(module)[name]
    if member.is_alias and not member.target_path.startswith("typedsse."):
        reference = " ".join((DOCS / "reference.md").read_text(encoding="utf-8").split())
        assert f".{name}`, which is {member.target_path.split('.')[0]}'s" in reference
        return
    assert member.docstring is not None, f"{module}.{name} has no docstring: the reference leaves it out"
    assert member.docstring.value.strip()


# The package's modules; `__main__` runs the command line when imported.
MODULES = sorted(
    info.name for info in pkgutil.walk_packages(typedsse.__path__, "typedsse.") if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_as_shown(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # typedsse.demo serves the examples of the checkout
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(importlib.import_module(name)):
        runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


_DOCSTRING_FENCE = re.compile(r"^(?P<indent> *)```python\n(?P<code>.*?)^(?P=indent)```$", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("documented", [typedsse.BaseEvent, typedsse.sse], ids=lambda documented: documented.__name__)
def test_docstring_example_runs_on_the_echo_payload(documented: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # These examples build on the `Echo` and `EchoPayload` of the README and the echo example,
    # whose payload has a required `created_at`: run in that example's namespace, they work.
    (fence,) = _DOCSTRING_FENCE.finditer(inspect.getdoc(documented) or "")
    namespace = {**vars(example("echo", monkeypatch)), "app": FastAPI()}
    exec(compile(textwrap.dedent(fence["code"]), f"{documented!r} docstring", "exec"), namespace)
    streams = [route for route in namespace["app"].routes if isinstance(route, APIRoute)]
    with TestClient(namespace["app"]) as client:
        for route in streams:
            response = client.get(route.path, params={"message": "hi"})
            assert response.status_code == 200, response.text
            assert [message.event for message in typedsse.decoding.parse(response.content)] == ["echo"]


@pytest.mark.parametrize("block", blocks("python"), ids=block_id)
def test_docs_python_block_compiles(block: CodeBlock) -> None:
    compile(block.code, f"{block.page}:{block.line}", "exec")


def new_module(name: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Create an importable module (Pydantic looks generic classes' modules up in `sys.modules`)."""
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def run_module(name: str, block: CodeBlock, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = new_module(name, monkeypatch)
    exec(compile(block.code, f"{block.page}:{block.line}", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("page", [page for page in PAGES if any(b.lang == "pycon" for b in code_blocks(page))])
def test_docs_pycon_blocks_run_as_shown(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # One namespace per page: its sessions read as one continuous interpreter session.
    text = "\n".join(block.code for block in code_blocks(page) if block.lang == "pycon")
    module = new_module("docs_session", monkeypatch)
    test = doctest.DocTestParser().get_doctest(text, module.__dict__, page, page, 0)
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


@pytest.mark.parametrize("block", blocks("python", title="app.py"), ids=block_id)
def test_docs_app_block_defines_an_app(block: CodeBlock, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(run_module("app", block, monkeypatch).app, FastAPI)


def test_operators_page_app_throttles_the_prices_and_sends_every_trade(monkeypatch: pytest.MonkeyPatch) -> None:
    # The page's first pipeline throttled the merged stream by symbol: with prices and trades
    # of one symbol, most trades were dropped in the windows the prices opened.
    module = run_module("app", only_block("operators.md", lang="python", title="app.py"), monkeypatch)
    with TestClient(module.app) as client:
        response = client.get("/market")
    messages = typedsse.decoding.parse(response.content)
    trades = [message.json()["price"] for message in messages if message.event == "trade_executed"]
    prices = [message.json()["price"] for message in messages if message.event == "price_changed"]
    assert trades == [cents / 100 for cents in range(10_000, 10_100, 10)]
    assert 1 <= len(prices) < 100  # throttled: a price per half second, from 100 over about a second
    assert prices[-1] == 100.99  # latest mode: the final price arrives


def test_operators_page_token_batches_send_the_first_token_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = [b for b in code_blocks("operators.md") if b.lang == "python" and "ops.chunk(" in b.code]
    module = new_module("tokens", monkeypatch)
    module.__dict__.update(AsyncIterator=AsyncIterator, BaseEvent=typedsse.BaseEvent, ops=ops)
    exec(compile(block.code, f"{block.page}:{block.line}", "exec"), module.__dict__)

    async def texts() -> list[str]:
        async with module.batched.stream() as events:
            return [event.data async for event in events]

    # The first token goes out alone, with no wait; the rest, which came at once, are one batch.
    assert asyncio.run(texts()) == ["Hello", ", world!"]


def test_endpoints_page_deadline_example_ends_with_its_own_event() -> None:
    # The page's generator bounded by `asyncio.timeout`, over a feed that is always ready (a
    # burst: the deadline passes while the response waits, the generator at a `yield`), ends
    # with the `TimedOut` its `except TimeoutError` yields, not with the error event.
    (block,) = [block for block in code_blocks("endpoints.md") if "asyncio.timeout(" in block.code]

    class PriceChanged(typedsse.BaseEvent[float]): ...

    class PriceFeed:
        async def watch(self, symbol: str) -> AsyncIterator[float]:
            while True:
                yield 1.0

    namespace: dict[str, Any] = {
        **vars(collections.abc),
        "app": FastAPI(),
        "sse": typedsse.sse,
        "BaseEvent": typedsse.BaseEvent,
        "Annotated": Annotated,
        "Depends": Depends,
        "PriceChanged": PriceChanged,
        "PriceFeed": PriceFeed,
        "get_feed": PriceFeed,
        # The page's minute, passed already: due at the first wait.
        "asyncio": types.SimpleNamespace(timeout=lambda seconds: asyncio.timeout(0)),
    }
    exec(compile(block.code, block_id(block), "exec"), namespace)
    with TestClient(namespace["app"]) as client:
        response = client.get("/prices/ACME/minute")
    messages = typedsse.decoding.parse(response.content)
    assert messages[-1].event == "timed_out"
    assert {message.event for message in messages[:-1]} == {"price_changed"}


def quickstart_app(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Import the quickstart's `app.py` as the module `app`, without its one-second pauses."""
    module = run_module("app", only_block("index.md", lang="python", title="app.py"), monkeypatch)

    async def no_pause(seconds: float) -> None:
        await asyncio.sleep(0)

    module.asyncio = types.SimpleNamespace(sleep=no_pause)  # type: ignore[attr-defined]
    return module


def test_quickstart_streams_the_documented_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = only_block("index.md", lang="text", title="curl -N 'http://127.0.0.1:8000/hello?name=Ada'").code
    with TestClient(quickstart_app(monkeypatch).app) as client:
        response = client.get("/hello", params={"name": "Ada"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.text == wire


def test_quickstart_answers_a_missing_parameter_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = only_block("index.md", lang="text", title="curl -i 'http://127.0.0.1:8000/hello' (headers abridged)").code
    with TestClient(quickstart_app(monkeypatch).app) as client:
        response = client.get("/hello")
    status_line, content_type, blank, body, end = shown.split("\n")
    assert (blank, end) == ("", "")
    assert status_line.split(" ")[:2] == ["HTTP/1.1", str(response.status_code)]  # reason phrases vary by server
    assert content_type == f"content-type: {response.headers['content-type']}"
    assert body == response.text


def section_blocks(page: str, heading: str, *, lang: str) -> list[CodeBlock]:
    """The code blocks in `lang` under the heading `heading` (a whole line, `## Testing`) of a page."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ")[0] + " "
    end = next((number for number in range(start, len(lines)) if lines[number].startswith(level)), len(lines))
    return [block for block in code_blocks(page) if block.lang == lang and start < block.line <= end]


def test_endpoints_page_testing_section_runs_as_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    # The section's tests, run as a user's would: on the page's app.py (without its one-second
    # pauses), with the endless `/follow` it reads, whose `finally` and dependency cleanup have
    # run when the test returns, as the page says; and with that dependency overridden.
    app_py = next(block for block in code_blocks("endpoints.md") if block.title == "app.py")  # the page's first
    module = run_module("app", app_py, monkeypatch)

    async def no_pause(seconds: float) -> None:
        await asyncio.sleep(0)

    module.asyncio = types.SimpleNamespace(sleep=no_pause)  # type: ignore[attr-defined]
    ended: list[str] = []

    async def get_feed() -> AsyncIterator[str]:
        try:
            yield "feed"
        finally:
            ended.append("dependency")

    async def fake_feed() -> AsyncIterator[str]:
        try:
            yield "fake"
        finally:
            ended.append("override")

    class Change(typedsse.BaseEvent[str]): ...

    async def follow(feed: str = Depends(get_feed)) -> AsyncIterator[Change]:
        try:
            while True:
                yield Change(data=feed)
                await asyncio.sleep(0)
        finally:
            ended.append("stream")

    module.app.get("/follow")(typedsse.sse()(follow))
    namespace = vars(module)
    for block in section_blocks("endpoints.md", "## Testing", lang="python"):
        exec(compile(block.code, block_id(block), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert [test.__name__ for test in tests] == ["test_ticks", "test_ticks_typed", "test_follow", "test_follow_served"]
    for test in tests[:2]:
        test()
    # Before Starlette 1.9, `client.stream` on an endless stream never returns, as the page says.
    if tuple(int(part) for part in starlette.__version__.split(".")[:2]) >= (1, 9):
        namespace["test_follow"]()
        assert ended == ["stream", "dependency"]
        module.app.dependency_overrides[get_feed] = fake_feed
        namespace["test_follow"]()
        assert ended == ["stream", "dependency", "stream", "override"]
        ended.clear()
    else:
        module.app.dependency_overrides[get_feed] = fake_feed
    # The fixture, as pytest runs it, and the test on the server it starts: the cleanup runs
    # after the client has left, on the server's loop, as the page says.
    with contextlib.contextmanager(namespace["base_url"].__wrapped__)() as base_url:
        namespace["test_follow_served"](base_url)
        deadline = time.monotonic() + 10
        while len(ended) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ended == ["stream", "override"]


def run_client(page: str, name: str, url: str) -> None:
    """Run a documented client script against `url` instead of the local server it names."""
    client = only_block(page, lang="python", title=name).code
    assert client.count("http://127.0.0.1:8000") == 1
    exec(compile(client.replace("http://127.0.0.1:8000", url), name, "exec"), {"__name__": "__main__"})


def test_quickstart_client_prints_the_documented_output(
    monkeypatch: pytest.MonkeyPatch, live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = live_server(quickstart_app(monkeypatch).app)
    run_client("index.md", "client.py", server.url)
    assert capsys.readouterr().out == only_block("index.md", lang="text", title="python client.py").code


@pytest.mark.e2e
def test_quickstart_browser_snippet_runs_where_the_page_says(
    monkeypatch: pytest.MonkeyPatch, live_server: Any, chromium: Any
) -> None:
    # Pasted into the console of the page the quickstart names, as a reader would, on the
    # quickstart's app: the relative URL reaches the stream, and every greeting is logged.
    section = section_text("index.md", "### In the browser")
    (page_url,) = re.findall(r"`http://127\.0\.0\.1:8000(/[^`]*)`", section)
    (snippet,) = [block for block in code_blocks("index.md") if block.lang == "js"]
    server = live_server(quickstart_app(monkeypatch).app)
    page = chromium.new_page()
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text))
    try:
        page.goto(server.url + page_url)
        page.evaluate("() => {" + snippet.code + "}")
        for _ in range(100):
            if len([line for line in logged if "Hello" in line]) == 3:
                break
            page.wait_for_timeout(100)
    finally:
        page.close()
    assert [line for line in logged if "Hello" in line] == [f"{i} Hello, Ada!" for i in range(3)]


def section_text(page: str, heading: str) -> str:
    """The text of a page under the heading `heading` (a whole line), up to the next heading of its level."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ")[0] + " "
    end = next((number for number in range(start, len(lines)) if lines[number].startswith(level)), len(lines))
    return "\n".join(lines[start:end])


def example(name: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module(f"examples.{name}")


def shown(title: str) -> str:
    return only_block("examples.md", lang="text", title=title).code


_CREATED_AT = re.compile(r'"created_at":"[^"]*"')


@pytest.mark.parametrize(
    ("headers", "title"),
    [
        ({}, "curl -N 'http://127.0.0.1:8000/echo?message=hello'"),
        ({"Last-Event-ID": "3"}, "curl -N -H 'Last-Event-ID: 3' 'http://127.0.0.1:8000/echo?message=hello'"),
    ],
    ids=["first-connection", "resumed"],
)
def test_examples_page_shows_echo_output(headers: dict[str, str], title: str, monkeypatch: pytest.MonkeyPatch) -> None:
    echo = example("echo", monkeypatch)
    monkeypatch.setattr(echo, "INTERVAL", 0)
    with TestClient(echo.app) as client:
        response = client.get("/echo", params={"message": "hello"}, headers=headers)
    # Only the timestamps differ from run to run, but they are shown as Pydantic writes them.
    assert _CREATED_AT.sub('"created_at":…', response.text) == _CREATED_AT.sub('"created_at":…', shown(title))
    assert_written_by_pydantic(shown(title))


def assert_written_by_pydantic(text: str) -> None:
    """Check that the `created_at` timestamps in `text` are in the form Pydantic writes them."""
    timestamps = re.findall(r'"created_at":"([^"]*)"', text)
    assert timestamps
    for timestamp in timestamps:
        assert TypeAdapter(datetime).dump_json(datetime.fromisoformat(timestamp)).decode() == f'"{timestamp}"'


def test_readme_app_streams_the_documented_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    (app_block,) = [block for block in code_blocks(README) if block.lang == "python"]
    (console,) = [block for block in code_blocks(README) if block.lang == "console"]
    command, wire = console.code.split("$ curl -N 'http://127.0.0.1:8000/echo?message=hi'\n")
    assert command == "$ uvicorn app:app\n"
    shown_start, rest = wire.split("...\n")
    assert rest == ""
    with TestClient(run_module("app", app_block, monkeypatch).app) as client:
        response = client.get("/echo", params={"message": "hi"})
    assert response.status_code == 200
    assert _CREATED_AT.sub('"created_at":…', response.text).startswith(_CREATED_AT.sub('"created_at":…', shown_start))
    assert_written_by_pydantic(shown_start)


@pytest.mark.parametrize(("last_event_id", "status"), [("5", 204), ("x", 400)])
def test_examples_page_states_echo_statuses(last_event_id: str, status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (DOCS / "examples.md").read_text(encoding="utf-8")
    with TestClient(example("echo", monkeypatch).app) as client:
        response = client.get("/echo", params={"message": "hello"}, headers={"Last-Event-ID": last_event_id})
    assert response.status_code == status
    assert f"(`Last-Event-ID: {last_event_id}`) gets `{status} " in " ".join(page.split())


@pytest.mark.parametrize("name", ["echo", "chat", "progress"])
def test_examples_page_shows_how_to_call_every_stream(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The page includes each example's source; its prose (and the commands) names every stream,
    # so a reader learns each route the example serves, not only the first.
    page = (DOCS / "examples.md").read_text(encoding="utf-8")
    paths = [
        route.path
        for route in example(name, monkeypatch).app.routes
        if isinstance(route, APIRoute) and typedsse.stream_endpoint(route.endpoint) is not None
    ]
    assert paths
    for path in paths:
        shown = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
        pattern = re.sub(r"\{\w+\}", r"[^/\\s'`?]+", shown) + r"(?![\w/-])"
        assert re.search(pattern, page), f"{path} of examples/{name}.py is not shown on the page"


def test_examples_page_shows_chat_output(monkeypatch: pytest.MonkeyPatch) -> None:
    chat = example("chat", monkeypatch)
    monkeypatch.setitem(chat.app.dependency_overrides, chat.get_model, lambda: chat.FakeModel(delay=0))
    body = {"messages": [{"role": "user", "content": "Hello there"}]}
    with TestClient(chat.app) as client:
        response = client.post("/chat", json=body)
    head, tail = shown("curl -N http://127.0.0.1:8000/chat (the first tokens, and the end)").split("...\n\n")
    assert response.text.startswith(head)
    assert response.text.endswith(tail)


def test_examples_page_states_the_chat_body_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    chat = example("chat", monkeypatch)
    page = " ".join((DOCS / "examples.md").read_text(encoding="utf-8").split())
    shown = f"at most {chat.MAX_MESSAGES} messages (`MAX_MESSAGES`) of {chat.MAX_CHARACTERS:,} characters in all"
    assert shown in page


def test_examples_page_says_why_the_batched_chat_is_not_leading(monkeypatch: pytest.MonkeyPatch) -> None:
    # The page says the example does not use `leading=True` because its fake model's tokens, a
    # steady delay apart, would fall one to most windows: true only while the delay it names is
    # the model's and shorter than the window it names, which is the one the example batches by.
    chat = example("chat", monkeypatch)
    page = " ".join((DOCS / "examples.md").read_text(encoding="utf-8").split())
    found = re.search(r"steady (?P<delay>\d+) ms a token against a (?P<window>\d+) ms window", page)
    assert found is not None
    assert int(found["delay"]) / 1000 == chat.FakeModel().delay
    assert int(found["window"]) / 1000 == chat.BATCH_INTERVAL
    assert chat.FakeModel().delay < chat.BATCH_INTERVAL
    assert "leading=True" not in inspect.getsource(chat.chat_batched)


def test_examples_page_chat_client_prints_the_documented_output(
    monkeypatch: pytest.MonkeyPatch, live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = example("chat", monkeypatch)
    monkeypatch.setitem(chat.app.dependency_overrides, chat.get_model, lambda: chat.FakeModel(delay=0))
    run_client("examples.md", "chat_client.py", live_server(chat.app).url)
    assert capsys.readouterr().out == shown("python chat_client.py")


@pytest.mark.parametrize("path", ["/jobs/42", "/jobs/42?fail_at=validate"])
def test_examples_page_shows_progress_output(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    progress = example("progress", monkeypatch)
    monkeypatch.setattr(progress, "STAGE_SECONDS", 0)
    with TestClient(progress.app) as client:
        response = client.get(path)
        blocking = client.get(path.replace("/42", "/42/blocking"))
    assert response.text == shown(f"curl -N 'http://127.0.0.1:8000{path}'")
    assert blocking.text == response.text


def test_endpoints_page_lists_every_sse_option_with_its_default() -> None:
    page = (DOCS / "endpoints.md").read_text(encoding="utf-8")
    section = page.split("## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` +\| `([^`]*)` +\|", section, re.MULTILINE)
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(typedsse.sse).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY  # not the function a bare `@sse` passes
    }
    assert [name for name, _ in rows] == list(defaults)
    for name, shown_default in rows:
        assert ast.literal_eval(shown_default) == defaults[name], name


class Tock(typedsse.BaseEvent[int]): ...


class Tack(typedsse.BaseEvent[int]): ...


def stream_function(kind: str, annotation: Any) -> Any:
    """A function of the kind a row of the event union's table names, sending `Tock` then `Tack`."""
    events = [Tock(data=0), Tack(data=1)]

    async def async_generator() -> Any:
        for event in events:
            yield event

    def sync_generator() -> Any:
        yield from events

    def returning_async() -> Any:
        return async_generator()

    def returning_sync() -> Any:
        return list(events)

    kinds = {
        "`async def` with `yield`": async_generator,
        "`def` with `yield`": sync_generator,
        "`def` or `async def` returning an async iterable": returning_async,
        "`def` or `async def` returning a sync iterable (a list)": returning_sync,
    }
    function = kinds[kind]
    function.__annotations__["return"] = annotation
    return function


def test_endpoints_page_annotation_table_covers_every_stream_function() -> None:
    # Each row's annotations, as written (`A | B` being two events), are accepted by `@sse` for
    # that kind of function and stream its events; and every kind of function has its row.
    section = section_text("endpoints.md", "## The event union")
    rows = re.findall(r"^\| (?P<kind>`[^|]*?) +\| (?P<cell>.*) +\|$", section, re.MULTILINE)
    assert {kind for kind, _ in rows} == {
        "`async def` with `yield`",
        "`def` with `yield`",
        "`def` or `async def` returning an async iterable",
        "`def` or `async def` returning a sync iterable (a list)",
    }
    namespace: dict[str, Any] = {**vars(collections.abc), "ops": ops, "A": Tock, "B": Tack}
    for kind, cell in rows:
        for written in re.findall(r"`([^`]+)`", cell):
            app = FastAPI()
            app.get("/stream")(typedsse.sse()(stream_function(kind, eval(written, namespace))))
            with TestClient(app) as client:
                response = client.get("/stream")
            assert [message.event for message in typedsse.Decoder().feed(response.content)] == ["tock", "tack"], (
                kind,
                written,
            )


# A client can send any Last-Event-ID: none of these may reach `int()`, which would answer a 500.
MALFORMED_IDS = ["x", "-1", "+1", "1_0", "9" * 5000, "²".encode()]


@pytest.mark.parametrize(
    "last_event_id", MALFORMED_IDS, ids=["letter", "minus", "plus", "underscore", "long", "superscript"]
)
def test_readme_app_refuses_a_malformed_last_event_id(
    last_event_id: str | bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    (app_block,) = [block for block in code_blocks(README) if block.lang == "python"]
    with TestClient(run_module("app", app_block, monkeypatch).app) as client:
        response = client.get("/echo", params={"message": "hi"}, headers={"Last-Event-ID": last_event_id})
    assert response.status_code == 400


class PostPayload(BaseModel):
    number: int


class Post(typedsse.BaseEvent[PostPayload]): ...


class Posts:
    async def since(self, after: int) -> AsyncIterator[PostPayload]:
        yield PostPayload(number=after + 1)


@pytest.mark.parametrize(("last_event_id", "status"), [(b"4", 200), *((malformed, 400) for malformed in MALFORMED_IDS)])
def test_endpoints_page_resuming_example_refuses_a_malformed_id(last_event_id: str | bytes, status: int) -> None:
    (block,) = [block for block in code_blocks("endpoints.md") if "async def feed(last_event_id" in block.code]
    namespace = {"app": FastAPI(), "sse": typedsse.sse, "AsyncIterator": AsyncIterator, "Post": Post, "posts": Posts()}
    exec(compile(block.code, block_id(block), "exec"), namespace)
    with TestClient(namespace["app"]) as client:
        response = client.get("/feed", headers={"Last-Event-ID": last_event_id})
    assert response.status_code == status
    if status == 200:
        assert [message.id for message in typedsse.Decoder().feed(response.content)] == ["5"]
