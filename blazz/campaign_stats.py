"""Numbers about campaigns for people: when a campaign will finish at its number's pace, its sends over time as a
small bar chart (drawn server-side as SVG by the page; no chart library), its progress and rates, its recipients as
CSV, and the sentences Blazz stored about them (in English) in the reader's language."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from blazz import campaign_feed, cloud_templates, i18n, pacing
from blazz.errors import NotFound
from blazz.i18n import N_, gettext, ngettext
from blazz.pacing import PacingSettings
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as store
from blazz.store.campaigns import Campaign, Counts
from blazz.store.database import Database
from blazz.workspaces import Workspace

UNPACED_RATE = 500.0  # msg/s assumed for a number without pacing: well below what the sandbox or Cloud API take
MAX_DAYS = 400  # an estimate further out than this is shown as "more than a year"


def _local_midnight_after(t: float, tz: dt.tzinfo) -> float:
    day = dt.datetime.fromtimestamp(t, tz).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tz).timestamp()


def _window_closes(s: PacingSettings, t: float, tz: dt.tzinfo) -> float | None:
    """When the send window that `t` lies in closes (None: no window)."""
    if s.window_start is None or s.window_end is None:
        return None
    start, end = dt.time.fromisoformat(s.window_start), dt.time.fromisoformat(s.window_end)
    local = dt.datetime.fromtimestamp(t, tz)
    for offset in (-1, 0):
        day = local.date() + dt.timedelta(days=offset)
        opens = dt.datetime.combine(day, start, tz)
        closes = dt.datetime.combine(day + dt.timedelta(days=1) if end <= start else day, end, tz)
        if opens <= local < closes:
            return closes.timestamp()
    return None


def seconds_per_message(s: PacingSettings, text_length: int = 120) -> float:
    """The average time one campaign message takes at this pace: its gap, typing, and its share of long pauses."""
    if not s.enabled:
        return 1 / UNPACED_RATE
    per = (s.gap_min_s + s.gap_max_s) / 2 + pacing.typing_seconds(s, "x" * text_length)
    if s.pause_every:
        per += (s.pause_min_s + s.pause_max_s) / 2 / s.pause_every
    return max(per, 1 / UNPACED_RATE)


def estimate_finish(s: PacingSettings, remaining: int, start: float, tz: dt.tzinfo, *, linked_at: float | None = None,
                    sent_today: int = 0, text_length: int = 120) -> float | None:
    """When `remaining` messages will have gone out, starting at `start`, following the send window, the daily cap
    and the warm-up of a newly linked number. None: more than MAX_DAYS away."""
    if remaining <= 0:
        return start
    per = seconds_per_message(s, text_length)
    if not s.enabled:
        return start + remaining * per
    t, left, today = start, remaining, sent_today
    for _ in range(MAX_DAYS * 4):
        opens = pacing.window_opens(s, t, tz)
        if opens is not None:
            if pacing.local_day(opens, tz) != pacing.local_day(t, tz):
                today = 0
            t = opens
        # The cap is the same until midnight, or until the next step of a warming-up number's curve.
        boundary = _local_midnight_after(t, tz)
        if s.warmup and linked_at:
            boundary = min(boundary, linked_at + (math.floor((t - linked_at) / 86400) + 1) * 86400)
        stop = min(_window_closes(s, t, tz) or boundary, boundary)
        cap = pacing.cap_today(s, linked_at, t)
        room = left if cap is None else max(cap - today, 0)
        fits = math.ceil((stop - t) / per) if stop > t else 0
        sending = min(left, room, fits)
        if sending >= left:
            return t + (left - 1) * per
        left -= sending
        today += sending
        day = pacing.local_day(t, tz)
        t = stop if sending == fits else boundary
        if pacing.local_day(t, tz) != day:
            today = 0
        if t - start > MAX_DAYS * 86400:
            return None
    return None


# -- sends over time --------------------------------------------------------------------------------------------


BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BARS = 48


@dataclass(frozen=True, slots=True)
class Bar:
    at: int  # bucket start (UTC epoch)
    count: int


@dataclass(frozen=True, slots=True)
class Chart:
    bucket_s: int
    bars: list[Bar]  # every bucket from the first send to the last, empty ones included
    peak: int

    @property
    def bucket_label(self) -> str:
        """The bucket as it follows "per" ("minute", "5 minutes"), in the reader's language."""
        s = self.bucket_s
        for size, one, many in _UNITS:
            if s >= size and s % size == 0:
                n = s // size
                return gettext(one) if n == 1 else ngettext(*many, n)
        return ngettext(*_UNITS[-1][2], s)


_UNITS = ((86400, N_("day"), ("%(num)s day", "%(num)s days")), (3600, N_("hour"), ("%(num)s hour", "%(num)s hours")),
          (60, N_("minute"), ("%(num)s minute", "%(num)s minutes")),
          (1, N_("second"), ("%(num)s second", "%(num)s seconds")))


async def sends_chart(db: Database, campaign_id: int) -> Chart | None:
    """Messages sent per time bucket (the bucket sized so there are at most MAX_BARS); None before the first."""
    first, last = await store.sent_span(db, campaign_id)
    if first is None or last is None:
        return None
    span = max(last - first, 1)
    bucket = next((b for b in BUCKETS if span / b <= MAX_BARS), BUCKETS[-1])
    counts = dict(await store.sends_over_time(db, campaign_id, bucket))
    start = (first // bucket) * bucket
    bars = [Bar(at, counts.get(at, 0)) for at in range(start, last + 1, bucket)]
    return Chart(bucket, bars, max((b.count for b in bars), default=0))


# -- progress and recipients ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    campaign: Campaign
    counts: Counts
    account_name: str | None
    account_state: str | None
    lane_reason: str  # why the number's campaign lane holds messages now ("" when it does not), in English
    lane_paused: bool = False  # held by a pause of the number's campaigns (which the owner may lift)

    @property
    def percent(self) -> float:
        total = self.counts.total or self.campaign.total
        return 100.0 * self.counts.done / total if total else 0.0

    def rate(self, of: str) -> float | None:
        """Delivered, read or replied, as a share of the messages that went out."""
        sent = self.counts.sent
        if not sent:
            return None
        value = {"delivered": self.counts.delivered, "read": self.counts["read"], "replied": self.counts.replied}[of]
        return 100.0 * value / sent


async def progress(ws: Workspace, campaign_id: int) -> Progress:
    c = await store.get(ws.db, campaign_id)
    if c is None:
        raise NotFound("No such campaign.")
    counts = await store.counts(ws.db, campaign_id)
    account = await accounts_store.get(ws.db, c.account_id) if c.account_id is not None else None
    state = ws.sessions.state((ws.id, account.id)).state if account is not None and ws.sessions is not None else None
    lane, paused = "", False
    if account is not None and c.status == "running":
        status = await pacing.status(ws, account.id, c)  # its own pacing, if it has one
        lane = "" if status.verdict.go else status.verdict.reason
        paused = not status.verdict.go and status.state.paused_reason is not None
    return Progress(c, counts, account.name if account else None, state, lane, paused)


async def recipients_csv(ws: Workspace, campaign_id: int, status: str | None = None) -> AsyncIterator[str]:
    """The recipients as CSV lines (header first), for a download; times in UTC ISO 8601. The column names and the
    status codes stay the same in every language (a spreadsheet or a script can rely on them); the reason reads as
    the recipients table says it, in the language of whoever downloads it (English for an API client that asks for
    no other)."""
    if await store.get(ws.db, campaign_id) is None:
        raise NotFound("No such campaign.")

    def line(values: list[Any]) -> str:
        buf = io.StringIO()
        csv.writer(buf).writerow(values)
        return buf.getvalue()

    def iso(ts: int | None) -> str:
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""

    yield line(["name", "phone", "status", "reason", "sent_at", "delivered_at", "read_at", "replied_at"])
    after = 0
    while True:
        rows = await store.recipients(ws.db, campaign_id, status=status, after_id=after, limit=1000)
        if not rows:
            return
        for r in rows:
            yield line([r.name, r.phone or "", r.status, in_words(r.reason), iso(r.sent_at),
                        iso(r.delivered_at), iso(r.read_at), iso(r.replied_at)])
        after = rows[-1].id


# -- what Blazz stored, in the reader's language ------------------------------------------------------------------

# Sentences with values that Blazz stores in English about recipients, campaigns and their number's pause, written by
# other parts of Blazz too (the delivery worker, Meta templates); known here so they read in the reader's language.
OTHER_SENTENCES = (
    N_("%(reason)s (gave up after %(count)s attempts)"),
    N_("Say what goes in %(param)s of the header of %(name)s."),
    N_("Say what goes in %(param)s of the body of %(name)s."),
    N_("%(param)s of %(name)s would be empty for this contact; add a fallback such as {{first_name|Kak}}."),
)
_NUMBERS = {"count", "cap", "failures", "sample", "hours", "minutes"}  # localised as numbers ("1,5" in Indonesian)
_ENGLISH_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_TIME = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d\d):(\d\d)$")


@cache
def _sentences() -> tuple[str, ...]:
    return i18n.most_specific_first((*campaign_feed.SENTENCES, *pacing.SENTENCES, *OTHER_SENTENCES))


def in_words(stored: str | None) -> str:
    """A sentence Blazz stored in English (why a recipient was skipped or failed, what a campaign waits for, why its
    number's campaigns are paused) in the reader's language, with its values; Meta's template errors explained;
    anything else (WhatsApp's own words) as stored."""
    return _in_words(stored, i18n.current()) if stored else ""


@lru_cache(maxsize=2048)  # an export reads the same few reasons for thousands of recipients
def _in_words(stored: str, locale: str) -> str:  # `locale` is part of the key: the work below reads i18n.current()
    found = i18n.recognise(stored, _sentences())
    if found:
        msgid, values = found
        return gettext(msgid, **{k: _value(k, v) for k, v in values.items()})
    explained = cloud_templates.explain(stored)
    if explained != stored:
        return explained or ""
    return gettext(stored)


def _value(name: str, text: str) -> Any:
    if name == "reason":
        return in_words(text)
    if name in _NUMBERS:
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if name == "when":  # "Thu 09:00" (the next opening of the send window)
        found = _WEEKDAY_TIME.match(text)
        if found:
            from babel.dates import get_day_names

            day = get_day_names("abbreviated", locale=i18n.current())[_ENGLISH_DAYS.index(found[1])]
            return f"{day} {i18n.time_of_day(dt.datetime(2000, 1, 1, int(found[2]), int(found[3])))}"
    return text
