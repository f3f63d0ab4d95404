"""Run meshq's benchmarks, compare each figure with its target, and write
a report (JSON, a Markdown table and a plot).

    ./scripts/bench                     # the default suite (about 13 minutes on 2 cores)
    ./scripts/bench --full              # 100,000-job runs for scaling and memory (long)
    ./scripts/bench --save              # also commit-ready bench/report.{json,png}
    ./scripts/bench --only ssh,local    # some groups: commands latency local ssh scale slurm
                                        # hosts32 sim managers
    python bench/regress.py             # the quick check for CI (under a minute)

Every figure is the median of --repeat runs. The report goes to
bench/out/report.json, report.md and report.png (--quick: regress.json and
regress.md). The exit status is 0 when everything was measured, 2 when a
measure broke, and with --quick (or --check) 1 when a target is not met.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import commands, latency, manyhosts, scale, sim, slurm, throughput
from bench.common import Context, Measure, scratch_root, use_bytecode_cache, warm_bytecode
from bench.report import machine, markdown, plot, report_data, verdict, write_json

BENCH = Path(__file__).resolve().parent

Group = Callable[[Context], list[Measure]]

#: the default suite, cheapest first
GROUPS: dict[str, Group] = {
    "commands": commands.store_commands,
    "latency": latency.exit_to_end,
    "local": throughput.local_throughput,
    "ssh": throughput.ssh_throughput,
    "scale": scale.run_scaling,
    # a real single-node Slurm (root, slurm-wlm and munge; skipped otherwise):
    # one repeat unless --full, as each takes some three minutes
    "slurm": slurm.slurm_throughput,
    "hosts32": manyhosts.many_hosts,
    "sim": sim.manager_scaling,
    "managers": sim.managers,
}

#: the quick check: ratios and generous bounds, on a small scale
QUICK: dict[str, Group] = {
    "local": lambda ctx: throughput.local_throughput(ctx, jobs=500, bound=0.4),
    "add": lambda ctx: [commands.add_jobs(ctx, jobs=20_000, bound_s=3.0)[0]],
    "latency": lambda ctx: latency.exit_to_end(ctx, jobs=50, bound_ms=200),
    "help": lambda ctx: commands.cli_start(ctx, bound_ms=500),
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(
        prog="bench",
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median) [3]")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument(
        "--full",
        action="store_true",
        help="scaling and memory on 100,000 jobs, not 10,000; the simulated hosts' on 1,000,000",
    )
    mode.add_argument(
        "--quick", action="store_true", help="the quick regression check (implies --check)"
    )
    ap.add_argument("--only", default="", help="comma-separated groups to run")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is not met")
    ap.add_argument("--save", action="store_true", help="copy the report to bench/report.*")
    ap.add_argument("--out", type=Path, default=BENCH / "out", help="report folder [bench/out]")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.quick and args.save:
        ap.error("--save keeps the full suite's report; the quick check has none to keep")
    groups = QUICK if args.quick else GROUPS
    args.groups = [g for g in args.only.split(",") if g] or list(groups)
    if unknown := [g for g in args.groups if g not in groups]:
        ap.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(groups)}")
    return args


def log(text: str) -> None:
    print(text, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; the exit status (see the module's doc)."""
    args = parse(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    groups = QUICK if args.quick else GROUPS
    measures: list[Measure] = []
    where = machine()  # before we load it
    started = time.monotonic()
    with scratch_root(keep=args.keep) as work:
        use_bytecode_cache(work / "pycache")
        warm_bytecode()
        ctx = Context(work, args.repeat, full=args.full, log=log)
        if args.keep:
            log(f"scratch folder: {work}")
        for name in args.groups:
            log(f"[{name}]")
            t0 = time.monotonic()
            measures += groups[name](ctx)
            log(f"  ({time.monotonic() - t0:.0f} s)")
    took = time.monotonic() - started
    data = report_data(measures, mode, args.repeat, took, where)
    stem = "regress" if args.quick else "report"
    table = markdown(measures)
    write_json(data, args.out / f"{stem}.json")
    (args.out / f"{stem}.md").write_text(table)
    written = [args.out / f"{stem}.json", args.out / f"{stem}.md"]
    if not args.quick:
        if plot(data, measures, args.out / f"{stem}.png"):
            written.append(args.out / f"{stem}.png")
        else:
            log("no plot: matplotlib is not installed (pip install matplotlib)")
    if args.save:
        for path in [p for p in written if p.suffix != ".md"]:
            shutil.copyfile(path, BENCH / path.name)
            written.append(BENCH / path.name)
    print()
    print(table)
    print(
        f"{mode} run, median of {args.repeat}, {took:.0f} s; "
        + ", ".join(f"{n} {v}" for v, n in data["summary"].items() if n)
    )
    print("report: " + ", ".join(str(p) for p in written))
    verdicts = [verdict(m) for m in measures]
    if "error" in verdicts:
        return 2
    if (args.quick or args.check) and "NOT met" in verdicts:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
