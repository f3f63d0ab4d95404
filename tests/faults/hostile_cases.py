"""The table of hostile CLI inputs that ``test_hostile_input.py`` feeds to
``meshq``: each a :class:`Hostile` case (the arguments, a job file to write
first, the word the one error line must hold), grouped by what is wrong
with it. Data only; the test and the store it runs on are in that module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

#: the queues of the base store, and the folders their jobs live in
HQ = "q"
HQ_OTHER = "other"
#: a file some hostile inputs try to create (relative: in the cwd of whatever
#: shell would run them)
PWNED = "pwned"
#: stands for the path of the job file a case writes
FILE = "@FILE@"


@dataclass(frozen=True)
class Hostile:
    """One bad input: the arguments, a job file to write first (``@FILE@``
    in the arguments names it), extra environment, a word the error line
    must hold (and one it must not: a wrong reason), and how long the
    refusal may take."""

    argv: tuple[str | bytes, ...]
    yaml: bytes | None = None
    env: tuple[tuple[str, str], ...] = ()
    words: str = ""
    within: float = 30.0
    absent: str = ""


def add_argv(
    *extra: str | bytes, name: str | bytes = "new", command: str | bytes = "true"
) -> tuple[str | bytes, ...]:
    name_arg = b"--name=" + name if isinstance(name, bytes) else f"--name={name}"
    cmd_arg = b"--command=" + command if isinstance(command, bytes) else f"--command={command}"
    return ("queue", "add", HQ, name_arg, cmd_arg, "--host=localhost", *extra)


def _file(content: str | bytes, words: str = "", within: float = 30.0, absent: str = "") -> Hostile:
    data = content.encode() if isinstance(content, str) else content
    return Hostile(
        ("queue", "add", HQ, f"--file={FILE}"), yaml=data, words=words, within=within, absent=absent
    )


def _laughs() -> bytes:
    """The billion laughs: 9**9 strings if anyone expanded the aliases."""
    lines = ["- &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"- &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("\n".join(lines) + "\n").encode()


_OK_ENTRY = "- name: fine\n  command: echo fine\n  host: localhost\n"
_TEN_MILLION = "job[1-10000000]"
#: one past the largest signed 64-bit integer: what SQLite cannot store
_2_63 = str(2**63)
#: 100,000 characters: an error line quotes 60 of them and the length
_LONG = "a" * 100_000

CLI_CASES = [
    # -- job files: checked whole, nothing of a bad file is added --------------------
    pytest.param(
        _file("jobs:\n  - name: a\n    command: [unclosed\n", "YAML"), id="yaml-syntax-error"
    ),
    pytest.param(_file("jobs:\n\t- name: a\n\t  command: 'true'\n"), id="yaml-tab-indent"),
    pytest.param(
        _file(
            _OK_ENTRY + f"- name: b\n  command: !!python/object/apply:os.system ['touch {PWNED}']\n"
        ),
        id="yaml-python-tag",
    ),
    pytest.param(_file("just some words\n", "list"), id="yaml-top-level-string"),
    pytest.param(_file("42\n", "list"), id="yaml-top-level-number"),
    pytest.param(_file("name: a\ncommand: 'true'\n", "list"), id="yaml-top-level-mapping"),
    pytest.param(_file("jobs:\n  name: a\n  command: 'true'\n", "list"), id="yaml-jobs-mapping"),
    pytest.param(
        _file(
            "jobs:\n" + _OK_ENTRY.replace("- ", "  - ").replace("\n  ", "\n    ") + "extra: 1\n",
            "list",
        ),
        id="yaml-jobs-and-more",
    ),
    pytest.param(_file("", "list"), id="yaml-empty-file"),
    pytest.param(_file("[]\n", "list"), id="yaml-empty-list"),
    pytest.param(_file(_OK_ENTRY + "- just a string\n", "mapping"), id="yaml-entry-string"),
    pytest.param(_file(_OK_ENTRY + "- [a, b]\n", "mapping"), id="yaml-entry-list"),
    pytest.param(_file(_OK_ENTRY + "-\n", "mapping"), id="yaml-entry-null"),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  comand: x\n", "unknown"),
        id="yaml-unknown-field",
    ),
    pytest.param(_file(_OK_ENTRY + "- command: 'true'\n", "name"), id="yaml-missing-name"),
    pytest.param(_file(_OK_ENTRY + "- name: b\n", "command"), id="yaml-missing-command"),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: [echo, hi]\n", "single value"),
        id="yaml-list-command",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: [b, c]\n  command: 'true'\n", "single value"),
        id="yaml-list-name",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  host: {a: 1}\n", "single value"),
        id="yaml-mapping-value",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command:\n", "single value"), id="yaml-null-value"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: job[5-1]\n  command: 'true'\n", "job[5-1]"),
        id="yaml-pattern-reversed",
    ),
    pytest.param(_file(_OK_ENTRY + "- name: b[1-\n  command: 'true'\n"), id="yaml-pattern-open"),
    pytest.param(
        _file(_OK_ENTRY + "- name: a/b\n  command: 'true'\n", "a/b"), id="yaml-name-slash"
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: $(touch {PWNED})\n  command: 'true'\n"),
        id="yaml-name-substitution",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: 'x[1-3]'\n  command: 'true'\n- name: x2\n  command: 'true'\n",
            "x2",
            absent="already",
        ),
        id="yaml-duplicate-across-entries",
    ),
    pytest.param(
        _file(_OK_ENTRY + _OK_ENTRY, "fine", absent="already"), id="yaml-same-entry-twice"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: job2\n  command: 'true'\n", "job2"), id="yaml-name-in-queue"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  timeout: abc\n", "timeout"),
        id="yaml-bad-timeout",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  gpu: 0;1\n", "gpu"), id="yaml-bad-gpu"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  status: end\n"), id="yaml-bad-status"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  after: nope\n", "nope"),
        id="yaml-after-missing",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  after: b\n"), id="yaml-after-itself"
    ),
    pytest.param(
        _file(_OK_ENTRY.encode() + b"- name: b\n  command: echo \xff\xfe\n", "UTF-8"),
        id="yaml-not-utf8",
    ),
    pytest.param(_file(_OK_ENTRY.encode("utf-16"), "UTF-8"), id="yaml-utf16"),
    pytest.param(_file(_laughs(), "mapping", within=5.0), id="yaml-billion-laughs"),
    pytest.param(
        _file(_OK_ENTRY + "- name: big\n  command: " + "a" * 1_000_000 + "\n", "script"),
        id="yaml-command-1MB",
    ),
    pytest.param(
        _file(b"# " + b"x" * (17 * 2**20) + b"\n", "MiB", within=5.0), id="yaml-over-16MiB"
    ),
    pytest.param(
        Hostile(("queue", "add", HQ, "--file=/nonexistent/jobs.yaml"), words="read"),
        id="yaml-missing-file",
    ),
    pytest.param(Hostile(("queue", "add", HQ, "--file=.")), id="yaml-file-is-a-folder"),
    pytest.param(
        Hostile(
            ("queue", "add", HQ, f"--file={FILE}", "--name=x", "--command=true"),
            yaml=_OK_ENTRY.encode(),
        ),
        id="yaml-and-name-too",
    ),
    # -- name patterns that expand to too many names ---------------------------------
    pytest.param(
        Hostile(add_argv(name=_TEN_MILLION), words="limit", within=5.0), id="names-10-million"
    ),
    pytest.param(
        Hostile(add_argv(name="a[1-100000]b[1-100000]"), words="limit", within=5.0),
        id="names-product-10-billion",
    ),
    pytest.param(
        Hostile(add_argv(name="job[1-6]"), env=(("MESHQ_MAX_NAMES", "5"),), words="limit"),
        id="names-over-MESHQ_MAX_NAMES",
    ),
    pytest.param(
        Hostile(add_argv(name="a[1-3]b[1-2]"), env=(("MESHQ_MAX_NAMES", "5"),), words="limit"),
        id="names-product-over-MESHQ_MAX_NAMES",
    ),
    pytest.param(
        Hostile(add_argv(name="job[1-" + "9" * 5000 + "]"), within=5.0), id="names-5000-digit-range"
    ),
    # -- names with path or shell characters -----------------------------------------
    *[
        pytest.param(Hostile(add_argv(name=name)), id=f"name-{what}")
        for what, name in [
            ("slash", "a/b"),
            ("dotdot", ".."),
            ("parent", "../x"),
            ("dot", "."),
            ("absolute", "/etc/passwd"),
            ("substitution", f"$(touch {PWNED})"),
            ("backticks", f"`touch {PWNED}`"),
            ("semicolon", f"a;touch {PWNED}"),
            ("newline", f"a\ntouch {PWNED}"),
            ("carriage-return", "a\rb"),
            ("tab", "a\tb"),
            ("space", "a b"),
            ("pipe", "a|b"),
            ("ampersand", "a&b"),
            ("redirect", "a>b"),
            ("glob", "*"),
            ("dash", "-rf"),
            ("tilde", "~root"),
            ("dots-inside", "a..b"),
            ("quote", "a'b"),
            ("dollar", "$HOME"),
            ("unicode", "jöb"),
            ("too-long", "a" * 129),
            ("pattern-slash", "x[1-2]/y"),
            ("list-substitution", f"ok,$(touch {PWNED})"),
            ("pattern-repeats", "x,y,x"),
            ("in-queue", "job[3-4]"),
        ]
    ],
    pytest.param(Hostile(("queue", "create", f"$(touch {PWNED})")), id="queue-name-substitution"),
    pytest.param(Hostile(("queue", "create", "a/b")), id="queue-name-slash"),
    pytest.param(Hostile(add_argv(f"--output=../{PWNED}")), id="output-parent"),
    pytest.param(Hostile(add_argv(f"--log=$(touch {PWNED})")), id="log-substitution"),
    pytest.param(Hostile(add_argv(f"--host=a;touch {PWNED}")), id="host-semicolon"),
    pytest.param(Hostile(add_argv(f"--shell=bash -c 'touch {PWNED}'")), id="shell-with-args"),
    pytest.param(Hostile(add_argv(f"--user=$(touch {PWNED})")), id="user-substitution"),
    pytest.param(Hostile(add_argv(f"--gpu=0;touch {PWNED}")), id="gpu-semicolon"),
    # -- experiment paths with shell characters --------------------------------------
    *[
        pytest.param(
            Hostile(("queue", "create", "z", f"--experiment={path}"), words="experiment"),
            id=f"experiment-{what}",
        )
        for what, path in [
            ("semicolon", f"/tmp/a;touch {PWNED}"),
            ("substitution", f"$(touch {PWNED})"),
            ("backticks", f"`touch {PWNED}`"),
            ("pipe", "a|b"),
            ("ampersand", "a&b"),
            ("redirect", f">{PWNED}"),
            ("newline", f"a\ntouch {PWNED}"),
            ("dotdot", "a/../b"),
            ("dollar", "$HOME/x"),
            ("quote", "it's"),
            ("backslash", "a\\b"),
            ("glob", "a*"),
        ]
    ],
    pytest.param(
        Hostile(add_argv(f"--experiment=$(touch {PWNED})"), words="experiment"),
        id="add-experiment-substitution",
    ),
    # -- non-UTF-8 bytes in argv ---------------------------------------------------------
    pytest.param(Hostile(add_argv(command=b"echo \xff")), id="bytes-command"),
    pytest.param(Hostile(add_argv(name=b"x\xff")), id="bytes-name"),
    pytest.param(Hostile(add_argv(name=b"job[1-2]\xfe")), id="bytes-pattern"),
    pytest.param(Hostile(add_argv(b"--input=\xff")), id="bytes-input"),
    pytest.param(Hostile(add_argv(b"--directory=/tmp/\xff")), id="bytes-directory"),
    pytest.param(Hostile(add_argv(b"--pyenv=\xc3\x28")), id="bytes-pyenv"),
    pytest.param(Hostile(add_argv(b"--after=job\xff")), id="bytes-after"),
    pytest.param(Hostile(add_argv(b"--host=\xff")), id="bytes-host"),
    pytest.param(Hostile(add_argv(b"--\xff")), id="bytes-option"),
    pytest.param(
        Hostile(("queue", "create", "z", b"--experiment=/tmp/\xff")), id="bytes-experiment"
    ),
    pytest.param(Hostile(("queue", "create", b"z\xff")), id="bytes-create-queue-name"),
    pytest.param(
        Hostile(("queue", "add", b"q\xff", "--name=x", "--command=true")), id="bytes-add-queue-name"
    ),
    pytest.param(Hostile(("queue", "list", b"q\xff")), id="bytes-list-queue-name"),
    pytest.param(Hostile(("queue", "status", b"q\xff")), id="bytes-status-queue-name"),
    pytest.param(Hostile(("queue", "show", HQ, b"job\xff")), id="bytes-show-job-name"),
    # -- a command too long to store ---------------------------------------------------
    # (one argv string can hold at most 128 KiB, so 1 MB goes through a job file above)
    pytest.param(Hostile(add_argv(command="a" * 120_000), words="script"), id="command-120KB"),
    pytest.param(Hostile(add_argv(command=" \t\n")), id="command-blank"),
    # -- unknown options -----------------------------------------------------------------
    pytest.param(Hostile(add_argv("--bogus")), id="option-unknown"),
    pytest.param(Hostile(add_argv("-x")), id="option-unknown-short"),
    pytest.param(Hostile(add_argv(f"--bogus=$(touch {PWNED})")), id="option-unknown-with-value"),
    pytest.param(Hostile(("queue", "add", HQ, "--command=true", "--name")), id="option-no-value"),
    pytest.param(Hostile(("queue", "create", "z", "--bogus")), id="option-unknown-create"),
    pytest.param(Hostile(("queue", "list", HQ, "--frobnicate=1")), id="option-unknown-list"),
    pytest.param(Hostile(("queue", "run", "fifo", HQ, "--bogus")), id="option-unknown-run"),
    pytest.param(Hostile(("queues", "--bogus")), id="option-unknown-queues"),
    pytest.param(Hostile(("--bogus", "queues")), id="option-unknown-global"),
    pytest.param(Hostile(("queue", f"$(touch {PWNED})")), id="command-unknown"),
    # -- --after naming a missing job, or the job itself ---------------------------------
    pytest.param(Hostile(add_argv("--after=nope"), words="nope"), id="after-missing"),
    pytest.param(Hostile(add_argv("--after=job[1-9]")), id="after-partly-missing"),
    pytest.param(Hostile(add_argv("--after=new"), words="new"), id="after-itself"),
    pytest.param(Hostile(add_argv("--after=x2", name="x[1-2]")), id="after-itself-in-pattern"),
    pytest.param(Hostile(add_argv(f"--after=$(touch {PWNED})")), id="after-substitution"),
    pytest.param(Hostile(add_argv("--after=a/b")), id="after-slash"),
    pytest.param(Hostile(add_argv("--after=job[3-1]")), id="after-bad-pattern"),
    # -- numbers: each option has an upper bound, and nothing overflows ---------------
    *[
        pytest.param(Hostile(argv, words=words), id=f"number-{what}")
        for what, argv, words in [
            ("retries-2^63", add_argv(f"--retries={_2_63}"), "0 to 1,000"),
            ("retries-1001", add_argv("--retries=1001"), "0 to 1,000"),
            ("retries-5000-digits", add_argv("--retries=" + "9" * 5000), "5,000 characters"),
            ("retries-float", add_argv("--retries=1.5"), "whole number"),
            ("retries-underscore", add_argv("--retries=1_0"), "whole number"),
            ("gpus-2^63", add_argv(f"--gpus={_2_63}"), "1 to 1,024"),
            ("gpus-1025", add_argv("--gpus=1025"), "1 to 1,024"),
            ("timeout-2^63", add_argv(f"--timeout={_2_63}"), "31,536,000"),
            ("timeout-past-a-year", add_argv("--timeout=31536001"), "365 days"),
            ("timeout-inf", add_argv("--timeout=inf"), "31,536,000"),
            ("create-retries-2^63", ("queue", "create", "z", f"--retries={_2_63}"), "--retries"),
            ("create-timeout-2^63", ("queue", "create", "z", f"--timeout={_2_63}"), "--timeout"),
            ("set-retries-2^63", ("queue", "set", HQ, f"--retries={_2_63}"), "--retries"),
            ("set-timeout-1e400", ("queue", "set", HQ, "--timeout=1e400"), "--timeout"),
            ("max-jobs-2^63", ("hosts", "add", "h1", f"--max_jobs_allowed={_2_63}"), "10,000"),
            ("max-jobs-10001", ("hosts", "add", "h1", "--max-jobs-allowed=10001"), "10,000"),
            ("cpus-2^63", ("hosts", "add", "h1", f"--cpus={_2_63}"), "100,000"),
            ("port-2^63", ("hosts", "add", "h1", f"--port={_2_63}"), "65,535"),
            ("port-5000-digits", ("hosts", "add", "h1", "--port=" + "9" * 5000), "characters"),
            ("port-word", ("hosts", "add", "h1", "--port=ssh"), "whole number"),
            (
                "max-parallel-2^63",
                ("queue", "run", "fifo", HQ, f"--max_parallel={_2_63}"),
                "1 to 10,000",
            ),
            (
                "max-parallel-10001",
                ("queue", "run", "fifo", HQ, "--max-parallel=10001"),
                "1 to 10,000",
            ),
            ("max-parallel-0", ("queue", "run", "fifo", HQ, "--max_parallel=0"), "1 to 10,000"),
            (
                "max-parallel-5000-digits",
                ("queue", "run", "fifo", HQ, "--max_parallel=" + "9" * 5000),
                "characters",
            ),
        ]
    ],
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  retries: {_2_63}\n", "retries"),
        id="yaml-retries-2^63",
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  gpus: {_2_63}\n", "gpus"),
        id="yaml-gpus-2^63",
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  timeout: {_2_63}\n", "timeout"),
        id="yaml-timeout-2^63",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  retries: !!int 2000\n", "retries"),
        id="yaml-tagged-retries-2000",
    ),
    # -- job files that are not files, or never end -----------------------------------
    pytest.param(
        Hostile(("queue", "add", HQ, "--file=/dev/zero"), words="regular file", within=5.0),
        id="file-dev-zero",
    ),
    pytest.param(
        Hostile(("queue", "add", HQ, "--file=/dev/null"), words="regular file"), id="file-dev-null"
    ),
    pytest.param(Hostile(("queue", "add", HQ, "--file=."), words="folder"), id="file-folder"),
    # -- job files: a text field holds text; YAML's other types are refused -----------
    pytest.param(
        _file(_OK_ENTRY + "- name: !!bool yes\n  command: 'true'\n", "name must be text"),
        id="yaml-tagged-bool-name",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: !!int 16\n", "command must be text"),
        id="yaml-tagged-int-command",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: b\n  command: 'true'\n  host: !!float 1.5\n", "host must be text"
        ),
        id="yaml-tagged-float-host",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: b\n  command: 'true'\n  user: !!timestamp 2024-01-01\n",
            "user must be text",
        ),
        id="yaml-tagged-date-user",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: b\n  command: 'true'\n  gpus: !!bool true\n",
            "gpus must be a number",
        ),
        id="yaml-tagged-bool-gpus",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  retries: 0x10\n", "whole number"),
        id="yaml-hex-retries-is-text",
    ),
    # -- a name pattern one past the documented limit of 1,000,000 names --------------
    pytest.param(
        Hostile(add_argv(name="n[1-1000001]"), words="1,000,000", within=5.0), id="names-1000001"
    ),
    pytest.param(
        Hostile(add_argv(name="a[1-1000]b[0-1000]"), words="1,000,000", within=5.0),
        id="names-product-1001000",
    ),
    # -- kill/reset/delete: a glob that matches nothing is an error, as a missing name -
    pytest.param(
        Hostile(("queue", "kill", HQ, "--name=zz*"), words="matches"),
        id="kill-glob-matches-nothing",
    ),
    pytest.param(
        Hostile(("queue", "reset", HQ, "--name=zz?"), words="matches"),
        id="reset-glob-matches-nothing",
    ),
    pytest.param(
        Hostile(("queue", "delete", HQ, "--name=*x*"), words="matches"),
        id="delete-glob-matches-nothing",
    ),
    pytest.param(
        Hostile(("queue", "delete", HQ, "--name=job"), words="has no job"),
        id="delete-part-of-a-name-is-not-a-glob",
    ),
    # -- 100,000 characters of text: the line quotes 60 and says how long it was ------
    *[
        pytest.param(Hostile(argv, words="100,0"), id=f"long-{what}")
        for what, argv in [
            ("name", add_argv(name=_LONG)),
            ("name-pattern", add_argv(name=_LONG + "[1-2]")),
            ("name-list", add_argv(name="ok," + _LONG)),
            ("queue-create", ("queue", "create", _LONG)),
            ("queue-lookup", ("queue", "list", _LONG)),
            ("queue-add", ("queue", "add", _LONG, "--name=x", "--command=true")),
            ("job-lookup", ("queue", "show", HQ, _LONG)),
            ("host", add_argv(f"--host={_LONG}")),
            ("user", add_argv(f"--user={_LONG}")),
            ("gpu", add_argv(f"--gpu={_LONG};")),
            ("shell", add_argv(f"--shell={_LONG}")),
            ("output", add_argv(f"--output={_LONG}")),
            ("after", add_argv(f"--after={_LONG}")),
            ("status", ("queue", "list", HQ, f"--status={_LONG}")),
            ("experiment", ("queue", "create", "z", f"--experiment=a;{_LONG}")),
            ("experiment-check", ("queue", "list", HQ, f"--experiment=/{_LONG}")),
            ("kill-glob", ("queue", "kill", HQ, f"--name={_LONG}*")),
            ("kill-pattern", ("queue", "kill", HQ, f"--name={_LONG}[1-2]")),
            ("hosts-add", ("hosts", "add", f"{_LONG};")),
            ("hosts-add-ip", ("hosts", "add", "h1", f"--ip={_LONG};")),
            ("hosts-gpus", ("hosts", "add", "h1", f"--gpus={_LONG};")),
            ("hosts-delete", ("hosts", "delete", _LONG)),
            ("option", add_argv(f"--{_LONG}")),
            ("option-value", add_argv(f"--{_LONG}=x")),
            ("command", ("queue", _LONG)),
            ("extra-argument", ("queues", _LONG)),
            ("max-parallel", ("queue", "run", "fifo", HQ, f"--max_parallel={_LONG}")),
            ("file-path", ("queue", "add", HQ, f"--file=/{_LONG}")),
            ("db-path", ("--db", f"/nonexistent/{_LONG}", "queues")),
        ]
    ],
    pytest.param(
        _file(_OK_ENTRY + f"- name: {_LONG}\n  command: 'true'\n", "100,0"), id="long-yaml-name"
    ),
    # (YAML keys end at 1,024 characters)
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  {'a' * 1000}: x\n", "1,000 characters"),
        id="long-yaml-field",
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  gpu: {_LONG};\n", "100,0"),
        id="long-yaml-gpu",
    ),
]
