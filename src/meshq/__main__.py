"""``python -m meshq`` is the ``meshq`` command."""

import sys

from meshq.cli.main import main

sys.exit(main())
