"""The launch record: the fields meshq_wrap (resources/wrapper.sh) takes, in
one order for the agent's L request and for a Slurm batch file's records."""

from __future__ import annotations

import re

from meshq import paths
from meshq.hosts.agent import LAUNCH_FIELDS, launch_fields, resource
from tests.support.jobs import make_job


def test_python_and_the_shell_agree_on_the_number_of_fields() -> None:
    job = make_job(params=(("lr", "0.1"), ("seed", "7")), attempts=1)
    fields = launch_fields(job, paths.job_paths(job, local=True))
    assert len(fields) == LAUNCH_FIELDS
    said = re.search(r"^meshq_launch_fields=(\d+)$", resource("wrapper.sh"), re.M)
    assert said is not None and int(said.group(1)) == LAUNCH_FIELDS
    # the agent, the Slurm extension and the batch runner count with it
    for name in ("agent.sh", "slurm.sh", "slurm-batch.sh"):
        assert "$meshq_launch_fields" in resource(name), name
    # the last field: each sweep parameter as its variable, one a line
    assert fields[-1] == "MESHQ_PARAM_LR=0.1\nMESHQ_PARAM_SEED=7"


def test_a_job_without_parameters_sends_an_empty_environment() -> None:
    job = make_job(attempts=1)
    assert launch_fields(job, paths.job_paths(job, local=True))[-1] == ""
