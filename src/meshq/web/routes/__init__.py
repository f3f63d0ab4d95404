"""The REST routes, one router per resource; each calls the service layer."""

from __future__ import annotations

from fastapi import APIRouter

from meshq.web.routes import hosts, jobs, queues, runs

#: every router of the REST API (each requires the token)
ROUTERS: list[APIRouter] = [queues.router, jobs.router, hosts.router, runs.router]
