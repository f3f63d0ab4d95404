"""The ``meshq`` command line: a thin layer over :mod:`meshq.service`."""
