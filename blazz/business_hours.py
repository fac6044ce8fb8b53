"""Business hours of a workspace: a weekly schedule and holidays in the workspace's timezone, an away message for
customers who write while the business is closed, and an optional greeting for new conversations.

Each of the two messages goes to a contact at most once per its own period (the automation engine keeps the record,
see `blazz.automation`). A conversation is new when it has been quiet for the greeting's period (WhatsApp Business
uses the same idea: "first message, or after 14 days without activity").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import re
import time
import zoneinfo
from dataclasses import dataclass, field, replace
from typing import Any

from blazz import audit, i18n, templates, workspace_settings
from blazz.errors import Invalid
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.store import business_hours as store
from blazz.workspaces import Workspace

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = Python's weekday()
MAX_INTERVALS = 3  # per day: morning, afternoon and evening opening hours are enough for a shop
MAX_HOLIDAYS = 200
MAX_TEXT = 4096  # WhatsApp's longest text message
MAX_PERIOD_S = 90 * 86400
# Away: once a night is enough for a customer to know we read them tomorrow. Greeting: WhatsApp Business's 14 days.
DEFAULT_AWAY_PERIOD_S = 12 * 3600
DEFAULT_GREETING_PERIOD_S = 14 * 86400
DEFAULT_AWAY_TEXT = N_("Hi {{first_name|there}}, thanks for your message! We are closed right now and will reply as "
                       "soon as we open.")
DEFAULT_GREETING_TEXT = N_("Hi {{first_name|there}}, welcome! How can we help you today?")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


@dataclass(frozen=True, slots=True)
class Interval:
    start: int  # minutes after midnight
    end: int  # minutes after midnight, after start; 1440 = midnight at the end of the day

    def as_dict(self) -> dict[str, str]:
        return {"from": _hhmm(self.start), "to": _hhmm(self.end)}


@dataclass(frozen=True, slots=True)
class Holiday:
    date: str  # YYYY-MM-DD, local to the workspace
    name: str


@dataclass(frozen=True, slots=True)
class AutoMessage:
    active: bool
    text: str
    period_s: int  # at most one per contact in this period

    def as_dict(self) -> dict[str, Any]:
        return {"active": self.active, "text": self.text, "period_s": self.period_s}


def _office_week() -> dict[str, tuple[Interval, ...]]:
    return {day: ((Interval(9 * 60, 17 * 60),) if day not in ("sat", "sun") else ()) for day in DAYS}


@dataclass(frozen=True, slots=True)
class BusinessHours:
    week: dict[str, tuple[Interval, ...]] = field(default_factory=_office_week)
    holidays: tuple[Holiday, ...] = ()
    # Until the owner saves them, the messages are suggestions in the language of whoever opens the page.
    away: AutoMessage = field(default_factory=lambda: AutoMessage(False, _(DEFAULT_AWAY_TEXT), DEFAULT_AWAY_PERIOD_S))
    greeting: AutoMessage = field(default_factory=lambda: AutoMessage(False, _(DEFAULT_GREETING_TEXT),
                                                                      DEFAULT_GREETING_PERIOD_S))

    def intervals_on(self, day: dt.date) -> tuple[Interval, ...]:
        if any(h.date == day.isoformat() for h in self.holidays):
            return ()
        return self.week[DAYS[day.weekday()]]

    def is_open(self, at: dt.datetime) -> bool:
        """Whether `at` (aware, in the workspace's timezone) falls inside the opening hours."""
        minute = at.hour * 60 + at.minute
        return any(i.start <= minute < i.end for i in self.intervals_on(at.date()))

    def next_change(self, at: dt.datetime) -> dt.datetime | None:
        """When the business next opens (if closed now) or closes (if open), within two weeks; None if never."""
        open_now = self.is_open(at)
        tz = at.tzinfo
        for offset in range(15):
            day = at.date() + dt.timedelta(days=offset)
            for i in self.intervals_on(day):
                edge = i.end if open_now else i.start
                when = _local(day, edge, tz)
                # An interval ending at 24:00 followed by one at 00:00 is no change: look further.
                if when > at and self.is_open(when) != open_now:
                    return when
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": {day: [i.as_dict() for i in self.week[day]] for day in DAYS},
            "holidays": [{"date": h.date, "name": h.name} for h in self.holidays],
            "away": self.away.as_dict(),
            "greeting": self.greeting.as_dict(),
        }


def _local(day: dt.date, minute: int, tz: dt.tzinfo | None) -> dt.datetime:
    if minute >= 24 * 60:
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz)
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tz)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def day_names() -> list[str]:
    """The weekdays' names in the current language, Monday first (the order of DAYS)."""
    from babel.dates import get_day_names

    names = get_day_names("wide", locale=i18n.current())
    return [names[i] for i in range(7)]


def day_name(day: str) -> str:
    return day_names()[DAYS.index(day)]


# -- checks -------------------------------------------------------------------------------------------------------


def _minutes(value: Any, where: str) -> int:
    text = str(value or "").strip()
    if not isinstance(value, str) or not _TIME.match(text):
        raise Invalid(where, "Use a 24-hour time such as 09:00 or 17:30 (24:00 for midnight).")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def check_week(value: Any) -> dict[str, tuple[Interval, ...]]:
    if not isinstance(value, dict):
        raise Invalid("week", "Give the opening hours per day: {\"mon\": [{\"from\": \"09:00\", \"to\": \"17:00\"}]}.")
    unknown = [k for k in value if k not in DAYS]
    if unknown:
        raise Invalid(f"week.{unknown[0]}", "Days are %(days)s.", days=", ".join(DAYS))
    week: dict[str, tuple[Interval, ...]] = {}
    for day in DAYS:
        items = value.get(day) or []
        where = f"week.{day}"
        if not isinstance(items, list):
            raise Invalid(where, "Give a list of opening hours (an empty list: closed all day).")
        if len(items) > MAX_INTERVALS:
            raise Invalid(where, "Use at most %(max)s opening hours per day.", max=MAX_INTERVALS)
        intervals = []
        for item in items:
            if not isinstance(item, dict) or set(item) - {"from", "to"}:
                raise Invalid(where, "Each opening is {\"from\": \"09:00\", \"to\": \"17:00\"}.")
            start, end = _minutes(item.get("from"), where), _minutes(item.get("to"), where)
            if start >= 24 * 60 or end <= start:
                raise Invalid(where, "%(day)s: the closing time must come after the opening time (for hours past "
                                     "midnight, end at 24:00 and go on the next day).", day=day_name(day))
            intervals.append(Interval(start, end))
        intervals.sort(key=lambda i: i.start)
        if any(a.end > b.start for a, b in itertools.pairwise(intervals)):
            raise Invalid(where, "%(day)s: the opening hours overlap.", day=day_name(day))
        week[day] = tuple(intervals)
    return week


def check_holidays(value: Any) -> tuple[Holiday, ...]:
    if not isinstance(value, list):
        raise Invalid("holidays", "Give a list of holidays: [{\"date\": \"2026-12-25\", \"name\": \"Christmas\"}].")
    if len(value) > MAX_HOLIDAYS:
        raise Invalid("holidays", "Keep at most %(max)s holidays; remove past ones first.", max=MAX_HOLIDAYS)
    found: dict[str, Holiday] = {}
    for item in value:
        if not isinstance(item, dict) or set(item) - {"date", "name"}:
            raise Invalid("holidays", "Each holiday is {\"date\": \"YYYY-MM-DD\", \"name\": \"...\"}.")
        day = check_date(item.get("date"))
        name = " ".join(str(item.get("name") or "").split())
        if len(name) > 80:
            raise Invalid("holidays", "Keep holiday names under 80 characters.")
        found[day] = Holiday(day, name)
    return tuple(sorted(found.values(), key=lambda h: h.date))


def check_date(value: Any) -> str:
    try:
        return dt.date.fromisoformat(str(value or "").strip()).isoformat()
    except ValueError:
        raise Invalid("holidays", "Use dates such as 2026-12-25.") from None


def check_message(name: str, value: Any, current: AutoMessage) -> AutoMessage:
    if not isinstance(value, dict):
        raise Invalid(name, "Give {\"active\": true, \"text\": \"...\", \"period_s\": 43200}.")
    unknown = set(value) - {"active", "text", "period_s"}
    if unknown:
        raise Invalid(f"{name}.{sorted(unknown)[0]}", "There is no such setting.")
    active, text, period = current.active, current.text, current.period_s
    if "active" in value:
        if not isinstance(value["active"], bool):
            raise Invalid(f"{name}.active", "Use true or false.")
        active = value["active"]
    if "text" in value:
        if not isinstance(value["text"], str):
            raise Invalid(f"{name}.text", "Write the message as text.")
        text = value["text"].replace("\r\n", "\n").strip()
        if len(text) > MAX_TEXT:
            raise Invalid(f"{name}.text", "WhatsApp messages can be at most %(max)s characters.", max=MAX_TEXT)
    if "period_s" in value:
        period = value["period_s"]
        if isinstance(period, bool) or not isinstance(period, int) or not 60 <= period <= MAX_PERIOD_S:
            raise Invalid(f"{name}.period_s", "Choose between one minute (60) and 90 days (7776000) in seconds.")
    if active and not text:
        raise Invalid(f"{name}.text", "Write the message before turning it on.")
    return AutoMessage(active, text, period)


# -- loading and saving -------------------------------------------------------------------------------------------


def from_dict(raw: dict[str, Any] | None) -> BusinessHours:
    """The stored document as BusinessHours; parts that no longer pass the checks keep their defaults."""
    hours = BusinessHours()
    if not raw:
        return hours
    for key, check in (("week", check_week), ("holidays", check_holidays)):
        with contextlib.suppress(Invalid):
            hours = replace(hours, **{key: check(raw.get(key))})
    for key in ("away", "greeting"):
        with contextlib.suppress(Invalid):
            hours = replace(hours, **{key: check_message(key, raw.get(key), getattr(hours, key))})
    return hours


async def load(ws: Workspace) -> BusinessHours:
    return from_dict(await store.get(ws.db))


async def update(ws: Workspace, actor: audit.Actor, **changes: Any) -> BusinessHours:
    """Validate and store some of week, holidays, away, greeting; unknown names raise `Invalid`."""
    hours = await load(ws)
    for key, value in changes.items():
        if key == "week":
            hours = replace(hours, week=check_week(value))
        elif key == "holidays":
            hours = replace(hours, holidays=check_holidays(value))
        elif key in ("away", "greeting"):
            hours = replace(hours, **{key: check_message(key, value, getattr(hours, key))})
            await templates.check_known(ws, [getattr(hours, key).text], field=f"{key}.text")
        else:
            raise Invalid(key, "There is no business hours setting named %(name)s.", name=key)
    now = int(time.time())
    await ws.db.execute_write_fn(lambda conn: store.put(conn, hours.as_dict(), now))
    await audit.record(ws, actor, "business_hours.updated", "business hours", changed=sorted(changes))
    return hours


async def timezone_of(ws: Workspace) -> zoneinfo.ZoneInfo:
    name = (await workspace_settings.load(ws.db)).timezone
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Status:
    open: bool
    now: dt.datetime  # in the workspace's timezone
    next_change: dt.datetime | None


async def status(ws: Workspace, hours: BusinessHours | None = None, at: float | None = None) -> Status:
    """Open or closed now, and until when, in the workspace's timezone."""
    hours = hours or await load(ws)
    now = dt.datetime.fromtimestamp(time.time() if at is None else at, await timezone_of(ws))
    return Status(hours.is_open(now), now, hours.next_change(now))


def due(hours: BusinessHours, now_local: dt.datetime, previous_at: int | None, now: float) -> str | None:
    """Which message a customer's message calls for: "away" while closed (when on), else "greeting" when the
    conversation is new (when on), else None. The caller still checks that the contact is not within its period."""
    if hours.away.active and not hours.is_open(now_local):
        return "away"
    if hours.greeting.active and (previous_at is None or now - previous_at >= hours.greeting.period_s):
        return "greeting"
    return None
