"""``meshq hosts …``: the host inventory."""

from __future__ import annotations

from typing import Any

import click

from meshq.cli.main import State, run_async
from meshq.cli.render import OUTPUT_OPTION, emit
from meshq.limits import MAX_CPUS, MAX_SLOTS
from meshq.validate import CLUSTER_SLOTS


def _mq(ctx: click.Context) -> Any:
    state: State = ctx.find_object(State)  # type: ignore[assignment]
    return state.mq


@click.group()
def hosts() -> None:
    """The hosts jobs run on: this machine, any host ssh reaches, and Slurm clusters."""


@hosts.command()
@click.argument("name")
@click.option(
    "--ip", metavar="ADDRESS", help="Address to connect to [NAME, looked up like 'ssh NAME' would]."
)
@click.option("--user", help="User to log in as [from ~/.ssh/config, else yours].")
# numbers are strings here, checked by meshq.validate: click's int type echoes
# a value of any length in its error, and knows no upper bound
@click.option("--port", metavar="N", help="SSH port, 1 to 65535 [from ~/.ssh/config, else 22].")
@click.option(
    "--max-jobs-allowed",
    "--max_jobs_allowed",
    "max_jobs",
    metavar="N",
    help=f"Jobs it runs at once (its slots; 1 to {MAX_SLOTS:,}) [1; a Slurm cluster: "
    f"{CLUSTER_SLOTS}, the jobs queued there at once].",
)
@click.option("--cpus", metavar="N", help=f"CPU count, for your information (1 to {MAX_CPUS:,}).")
@click.option("--gpus", metavar="IDS", help="GPU ids jobs may be given, e.g. 0,1,2,3.")
@click.option("--pyenv", metavar="PATH", help="Activate script sourced for jobs that name none.")
@click.option(
    "--no-host-key-check",
    is_flag=True,
    help="Do not check the host key against known_hosts (trusted networks only).",
)
@click.option(
    "--kind",
    metavar="KIND",
    help="local, ssh or slurm [local for localhost, else ssh].",
)
@click.option(
    "--login",
    metavar="[USER@]HOST",
    help="A Slurm cluster's login node, reached over SSH; 'local' if meshq runs on it.",
)
@click.option("--partition", help="Slurm partition(s) jobs are submitted to [the default].")
@click.option("--account", help="Slurm account jobs are charged to [yours].")
@click.option("--qos", help="Slurm quality of service [the default].")
@click.option(
    "--sbatch-option",
    "--sbatch_option",
    "sbatch_options",
    multiple=True,
    metavar="OPTION",
    help="A further sbatch option word for every job, e.g. --mem=4G (repeat for more).",
)
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    ip: str | None,
    user: str | None,
    port: str | None,
    max_jobs: str | None,
    cpus: str | None,
    gpus: str | None,
    pyenv: str | None,
    no_host_key_check: bool,
    kind: str | None,
    login: str | None,
    partition: str | None,
    account: str | None,
    qos: str | None,
    sbatch_options: tuple[str, ...],
) -> None:
    """Add hosts; NAME may be a pattern (red,red0[1-3]). A Slurm cluster:
    meshq hosts add hpc --kind=slurm --login=me@login-node [--partition=gpu]."""
    added = _mq(ctx).add_hosts(
        name,
        kind=kind,
        ip=ip,
        user=user,
        port=port,
        max_jobs=max_jobs,
        cpus=cpus,
        gpus=gpus,
        pyenv=pyenv,
        check_host_key=not no_host_key_check,
        login=login,
        partition=partition,
        account=account,
        qos=qos,
        sbatch_options=sbatch_options,
    )
    for host in added:
        if host.kind.cluster:
            where = f"{host.user + '@' if host.user else ''}{host.address or 'this machine'}"
            click.echo(
                f"added Slurm cluster {host.name} (login node {where}, up to "
                f"{host.max_jobs} job(s) queued there)"
            )
            continue
        click.echo(
            f"added host {host.name} ({host.max_jobs} slot(s)"
            + (f", GPUs {','.join(host.gpus)}" if host.gpus else "")
            + ")"
        )


@hosts.command(name="list")
@OUTPUT_OPTION
@click.pass_context
def list_(ctx: click.Context, fmt: str) -> None:
    """The inventory: slots and GPUs in use and free, status, last probe."""
    mq = _mq(ctx)
    slots, gpus = mq.host_usage()
    rows = []
    for host in mq.hosts():
        record = host.to_dict()
        held = gpus.get(host.name, set())
        record.update(
            slots_used=slots[host.name],
            slots_free=max(host.max_jobs - slots[host.name], 0),
            gpus_used=",".join(g for g in host.gpus if g in held) or None,
            gpus_free=",".join(g for g in host.gpus if g not in held) or None,
        )
        rows.append(record)
    emit(
        rows,
        fmt,
        [
            "name",
            "kind",
            "status",
            "address",
            "user",
            "port",
            "slots_used",
            "slots_free",
            "gpus_used",
            "gpus_free",
            "last_probe",
            "last_error",
            "info",
        ],
        headers={
            "slots_used": "used",
            "slots_free": "free",
            "gpus_used": "gpus used",
            "gpus_free": "gpus free",
            "last_probe": "probed",
            "last_error": "error",
        },
    )


@hosts.command()
@click.argument("name", required=False)
@click.pass_context
def probe(ctx: click.Context, name: str | None) -> int:
    """Check that hosts (all, or NAME) can be reached and run the agent;
    exits 1 if one cannot."""
    results = run_async(_mq(ctx).probe(name))
    for host, error in results:
        about = f" ({host.info})" if host.info and error is None else ""
        click.echo(f"{host.name}: {'ok' + about if error is None else 'down: ' + error}")
    return 1 if any(error for _, error in results) else 0


@hosts.command()
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Stop giving jobs to a host (running ones go on)."""
    _mq(ctx).set_host_enabled(name, False)
    click.echo(f"host {name} disabled")


@hosts.command()
@click.argument("name")
@click.pass_context
def enable(ctx: click.Context, name: str) -> None:
    """Give jobs to a host again."""
    _mq(ctx).set_host_enabled(name, True)
    click.echo(f"host {name} enabled")


@hosts.command()
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Remove a host from the inventory."""
    _mq(ctx).delete_host(name)
    click.echo(f"host {name} deleted")
