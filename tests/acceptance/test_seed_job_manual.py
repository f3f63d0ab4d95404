"""Every command line of the older seed's ``cms job`` manual
(seeds/000_…txt: "Configuration", "Available methods", "Manual Page" and
its "Usage examples", the REST service), run with ``meshq`` in place of
``cms`` on this machine and on real sshd test hosts, each checked for its
effect: on the store (read back through the CLI), the jobset file, and the
jobs' processes and files.

The manual's own placeholders (``--ip=ip``, ``--cpus=n``, ``NAME``) get the
values in each case's ``fill``; the README's template names the host
juliet.futuresystems.org, which no test can reach, so the cases that run a
job use this machine (or a test host) in its place.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Meshq, alive, wait_until
from tests.acceptance.seed_support import (
    README_TEMPLATE,
    Case,
    Check,
    Seed,
    Setup,
    SshSeed,
    jobset,
    make_ssh_seed,
    one_line_error,
    seed_job,
)
from tests.support.ci import unavailable
from tests.support.sshd import SshCluster

Done = subprocess.CompletedProcess[str]


@pytest.fixture
def seed(mq: Meshq) -> Seed:
    """The CLI in the test's work folder, with a home of the test's own
    (the manual's ``~/.cloudmesh/…`` files go there)."""
    home = mq.root / "userhome"
    home.mkdir()
    return Seed(mq, mq.work, {**mq.env, "HOME": str(home)})


def home(seed: Seed) -> Path:
    return Path(seed.env["HOME"])


# -- set-ups -------------------------------------------------------------------------


def jobset_with(*jobs: str, policy: str = "smart", file: str = "a.yaml") -> Setup:
    def setup(seed: Seed) -> None:
        seed.write(file, jobset("".join(jobs), policy=policy))
        seed.ok("job", "set", file)

    return setup


def ran(*jobs: str, name: str = "ls_j") -> Setup:
    """A jobset with ``jobs`` whose job ``name`` ran (and is done)."""

    def setup(seed: Seed) -> None:
        jobset_with(*jobs)(seed)
        seed.ok("job", "run", f"--name={name}")
        assert seed.seed_jobs()[name]["status"] == "done"

    return setup


def running(name: str = "ls_j") -> Setup:
    """A jobset whose job ``name`` (``sleep 60``) is submitted: a ``job run``
    goes on in the background."""

    def setup(seed: Seed) -> None:
        jobset_with(seed_job(name, executable="sleep", arguments="60"))(seed)
        seed.popen("job", "run", f"--name={name}")
        seed.wait_seed_status(name, "submitted")
        wait_until(lambda: seed.show("a", name)["pid"], 20, 0.1, f"{name} to start")

    return setup


def then(*setups: Setup) -> Setup:
    def setup(seed: Seed) -> None:
        for one in setups:
            one(seed)

    return setup


def pid_of(seed: Seed, name: str) -> int:
    return int(seed.show("a", name)["pid"])


# -- checks --------------------------------------------------------------------------


def check_set_jobset_unset(seed: Seed, done: Done) -> None:
    assert "jobset is not set" in done.stdout
    assert str(seed.mq.home / "spec.yaml") in done.stdout


def check_set_jobset_shows(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == f"jobset={str(seed.cwd / 'a.yaml')!r}"


def check_set_jobset_to(seed: Seed, done: Done) -> None:
    path = seed.cwd / "a.yaml"
    assert done.stdout.strip() == f"jobset={str(path)!r}"
    assert "a.yaml" in seed.ok("set", "jobset").stdout
    document = seed.yaml("a.yaml")
    assert document["cloudmesh"]["jobset"]["jobs"] == {}
    assert "queue       a" in seed.ok("job", "info").stdout


def check_template_default(seed: Seed, done: Done) -> None:
    path = seed.mq.home / "spec.yaml"
    jobs = seed.yaml(path)["cloudmesh"]["jobset"]["jobs"]
    assert list(jobs) == ["job"]
    assert jobs["job"]["executable"] == "uname" and jobs["job"]["status"] == "ready"
    assert "localhost" in seed.seed_jobs("hosts") or "localhost" in seed.hosts()


def check_template_names(seed: Seed, done: Done) -> None:
    assert list(seed.seed_jobs()) == ["t1", "t2", "t3"]


def check_template_file(seed: Seed, done: Done) -> None:
    # "; less a.yaml": the file shows the jobs in the seed's format
    document = seed.yaml("a.yaml")
    jobs = document["cloudmesh"]["jobset"]["jobs"]
    assert list(jobs) == ["b0", "b1"]
    for name, job in jobs.items():
        assert {
            "name",
            "directory",
            "ip",
            "input",
            "output",
            "status",
            "gpu",
            "user",
            "arguments",
            "executable",
            "shell",
        } <= set(job)
        assert job["name"] == name and job["status"] == "ready" and job["ip"] == "localhost"
    assert "localhost" in document["cloudmesh"]["jobset"]["hosts"]
    assert document["cloudmesh"]["jobset"]["scheduler"]["policy"] == "sequential"
    assert {j["status"] for j in seed.seed_jobs().values()} == {"ready"}
    # and the template jobs run: uname -a on this machine, into ./output/NAME
    seed.ok("job", "run")
    assert {j["status"] for j in seed.seed_jobs().values()} == {"done"}
    out = seed.mq.work / "experiment" / "a" / "b0" / "output" / "b0"
    assert os.uname().sysname in out.read_text()


def check_template_into_current(seed: Seed, done: Done) -> None:
    jobs = seed.yaml("a.yaml")["cloudmesh"]["jobset"]["jobs"]
    assert list(jobs) == ["b0", "b1"]


def check_hosts_add(seed: Seed, done: Done) -> None:
    hosts = {h["name"]: h for h in seed.json("job", "list", "hosts")}
    assert hosts["juliet"]["ip"] == "juliet.futuresystems.org"
    assert hosts["juliet"]["cpus"] == "12" and hosts["juliet"]["max_jobs_allowed"] == "4"
    inventory = seed.hosts()["juliet"]
    assert inventory["ip"] == "juliet.futuresystems.org"
    file_hosts = seed.yaml(seed.mq.home / "spec.yaml")["cloudmesh"]["jobset"]["hosts"]
    assert file_hosts["juliet"]["max_jobs_allowed"] == "4"


def check_hosts_add_all(seed: Seed, done: Done) -> None:
    hosts = {h["name"]: h for h in seed.json("job", "list", "hosts")}
    assert hosts["red"]["status"] == "inactive"  # the seed's word, kept
    assert seed.hosts()["red"]["status"] == "disabled"  # out of use in meshq
    assert hosts["red"]["cpus"] == "8" and hosts["red"]["max_jobs_allowed"] == "2"
    assert hosts["red"]["job_counter"] == "0"


def check_list_hosts(seed: Seed, done: Done) -> None:
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "ip", "cpus"]
    assert any(line.split()[:2] == ["localhost", "localhost"] for line in lines[1:])


def check_policy_set(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "scheduler policy: random"
    assert seed.ok("job", "scheduler", "info").stdout.strip() == "scheduler policy: random"
    assert seed.yaml("a.yaml")["cloudmesh"]["jobset"]["scheduler"]["policy"] == "random"


def check_policy_info(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "scheduler policy: smart"


def check_info(seed: Seed, done: Done) -> None:
    assert f"jobset      {seed.cwd / 'a.yaml'}" in done.stdout
    assert "queue       a" in done.stdout and "policy      smart" in done.stdout
    assert "1 ready" in done.stdout


def check_set_cloudmesh_file(seed: Seed, done: Done) -> None:
    path = home(seed) / ".cloudmesh" / "job" / "spec.yaml"
    assert str(path) in done.stdout
    jobs = seed.seed_jobs()
    assert jobs["ls_j"]["executable"] == "python test.py"
    assert jobs["ls_j"]["ip"] == "juliet.futuresystems.org"
    assert set(seed.hosts()) == {"localhost", "juliet"}
    assert seed.ok("job", "scheduler", "info").stdout.strip() == "scheduler policy: smart"
    assert seed.show("spec", "ls_j")["host"] == "juliet"


def check_set_new_file(seed: Seed, done: Done) -> None:
    assert (seed.cwd / "b.yaml").exists()
    assert "queue       b" in seed.ok("job", "info").stdout
    assert seed.seed_jobs() == {}


def check_add_z(input_path: str) -> Check:
    def check(seed: Seed, done: Done) -> None:
        jobs = seed.seed_jobs()
        assert list(jobs) == ["z0", "z1"]
        assert (jobs["z0"]["ip"], jobs["z0"]["output"]) == ("123", "a")
        assert (jobs["z1"]["ip"], jobs["z1"]["output"]) == ("345", "b")
        for job in jobs.values():
            assert job["executable"] == "ls" and job["status"] == "ready"
            assert job["input"] == input_path
        # 123 and 345 are no hosts: the policy picks one when the jobs run
        assert "not in the inventory" in done.stderr

    return check


def check_add_spec_file(seed: Seed, done: Done) -> None:
    jobs = seed.seed_jobs()
    assert list(jobs) == ["pytest_job"]
    job = jobs["pytest_job"]
    assert (job["executable"], job["arguments"], job["output"]) == ("ls", "-lisa", "./output/abcd")
    assert seed.show("spec", "pytest_job")["command"] == "ls -lisa"
    assert "pytest_job" in seed.yaml(seed.mq.home / "spec.yaml")["cloudmesh"]["jobset"]["jobs"]


def check_add_jobset_file(seed: Seed, done: Done) -> None:
    assert list(seed.seed_jobs()) == ["ls_j", "other"]
    assert "localhost" in seed.hosts()


def check_add_all_options(seed: Seed, done: Done) -> None:
    jobs = seed.seed_jobs()
    assert (jobs["w1"]["gpu"], jobs["w2"]["gpu"]) == ("0", "1")
    assert (jobs["w1"]["arguments"], jobs["w2"]["arguments"]) == ("hi", "there")
    assert jobs["w1"]["user"] == "me" and jobs["w1"]["shell"] == "bash"
    assert jobs["w1"]["directory"] == str(seed.cwd)
    seed.ok("job", "run")
    for name, word in (("w1", "hi"), ("w2", "there")):
        out = seed.mq.work / "experiment" / "a" / name / "out"
        assert out.read_text() == f"{word}\n"


def check_list(seed: Seed, done: Done) -> None:
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[0][:3] == ["name", "status", "ip"]
    assert rows[1][:3] == ["ls_j", "ready", "localhost"]


def check_list_name(seed: Seed, done: Done) -> None:
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert names == ["perform_a", "perform_b"]


def check_list_ready(seed: Seed, done: Done) -> None:
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert names == ["other"]


def check_list_done(seed: Seed, done: Done) -> None:
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert names == ["ls_j"]


def check_list_open(seed: Seed, done: Done) -> None:
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert names == ["other"]


def check_list_exact(seed: Seed, done: Done) -> None:
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert names == ["ls_j"]


def check_status(seed: Seed, done: Done) -> None:
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:]}
    assert rows == {"ready": ["1", "other"], "done": ["1", "ls_j"]}


def check_reset(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "ls_j\told_status:done\tnew_status:ready"
    assert seed.seed_jobs()["ls_j"]["status"] == "ready"
    assert not (seed.mq.work / "experiment" / "a" / "ls_j").exists()
    assert seed.yaml("a.yaml")["cloudmesh"]["jobset"]["jobs"]["ls_j"]["status"] == "ready"


def check_reset_all(seed: Seed, done: Done) -> None:
    # every job not done: the failed one; the done one stays done
    assert done.stdout.strip() == "bad\told_status:failed\tnew_status:ready"
    assert seed.seed_jobs()["ls_j"]["status"] == "done"


def check_run_one(seed: Seed, done: Done) -> None:
    jobs = seed.seed_jobs()
    assert jobs["ls_j"]["status"] == "done" and jobs["other"]["status"] == "ready"
    assert jobs["ls_j"]["submitted_to_ip"] == "localhost"
    out = seed.mq.work / "experiment" / "a" / "ls_j" / "output" / "ls_j"
    assert "a.yaml" in out.read_text()  # ls -a of the job's directory: the work folder
    assert seed.yaml("a.yaml")["cloudmesh"]["jobset"]["jobs"]["ls_j"]["status"] == "done"


def check_run_all(seed: Seed, done: Done) -> None:
    assert {j["status"] for j in seed.seed_jobs().values()} == {"done"}


def check_kill(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "ls_j\told_status:submitted\tnew_status:killed"
    assert seed.seed_jobs()["ls_j"]["status"] == "killed"
    pid = pid_of(seed, "ls_j")
    wait_until(lambda: not alive(pid), 10, 0.1, "the job's process to end")


def check_delete(seed: Seed, done: Done) -> None:
    assert "deleted 1 job(s)" in done.stdout
    assert "ls_j" not in seed.seed_jobs()
    assert "ls_j" not in seed.yaml("a.yaml")["cloudmesh"]["jobset"]["jobs"]


def check_delete_running(seed: Seed, done: Done) -> None:
    pid = int((seed.cwd / "ls_j.pid").read_text())
    check_delete(seed, done)
    wait_until(lambda: not alive(pid), 10, 0.1, "the deleted job's process to end")


def check_delete_all(seed: Seed, done: Done) -> None:
    assert seed.seed_jobs() == {}
    assert "queue       a" in seed.ok("job", "info").stdout  # the jobset stays


def check_help(seed: Seed, done: Done) -> None:
    for command in (
        "set",
        "template",
        "add",
        "status",
        "list",
        "kill",
        "reset",
        "delete",
        "run",
        "info",
        "hosts",
        "scheduler",
    ):
        assert f"meshq job {command}" in done.stdout


def check_service_info(seed: Seed, done: Done) -> None:
    line = one_line_error(done)
    assert "no meshq service is running here: start one with 'meshq serve'" in line


def check_no_variable(seed: Seed, done: Done) -> None:
    line = one_line_error(done)
    assert "one variable is jobset" in line


def remember_pid(seed: Seed) -> None:
    running()(seed)
    (seed.cwd / "ls_j.pid").write_text(str(pid_of(seed, "ls_j")))


def cloudmesh_spec(seed: Seed) -> None:
    path = home(seed) / ".cloudmesh" / "job" / "spec.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(README_TEMPLATE)


def another_yaml(seed: Seed) -> None:
    # the file of the seed's own test (tests/test_05_queue.py: other.yaml)
    path = home(seed) / ".cloudmesh" / "another.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(seed_job("pytest_job", arguments="-lisa", output="./output/abcd"))


def jobset_file(seed: Seed) -> None:
    seed.write("more.yaml", jobset(seed_job("ls_j") + seed_job("other")))


def set_a(seed: Seed) -> None:
    seed.ok("set", "jobset=a.yaml")


def set_a_and_run_bad(seed: Seed) -> None:
    ran(seed_job("ls_j"), seed_job("bad", executable="false", arguments=""))(seed)
    seed("job", "run")


OLD_JOB_MANUAL = [
    # -- Configuration -----------------------------------------------------------------
    Case("cms set jobset", check_set_jobset_unset).param("set-jobset-unset"),
    Case("cms set jobset", check_set_jobset_shows, set_a).param("set-jobset"),
    Case("cms set jobset=VALUE", check_set_jobset_to, fill={"VALUE": "a.yaml"}).param(
        "set-jobset-value"
    ),
    Case("cms job template", check_template_default).param("template"),
    # -- Available methods: hosts, scheduler, jobs -------------------------------------
    Case(
        "cms job hosts add --hostname=name --ip=ip --cpus=n --max_jobs_allowed=x",
        check_hosts_add,
        fill={"name": "juliet", "ip": "juliet.futuresystems.org", "n": "12", "x": "4"},
    ).param("hosts-add"),
    Case("cms job list hosts", check_list_hosts, jobset_with(seed_job("ls_j"))).param("list-hosts"),
    Case(
        "cms job scheduler --policy=random", check_policy_set, jobset_with(seed_job("ls_j"))
    ).param("scheduler-policy"),
    Case("cms job scheduler info", check_policy_info, jobset_with(seed_job("ls_j"))).param(
        "scheduler-info"
    ),
    Case("cms job info", check_info, jobset_with(seed_job("ls_j"))).param("info"),
    Case(
        "cms job set '~/.cloudmesh/job/spec.yaml'", check_set_cloudmesh_file, cloudmesh_spec
    ).param("set-file"),
    Case('cms job template a.yaml --name="b[0-1]"; less a.yaml', check_template_file).param(
        "template-file-names"
    ),
    Case(
        "cms job add --name=z[0-1] --ip=123,345 --executable='ls' --input='../data' --output='a,b'",
        check_add_z("../data"),
    ).param("add-options"),
    Case("cms job add '~/.cloudmesh/another.yaml'", check_add_spec_file, another_yaml).param(
        "add-file"
    ),
    Case("cms job list", check_list, jobset_with(seed_job("ls_j"))).param("list"),
    Case(
        "cms job list --name='perform'",
        check_list_name,
        jobset_with(seed_job("perform_a"), seed_job("ls_j"), seed_job("perform_b")),
    ).param("list-name"),
    Case(
        "cms job list --status='ready'", check_list_ready, ran(seed_job("ls_j"), seed_job("other"))
    ).param("list-status"),
    Case("cms job status", check_status, ran(seed_job("ls_j"), seed_job("other"))).param("status"),
    Case(
        "cms job reset --name=NAME", check_reset, ran(seed_job("ls_j")), fill={"NAME": "ls_j"}
    ).param("reset-name"),
    Case(
        "cms job run --name=ls_j", check_run_one, jobset_with(seed_job("ls_j"), seed_job("other"))
    ).param("run-name"),
    Case("cms job kill --name=ls_j", check_kill, running()).param("kill-name"),
    Case(
        "cms job delete --name=ls_j", check_delete, jobset_with(seed_job("ls_j"), seed_job("other"))
    ).param("delete-name"),
    Case("cms job delete --name=ls_j", check_delete_running, remember_pid).param(
        "delete-name-submitted"
    ),
    # -- Manual Page: each synopsis line, its optional parts given -----------------------
    Case("job set FILE", check_set_new_file, source="job set FILE", fill={"FILE": "b.yaml"}).param(
        "synopsis-set"
    ),
    Case(
        "job template --name=t[1-3]", check_template_names, source="job template [--name=NAME]"
    ).param("synopsis-template"),
    Case(
        "job add FILE",
        check_add_jobset_file,
        then(jobset_with(), jobset_file),
        source="job add FILE",
        fill={"FILE": "more.yaml"},
    ).param("synopsis-add-jobset-file"),
    Case(
        "job add --name=w[1-2] --ip=localhost --executable=echo --directory=. --input=in "
        "--output=out --status=ready --gpu=0,1 --user=me --arguments=hi,there --shell=bash",
        check_add_all_options,
        jobset_with(),
        source="job add --name=NAME [--ip=<IP>] [--executable=<EXECUTABLE>] "
        "[--directory=<DIRECTORY>] [--input=<INPUT>] [--output=<OUTPUT>] "
        "[--status=<STATUS>] [--gpu=GPU] [--user=USER] [--arguments=<ARGUMENTS>] "
        "[--shell=<SHELL>]",
    ).param("synopsis-add-every-option"),
    Case(
        "job list --status=STATUS",
        check_list_done,
        ran(seed_job("ls_j"), seed_job("other")),
        source="job list --status=STATUS",
        fill={"STATUS": "done"},
    ).param("synopsis-list-status"),
    Case(
        "job list --name=NAME",
        check_list_exact,
        jobset_with(seed_job("ls_j"), seed_job("o")),
        source="job list --name=NAME",
        fill={"NAME": "ls_j"},
    ).param("synopsis-list-name"),
    Case("job kill", check_kill, running(), source="job kill [--name=NAME]").param(
        "synopsis-kill-all"
    ),
    Case("job reset", check_reset_all, set_a_and_run_bad, source="job reset [--name=NAME]").param(
        "synopsis-reset-all"
    ),
    Case(
        "job delete",
        check_delete_all,
        jobset_with(seed_job("ls_j"), seed_job("other")),
        source="job delete [--name=NAME]",
    ).param("synopsis-delete-all"),
    Case("job help", check_help).param("synopsis-help"),
    Case(
        "job run",
        check_run_all,
        jobset_with(seed_job("ls_j"), seed_job("other")),
        source="job run [--name=NAME]",
    ).param("synopsis-run-all"),
    Case(
        "job hosts add --hostname=red --ip=10.1.2.3 --cpus=8 --status=inactive "
        "--job_counter=0 --max_jobs_allowed=2",
        check_hosts_add_all,
        source="job hosts add --hostname=hostname --ip=IP --cpus=N [--status=STATUS] "
        "[--job_counter=COUNTER] [--max_jobs_allowed=<JOBS>]",
    ).param("synopsis-hosts-add-every-option"),
    Case(
        "job scheduler --policy=POLICYNAME",
        check_policy_set,
        jobset_with(seed_job("ls_j")),
        source="job scheduler --policy=POLICYNAME",
        fill={"POLICYNAME": "random"},
    ).param("synopsis-scheduler-policy"),
    # -- Description: the one state no list names --------------------------------------
    Case("job list --status=open", check_list_open, ran(seed_job("ls_j"), seed_job("other"))).param(
        "list-status-open"
    ),
    # -- Usage examples that differ from the README's ------------------------------------
    Case('cms job template --name="b[0-1]"; less a.yaml', check_template_into_current, set_a).param(
        "template-names-into-current"
    ),
    Case(
        "cms job add --name=z[0-1] --ip=123,345 --executable='ls' --input='..\\data' "
        "--output='a,b'",
        check_add_z("..\\data"),
    ).param("add-options-windows-input"),
    # -- REST service (--service start serves until stopped: tests/web/test_serve.py) ------
    Case("cms job --service info", check_service_info, rc=2).param("service-info"),
    Case("cms set host='juliet.futuresystems.org'", check_no_variable, rc=2).param("set-host"),
    Case("cms set user=$USER", check_no_variable, rc=2).param("set-user"),
]


@pytest.mark.parametrize("case", OLD_JOB_MANUAL)
def test_old_job_manual_line(seed: Seed, case: Case) -> None:
    case.setup(seed)
    done = seed.run(case)
    assert done.returncode == case.rc, (seed.argv(case), done.stdout, done.stderr)
    case.check(seed, done)


#: manual lines run by a test elsewhere, as ``module::test`` under tests/web/
ELSEWHERE = {
    "cms job --service start": "test_serve.py::test_job_service_start_serves_as_meshq_serve_does",
}


def test_every_usage_example_of_the_manual_is_a_case() -> None:
    """The manual's usage examples (cms lines), each run by some case above."""
    text = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
    manual = text / "000_f09ff9288bb28db9.txt"
    if not manual.exists():
        unavailable("the seed manual is not beside this checkout (../shared/seeds)")
    lines = {" ".join(c.values[0].line.split()) for c in OLD_JOB_MANUAL}
    wanted = set()
    for raw in manual.read_text().splitlines():
        # a command line: "cms …", "$ cms …", "(ENV3) $ cms …"; not prose
        found = re.match(r"\s*(?:\(\w+\)\s*)?(?:\$\s*)?(cms (?:job|set)\b.*)", raw)
        if found:
            wanted.add(" ".join(found.group(1).split()))
    # continuation lines (".--input=…") are joined in the cases
    missing = {w for w in wanted if not any(c.startswith(w) for c in lines)}
    assert missing == set(ELSEWHERE), missing
    # a line that serves until stopped is run by a test of its own there
    web = Path(__file__).resolve().parents[1] / "web"
    for where in ELSEWHERE.values():
        module, test = where.split("::")
        assert f"def {test}(" in (web / module).read_text(), where


# -- on real sshd test hosts: the seed's juliet is a test host here --------------------


@pytest.fixture
def ssh_seed(mq: Meshq, ssh_cluster3: SshCluster, home_experiment: str) -> SshSeed:
    return make_ssh_seed(mq, ssh_cluster3, Path(home_experiment).parent)


def red_hosts(seed: SshSeed, slots: tuple[int, int] = (1, 3)) -> str:
    """The jobset's hosts: the seed's red and red01 (test hosts), by address."""
    return "".join(
        f"{alias}:\n  name: {alias}\n  ip: {seed.host(alias).address}\n  cpus: '4'\n"
        f"  status: free\n  job_counter: '0'\n  max_jobs_allowed: '{n}'\n"
        for alias, n in zip(("red", "red01"), slots, strict=True)
    )


def on_red(
    *jobs: tuple[str, str, str], slots: tuple[int, int] = (1, 3), after: str | None = None
) -> Setup:
    """A jobset over red and red01 with jobs ``(name, host alias or '',
    command)``; the last one waits for the others when ``after`` names them
    (meshq's own field of a jobset's job)."""

    def setup(seed: Seed) -> None:
        assert isinstance(seed, SshSeed)
        text = ""
        for name, alias, command in jobs:
            executable, _, arguments = command.partition(" ")
            ip = seed.host(alias).address if alias else "''"
            text += seed_job(name, ip=ip, executable=executable, arguments=arguments)
        if after is not None:
            text += f"  after: {after}\n"
        seed.write("a.yaml", jobset(text, hosts=red_hosts(seed, slots)))
        seed.ok("job", "set", "a.yaml")

    return setup


def host_file(seed: Seed, alias: str, *parts: str) -> Path:
    """A file of the queue's experiment as the test host ``alias`` has it."""
    assert isinstance(seed, SshSeed)
    return seed.host(alias).real_path(seed.cwd / "experiment" / "a" / Path(*parts))


def check_hosts_add_runs_there(seed: Seed, done: Done) -> None:
    assert isinstance(seed, SshSeed)
    red = seed.host("red")
    assert seed.hosts()["red"]["ip"] == red.address
    seed.ok(
        "job",
        "add",
        "--name=z[0-1]",
        f"--ip={red.address}",
        "--executable=echo",
        "--arguments=hello",
    )
    seed.ok("job", "run")
    for name in ("z0", "z1"):
        job = seed.seed_jobs()[name]
        assert (job["status"], job["submitted_to_ip"]) == ("done", red.address)
        assert host_file(seed, "red", name, f"{name}.out").read_text() == "hello\n"


def check_run_on_its_host(seed: Seed, done: Done) -> None:
    assert isinstance(seed, SshSeed)
    jobs = seed.seed_jobs()
    assert (jobs["ls_j"]["status"], jobs["other"]["status"]) == ("done", "ready")
    assert jobs["ls_j"]["submitted_to_ip"] == seed.host("red01").address
    assert host_file(seed, "red01", "ls_j", "output", "ls_j").exists()
    assert seed.show("a", "ls_j")["run_user"] == seed.host("red01").user


def check_kill_on_host(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "ls_j\told_status:submitted\tnew_status:killed"
    pid = pid_of(seed, "ls_j")
    wait_until(lambda: not alive(pid), 10, 0.1, "the job on the test host to end")


def check_policy_picks(alias: str) -> Check:
    """The stored policy places the job ``any``. It waits (``after``) for a
    job of two seconds, so that both hosts have joined the run by then: a
    run places jobs on the hosts that have joined it."""

    def check(seed: Seed, done: Done) -> None:
        assert isinstance(seed, SshSeed)
        seed.ok("job", "run")
        assert seed.seed_jobs()["any"]["submitted_to_ip"] == seed.host(alias).address

    return check


def check_reset_on_host(seed: Seed, done: Done) -> None:
    assert done.stdout.strip() == "ls_j\told_status:done\tnew_status:ready"
    assert not host_file(seed, "red", "ls_j").exists()


def check_delete_on_host(seed: Seed, done: Done) -> None:
    pid = int((seed.mq.root / "ls_j.pid").read_text())
    assert "ls_j" not in seed.seed_jobs()
    wait_until(lambda: not alive(pid), 10, 0.1, "the deleted job to end on its host")


def ran_on_red(seed: Seed) -> None:
    on_red(("ls_j", "red", "ls -a"))(seed)
    seed.ok("job", "run", "--name=ls_j")
    assert host_file(seed, "red", "ls_j").exists()


def running_on_red(seed: Seed) -> None:
    on_red(("ls_j", "red", "sleep 60"))(seed)
    seed.popen("job", "run", "--name=ls_j")
    seed.wait_seed_status("ls_j", "submitted")
    wait_until(lambda: seed.show("a", "ls_j")["pid"], 20, 0.1, "ls_j to start on red")
    (seed.mq.root / "ls_j.pid").write_text(str(pid_of(seed, "ls_j")))


ON_TEST_HOSTS = [
    Case(
        "cms job hosts add --hostname=name --ip=ip --cpus=n --max_jobs_allowed=x",
        check_hosts_add_runs_there,
        jobset_with(),
        fill={"name": "red", "ip": "{red.address}", "n": "4", "x": "2"},
    ).param("hosts-add"),
    Case(
        "cms job run --name=ls_j",
        check_run_on_its_host,
        on_red(("ls_j", "red01", "ls -a"), ("other", "red", "ls -a")),
    ).param("run-name"),
    Case("cms job kill --name=ls_j", check_kill_on_host, running_on_red).param("kill-name"),
    Case(
        "job scheduler --policy=POLICYNAME",
        check_policy_picks("red01"),
        on_red(("gate", "red01", "sleep 2"), ("any", "", "true"), after="gate"),
        source="job scheduler --policy=POLICYNAME",
        fill={"POLICYNAME": "smart"},
    ).param("scheduler-smart"),
    Case(
        "job scheduler --policy=POLICYNAME",
        check_policy_picks("red"),
        on_red(("gate", "red01", "sleep 2"), ("any", "", "true"), after="gate"),
        source="job scheduler --policy=POLICYNAME",
        fill={"POLICYNAME": "frugal"},
    ).param("scheduler-frugal"),
    Case("cms job reset --name=NAME", check_reset_on_host, ran_on_red, fill={"NAME": "ls_j"}).param(
        "reset-name"
    ),
    Case("cms job delete --name=ls_j", check_delete_on_host, running_on_red).param(
        "delete-name-submitted"
    ),
]


@pytest.mark.ssh
@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", ON_TEST_HOSTS)
def test_old_job_manual_line_on_test_hosts(ssh_seed: SshSeed, case: Case) -> None:
    case.setup(ssh_seed)
    done = ssh_seed.run(case)
    assert done.returncode == case.rc, (ssh_seed.argv(case), done.stdout, done.stderr)
    case.check(ssh_seed, done)
