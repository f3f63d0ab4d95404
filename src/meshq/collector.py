"""How the ``meshq`` program sets up Python's garbage collector for itself.

Only for a process meshq owns (the ``meshq`` program, and the benchmark
that measures the manager as that program runs it): the collector is
process-wide, so a program that imports meshq keeps its own settings.
"""

from __future__ import annotations

import gc

#: allocations (net of frees) between two collections of the youngest
#: generation; Python's default is 700. A run keeps its jobs in flight for
#: seconds, so at 700 nearly every job's records (the job, its launch, its
#: start and end events) outlive two young collections and reach the old
#: generation, whose full collections then walk every job in flight again
#: and again: on 1,000 simulated hosts with 16,000 jobs in flight, 24 full
#: collections per 100,000 jobs, 13% of the manager's CPU (0.142 ms a job
#: against 0.129 at 50,000; 100,000 jobs cost what 10,000 do). A young
#: collection at 50,000 takes about 20 ms; the memory it leaves to a later
#: one is a few MB at most (peak RSS did not move: 89 MB).
YOUNG = 50_000
#: young collections between two of the middle generation (default 10)
MIDDLE = 20
#: middle collections between two full ones (default 10; Python also waits
#: until a quarter of the old generation is new)
OLD = 10


def settle() -> None:
    """Set the thresholds above, and leave what the imports made (modules,
    classes, functions: alive as long as the process) out of every later
    collection. A full collection of that heap stalled a 32-host run's
    event loop 0.1-0.27 s, and one more at exit cost each command 45 ms."""
    gc.set_threshold(YOUNG, MIDDLE, OLD)
    gc.freeze()


def at_exit() -> None:
    """Leave what is alive now out of the collection at interpreter exit:
    the process is about to end, and freeing it is the system's job."""
    gc.freeze()
