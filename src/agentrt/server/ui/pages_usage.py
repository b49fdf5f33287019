"""The overview (live rates, today's and this month's cost, config version) and the usage pages.

The live parts read the sampler (in-process metrics); costs read the ledger
through the daily rollup. A narrowed viewer (a tenant's key) gets its own
costs on the overview, but not the live rates: those are the whole process's.
"""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web

from agentrt.server.errors import HttpError
from agentrt.server.sse import EventStream, format_event, relay
from agentrt.server.ui.context import UiContext
from agentrt.server.ui.render import render
from agentrt.server.ui.usage_params import BY, PERIODS, UsageQuery, bucket_label, report, top_keys, usage_query
from agentrt.server.ui.viewer import Viewer
from agentrt.store.usage_report import day_start, days_ago, month_start, usage_points

if TYPE_CHECKING:
    from agentrt.store.usage_report import Granularity
    from agentrt.store.usage_rollup import Dimension

__all__ = ["live_events", "live_json", "overview", "usage_csv", "usage_json", "usage_page"]

TABLE_ROWS = 50
"""The usage page lists the 50 costliest groups, then one row for the rest."""
CHART_GROUPS = 6
"""The usage page charts the 6 costliest groups and the rest as "other"."""


def _store(ui: UiContext) -> Any:
    store = ui.store()
    if store is None or not ui.store_ready:
        raise HttpError(503, "the dashboard's store is not ready yet: try again in a moment", code="ui_not_ready")
    return store


async def _cost(ui: UiContext, viewer: Viewer, since: float, until: float) -> dict[str, Any]:
    where = viewer.usage_filter()
    points = await usage_points(_store(ui), since=since, until=until, granularity="day", where=where)
    return {
        "calls": sum(p.calls for p in points),
        "cost": sum(p.cost for p in points),
        "unpriced": sum(p.unpriced for p in points),
    }


async def overview(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    now = time.time()
    tomorrow = days_ago(now, -1)
    today = await _cost(ui, viewer, day_start(now), tomorrow)
    month = await _cost(ui, viewer, month_start(now), tomorrow)
    rt = ui.rt
    sampler = ui.sampler
    version = rt.config_version
    reloaded = sampler.versions.get(version) if sampler is not None and version > 1 else None
    live = sampler.window() if sampler is not None and not viewer.narrowed else None
    return render(
        "overview.html",
        viewer=viewer,
        page="overview",
        now=now,
        today=today,
        month=month,
        config_version=version,
        reloaded=reloaded,
        started=ui.started,
        live=live,
        metrics_enabled=sampler is not None,
        interval=sampler.interval if sampler is not None else None,
    )


def _live_body(ui: UiContext, viewer: Viewer) -> dict[str, Any]:
    sampler = ui.sampler
    if sampler is None:
        raise HttpError(404, "metrics are disabled: set observability.metrics.enabled to true", code="metrics_disabled")
    if viewer.narrowed:
        raise HttpError(
            403,
            "the live rates are the whole server's: this key sees its own tenant only",
            type="permission_error",
            code="other_tenant",
        )
    return {
        "object": "live",
        "interval": sampler.interval,
        "points": [p.as_dict() for p in sampler.points()],
        "window": sampler.window(),
    }


async def live_json(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return web.Response(body=orjson.dumps(_live_body(ui, viewer)), content_type="application/json")


async def live_events(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """``event: point`` with each new sample's rates, as the sampler takes it."""
    _live_body(ui, viewer)  # the same refusals as the JSON, before the stream opens
    sampler = ui.sampler
    assert sampler is not None
    stream = EventStream(request)

    async def write(point: Any) -> None:
        if point is not None:
            await stream.write(format_event(orjson.dumps(point.as_dict()), event="point"))

    await relay(stream, sampler.next_point, ui.server.stopping, write)
    return await stream.close()


async def _report(
    ui: UiContext, viewer: Viewer, request: web.Request, *, top: int | None = None
) -> tuple[UsageQuery, dict[str, Any]]:
    """The usage report of a request: every group's totals, and the points of the ``top`` costliest groups
    with the rest summed (every group's points when ``top`` is 0, or there are no more)."""
    q = usage_query(viewer, request.query, top=top)
    store = _store(ui)
    by = cast("Dimension | None", q.by or None)
    granularity = cast("Granularity", q.granularity)

    async def read(by: Dimension | None, step: Granularity, keys: list[str | None] | None = None) -> list[Any]:
        return await usage_points(
            store, since=q.since, until=q.until, by=by, granularity=step, where=q.where, keys=keys
        )

    groups = await read(by, "total")
    keys = top_keys(groups, q.top) if by is not None else None
    points = await read(by, granularity, keys)
    total = await read(None, granularity) if keys is not None else None
    return q, report(q, groups, points, total)


async def usage_json(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    _, body = await _report(ui, viewer, request)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def usage_csv(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    q, body = await _report(ui, viewer, request, top=0)  # a download has every group's points
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "bucket_start_utc",
            q.by or "group",
            "calls",
            "failures",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "unpriced_calls",
        ]
    )
    for p in body["points"]:
        writer.writerow(
            [
                bucket_label(p["bucket"], q.granularity),
                _csv_text(p["key"]),
                p["calls"],
                p["failures"],
                p["input_tokens"],
                p["output_tokens"],
                f"{p['cost']:.6f}",
                p["unpriced"],
            ]
        )
    name = f"usage-{q.period}-{q.granularity}{'-by-' + q.by if q.by else ''}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _csv_text(value: str | None) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: a user name must not run as one.
    text = "" if value is None else value
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def usage_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    q, body = await _report(ui, viewer, request, top=CHART_GROUPS)
    groups = body["groups"]
    table = [{**g, "label": "(none)" if g["key"] is None else g["key"]} for g in groups[:TABLE_ROWS]]
    rest = groups[TABLE_ROWS:]
    if rest:  # thousands of users make a page nobody reads: the rest is one row (the CSV has them all)
        sums = {
            name: sum(g[name] for g in rest) for name in ("cost", "calls", "failures", "input_tokens", "output_tokens")
        }
        table.append({**sums, "key": None, "label": f"the {len(rest)} other {BY[q.by].lower()}s (in the CSV)"})
    return render(
        "usage.html",
        viewer=viewer,
        page="usage",
        q=q,
        params=q.params,
        periods=PERIODS,
        groupings=BY,
        report=body,
        table=table,
        chart=_chart(body, q),
    )


def _chart(body: dict[str, Any], q: UsageQuery) -> dict[str, Any]:
    """uPlot's data for the page: cost and tokens per bucket of each group given points, and of the rest
    as 'other'."""
    index = {bucket: i for i, bucket in enumerate(body["buckets"])}
    cost: dict[str, list[float]] = {}
    tokens: dict[str, list[float]] = {}

    def add(label: str, p: dict[str, Any]) -> None:
        i = index.get(p["bucket"])
        if i is not None:
            cost.setdefault(label, [0.0] * len(index))[i] += p["cost"]
            tokens.setdefault(label, [0.0] * len(index))[i] += p["input_tokens"] + p["output_tokens"]

    for p in body["points"]:
        add("total" if not q.by else "(none)" if p["key"] is None else str(p["key"]), p)
    for p in body["other"] or ():
        add("other", p)
    empty = {"total": [0.0] * len(index)}
    return {"x": body["buckets"], "series": cost or empty, "tokens": tokens or empty, "granularity": q.granularity}
