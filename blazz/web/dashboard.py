"""The dashboard page: a date range picker and server-drawn SVG charts of the workspace's activity."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_interval
from babel.numbers import get_group_symbol
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Template

from blazz import dashboard, i18n, workspace_settings, workspaces
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.web.context import CurrentWorkspace, page, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires

CHART_W, CHART_H = 720, 180  # viewBox units; the SVG scales to its card
# A bar pair's hover text: the day and both values in one sentence (placeholders named after the series).
MESSAGES_TIP = N_("%(day)s: %(incoming)s in, %(outgoing)s out")
CONVERSATIONS_TIP = N_("%(day)s: %(opened)s opened, %(resolved)s resolved")


def period(first: date, last: date) -> str:
    """The days shown, as the reader writes a range: "Mar 1 – 10, 2024" / "1–10 Mar 2024"."""
    return format_interval(first, last, "yMMMd", locale=i18n.current())


def bars(days: list[dashboard.Day], first: str, second: str, tip: str) -> dict:
    """Paired bars per day (two series), with y-axis ticks, in viewBox coordinates; labels and hover texts in the
    reader's language (call it in the request)."""
    locale = i18n.current()
    sentence = _(tip)  # translated once and filled per bar: a lookup per bar would cost more than drawing a year
    group = get_group_symbol(locale=locale)
    top = max([max(getattr(d, first), getattr(d, second)) for d in days] + [1])
    slot = CHART_W / max(len(days), 1)
    width = max(slot * 0.4, 0.5)
    out = []
    for i, d in enumerate(days):
        a, b = getattr(d, first), getattr(d, second)
        ha, hb = CHART_H * a / top, CHART_H * b / top
        x = i * slot + slot * 0.1
        text = sentence % {"day": _day(d.day, "EEE d MMM", locale), first: _count(a, group), second: _count(b, group)}
        out.append({"tip": text, "x1": round(x, 2), "x2": round(x + width, 2), "w": round(width, 2),
                    "y1": round(CHART_H - ha, 2), "h1": round(ha, 2), "y2": round(CHART_H - hb, 2),
                    "h2": round(hb, 2)})
    ticks = [{"y": round(CHART_H - CHART_H * f, 2), "label": _count(round(top * f), group)} for f in (0.5, 1.0)]
    step = max(1, len(days) // 6)
    labels = [{"x": round(i * slot + slot / 2, 2), "text": _day(d.day, "d MMM", locale)}
              for i, d in enumerate(days) if i % step == 0]
    return {"bars": out, "ticks": ticks, "labels": labels, "w": CHART_W, "h": CHART_H}


@lru_cache(maxsize=4096)
def _day(day: date, pattern: str, locale: str) -> str:
    """A chart's day label ("Fri 1 Mar" / "Jum 1 Mar"): the same days come back on every visit."""
    with i18n.using(locale):
        return i18n.date(day, pattern)


def _count(n: int, group: str) -> str:
    """A whole count with the reader's thousands separator (English and Indonesian both group by three), without a
    Babel call for each of a year's bars."""
    return f"{n:,}".replace(",", group)


class DashboardController(Controller):
    path = "/w/{slug:str}/dashboard"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    @get("/", **requires("agent"))
    async def show(self, request: Request, ws: CurrentWorkspace) -> Template:
        q = request.query_params
        tz = ZoneInfo((await workspace_settings.load(ws.db)).timezone)
        days = int(q["days"]) if q.get("days", "").isdigit() else None
        first, last = dashboard.date_range(tz, days, q.get("start") or None, q.get("end") or None)
        board = await dashboard.build(ws, first, last)
        names = {m.user_id: m.name or m.email for m in await workspaces.members(runtime_of(request).app_db, ws.id)}
        chosen = days if days in dashboard.RANGES and not q.get("start") else None
        if not days and not q.get("start") and not q.get("end"):
            chosen = dashboard.DEFAULT_DAYS
        return page(request, "dashboard/index.html", ws=ws, board=board, names=names, ranges=dashboard.RANGES,
                    chosen=chosen, duration=dashboard.duration, period=period(board.start, board.end),
                    messages_chart=bars(board.days, "incoming", "outgoing", MESSAGES_TIP),
                    conversations_chart=bars(board.days, "opened", "resolved", CONVERSATIONS_TIP))
