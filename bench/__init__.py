"""typedsse's benchmark suite: the same event streams served by four SSE stacks, measured side by side.

Run it with `python -m bench` (`make bench`); `--quick` and `--smoke` shrink it. Each server
variant runs in its own uvicorn process pinned to one core; this process is the client, pinned
to another. Results go to `bench/results/` as JSON and as a markdown table.
"""
