"""The other user test hosts log in as: ``TEST_USER``, and making it usable.

A test host must be *another machine*, or meshq's confusions of a local path with a remote
one go unseen. So hosts log in as ``TEST_USER`` (``meshq-host``, home ``/home/meshq-host``),
not as the user running the tests: another user, another home, no write access to ours.
``ensure_test_user()`` creates that user when we are root (sshd can only switch to another
user when it runs as root, so the tests need root anyway).
"""

from __future__ import annotations

import getpass
import os
import pwd
import subprocess
from pathlib import Path

__all__ = ["TEST_USER", "ensure_test_user", "passwd_entry"]

#: The user test hosts log in as by default: another user with another home, as on a real
#: remote machine (see the module docstring).
TEST_USER = "meshq-host"


def passwd_entry(user: str) -> pwd.struct_passwd | None:
    """Return ``user``'s passwd entry, or ``None`` when there is no such user here."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def _password_locked(user: str) -> bool:
    """Whether /etc/shadow marks ``user``'s password as locked (a leading ``!``).

    useradd leaves a new account so, and sshd with ``UsePAM no`` refuses a locked account
    even for key logins. ``*`` (no password can match, but not locked) is what we want.
    Unreadable /etc/shadow (not root) or no entry: not known to be locked, ``False``.
    """
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        name, _, rest = line.partition(":")
        if name == user:
            return rest.startswith("!")
    return False


def _how_to_create(user: str) -> str:
    """The commands that make ``user`` usable as the test hosts' login."""
    return f"useradd -m -s /bin/bash {user} && usermod -p '*' {user}"


def _as_root(argv: list[str]) -> str | None:
    """Run an account command (useradd, usermod); ``None`` on success, else its complaint."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]} failed: {exc}"
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        return f"{' '.join(argv)} exited {done.returncode}: {first}"
    return None


def ensure_test_user(user: str = TEST_USER) -> str | None:
    """Make sure test hosts can log in as ``user``; ``None`` when they can, else why not.

    As root: creates ``user`` when missing (``useradd -m -s /bin/bash``), sets a locked
    password field to ``*`` (see ``_password_locked``) and creates a missing home (0755,
    owned by the user). Not root: a missing user, or any user other than our own, is
    reported, because an sshd not running as root cannot switch to another user. The
    reason is one line that says what is missing and how to fix it. Safe to call from
    several test sessions at once: a user another session created meanwhile is taken.
    """
    if user == getpass.getuser():
        return None  # no user switch: any sshd can log us in as ourselves
    entry = passwd_entry(user)
    if os.geteuid() != 0:
        if entry is None:
            return (
                f"test host user {user!r} does not exist; create it as root with: "
                f"{_how_to_create(user)} (scripts/test does this when run as root)"
            )
        return (
            f"test hosts log in as {user!r}, and only an sshd run as root can switch to "
            f"another user: run the tests as root"
        )
    if entry is None:
        failed = _as_root(["useradd", "-m", "-s", "/bin/bash", user])
        entry = passwd_entry(user)
        if entry is None:  # not created by a concurrent session either
            return f"could not create test host user {user!r}: {failed}"
    if _password_locked(user):
        failed = _as_root(["usermod", "-p", "*", user])
        if failed is not None and _password_locked(user):
            return f"test host user {user!r} is locked and could not be unlocked: {failed}"
    home = Path(entry.pw_dir)
    if not home.is_dir():
        # sshd would start sessions in / instead, and ~ paths would point nowhere.
        home.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    return None
