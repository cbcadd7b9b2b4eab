"""`/docs` in real Chromium: every stream's event names and payload fields are there to read.

Swagger UI loads its script and stylesheet from a CDN by default; these tests serve the copies
shipped by the `fastapi-offline` package instead, so they run without internet access, and any
request leaving 127.0.0.1 is refused (and fails the test).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastapi_offline
import pytest
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from typedsse.openapi import EXTENSION, install

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py") if not path.name.startswith("_"))
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
LOCAL = re.compile(r"^http://127\.0\.0\.1:\d+/")


def example_names() -> list[str]:
    return [
        name
        for name in EXAMPLES
        if isinstance(getattr(importlib.import_module(f"examples.{name}"), "app", None), FastAPI)
    ]


def docs_site(app: FastAPI) -> Starlette:
    """`app` with its `/docs` page served from local Swagger UI files instead of a CDN."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url="/_swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/_swagger-ui/swagger-ui.css",
            swagger_favicon_url="/_swagger-ui/favicon.png",
        )

    return Starlette(
        routes=[
            Route("/docs", swagger_ui),
            Mount("/_swagger-ui", StaticFiles(directory=SWAGGER_UI)),
            Mount("/", app),
        ]
    )


def streams(openapi: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Yield `(method, path, status, media type object)` for every documented event stream."""
    for path, path_item in openapi["paths"].items():
        for method, operation in path_item.items():
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("text/event-stream", {})
                if EXTENSION in media:
                    yield method, path, status, media


def payload_fields(openapi: dict[str, Any], event_ref: str) -> list[str]:
    """The top-level field names of an event's payload, as documented (aliases included)."""
    schemas = openapi["components"]["schemas"]
    data = schemas[event_ref.removeprefix("#/components/schemas/")]["properties"]["data"]
    content = data.get("contentSchema", {})
    if "$ref" in content:
        content = schemas[content["$ref"].removeprefix("#/components/schemas/")]
    return list(content.get("properties", {}))


@pytest.mark.parametrize("name", example_names())
def test_swagger_ui_shows_every_event_and_payload_field(
    name: str, chromium: Any, live_server: Callable[..., Any], artifacts: Path
) -> None:
    app = importlib.import_module(f"examples.{name}").app
    install(app)
    openapi = app.openapi()
    server = live_server(docs_site(app))
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def refuse(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/)"), refuse)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock", timeout=15_000)

        shown = 0
        for method, path, status, media in streams(openapi):
            operation = page.locator(f'.opblock-{method}:has(.opblock-summary-path[data-path="{path}"])')
            operation.locator(".opblock-summary").click()
            response = operation.locator(f'tr.response[data-code="{status}"]')
            response.get_by_role("tab", name="Schema").click()
            response.get_by_role("button", name="Expand all").first.click()
            for event, described in media[EXTENSION]["events"].items():
                expect(response).to_contain_text(f'"{event}"')  # shown as the `event` field's const
                for field in payload_fields(openapi, described["schema"]):
                    expect(response).to_contain_text(field)
            shown += 1

        page.screenshot(path=artifacts / f"{name}-docs.png", full_page=True)
    finally:
        page.close()
    assert shown > 0
    assert errors == []
    assert outside == []
