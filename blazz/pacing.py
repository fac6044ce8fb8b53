"""Pacing of the campaign lane, per account: how fast a number may send bulk messages without risking a ban.

Agent replies, API sends and automations never wait here; only the campaign lane does. The defaults follow what
peer tools learnt (../shared/notes/whatsapp-lessons.md §4) and each number says where it comes from. The decision
functions are pure (settings, state, clock in; a verdict out) so they are easy to reason about and to test; the
state they work on is stored per account (`pacing_state`) and survives restarts.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import sqlite3
import time
import zoneinfo
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from blazz import outbox, workspace_settings
from blazz.errors import Invalid, NotFound
from blazz.i18n import N_, gettext
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as campaigns_store
from blazz.store import outbox as outbox_store
from blazz.store.accounts import Account
from blazz.store.campaigns import Campaign, GapState
from blazz.store.outbox import PacingState
from blazz.workspaces import Workspace

# Daily caps while a newly linked number warms up: (days since linking it applies below, messages per day).
# The curve of the Narutohach/whaticketsaasfreex fork (campaignWarmup.spec.ts): 40 on day 0, 80 on days 1–2,
# 150 on days 3–6, 300 on days 7–13, 600 on days 14–20, then the account's own cap.
WARMUP = ((1, 40), (3, 80), (7, 150), (14, 300), (21, 600))
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class PacingSettings:
    enabled: bool = True
    # Ticketz draws a random 0–20 s gap per recipient (messageInterval 20 s); we keep its 20 s ceiling and add an
    # 8 s floor so two sends never come back to back (issue #4 suggests 8–20 s).
    gap_min_s: float = 8.0
    gap_max_s: float = 20.0
    # A longer pause every N messages: Ticketz offers 5/10/15/20 (longerIntervalAfter); the lessons' practical
    # default is a 5–15 min pause every 10–20 messages. We take 20 messages and 5–15 min.
    pause_every: int = 20
    pause_min_s: float = 300.0
    pause_max_s: float = 900.0
    # 600/day: the last step of the warm-up curve above, which that fork then hands to the admin's cap.
    daily_cap: int | None = 600
    warmup: bool = True
    # Optional send window in the workspace's timezone (Whaticket SaaS forks default to 09:00–18:00); off unless set.
    window_start: str | None = None  # "HH:MM"
    window_end: str | None = None
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0
    # Typing presence before each send (Evolution's `delay` → composing; WAHA's startTyping recipe), proportional
    # to the text and capped, as a person would type a short message.
    typing: bool = True
    typing_max_s: float = 6.0
    # Circuit breaker of the Narutohach fork (campaignCircuitBreaker.spec.ts): trip after 5 failures in a row, or
    # above 50 % failures once 20 sends make a sample.
    breaker_failures: int = 5
    breaker_rate: float = 0.5
    breaker_sample: int = 20
    breaker_cooldown_s: float = 3600.0  # our choice: a tripped lane retries by itself after an hour
    # Hold campaigns while the owner chats on the phone itself; resume after this much quiet (our choice: the
    # lessons only say automation should not look robotic next to a human; 5 min covers a typical exchange).
    owner_quiet_s: float | None = 300.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["weekdays"] = list(self.weekdays)
        return data


# The Cloud API is the compliant path: Meta enforces its own tiers, so no gaps, caps or typing by default; only
# its documented 80 messages/s per number (notes/cloud-api.md §B.5) as the smallest gap.
CLOUD_API_DEFAULTS = PacingSettings(gap_min_s=1 / 80, gap_max_s=1 / 80, pause_every=0, daily_cap=None, warmup=False,
                                    typing=False, owner_quiet_s=None)


def defaults_for(engine: str) -> PacingSettings:
    return CLOUD_API_DEFAULTS if engine == "cloud_api" else PacingSettings()


def settings_of(account: Account) -> PacingSettings:
    """The account's pacing: its engine's defaults with whatever the owner changed on top."""
    base = defaults_for(account.engine)
    if not account.pacing:
        return base
    try:
        return checked(base, account.pacing)
    except Invalid:
        return base  # a stored value we no longer accept must not stop the campaign lane from deciding anything


def checked(base: PacingSettings, changes: dict[str, Any]) -> PacingSettings:
    """`base` with `changes` applied, every value checked: Invalid names the first bad field (a setting's name)."""
    known = {f.name for f in fields(PacingSettings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise Invalid(unknown[0], "There is no pacing setting named %(name)s.", name=unknown[0])
    values = base.as_dict() | changes
    out: dict[str, Any] = {}
    for name in ("gap_min_s", "gap_max_s", "pause_min_s", "pause_max_s", "typing_max_s", "breaker_cooldown_s"):
        out[name] = _number(name, values[name], 0, 7 * 86400)
    for name in ("pause_every", "breaker_failures", "breaker_sample"):
        out[name] = int(_number(name, values[name], 0, 100_000))
    out["breaker_rate"] = _number("breaker_rate", values["breaker_rate"], 0.01, 1)
    out["daily_cap"] = None if values["daily_cap"] in (None, "", 0) else int(
        _number("daily_cap", values["daily_cap"], 1, 1_000_000))
    out["owner_quiet_s"] = None if values["owner_quiet_s"] in (None, "") else _number(
        "owner_quiet_s", values["owner_quiet_s"], 0, 86400)
    for name in ("enabled", "warmup", "typing"):
        out[name] = bool(values[name])
    if out["gap_min_s"] > out["gap_max_s"]:
        raise Invalid("gap_min_s", "The shortest gap cannot be longer than the longest gap.")
    if out["pause_min_s"] > out["pause_max_s"]:
        raise Invalid("pause_min_s", "The shortest pause cannot be longer than the longest pause.")
    start, end = values["window_start"] or None, values["window_end"] or None
    if (start is None) != (end is None):
        raise Invalid("window_start", "Give both the start and the end of the send window, or neither.")
    for name, value in (("window_start", start), ("window_end", end)):
        if value is not None and not _HHMM.match(str(value)):
            raise Invalid(name, "Write the time as HH:MM, e.g. 09:00.")
    if start is not None and start == end:
        raise Invalid("window_end", "The send window must end at another time than it starts.")
    out["window_start"], out["window_end"] = start, end
    days = values["weekdays"]
    if not isinstance(days, list | tuple) or not days or any(d not in range(7) for d in days):
        raise Invalid("weekdays", "Choose at least one weekday (0 = Monday … 6 = Sunday).")
    out["weekdays"] = tuple(sorted(set(days)))
    return PacingSettings(**out)


# The numeric settings as errors name them (the reader's language at the time of the error).
LABELS = {
    "gap_min_s": N_("The shortest gap (seconds)"), "gap_max_s": N_("The longest gap (seconds)"),
    "pause_min_s": N_("The shortest pause (seconds)"), "pause_max_s": N_("The longest pause (seconds)"),
    "typing_max_s": N_("The longest typing time (seconds)"), "breaker_cooldown_s": N_("The safety stop's cool-down"),
    "pause_every": N_("The number of messages between longer pauses"),
    "breaker_failures": N_("The failures in a row that stop campaigns"),
    "breaker_sample": N_("The messages the failure rate is counted over"),
    "breaker_rate": N_("The failure rate that stops campaigns"), "daily_cap": N_("The daily limit"),
    "owner_quiet_s": N_("The quiet time after you chat on the phone"),
}


def label_of(name: str) -> str:
    label = LABELS.get(name)
    return gettext(label) if label else name.replace("_", " ")


def _number(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(name, "%(name)s must be a number.", name=label_of(name)) from None
    if not low <= number <= high:
        raise Invalid(name, "%(name)s must be between %(low)s and %(high)s.", name=label_of(name),
                      low=int(low) if low == int(low) else low, high=int(high) if high == int(high) else high)
    return number


# -- a campaign's own pacing ---------------------------------------------------------------------------------------

# What a campaign may pace its own sends by. The circuit breaker and the owner's quiet time protect the number as a
# whole, so they stay the number's (as do its daily counters and any pause).
CAMPAIGN_KEYS = ("gap_min_s", "gap_max_s", "pause_every", "pause_min_s", "pause_max_s", "daily_cap", "warmup",
                 "window_start", "window_end", "weekdays", "typing", "typing_max_s")
# "As fast as the engine allows" (shared/API.md, Pacing object): no gaps, pauses, caps, warm-up, window or typing.
UNPACED: dict[str, Any] = {"gap_min_s": 0.0, "gap_max_s": 0.0, "pause_every": 0, "pause_min_s": 0.0,
                           "pause_max_s": 0.0, "daily_cap": None, "warmup": False, "window_start": None,
                           "window_end": None, "weekdays": (0, 1, 2, 3, 4, 5, 6), "typing": False}


def with_gaps(state: PacingState, gaps: GapState) -> PacingState:
    """The number's lane state as a campaign with its own pacing sees it: the number's counters and pause, the
    campaign's own gaps and long pauses."""
    return replace(state, since_pause=gaps.since_pause, next_send_at=gaps.next_send_at)


def unpaced(settings: PacingSettings) -> bool:
    """Whether these settings send as fast as the engine takes messages (off, or no gaps, pauses or typing);
    a daily cap or a send window may still hold them."""
    return not settings.enabled or (settings.gap_max_s == 0 and (not settings.pause_every or settings.pause_max_s == 0)
                                    and not settings.typing)


def _campaign_base(number: PacingSettings) -> PacingSettings:
    """What a campaign's own pacing starts from: the number's, or "as fast as allowed" when the number is not paced."""
    return replace(number, enabled=True) if number.enabled else replace(number, enabled=True, **UNPACED)


def effective(number: PacingSettings, override: dict[str, Any] | None) -> PacingSettings:
    """The pacing a campaign's sends follow: the number's, or the campaign's own (`override`, as stored)."""
    if not override:
        return number
    try:
        return checked(_campaign_base(number), {k: v for k, v in override.items() if k in CAMPAIGN_KEYS})
    except Invalid:
        return number  # a stored value we no longer accept: the number's pacing is the safe one


def campaign_override(number: PacingSettings, current: dict[str, Any] | None,
                      changes: dict[str, Any]) -> dict[str, Any]:
    """A campaign's own pacing after `changes` (keys of PacingSettings; only those given change), checked with the
    same rules and messages as a number's, as the complete dict to store. `enabled` False means as fast as the
    engine allows."""
    known = {f.name for f in fields(PacingSettings)}
    for name in sorted(changes):
        if name not in known:
            raise Invalid(name, "There is no pacing setting named %(name)s.", name=name)
        if name not in (*CAMPAIGN_KEYS, "enabled"):
            raise Invalid(name, "%(name)s protects the number as a whole; change it in the number's pacing.",
                          name=label_of(name))
    changes = dict(changes)
    if "enabled" in changes and not changes.pop("enabled"):
        changes.update(UNPACED)
    new = checked(effective(number, current) if current else _campaign_base(number), changes)
    return {k: list(v) if k == "weekdays" else v for k in CAMPAIGN_KEYS for v in (getattr(new, k),)}


# -- decisions ----------------------------------------------------------------------------------------------------


# Why the campaign lane holds messages. Stored in English (the worker and the campaign feed run outside any request,
# and a pause is kept on the number); pages show them in the reader's language (campaign_stats.in_words).
OWNER_ACTIVE = N_("Waiting while you chat on the phone; campaigns resume after %(minutes)s min of quiet.")
OUTSIDE_WINDOW = N_("Outside the send window; sending resumes %(when)s.")
DAILY_LIMIT = N_("Daily limit of %(cap)s campaign messages reached; sending resumes tomorrow.")
DAILY_LIMIT_WARMING = N_("Daily limit of %(cap)s campaign messages reached (a newly linked number warms up); sending "
                         "resumes tomorrow.")
BETWEEN_MESSAGES = N_("Waiting between messages to protect the number.")
FAILED_IN_A_ROW = N_("Campaigns paused after %(count)s failed messages in a row (last: %(reason)s)")
FAILED_SHARE = N_("Campaigns paused: %(failures)s of the last %(sample)s messages failed (last: %(reason)s)")
# Pauses the delivery worker writes when WhatsApp limits or bans the number (their wording, recognised for display).
LIMITED = N_("Campaigns paused: WhatsApp limited this number (%(reason)s)")
BANNED = N_("Campaigns paused: WhatsApp temporarily banned this number (%(reason)s). Resume them when you are ready.")
BANNED_UNTIL = N_("Campaigns paused: WhatsApp temporarily banned this number until %(until)s (%(reason)s). Resume "
                  "them when you are ready.")
SENTENCES = (OWNER_ACTIVE, OUTSIDE_WINDOW, DAILY_LIMIT, DAILY_LIMIT_WARMING, BETWEEN_MESSAGES, FAILED_IN_A_ROW,
             FAILED_SHARE, LIMITED, BANNED, BANNED_UNTIL)


@dataclass(frozen=True, slots=True)
class Verdict:
    """May the campaign lane send now? If not, when to look again (None: not before something changes) and why."""

    go: bool
    retry_at: float | None = None
    reason: str = ""


def warmup_cap(days_linked: int) -> int | None:
    for below, cap in WARMUP:
        if days_linked < below:
            return cap
    return None


def cap_today(settings: PacingSettings, linked_at: float | None, now: float) -> int | None:
    """Today's campaign cap: the account's own, lowered while a newly linked number warms up."""
    caps = [c for c in (settings.daily_cap,) if c is not None]
    if settings.warmup and linked_at:
        warm = warmup_cap(int((now - linked_at) // 86400))
        if warm is not None:
            caps.append(warm)
    return min(caps) if caps else None


def local_day(now: float, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(now, tz).date().isoformat()


def window_opens(settings: PacingSettings, now: float, tz: dt.tzinfo) -> float | None:
    """None when `now` is inside the send window, else when it next opens."""
    if settings.window_start is None or settings.window_end is None:
        return None
    start = dt.time.fromisoformat(settings.window_start)
    end = dt.time.fromisoformat(settings.window_end)
    local = dt.datetime.fromtimestamp(now, tz)
    for offset in range(-1, 8):  # yesterday's window may run past midnight into today
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in settings.weekdays:
            continue
        opens = dt.datetime.combine(day, start, tz)
        closes = dt.datetime.combine(day + dt.timedelta(days=1) if end <= start else day, end, tz)
        if opens <= local < closes:
            return None
        if opens > local:
            return opens.timestamp()
    return None  # weekdays always include one of the next seven days


def decide(settings: PacingSettings, state: PacingState, *, now: float, tz: dt.tzinfo,
           linked_at: float | None) -> Verdict:
    """Whether the campaign lane may send its next message now."""
    if state.paused_reason is not None and (state.paused_until is None or now < state.paused_until):
        return Verdict(False, state.paused_until, state.paused_reason)
    if not settings.enabled:
        return Verdict(True)
    if settings.owner_quiet_s is not None and state.owner_active_at is not None:
        quiet_at = state.owner_active_at + settings.owner_quiet_s
        if now < quiet_at:
            return Verdict(False, quiet_at, OWNER_ACTIVE % {"minutes": f"{settings.owner_quiet_s / 60:g}"})
    opens = window_opens(settings, now, tz)
    if opens is not None:
        when = dt.datetime.fromtimestamp(opens, tz).strftime("%a %H:%M")
        return Verdict(False, opens, OUTSIDE_WINDOW % {"when": when})
    cap = cap_today(settings, linked_at, now)
    today = local_day(now, tz)
    sent = state.sent_today if state.day == today else 0
    if cap is not None and sent >= cap:
        tomorrow = dt.datetime.combine(dt.date.fromisoformat(today) + dt.timedelta(days=1), dt.time(), tz)
        warming = settings.daily_cap is None or cap < settings.daily_cap
        return Verdict(False, tomorrow.timestamp(), (DAILY_LIMIT_WARMING if warming else DAILY_LIMIT) % {"cap": cap})
    if now < state.next_send_at:
        return Verdict(False, state.next_send_at, BETWEEN_MESSAGES)
    return Verdict(True)


def after_send(settings: PacingSettings, state: PacingState, *, now: float, tz: dt.tzinfo,
               rng: random.Random | None = None, count: int = 1) -> PacingState:
    """The state after `count` campaign messages went out now: counters up, the next gap (or long pause) drawn."""
    rng = rng or random
    today = local_day(now, tz)
    sent = (state.sent_today if state.day == today else 0) + count
    since = state.since_pause + count
    if not settings.enabled:
        return replace(state, day=today, sent_today=sent, since_pause=0, next_send_at=0.0)
    if settings.pause_every and since >= settings.pause_every:
        gap, since = rng.uniform(settings.pause_min_s, settings.pause_max_s), 0
    else:
        gap = rng.uniform(settings.gap_min_s, settings.gap_max_s)
    return replace(state, day=today, sent_today=sent, since_pause=since, next_send_at=now + gap)


def typing_seconds(settings: PacingSettings, text: str) -> float:
    """How long to show "typing…" before a campaign message: about 30 characters a second, within the cap."""
    if not settings.enabled or not settings.typing:
        return 0.0
    return min(settings.typing_max_s, 1.0 + len(text) / 30)


class Breaker:
    """Counts the campaign lane's results; says when they look like trouble (a run of failures or a high rate)."""

    def __init__(self, settings: PacingSettings):
        self.settings = settings
        self.in_a_row = 0
        self.recent: deque[bool] = deque(maxlen=max(settings.breaker_sample, 1))

    def record(self, ok: bool, reason: str = "") -> str | None:
        """Add one result; returns why the lane must pause, or None."""
        self.recent.append(ok)
        if ok:
            self.in_a_row = 0
            return None
        self.in_a_row += 1
        s = self.settings
        if s.breaker_failures and self.in_a_row >= s.breaker_failures:
            return self._trip(FAILED_IN_A_ROW % {"count": self.in_a_row, "reason": reason})
        failures = self.recent.count(False)
        if s.breaker_sample and len(self.recent) >= s.breaker_sample and failures / len(self.recent) > s.breaker_rate:
            return self._trip(FAILED_SHARE % {"failures": failures, "sample": len(self.recent), "reason": reason})
        return None

    def _trip(self, reason: str) -> str:
        self.in_a_row = 0
        self.recent.clear()
        return reason


# -- the service: settings per account, status for the UI, pause and resume ---------------------------------------


@dataclass(frozen=True, slots=True)
class PacingStatus:
    """What the account's settings page shows about its campaign lane."""

    settings: PacingSettings
    state: PacingState
    cap_today: int | None
    sent_today: int
    verdict: Verdict
    waiting: int  # campaign messages still queued for this number


async def timezone_of(ws: Workspace) -> dt.tzinfo:
    name = (await workspace_settings.load(ws.db)).timezone
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


async def _account(ws: Workspace, account_id: int) -> Account:
    account = await accounts_store.get(ws.db, account_id)
    if account is None:
        raise NotFound("No such WhatsApp number in this workspace.")
    return account


async def get_settings(ws: Workspace, account_id: int) -> PacingSettings:
    return settings_of(await _account(ws, account_id))


async def update(ws: Workspace, account_id: int, **changes: Any) -> PacingSettings:
    """Validate and store pacing changes for one number; its campaign lane follows them at once."""
    account = await _account(ws, account_id)
    current = settings_of(account)
    new = checked(current, changes)
    await accounts_store.update_settings(ws.db, account_id, pacing=new.as_dict())
    _wake(ws, account_id)
    return new


async def status(ws: Workspace, account_id: int, campaign: Campaign | None = None) -> PacingStatus:
    """The number's campaign lane; with a campaign that has its own pacing, that campaign's part of it."""
    account = await _account(ws, account_id)
    settings = settings_of(account)
    state = await outbox_store.pacing_state_of(ws.db, account_id)
    own = campaign is not None and bool(campaign.pacing)
    if own:
        settings = effective(settings, campaign.pacing)
        gaps = await ws.db.execute_fn(lambda conn: campaigns_store.gap_states(conn, [campaign.id]))
        state = with_gaps(state, gaps[campaign.id])
    now = time.time()
    tz = await timezone_of(ws)
    sent = state.sent_today if state.day == local_day(now, tz) else 0
    verdict = decide(settings, state, now=now, tz=tz, linked_at=account.linked_at)
    if own:
        waiting = await campaigns_store.queued_count(ws.db, campaign.id)
    else:
        waiting = await outbox_store.waiting(ws.db, account_id, outbox_store.LANES["campaign"])
    return PacingStatus(settings, state, cap_today(settings, account.linked_at, now), sent, verdict, waiting)


async def pause(ws: Workspace, account_id: int, reason: str, until: float | None) -> None:
    """Hold the account's campaign lane with a reason the owner reads; `until` None = until they resume it."""
    now = time.time()

    def write(conn: sqlite3.Connection) -> None:
        state = outbox_store.pacing_state(conn, account_id)
        outbox_store.save_pacing_state(conn, replace(state, paused_reason=reason, paused_until=until), now)

    await ws.db.execute_write_fn(write)
    if ws.bus is not None:
        ws.bus.publish(ws.id, "pacing.paused", account_id=account_id, reason=reason, until=until)


async def resume(ws: Workspace, account_id: int) -> None:
    """Lift a pause of the campaign lane (the owner checked the number and wants campaigns to go on)."""
    await _account(ws, account_id)
    now = time.time()

    def write(conn: sqlite3.Connection) -> None:
        state = outbox_store.pacing_state(conn, account_id)
        outbox_store.save_pacing_state(conn, replace(state, paused_reason=None, paused_until=None), now)

    await ws.db.execute_write_fn(write)
    if ws.bus is not None:
        ws.bus.publish(ws.id, "pacing.resumed", account_id=account_id)
    _wake(ws, account_id)


def _wake(ws: Workspace, account_id: int) -> None:
    outbox.wake(ws, account_id, campaign=True, reload=True)
