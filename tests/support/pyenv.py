"""A Python environment for jobs that run Python calls (an Executor's):
an activate script that puts this machine's cloudpickle on ``PYTHONPATH``,
for hosts whose user has none installed (the test hosts' user, a Slurm job)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cloudpickle

from tests.support.ci import unavailable


def system_python() -> str:
    """A python3 of this machine's version that every user may run (the
    one the tests run with may live under root's home)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        done = (
            subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
            )
            if Path(candidate).exists()
            else None
        )
        if done is not None and done.stdout.strip() == str(sys.version_info[:2]):
            return candidate
    unavailable("no python3 of this version that every user may run")


def make_pyenv(folder: Path, *, python_version: str | None = None) -> str:
    """An activate script in ``folder`` (readable by every user) that puts
    this machine's cloudpickle on PYTHONPATH; with ``python_version``, also a
    fake ``python3`` first on PATH that says it is that version."""
    site = folder / "site"
    shutil.copytree(Path(cloudpickle.__file__).parent, site / "cloudpickle")
    lines = [f'export PYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}"']
    if python_version is not None:
        bin_dir = folder / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "python3"
        fake.write_text(
            "#!/bin/sh\n"
            f"exec {system_python()} -c 'import sys, runpy; "
            f'sys.version_info = ({python_version.replace(".", ", ")}, 0, "final", 0); '
            f'sys.version = "{python_version}.0 (a fake)"; '
            'sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")\' "$@"\n'
        )
        fake.chmod(0o755)
        lines.append(f'export PATH="{bin_dir}:$PATH"')
    activate = folder / "activate"
    activate.write_text("\n".join(lines) + "\n")
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o777 if path.is_dir() or path.name == "python3" else 0o644)
    return str(activate)
