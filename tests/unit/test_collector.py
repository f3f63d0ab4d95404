"""The ``meshq`` program sets up its collector; a program calling main() does not."""

from __future__ import annotations

import gc
import subprocess
import sys

from meshq import collector
from meshq.cli.main import main

PROBE = """
import gc, sys
sys.argv = ["meshq", "--version"]
from meshq.cli.main import entry
before = gc.get_threshold()
status = entry()
print(before, gc.get_threshold(), gc.get_freeze_count() > 0, status)
"""


def test_the_meshq_program_settles_its_collector() -> None:
    # a fresh interpreter: Python's defaults before, meshq's after, imports frozen
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    wanted = (collector.YOUNG, collector.MIDDLE, collector.OLD)
    assert run.stdout.splitlines()[-1] == f"{(700, 10, 10)} {wanted} True 0"


def test_main_called_in_a_program_leaves_its_collector_alone() -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert main(["--version"]) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
