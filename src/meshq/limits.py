"""The largest numbers meshq takes, in one place: the checks in
:mod:`meshq.validate` and the help of the CLI's options both read them.

Each is far above any real use and far below what the store (SQLite's
64-bit integers) and the hosts' tools (bash arithmetic, ``sleep``) can hold,
so a typo or a hostile value is refused with one line instead of
overflowing somewhere later. This module imports nothing: the CLI reads it
when it starts.
"""

from __future__ import annotations

#: reruns of a failed job (``--retries``, a queue's default, ``retries:``)
MAX_RETRIES = 1_000
#: GPUs one job asks for (``queue add --gpus=N``)
MAX_GPUS = 1_024
#: jobs one host runs at once (``hosts add --max_jobs_allowed``)
MAX_SLOTS = 10_000
#: a host's CPU count (``hosts add --cpus``)
MAX_CPUS = 100_000
#: jobs a ``fifo`` run keeps going at once (``--max_parallel``)
MAX_PARALLEL = 10_000
#: a job's time limit in seconds (``--timeout``): 365 days; a longer one is
#: no limit at all, and no --timeout says that
MAX_TIMEOUT = 365 * 24 * 3600
#: the highest TCP port (``hosts add --port``)
MAX_PORT = 65_535

__all__ = [
    "MAX_CPUS",
    "MAX_GPUS",
    "MAX_PARALLEL",
    "MAX_PORT",
    "MAX_RETRIES",
    "MAX_SLOTS",
    "MAX_TIMEOUT",
]
