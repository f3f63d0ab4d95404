"""asyncssh's reading of the ssh config and known_hosts files, done once
per file instead of once per connection.

asyncssh reads both files again for every connection it makes: the ssh
config because the block that applies depends on the host (it evaluates
``Host`` and ``Match`` while it reads), known_hosts because it matches the
host as it loads. With a ``Host`` block and a known_hosts line per host,
the logins of a run then cost this machine O(hosts²): measured with
asyncssh's own parser and matcher, reading both took a login 3.6 ms for
32 hosts (a 415-line config) and 104 ms for 1,000; remembered as below,
0.6 and 16 ms.

What does not depend on the host is remembered here: the words of each
config line (``shlex.split``, 85% of asyncssh's parsing; the matching
itself still runs for every connection, as it must), and each known_hosts
file as loaded, until its contents change. asyncssh offers no way to hand it
either (its ``connect`` takes file names), so :func:`remember` puts the
remembering functions in place of the two names its modules call; a later
asyncssh that no longer has them is left as it is.
"""

from __future__ import annotations

import functools
import os
import shlex
import types
from collections.abc import Callable, Sequence
from typing import Any

#: distinct config lines whose words are kept (a 1,000-host config has
#: about 13,000 lines, mostly repeated ones)
LINES_KEPT = 65536


@functools.lru_cache(maxsize=LINES_KEPT)
def _words(line: str) -> tuple[str, ...]:
    return tuple(shlex.split(line))


def split_line(line: str) -> list[str]:
    """``shlex.split(line)``, each distinct line split once (a new list
    each time: the caller may change it)."""
    return list(_words(line))


def _contents(paths: Sequence[str]) -> tuple[bytes, ...] | None:
    """The files' bytes now (reading them is cheap; decoding their keys is
    what costs); None if one cannot be read."""
    found = []
    for path in paths:
        try:
            with open(os.path.expanduser(path), "rb") as file:
                found.append(file.read())
        except OSError:
            return None
    return tuple(found)


#: asyncssh's ``read_known_hosts``: file name(s) in, an ``SSHKnownHosts`` out
KnownHostsReader = Callable[[str | Sequence[str]], Any]


def remembering_reader(read: KnownHostsReader) -> KnownHostsReader:
    """``read`` (asyncssh's ``read_known_hosts``) remembering what it read
    for each list of files, until one of them changes (by content: a key
    replaced by one of the same length within the file clock's tick is a
    change too)."""
    kept: dict[tuple[str, ...], tuple[tuple[bytes, ...], Any]] = {}

    @functools.wraps(read)
    def read_once(filelist: str | Sequence[str]) -> Any:
        paths = (filelist,) if isinstance(filelist, str) else tuple(filelist)
        now = _contents(paths)
        if now is None:  # a file missing or unreadable: asyncssh says what
            return read(filelist)
        seen = kept.get(paths)
        if seen is not None and seen[0] == now:
            return seen[1]
        loaded = read(filelist)
        kept[paths] = (now, loaded)
        return loaded

    return read_once


def remember() -> None:
    """Have asyncssh split each config line once and load each known_hosts
    file once per change (see the module's docstring). Idempotent."""
    from asyncssh import config, known_hosts

    if getattr(config, "shlex", None) is shlex and hasattr(shlex, "split"):
        config.shlex = types.SimpleNamespace(split=split_line)  # type: ignore[attr-defined,assignment]
    reader = getattr(known_hosts, "read_known_hosts", None)
    if reader is not None and not hasattr(reader, "__wrapped__"):
        known_hosts.read_known_hosts = remembering_reader(reader)  # type: ignore[assignment]
