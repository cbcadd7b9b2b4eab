"""Command line: `python -m bench [--quick | --smoke] [options]`, or `--profile VARIANT`."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import report, suite
from bench.process import DEFAULT_STACKS, STACKS
from bench.profiling import profile
from bench.scenarios import QUICK, SCENARIOS, SMOKE, Sizes
from bench.servers import VARIANTS
from bench.system import available_cores, pin_to_core, raise_open_files_limit

RESULTS = Path(__file__).resolve().parent / "results"


def _names(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = sorted(set(names) - set(choices))
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)} (comma separated)")
        return names

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure typedsse against FastAPI's native SSE, sse-starlette and a raw byte stream.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller loads, asyncio stack only (a minute or two)")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="tiny loads, two repetitions, a server per measurement as in the full run: checks the harness works",
    )
    parser.add_argument(
        "--repetitions", type=int, default=None, help="interleaved repetitions (default 5; quick 3, smoke 2)"
    )
    parser.add_argument(
        "--stacks",
        type=_names(tuple(STACKS)),
        default=None,
        help=f"{','.join(STACKS)} (default {','.join(DEFAULT_STACKS)}; quick asyncio; "
        "smoke uvloop if uvloop and httptools are installed, else asyncio)",
    )
    parser.add_argument("--variants", type=_names(VARIANTS), default=None, help=",".join(VARIANTS))
    parser.add_argument("--scenarios", type=_names(tuple(SCENARIOS)), default=None, help=",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results/)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the client to cores")
    parser.add_argument(
        "--profile",
        metavar="VARIANT",
        choices=VARIANTS,
        default=None,
        help="instead of the suite, profile VARIANT's server with cProfile under the first --scenarios one",
    )
    return parser


def _stem(mode: str, stacks: list[str], default_stacks: list[str]) -> str:
    """The results' file name: `latest` for a full run of the default stacks, else mode and stacks.

    A quick or smoke run of its mode's default stacks (or of asyncio alone) is named by its mode.
    """
    if mode == "full" and tuple(stacks) == DEFAULT_STACKS:
        return "latest"
    if mode != "full" and list(stacks) in (["asyncio"], default_stacks):
        return mode
    return "-".join([mode, *(name.replace("+", "-") for name in stacks)])


def _missing_modules(stacks: list[str]) -> list[str]:
    """The event loop and HTTP modules the given stacks use that cannot be imported here."""
    wanted = dict.fromkeys(module for name in stacks for module in (STACKS[name].loop, STACKS[name].http))
    built_in = ("asyncio", "h11")  # the standard library's, and uvicorn's own dependency
    return [module for module in wanted if module not in built_in and importlib.util.find_spec(module) is None]


def _smoke_stacks() -> list[str]:
    """The smoke run's stack: uvloop where its modules are installed, else asyncio.

    One stack: most of a smoke run's time is starting a server per measurement, and a second
    stack would double it. uvloop + httptools is the one only a full run would reach otherwise.
    """
    return ["asyncio"] if _missing_modules(["uvloop"]) else ["uvloop"]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The smoke run goes through the full run's code paths (a fresh server per measurement,
    # paired ratios over more than one repetition, the uvloop stack) with loads that take seconds.
    if args.smoke:
        mode, sizes, repetitions, stacks, fresh = "smoke", SMOKE, 2, _smoke_stacks(), True
    elif args.quick:
        mode, sizes, repetitions, stacks, fresh = "quick", QUICK, 3, ["asyncio"], True
    else:
        mode, sizes, repetitions, stacks, fresh = "full", Sizes(), 5, list(DEFAULT_STACKS), True
    if args.repetitions is not None:
        if args.repetitions < 1:
            raise SystemExit("--repetitions must be at least 1")
        repetitions = args.repetitions
    default_stacks = stacks
    stacks = args.stacks or stacks
    scenarios = args.scenarios or list(SCENARIOS)
    missing = _missing_modules(stacks)
    if missing:
        # Said now, not once the first servers of that stack fail twenty minutes into a run.
        raise SystemExit(
            f"the {', '.join(stacks)} stacks need {' and '.join(missing)}: "
            "`make bench` installs them (pip install -e '.[bench]')"
        )

    raise_open_files_limit()
    cores = available_cores()
    server_core: int | None = None
    client_core: int | None = None
    if not args.no_pin and len(cores) >= 2:
        server_core, client_core = cores[0], cores[1]
    elif not args.no_pin:
        print("one core available: the server and the client share it (no pinning)", file=sys.stderr)

    if args.profile is not None:
        # The suite pins the client itself (and records whether it took); a profile has no record.
        if client_core is not None and not pin_to_core(client_core):
            print(f"could not pin the client to core {client_core}", file=sys.stderr)
        metrics, text = profile(
            args.profile,
            scenario=scenarios[0],
            stack=stacks[0],
            sizes=dataclasses.replace(sizes, timeout=sizes.timeout * 5),
            core=server_core,
        )
        folder = args.out or RESULTS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"profile-{args.profile}-{scenarios[0]}.txt"
        path.write_text(text, encoding="utf-8")
        print(f"{args.profile} {scenarios[0]} under cProfile: {metrics}\nprofile written to {path}")
        return 0

    plan = suite.Plan(
        mode=mode,
        sizes=sizes,
        stacks=tuple(stacks),
        variants=tuple(v for v in VARIANTS if v in (args.variants or VARIANTS)),
        scenarios=tuple(scenarios),
        repetitions=repetitions,
        fresh_servers=fresh,
        server_core=server_core,
        client_core=client_core,
    )
    document = suite.run(plan, log=lambda line: print(line, file=sys.stderr, flush=True))
    folder = args.out or (Path(tempfile.mkdtemp(prefix="typedsse-bench-")) if args.smoke else RESULTS)
    stem = _stem(mode, stacks, default_stacks)
    json_path, md_path = report.write(document, folder, stem)
    print(f"results: {json_path} and {md_path}")
    failed = sum(1 for record in document["records"] if record["error"])
    return 1 if failed else 0
