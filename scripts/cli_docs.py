"""Write docs/cli.md from the CLI's own help texts, so they are never
written twice. ``python scripts/cli_docs.py --check`` fails when the file
is out of date (the test suite runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from meshq.cli.main import cli

TARGET = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(click.Context(command))):
            sub = command.get_command(click.Context(command), name)
            if sub is not None:
                out += walk(sub, [*path, name])
    return out


def render() -> str:
    parts = ["# meshq command reference\n",
             "Generated from the commands' own `--help` by `scripts/cli_docs.py`; "
             "do not edit by hand.\n"]
    for path, command in walk(cli, ["meshq"]):
        name = " ".join(path)
        with click.Context(command, info_name=name, terminal_width=100) as ctx:
            text = command.get_help(ctx)
        parts.append(f"## `{name}`\n\n```\n{text}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/cli.md is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
