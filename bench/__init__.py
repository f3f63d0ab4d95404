"""meshq's benchmark suite: ``./scripts/bench`` (or ``python -m bench.suite``).

See ``bench/README.md`` for what each measure means and how it is taken.
"""
