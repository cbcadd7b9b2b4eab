"""The server variants: one small FastAPI app per SSE stack, all with the same endpoints.

Every app serves the same payload (`common.Reading`) on the same paths:

- `GET /stream?n=N`: N events as fast as the stack can send them;
- `GET /idle`: a stream that never sends anything and keeps the connection;
- `GET /tick?interval=S&n=N&phase=P`: one event every S seconds on a wall-clock grid shifted by
  P seconds, carrying the server's send time in `value` and the time it was due in `at` (N
  omitted: forever); its generator records when its `finally` ran;
- `GET /pipeline?n=N&interval=S`: two sources of N payloads each, merged, then throttled per
  source to one event per S seconds (typedsse with its operators; the others by hand on aiostream);
- `GET /stats?collect=true`: the process's task count, resident memory, live small-object heap
  blocks and stream lifecycle counters (`collect=true`: after a full garbage collection).
"""

from __future__ import annotations

VARIANTS: tuple[str, ...] = ("raw", "typedsse", "sse-starlette", "fastapi")
"""Variant names, the floor first: every figure is also given as a ratio to `raw`."""

MODULES: dict[str, str] = {
    "raw": "bench.servers.raw",
    "typedsse": "bench.servers.typed",
    "sse-starlette": "bench.servers.starlette_sse",
    "fastapi": "bench.servers.native",
}
"""The module that builds each variant's app (as `app`)."""
