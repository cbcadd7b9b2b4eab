"""What pyright reports in its default (standard) mode, where the Endpoints page says it is silent.

Checked by `make typecheck` as the other type tests are; the comment below puts pyright in its
standard mode for this file whatever the configuration says.
"""

# pyright: standard

from __future__ import annotations

from collections.abc import AsyncIterator

from typedsse import BaseEvent, sse


class Tick(BaseEvent[int]): ...


def check_a_bare_sse_is_reported_only_where_deprecations_are() -> None:
    # Never called: `@sse` would raise EndpointDefinitionError. pyright reports the deprecated
    # overload with `reportDeprecated` on (strict mode; see test_endpoint_types.py), not here:
    # the line has no `# pyright: ignore`, which the second configuration would find unneeded.
    @sse  # type: ignore[deprecated]
    async def bare() -> AsyncIterator[Tick]:
        yield Tick(data=1)
