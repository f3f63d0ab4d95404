"""Fault injection for meshq's own tests: crash a run at a named point.

When the environment variable ``MESHQ_FAULT`` names a point (and, with
``MESHQ_FAULT_AFTER=N``, only at its N-th visit), the process kills itself
there with SIGKILL — no cleanup, no flush, exactly like ``kill -9`` or a
power cut. Unset (always, outside tests), a point costs one dict lookup.

Points:
  ``after-claim``   jobs are claimed (committed as ``run``), not yet sent
  ``after-launch``  launches are sent to the hosts, their start not yet recorded
  ``slurm-after-sbatch``  a Slurm cluster took a submission; the run has not
                    heard its job ids yet
"""

from __future__ import annotations

import os
import signal

_visits: dict[str, int] = {}


def point(name: str) -> None:
    """Die here if the environment asks for it."""
    if os.environ.get("MESHQ_FAULT") != name:
        return
    _visits[name] = _visits.get(name, 0) + 1
    if _visits[name] >= int(os.environ.get("MESHQ_FAULT_AFTER", "1")):
        os.kill(os.getpid(), signal.SIGKILL)
