"""The REST routes, one router per resource; each calls the service layer."""

from __future__ import annotations

from fastapi import APIRouter

#: every router of the REST API (each requires the token)
ROUTERS: list[APIRouter] = []
