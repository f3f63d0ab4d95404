"""``meshq serve``: the REST service and dashboard (:mod:`meshq.web`), and
``meshq serve info``, which tells where the running one is.

The service needs a token on every route but ``/health``: ``--token``, else
``$MESHQ_TOKEN``, else the one meshq keeps (0600) in its data folder,
generated on first use. It listens on loopback unless ``--host`` says
otherwise. What it serves (address, port, token) is written to
``serve.json`` (0600) beside the token, for ``serve info``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

from meshq.cli.main import State
from meshq.cli.options import format_option
from meshq.cli.render import say
from meshq.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: how long a stop waits for open streams (seconds) before it cuts them
SHUTDOWN_WAIT_S = 3
#: the file (in meshq's data folder) that says where the service listens
STATE_FILE = "serve.json"


def state_file() -> Path:
    from meshq.store.connection import data_home

    return data_home() / STATE_FILE


def service_url(host: str, port: int) -> str:
    """The base URL of a service bound to ``host`` (an address to reach:
    ``0.0.0.0`` and ``::`` mean this machine too)."""
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 (a comparison, not a bind)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _token(given: str | None) -> tuple[str, bool]:
    """The token to serve with, and whether meshq generated it just now."""
    from meshq.web.auth import MIN_TOKEN_CHARS, stored_token

    if given is not None:
        if len(given) < MIN_TOKEN_CHARS or not given.isprintable() or " " in given:
            raise UsageError(
                f"the token (--token or MESHQ_TOKEN) must be at least {MIN_TOKEN_CHARS} "
                "printable characters without spaces: a short one could be guessed"
            )
        return given, False
    existed = stored_token(create=False) is not None
    token = stored_token()
    assert token is not None
    return token, not existed


def _check_port_free(host: str, port: int) -> None:
    """One clear line when ``host:port`` cannot be bound (in use, no such address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as err:
        raise UsageError(
            f"cannot listen on {host} port {port}: {err.strerror}: give another --port or --host"
        ) from None
    finally:
        probe.close()


def _write_state(host: str, port: int, token: str) -> Path:
    path = state_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"url": service_url(host, port), "pid": os.getpid(), "token": token})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    return path


def _open_browser(url: str) -> bool:
    """Open ``url`` in a browser when this session has a display (a text
    browser in a terminal would take the terminal over); whether it did."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


@click.group(invoke_without_command=True)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on; anything but loopback serves the network (plain HTTP).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--token",
    envvar="MESHQ_TOKEN",
    help="The token requests must send (Authorization: Bearer) [env MESHQ_TOKEN; "
    "default: the one meshq keeps, generated on first use].",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the REST API (/docs, /redoc) and the dashboard (/) over HTTP.

    \b
      meshq serve                           on http://127.0.0.1:8765
      meshq serve info                      its URL (with the token), opened in a browser
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8765/queues
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from meshq.web.app import create_app
    from meshq.web.auth import is_loopback, token_file

    secret, generated = _token(token)
    _check_port_free(host, port)
    state = ctx.find_object(State)
    app = create_app(state.db if state else None, token=secret)
    base = service_url(host, port)
    written = _write_state(host, port, secret)
    if generated:
        click.echo(f"meshq serve: generated a token, kept in {token_file()} (0600)", err=True)
    if not is_loopback(host):
        click.echo(
            f"meshq serve: listening on {host}: other machines can reach it (plain HTTP, "
            "so the token travels in clear; put it behind TLS on an untrusted network)",
            err=True,
        )
    click.echo(f"meshq serve: dashboard {base}/#token={secret}", err=True)
    click.echo(f"meshq serve: API docs {base}/docs (send Authorization: Bearer TOKEN)", err=True)
    try:
        # an open dashboard (/events) or a followed log is a response that
        # never ends: without a bound, Ctrl+C or SIGTERM would wait for it forever
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            timeout_graceful_shutdown=SHUTDOWN_WAIT_S,
        )
    finally:
        _forget_state(written)


def _forget_state(path: Path) -> None:
    """Remove ``serve.json`` if it still names this process."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass  # another service wrote it meanwhile, or it is gone: theirs to keep


def read_state() -> dict[str, Any]:
    """What the running service wrote (``url``, ``pid``, ``token``); a
    :class:`UsageError` when none runs."""
    path = state_file()
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UsageError("no meshq service is running here: start one with 'meshq serve'") from None
    from meshq.store.runs import pid_alive

    pid = found.get("pid")
    if not isinstance(pid, int) or pid <= 0 or not pid_alive(pid):
        raise UsageError(
            f"the meshq service that wrote {path} is gone: start one with 'meshq serve'"
        )
    return found


@serve.command()
@click.option("--open/--no-open", "open_", default=True, help="Open it in a browser, if any.")
@format_option(("table", "json"), old_output=False)
def info(open_: bool, fmt: str) -> None:
    """Print the running service's URLs (with its token), and open the
    dashboard in a browser when this session has one."""
    found = read_state()
    url, token = found["url"], found["token"]
    dashboard = f"{url}/#token={token}"
    opened = open_ and _open_browser(dashboard)
    data = {"url": url, "dashboard": dashboard, "docs": f"{url}/docs", "token": token}
    say(
        fmt,
        data | {"opened": opened},
        f"dashboard: {dashboard}\nAPI docs:  {url}/docs\ntoken:     {token}"
        + ("\n(opened in a browser)" if opened else ""),
    )
