"""The files a test cluster is made of: keys, sshd_config, ssh_config and known_hosts.

Text builders and key helpers only; ``tests/support/sshd.py`` writes the results into a
cluster's folders. Also here are the environment tags the sshd_config sets in every login
session (``HOST_ENV``, ``CLUSTER_ENV``) and ``SshdError``, which every part of the test
cluster raises (``tests.support.sshd`` re-exports it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

__all__ = [
    "CLUSTER_ENV",
    "HOST_ENV",
    "HostAddress",
    "SshdError",
    "known_hosts_line",
    "public_key",
    "ssh_config_block",
    "ssh_keygen",
    "sshd_config_text",
]

#: Environment variable naming the test host a process belongs to.
HOST_ENV = "MESHQ_TEST_HOST"
#: Environment variable naming the cluster (a random token) a process belongs to.
CLUSTER_ENV = "MESHQ_TEST_CLUSTER"


class SshdError(RuntimeError):
    """A test sshd could not be set up, did not come up, or could not be stopped."""


class HostAddress(Protocol):
    """Where a client reaches a test host and as whom (``SshHost`` is one)."""

    name: str
    address: str
    port: int
    user: str


def ssh_keygen(path: Path, comment: str) -> None:
    """Create an ed25519 key pair ``path`` / ``path.pub`` with no passphrase."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def public_key(path: Path) -> str:
    """Return "<type> <base64>" from an OpenSSH ``.pub`` file, without its comment."""
    key_type, blob, *_ = path.read_text().split()
    return f"{key_type} {blob}"


def _quote(path: Path) -> str:
    """Quote a path for ssh_config / sshd_config (both accept double quotes)."""
    text = str(path)
    if '"' in text:
        raise SshdError(f"path {text!r} contains a double quote; ssh configs cannot hold it")
    return f'"{text}"'


def sshd_config_text(
    host_name: str,
    address: str,
    port: int,
    host_key: Path,
    authorized_keys: Path,
    cluster_id: str,
    session_env: Mapping[str, str] | None = None,
) -> str:
    """Return the sshd_config for one test host (OpenSSH defaults for everything else);
    ``session_env`` is added to the environment of its login sessions."""
    extra = "".join(f' {key}="{value}"' for key, value in (session_env or {}).items())
    # Deliberately absent: MaxSessions / MaxStartups (tests must meet the real defaults,
    # 10 and 10:30:100) and any Include of /etc/ssh (the machine's config must not leak in).
    return "\n".join(
        [
            f"# test host {host_name}, written by tests/support/sshd.py",
            f"ListenAddress {address}:{port}",
            f"HostKey {_quote(host_key)}",
            f"AuthorizedKeysFile {_quote(authorized_keys)}",
            "PidFile none",
            # The files live under /tmp, whose permissions StrictModes would reject.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # Sessions get a fresh environment; this is how jobs learn which host they
            # are on (and how kill_all() finds them).
            f"SetEnv {HOST_ENV}={host_name} {CLUSTER_ENV}={cluster_id}{extra}",
            # Compiled-in default has no subsystems; real hosts (Debian's stock config)
            # offer sftp, which scp (SFTP protocol since OpenSSH 9.0) and asyncssh use.
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def ssh_config_block(host: HostAddress, client_key: Path, known_hosts: Path) -> str:
    """Return the ``Host <alias>`` block that makes ``ssh -F cfg <alias>`` reach ``host``."""
    return "\n".join(
        [
            f"Host {host.name}",
            f"    HostName {host.address}",
            f"    Port {host.port}",
            f"    User {host.user}",
            f"    IdentityFile {_quote(client_key)}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {_quote(known_hosts)}",
            # Keep the machine's /etc/ssh/ssh_known_hosts out of the picture.
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    BatchMode yes",
            # known_hosts is ours and must stay exactly as written (no key rotation adds).
            "    UpdateHostKeys no",
            # A dead test host must fail fast, never hang a test.
            "    ConnectTimeout 10",
            "",
        ]
    )


def known_hosts_line(host: HostAddress, public_key: str) -> str:
    """Return the known_hosts line for ``host`` trusting ``public_key``.

    With ``HostName`` + a non-22 ``Port`` both OpenSSH and asyncssh look the host up
    as ``[address]:port``. The alias patterns serve ``HostKeyAlias mqN``: OpenSSH then
    looks up the bare alias (no port), asyncssh ``[mqN]:port`` and then the bare alias.
    """
    patterns = f"[{host.address}]:{host.port},[{host.name}]:{host.port},{host.name}"
    return f"{patterns} {public_key}\n"
