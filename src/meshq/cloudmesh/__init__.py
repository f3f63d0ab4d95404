"""The cloudmesh seed's vocabulary on top of meshq: its old job states
(:mod:`.states`), its YAML files (jobsets, job specs, ``<queue>-queue.yaml``,
``<cluster>-cluster.yaml``: :mod:`.files`, :mod:`.jobset`, :mod:`.queuefile`)
and the per-job values of ``job add`` (:mod:`.perjob`).

Nothing here talks to the store or a host: these modules turn the seed's
words and files into meshq's records and back, and the API
(:mod:`meshq.interop`, :mod:`meshq.jobsets`) stores them.
"""
