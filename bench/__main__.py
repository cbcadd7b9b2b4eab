"""`python -m bench`: run the benchmark suite (see `python -m bench --help`)."""

from __future__ import annotations

import sys

from bench.cli import main

sys.exit(main())
