"""What every part of the store that reads or writes job rows shares: the
one ``SELECT`` a :class:`~meshq.model.Job` is read from, and how the
statements that write jobs' states resolve a broken constraint."""

from __future__ import annotations

from meshq.model import JOB_FIELDS

#: the columns of a Job, in its fields' order (Job.from_row reads them so)
_JOB_COLUMNS = {"queue": "queues.name", "experiment": "queues.experiment", "index": 'jobs."index"'}

JOB_SELECT = (
    "SELECT "
    + ", ".join(f'{_JOB_COLUMNS.get(f, "jobs." + f)} AS "{f}"' for f in JOB_FIELDS)
    + " FROM jobs JOIN queues ON queues.id = jobs.queue_id"
)

#: how the statements that write jobs' states resolve a broken constraint.
#: FAIL, not the default ABORT: an ABORT statement must be able to undo its
#: own part alone, so with the count triggers (schema 9) SQLite keeps a
#: statement journal for every row it writes (a copy of each page touched):
#: a third of the cost of a status change. Every such statement runs in a
#: transaction that is rolled back whole on any error, so nothing is lost.
ON_CONFLICT = "OR FAIL"
