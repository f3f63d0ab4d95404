"""Who may use the service: whoever sends its token.

Every route but ``/health`` requires ``Authorization: Bearer TOKEN``, on
loopback too (another local user, or a web page in the browser, can reach
a loopback port). There is no cookie: a page of another site cannot make
the browser send the header, and the service sends no CORS headers, so no
other origin may read its answers.

The token is ``--token``, else ``$MESHQ_TOKEN``, else the one kept in
``serve-token`` in meshq's data folder (0600), generated on first use.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from meshq.store.connection import FOLDER_MODE, data_home

#: the environment variable that gives the token
TOKEN_ENV = "MESHQ_TOKEN"  # noqa: S105 (a variable name, not a secret)
#: the file (in meshq's data folder) that keeps a generated token
TOKEN_FILE = "serve-token"  # noqa: S105 (a file name)
#: a token shorter than this is refused: it could be guessed
MIN_TOKEN_CHARS = 16


class Unauthorized(Exception):
    """A request without the service's token (401) or with another one (403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def token_file() -> Path:
    """Where a generated token is kept."""
    return data_home() / TOKEN_FILE


def stored_token(create: bool = True) -> str | None:
    """The token kept in :func:`token_file`; with ``create``, a new random
    one is written there (0600, in a 0700 folder made if missing) when there
    is none."""
    path = token_file()
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if text or not create:
        return text or None
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL with mode 0600: the token is never readable by others, not even briefly
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (``localhost``,
    ``127.x.x.x``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="the token `meshq serve` prints (`meshq serve info` shows it again)",
)


async def require_token(
    request: Request,
    given: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """A FastAPI dependency: the request carries the application's token
    as ``Authorization: Bearer TOKEN`` (compared in constant time)."""
    if given is None:
        raise Unauthorized(
            "this request has no token: send 'Authorization: Bearer TOKEN' "
            "(the token 'meshq serve info' prints)",
            401,
        )
    expected: str = request.app.state.token
    if not secrets.compare_digest(given.credentials.encode(), expected.encode()):
        raise Unauthorized("the token sent is not this service's token", 403)
