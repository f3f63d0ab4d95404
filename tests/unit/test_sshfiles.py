"""asyncssh reads the ssh config and known_hosts once per file, not once per
connection (meshq/hosts/sshfiles.py), and still resolves each host as its
own block says and each key as the file says now."""

from __future__ import annotations

import shlex
from pathlib import Path

import asyncssh
import pytest
from asyncssh.config import SSHClientConfig, SSHConfig

import meshq.hosts.ssh  # noqa: F401  (installs the remembering)
from meshq.hosts import sshfiles

TRICKY = [
    'IdentityFile "/home/a b/.ssh/id_ed25519"',
    "Port=2222",
    "ProxyCommand ssh -W %h:%p 'jump host'",
    r"HostName a\ b",
    "Host n1 n2 *.lab",
]


@pytest.mark.parametrize("line", TRICKY)
def test_a_line_splits_as_shlex_splits_it(line: str) -> None:
    assert sshfiles.split_line(line) == shlex.split(line)


def test_each_caller_gets_a_list_of_its_own() -> None:
    first = sshfiles.split_line("User alice")
    first.append("changed")
    assert sshfiles.split_line("User alice") == ["User", "alice"]


def test_asyncssh_splits_config_lines_through_meshq() -> None:
    from asyncssh import config

    assert getattr(config, "shlex").split is sshfiles.split_line  # noqa: B009


def _load(path: Path, host: str) -> SSHConfig:
    return SSHClientConfig.load(None, [path], False, False, False, "me", (), host, ())


def test_each_host_still_gets_its_own_block(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host alpha\n    HostName 10.0.0.1\n    Port 2201\n\n"
        'Host beta\n    HostName 10.0.0.2\n    IdentityFile "/keys/b key"\n\n'
        "Host *\n    Port 2299\n    User lab\n"
    )
    for _ in range(2):  # the second time from the remembered words
        alpha, beta = _load(config, "alpha"), _load(config, "beta")
        assert (alpha.get("Hostname"), alpha.get("Port"), alpha.get("User")) == (
            "10.0.0.1",
            2201,
            "lab",
        )
        assert (beta.get("Hostname"), beta.get("Port")) == ("10.0.0.2", 2299)
        assert beta.get("IdentityFile") == ["/keys/b key"]


def _key_line(address: str) -> tuple[str, asyncssh.SSHKey]:
    key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    return f"{address} {key.export_public_key().decode().strip()}\n", key


def test_known_hosts_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    reads: list[object] = []

    def read(filelist: object) -> asyncssh.SSHKnownHosts:
        reads.append(filelist)
        return asyncssh.read_known_hosts(filelist)  # type: ignore[arg-type]

    remembered = sshfiles.remembering_reader(read)
    path = tmp_path / "known_hosts"
    line, key = _key_line("10.0.0.1")
    path.write_text(line)
    for _ in range(3):
        found = remembered([str(path)]).match("h", "10.0.0.1", None)[0]
        assert [k.public_data for k in found] == [key.public_data]
    assert len(reads) == 1
    # the host was reinstalled: a new key of the same length, same address
    line2, key2 = _key_line("10.0.0.1")
    assert len(line2) == len(line)
    path.write_text(line2)
    found = remembered([str(path)]).match("h", "10.0.0.1", None)[0]
    assert [k.public_data for k in found] == [key2.public_data]
    assert len(reads) == 2


def test_a_missing_known_hosts_file_is_asyncssh_s_to_report(tmp_path: Path) -> None:
    remembered = sshfiles.remembering_reader(asyncssh.read_known_hosts)
    with pytest.raises(OSError):
        remembered([str(tmp_path / "absent")])
