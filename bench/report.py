"""Results on disk: the whole document as JSON, and the tables as markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_STACK_TITLES = {"asyncio": "asyncio loop + h11", "uvloop": "uvloop + httptools"}
_VARIANT_TITLES = {
    "raw": "raw `StreamingResponse` (floor)",
    "typedsse": "**typedsse**",
    "sse-starlette": "sse-starlette",
    "fastapi": "FastAPI native (`fastapi.sse`)",
}

# (scenario, metric, column title, decimals); every cell also shows the median ratio to raw
# where the results have one (not where raw's figure is zero, as tasks left usually are).
_COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("throughput_1", "events_per_s", "1 conn: events/s", 0),
    ("throughput_1", "server_cpu_s_per_100k", "1 conn: CPU s / 100k events", 2),
    ("throughput_100", "events_per_s", "100 conns: events/s", 0),
    ("throughput_100", "server_cpu_s_per_100k", "100 conns: CPU s / 100k events", 2),
    ("pipeline", "source_events_per_s", "pipeline: source events/s", 0),
    ("idle", "rss_kib_per_conn", "idle: KiB / conn", 1),
    ("idle", "tasks_per_conn", "idle: tasks / conn", 1),
    ("latency", "p50_ms", "latency p50 ms", 2),
    ("latency", "p99_ms", "latency p99 ms", 2),
    ("latency", "due_p50_ms", "from due time: p50 ms", 2),
    ("latency", "due_p99_ms", "from due time: p99 ms", 2),
    ("disconnect", "reset_ms", "disconnect: client's resets took ms", 0),
    ("disconnect", "finally_all_ms", "disconnect: all `finally` ms", 0),
    ("disconnect", "tasks_left", "disconnect: tasks left", 0),
    ("disconnect", "rss_after_ratio", "disconnect: RSS after / fresh", 3),
    ("disconnect", "rss_steady_ratio", "disconnect: RSS 2nd round / 1st", 3),
    ("disconnect", "heap_after_ratio", "disconnect: live heap blocks after / fresh", 3),
)


def _figure(value: float) -> str:
    """A whole number as it is; otherwise three significant digits, or three decimals below 10
    (1.004, not 1)."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.3g}"


def write(document: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    json_path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(document), encoding="utf-8")
    return json_path, md_path


def markdown(document: dict[str, Any]) -> str:
    """Render the results: machine, one table per stack, targets, and the client check."""
    machine, plan, load = document["machine"], document["plan"], document["load_average"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items() if version)
    pinning = _pinning(document)
    lines = [
        "# Benchmark results",
        "",
        f"{machine['date']}: `{plan['mode']}` run, {plan['repetitions']} interleaved repetitions, "
        f"{document['duration_s']:.0f} s. Each cell is the median across repetitions; `(0.95x)` is the "
        "median ratio to the raw variant measured in the same repetition.",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores ({pinning}), {machine['kernel']}, {machine['python']}.",
        f"- typedsse sources: digest `{document['typedsse_source']['start']}`"
        + (
            ""
            if document["typedsse_source"]["start"] == document["typedsse_source"]["end"]
            else f" at the start, `{document['typedsse_source']['end']}` at the end (**they changed during the run**)"
        )
        + ".",
        f"- Load average (1, 5, 15 min): {_triple(load['start'])} at the start, {_triple(load['end'])} at the end"
        + _record_loads(document["records"])
        + ".",
        f"- Packages: {packages}.",
        f"- Load: {_sizes(plan['sizes'])}.",
        "",
    ]
    for stack, scenarios in document["summary"].items():
        lines += [f"## {_STACK_TITLES.get(stack, stack)}", "", *_table(scenarios, plan["variants"]), ""]
        stack_targets = [t for t in document["targets"] if t["stack"] == stack]
        if stack_targets:
            lines += ["Targets for typedsse:", "", "| target | measured | holds |", "| --- | --- | --- |"]
            for t in stack_targets:
                holds = {True: "yes", False: "**no**", None: "not measured"}[t["holds"]]
                measured = "-" if t["measured"] is None else f"{_figure(t['measured'])} {t['unit']}"
                lines.append(f"| {t['target']} | {measured} | {holds} |")
            lines.append("")
        lines += _client_check(scenarios, plan["variants"])
    errors = [r for r in document["records"] if r["error"]]
    if errors:
        lines += ["## Failed measurements", ""]
        lines += [f"- {r['stack']} #{r['repetition']} {r['scenario']} on {r['variant']}: {r['error']}" for r in errors]
        lines.append("")
    return "\n".join(lines)


def _pinning(document: dict[str, Any]) -> str:
    """What the pinning achieved, from the results' `pinning` (as planned, for results without it)."""
    plan, pinning = document["plan"], document.get("pinning")
    if pinning is None:  # results written before the harness checked its pinning
        if plan["server_core"] is None:
            # Unpinned, the client's affinity (recorded then) is every core the run could use.
            cores = document["machine"].get("cores_available", [])
            if len(cores) == 1:
                return "only 1 usable core: server and client shared it, no pinning"
            return "no core pinning"
        return (
            f"servers to be pinned to core {plan['server_core']}, client to core {plan['client_core']}; "
            "these results do not record whether the pinning took"
        )
    available = pinning["cores_available"]
    client, servers = pinning["client"], pinning["servers"]
    if client["core"] is None and servers["core"] is None:
        usable = f"{_count(len(available), 'usable core')} ({_list(available)})"
        if len(available) < 2:
            return f"only {usable}: server and client shared it, no pinning"
        return f"no core pinning, {usable}"
    parts: list[str] = []
    if servers["core"] is not None:
        if servers["pinned"]:
            parts.append(f"servers pinned to core {servers['core']}")
        else:
            ran_on = "; ".join(_list(cores) for cores in servers["cores"]) or "unknown cores"
            parts.append(
                f"servers **not pinned** to core {servers['core']} in {servers['unpinned']} of "
                f"{servers['measurements']} measurements (cores {ran_on})"
            )
    if client["core"] is not None:
        if client["pinned"]:
            parts.append(f"client to core {client['core']}")
        else:
            parts.append(f"client **not pinned** to core {client['core']} (cores {_list(client['cores'])})")
    return ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _list(cores: list[int]) -> str:
    return ", ".join(map(str, cores)) or "none"


def _record_loads(records: list[dict[str, Any]]) -> str:
    """The range of the 1-minute load average sampled before each measurement (when recorded)."""
    loads = [r["load_average"][0] for r in records if r.get("load_average")]
    if not loads:
        return ""
    return f"; 1 min before each measurement: {min(loads):.2f} to {max(loads):.2f}"


def _triple(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _sizes(sizes: dict[str, Any]) -> str:
    return (
        f"1 connection x {sizes['stream_events']:,} events; {sizes['many_connections']} connections x "
        f"{sizes['many_events']:,} events; {sizes['idle_connections']:,} idle connections; "
        f"latency over {sizes['latency_connections']} connections x {sizes['latency_events']} events every "
        f"{sizes['latency_interval'] * 1000:g} ms (the better of {sizes.get('latency_runs', 1)} runs); "
        f"{sizes['disconnect_connections']} streams "
        f"(an event every {sizes['disconnect_interval'] * 1000:g} ms) reset at once, "
        f"`finally` awaited up to {sizes['disconnect_timeout']:g} s"
    )


def _table(scenarios: dict[str, Any], variants: list[str]) -> list[str]:
    columns = [c for c in _COLUMNS if c[0] in scenarios]
    lines = [
        "| variant | " + " | ".join(c[2] for c in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for variant in variants:
        cells = [_cell(scenarios[scenario].get(variant, {}), metric, digits) for scenario, metric, _, digits in columns]
        lines.append(f"| {_VARIANT_TITLES.get(variant, variant)} | " + " | ".join(cells) + " |")
    return lines


def _cell(metrics: dict[str, Any], metric: str, digits: int) -> str:
    if metrics.get("errors") and metric not in metrics:
        return "failed"
    entry = metrics.get(metric)
    if entry is None:
        return "-"
    median = entry["median"]
    if median is None:
        return "timed out"
    text = f"{median:,.{digits}f}"
    missing = sum(v is None for v in entry["values"])
    if missing:
        text += f" ({missing} timed out)"
    if entry.get("ratio_to_raw") is not None:
        text += f" ({entry['ratio_to_raw']:.2f}x)"
    return text


def _client_check(scenarios: dict[str, Any], variants: list[str]) -> list[str]:
    rows: list[str] = []
    for scenario in ("throughput_1", "throughput_100"):
        for variant in variants:
            metrics = scenarios.get(scenario, {}).get(variant, {})
            client, server = metrics.get("client_cpu_share"), metrics.get("server_cpu_share")
            if client and server and client["median"] is not None and server["median"] is not None:
                rows.append(f"| {scenario} | {variant} | {server['median']:.2f} | {client['median']:.2f} |")
    if not rows:
        return []
    return [
        "Client check (share of one core used during the measurement; the server's near 1.0 and the "
        "client's well below it mean the server was the bottleneck):",
        "",
        "| scenario | variant | server CPU share | client CPU share |",
        "| --- | --- | ---: | ---: |",
        *rows,
        "",
    ]
