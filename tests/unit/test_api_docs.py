"""The Python API reference in docs/ is the docstrings', kept current, and
every public name has a docstring with an example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_api_md_matches_the_docstrings() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
