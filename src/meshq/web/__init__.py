"""meshq's REST service and dashboard, served by ``meshq serve``.

:func:`meshq.web.app.create_app` builds the FastAPI application: the REST
routes under ``/queues``, ``/hosts`` and ``/runs`` (each calls
:class:`meshq.service.Service`; none re-implements an operation), an
unauthenticated ``/health``, the OpenAPI pages at ``/docs`` and ``/redoc``,
and the dashboard (:mod:`meshq.web.dashboard`) when it is installed.
"""
