#!/usr/bin/env python3
"""The quick regression check, for CI: under a minute, ratios and generous
bounds only; exit status 1 when a bound is broken, 2 when a check broke.

    python bench/regress.py [--repeat 3]     # = python -m bench.suite --quick

Checks (each the median of --repeat runs):
  * local ``queue run fifo`` jobs/s >= 0.5 x GNU Parallel -j 8, 500 jobs of true
    (skipped when GNU Parallel is not installed)
  * ``meshq queue add --name=job[1-20000]`` < 3 s
  * exit -> end in the store, median over 50 jobs < 200 ms
  * ``meshq --help`` < 0.5 s (cold process)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.suite import main  # importable thanks to the path above

if __name__ == "__main__":
    sys.exit(main(["--quick", *sys.argv[1:]]))
