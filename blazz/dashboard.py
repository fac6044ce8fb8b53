"""The workspace dashboard: what happened over a date range, ready to draw (the charts are server-side SVG)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from blazz import workspace_settings
from blazz.i18n import ngettext
from blazz.store import dashboard as store
from blazz.workspaces import Workspace

RANGES = (7, 30, 90)  # days the picker offers; 30 when nothing is chosen
DEFAULT_DAYS = 30
MAX_DAYS = 366
QUANTILES = (0.5, 0.9)  # median and p90 of the reply and resolution times


@dataclass(frozen=True, slots=True)
class Timing:
    count: int
    median_s: int | None
    p90_s: int | None


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    incoming: int
    outgoing: int
    opened: int
    resolved: int


@dataclass(slots=True)
class Dashboard:
    start: date
    end: date  # inclusive
    days: list[Day]
    first_response: Timing  # customers' waits for the team's first reply, per wait started in the range
    resolution: Timing  # resolved_at - created_at of the conversations resolved in the range
    agents: list[store.AgentActivity]
    accounts: list[store.AccountHealth]
    campaigns: list[store.CampaignRates]
    totals: dict[str, int] = field(default_factory=dict)


def percentile(values: list[int], q: float) -> int | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def date_range(tz: ZoneInfo, days: int | None = None, start: str | None = None,
               end: str | None = None) -> tuple[date, date]:
    """The inclusive days to show: an explicit start/end (ISO dates) or the last `days` days ending today."""
    today = datetime.now(tz).date()
    try:
        last = min(date.fromisoformat(end), today) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=(days or DEFAULT_DAYS) - 1)
    except ValueError:
        last, first = today, today - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return first, last


def bounds(tz: ZoneInfo, first: date, last: date, now: int | None = None) -> tuple[int, int, int]:
    """(start, end, UTC offset) in epoch seconds for days `first`..`last`: from the first local midnight to the one
    after the last day, or to just after `now`. One offset for the whole range: day buckets shift by an hour across a
    DST change, which charts can bear."""
    now = int(time.time()) if now is None else now
    start = int(datetime.combine(first, datetime.min.time(), tz).timestamp())
    end = min(int(datetime.combine(last + timedelta(days=1), datetime.min.time(), tz).timestamp()), now + 1)
    return start, end, int(datetime.now(tz).utcoffset().total_seconds())


async def build(ws: Workspace, first: date, last: date) -> Dashboard:
    """Every number on the dashboard for days `first`..`last` (inclusive) in the workspace's timezone."""
    tz = ZoneInfo((await workspace_settings.load(ws.db)).timezone)
    now = int(time.time())
    start, end, offset = bounds(tz, first, last, now)
    per_day = {c.day: c for c in await store.days(ws.db, start, end, offset)}
    days = []
    d = first
    while d <= last:
        c = per_day.get((d - date(1970, 1, 1)).days)
        days.append(Day(d, c.incoming, c.outgoing, c.opened, c.resolved) if c else Day(d, 0, 0, 0, 0))
        d += timedelta(days=1)
    board = Dashboard(
        first, last, days,
        first_response=_timing(await store.reply_times(ws.db, start, end, QUANTILES)),
        resolution=_timing(await store.resolution_times(ws.db, start, end, QUANTILES)),
        agents=await store.agent_activity(ws.db, start, end, now),
        accounts=await store.account_health(ws.db, start, end),
        campaigns=await store.campaign_rates(ws.db, start, end),
    )
    board.totals = {"incoming": sum(x.incoming for x in days), "outgoing": sum(x.outgoing for x in days),
                    "opened": sum(x.opened for x in days), "resolved": sum(x.resolved for x in days)}
    return board


def _timing(found: store.Percentiles) -> Timing:
    return Timing(found.count, *found.values)


def duration(seconds: int | None) -> str:
    """'—', '45 seconds', '12 minutes', '3.5 hours', '2.1 days' in the reader's language: how long, at a glance
    (hours and days keep one decimal, which Babel's rounded "2 hours" would lose)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return ngettext("%(num)s second", "%(num)s seconds", seconds)
    if seconds < 3600:
        return ngettext("%(num)s minute", "%(num)s minutes", seconds // 60)
    if seconds < 86400:
        hours = round(seconds / 3600, 1)
        return ngettext("%(num)s hour", "%(num)s hours", _form(hours), num=hours)
    days = round(seconds / 86400, 1)
    return ngettext("%(num)s day", "%(num)s days", _form(days), num=days)


def _form(value: float) -> int:
    """The count gettext picks a plural form by: it takes integers only, and a fraction reads as plural in English
    ("1.5 hours"), as 2 does. The value shown is passed on its own."""
    return int(value) if value.is_integer() else 2
