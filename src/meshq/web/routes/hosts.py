"""``/hosts``: add (name patterns), list (with the jobs running on each),
probe, enable/disable and delete hosts. Each route calls
:class:`meshq.service.Service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from meshq.errors import NotFound
from meshq.model import Host
from meshq.service import Service
from meshq.web.context import Context, context
from meshq.web.models import HostOut, HostsAdd, ProbeOut

router = APIRouter(prefix="/hosts", tags=["hosts"])
Ctx = Annotated[Context, Depends(context)]


def _with_usage(service: Service, hosts: list[Host]) -> list[HostOut]:
    running, gpus = service.host_usage()
    return [HostOut.of(h, running[h.name], sorted(gpus.get(h.name, ()))) for h in hosts]


def _one(service: Service, name: str) -> HostOut:
    return _with_usage(service, [service.store.host(name)])[0]


def _set_enabled(service: Service, name: str, enabled: bool) -> HostOut:
    service.set_host_enabled(name, enabled)
    return _one(service, name)


@router.get("", summary="The inventory, with the jobs and GPUs in use on each host")
async def list_hosts(ctx: Ctx) -> list[HostOut]:
    return await ctx.call(lambda s: _with_usage(s, s.hosts()))


@router.post("", status_code=201, summary="Add the hosts a name pattern expands to")
async def add_hosts(body: HostsAdd, ctx: Ctx) -> list[HostOut]:
    fields = body.model_dump(exclude={"name"}, exclude_none=True)
    return await ctx.call(lambda s: _with_usage(s, s.add_hosts(body.name, **fields)))


@router.get("/{host}", summary="One host")
async def show_host(host: str, ctx: Ctx) -> HostOut:
    return await ctx.call(lambda s: _one(s, host))


@router.post("/probe", summary="Try every host: start its agent, record whether it answered")
async def probe_hosts(ctx: Ctx) -> list[ProbeOut]:
    found = await ctx.call_async(lambda s: s.probe())
    return [ProbeOut(host=HostOut.of(h), error=err) for h, err in found]


@router.post("/{host}/probe", summary="Try one host")
async def probe_host(host: str, ctx: Ctx) -> ProbeOut:
    found = await ctx.call_async(lambda s: s.probe(host))
    if not found:
        raise NotFound(f"no host {host!r}", kind="host", name=host, host=host)
    return ProbeOut(host=HostOut.of(found[0][0]), error=found[0][1])


@router.post("/{host}/enable", summary="Let the scheduler use the host again")
async def enable_host(host: str, ctx: Ctx) -> HostOut:
    return await ctx.call(lambda s: _set_enabled(s, host, True))


@router.post("/{host}/disable", summary="Keep the scheduler from using the host")
async def disable_host(host: str, ctx: Ctx) -> HostOut:
    return await ctx.call(lambda s: _set_enabled(s, host, False))


@router.delete("/{host}", status_code=204, summary="Remove the host from the inventory")
async def delete_host(host: str, ctx: Ctx) -> Response:
    await ctx.call(lambda s: s.delete_host(host))
    return Response(status_code=204)
