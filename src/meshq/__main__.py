"""``python -m meshq`` is the ``meshq`` command."""

import sys

from meshq.cli.main import entry

sys.exit(entry())
