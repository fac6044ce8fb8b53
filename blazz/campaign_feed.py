"""Feeding a running campaign into the outbox, a small window at a time, and noticing when it is done.

Recipients wait in `campaign_recipients` (pending) and enter the outbox only a window ahead of the number's
delivery worker: a few messages for a paced number, a few thousand for an unpaced one. So a pause takes back only
that window (instantly, in one transaction), agents' replies never queue behind a whole campaign, and a crash at any
point leaves each recipient either pending or with exactly one message (unique per campaign and contact).

One step (`step`) reads the campaign and the wall clock afresh: it starts a scheduled campaign whose time came (or
expires one whose start was missed by too much, e.g. a laptop asleep), tops up the window, finishes the campaign
when nobody is left, and says how long to sleep. The scheduler (`blazz.campaign_runner`) runs the steps.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
import weakref
from dataclasses import dataclass
from typing import Any

from blazz import audit, cloud_templates, outbox, pacing, templates, webhooks
from blazz.errors import Invalid
from blazz.i18n import N_
from blazz.outbox import CampaignItem
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as store
from blazz.store import custom_fields as fields_store
from blazz.store.campaigns import Campaign
from blazz.store.database import Database
from blazz.store.templates import CloudTemplateRow
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

# Window sizes. Paced: the worker takes one campaign message per gap, so two gaps' worth ahead keep it busy. Unpaced:
# the sandbox drains ~7,800 msg/s and enqueue_many writes ~20,000/s (bench/bench_pipeline.py), so 4,000 ahead,
# topped up below half, keeps the worker fed with a top-up every ~0.25 s.
WINDOW_PACED = 2
WINDOW_UNPACED = 4000
POLL_UNPACED_S = 0.1
POLL_PACED_S = 2.0
POLL_OFFLINE_S = 5.0
WAKE_CAP_S = 15.0  # never sleep longer than a heartbeat: the wall clock may have jumped (sleep, clock change)
CHECK_AHEAD = 500  # phones asked "on WhatsApp?" at once, ahead of the window, so checks do not track each send
CHECK_FRESH_S = 7 * 86400  # Evolution API trusts an onWhatsApp answer for 7 days (DATABASE_SAVE_IS_ON_WHATSAPP_DAYS)
DEFAULT_LATE_LIMIT_S = 6 * 3600  # a start missed by more than this is not sent by surprise hours later
PROGRESS_EVERY_S = 1.0

# What Blazz stores about recipients and campaigns is English (this runs outside any request, and the API and CSV
# give it as stored); pages show it in the reader's language (campaign_stats.in_words knows these sentences).
SKIP_REASONS = {
    "opted_out": N_("The contact opted out."),
    "invalid": N_("The contact has no WhatsApp number."),
    "not_on_whatsapp": N_("This number is not on WhatsApp."),
    "recent": N_("Messaged by another campaign recently."),
}
NOT_ON_WHATSAPP = SKIP_REASONS["not_on_whatsapp"]
PAUSED = N_("Held back: the campaign is paused.")
CANCELLED = N_("The campaign was cancelled before this message was sent.")
EXPIRED = N_("The campaign expired before this message was sent.")
GONE = N_("The contact was erased before the message was sent.")
NUMBER_DELETED = N_("The WhatsApp number of this campaign was deleted, so it cannot send.")
WAITING_FOR_NUMBER = N_("Waiting for %(number)s to connect; sending starts when it does.")
LATE = N_("Not sent: Blazz was not running at the scheduled time and it is now %(hours)s h late. Duplicate the "
          "campaign to send it now or at a new time.")
STOPPED = N_("Campaign “%(name)s” stopped: %(reason)s")
DID_NOT_START = N_("Campaign “%(name)s” did not start: it was %(hours)s h late. Duplicate it to send it now.")
SENTENCES = (WAITING_FOR_NUMBER, LATE)

# One lock per campaign: feeding and pause/cancel never interleave, so nothing is queued after a pause took the
# window back. Keyed by the workspace database, so two workspaces (or two test runtimes) never share one.
_locks: weakref.WeakKeyDictionary[Database, dict[int, asyncio.Lock]] = weakref.WeakKeyDictionary()


def lock_of(ws: Workspace, campaign_id: int) -> asyncio.Lock:
    per_db = _locks.setdefault(ws.db, {})
    lock = per_db.get(campaign_id)
    if lock is None:
        lock = per_db[campaign_id] = asyncio.Lock()
    return lock


@dataclass(frozen=True, slots=True)
class Step:
    done: bool  # nothing more for the runner to do (finished, paused, cancelled, gone)
    sleep: float = 0.0
    fed: int = 0


def publish(ws: Workspace, campaign_id: int) -> None:
    """Tell open tabs that a campaign's numbers or state changed (they fetch the fresh numbers)."""
    if ws.bus is not None:
        ws.bus.publish(ws.id, "campaign.progress", slug=ws.slug, campaign_id=campaign_id)


async def step(ws: Workspace, campaign_id: int) -> Step:
    """One turn of the campaign's runner; see the module docstring."""
    c = await store.get(ws.db, campaign_id)
    if c is None or c.status not in store.ACTIVE:
        return Step(True)
    now = time.time()
    if c.status == "scheduled":
        due = c.scheduled_at or now
        if due > now:
            return Step(False, min(due - now, WAKE_CAP_S))
        late_limit = c.late_limit_s if c.late_limit_s is not None else DEFAULT_LATE_LIMIT_S
        if now - due > late_limit:
            await expire(ws, c, now)
            return Step(True)
        if not await _set(ws, c.id, "running", now, ("scheduled",), started_at=now, detail=""):
            return Step(True)
        c = await store.get(ws.db, campaign_id)
    account = await accounts_store.get(ws.db, c.account_id) if c.account_id is not None else None
    if account is None:
        await fail(ws, c, NUMBER_DELETED)
        return Step(True)
    state = ws.sessions.state((ws.id, account.id)).state if ws.sessions is not None else "stopped"
    number = pacing.settings_of(account)
    settings = pacing.effective(number, c.pacing)
    async with lock_of(ws, c.id):
        c = await store.get(ws.db, campaign_id)
        if c is None or c.status != "running":
            return Step(True)
        queued = await store.queued_count(ws.db, c.id)
        pending = await store.has_pending(ws.db, c.id)
        if not pending and not queued:
            await complete(ws, c)
            return Step(True)
        if state != "connected":
            await _say(ws, c, WAITING_FOR_NUMBER % {"number": account.name})
            return Step(False, POLL_OFFLINE_S)
        window, poll = _window(settings, own=bool(c.pacing))
        fed = 0
        if pending and queued <= window // 2:
            fed = await _feed(ws, c, account.id, account.engine, window - queued)
        if fed and c.pacing and not number.enabled:
            # The worker drains an unpaced number's lane without looking up; it must look at this campaign's pace.
            outbox.wake(ws, account.id, campaign=True, reload=True)
    await _say(ws, c, await _lane_detail(ws, account.id, c) if settings.enabled else "")
    return Step(False, poll, fed)


def _window(settings: pacing.PacingSettings, *, own: bool = False) -> tuple[int, float]:
    """(messages to keep in the outbox ahead of the worker, seconds between top-ups) for the campaign's pacing:
    enough that the worker never waits for us, no more, so that a pause has little to take back. The worker sends
    a campaign with its own unpaced pacing in batches, as it does an unpaced number's."""
    if not settings.enabled or (own and pacing.unpaced(settings)):
        return WINDOW_UNPACED, POLL_UNPACED_S
    gap = max((settings.gap_min_s + settings.gap_max_s) / 2, 0.001)
    poll = min(POLL_PACED_S, max(gap, POLL_UNPACED_S))
    return min(WINDOW_UNPACED, max(WINDOW_PACED, math.ceil(2 * poll / gap) + 1)), poll


async def _lane_detail(ws: Workspace, account_id: int, c: Campaign) -> str:
    """Why the number's campaign lane (or the campaign's own pacing) holds messages now (window, cap, breaker...)."""
    status = await pacing.status(ws, account_id, c)
    return "" if status.verdict.go or not status.waiting else status.verdict.reason


async def _say(ws: Workspace, c: Campaign, detail: str) -> None:
    if detail != c.detail:
        await ws.db.execute_write_fn(lambda conn: store.update(conn, c.id, int(time.time()), detail=detail))
        publish(ws, c.id)


async def _set(ws: Workspace, campaign_id: int, status: str, now: float, only_from: tuple[str, ...],
               **values: object) -> bool:
    moved = await ws.db.execute_write_fn(
        lambda conn: store.set_status(conn, campaign_id, status, now, only_from=only_from, **values))
    if moved:
        publish(ws, campaign_id)
    return moved


# -- feeding --------------------------------------------------------------------------------------------------------


async def _feed(ws: Workspace, c: Campaign, account_id: int, engine: str, room: int) -> int:
    """Put up to `room` more of the campaign's messages in the outbox: held ones first (taken back by a pause),
    then new ones rendered for each contact. Returns how many entered the outbox."""
    fed = await _requeue_held(ws, c, account_id, room)
    room -= fed
    if room <= 0:
        return fed
    content = c.content or {}
    bodies = list(content.get("bodies") or [""])
    footer = content.get("footer") or ""
    media_id = content.get("media_id")
    cloud = CloudTemplateRow(**content["cloud_template"]) if content.get("cloud_template") else None
    specs = await fields_store.list_all(ws.db)
    due = await ws.db.execute_fn(lambda conn: store.next_pending(conn, c.id, room))
    if not due:
        if await store.has_pending(ws.db, c.id):
            await ws.db.execute_write_fn(lambda conn: store.skip_missing_contacts(conn, c.id, GONE))
        return fed
    absent = await _not_on_whatsapp(ws, c, account_id, engine, [d.contact.phone for d in due if d.contact.phone])
    items: list[CampaignItem] = []
    skipped: list[tuple[int, str]] = []
    for d in due:
        if d.contact.phone in absent:
            skipped.append((d.contact.id, NOT_ON_WHATSAPP))
            continue
        values = templates.values_of(d.contact, specs)
        if cloud is not None:
            try:  # Meta refuses an empty parameter: this contact is skipped with the reason instead
                call = cloud_templates.call_for(cloud, values)
            except Invalid as exc:  # in English, as every stored reason (str(exc), whoever's request woke us)
                skipped.append((d.contact.id, str(exc)))
                continue
            items.append(CampaignItem(d.contact.id, cloud_templates.text_for(cloud, values, header=True), None,
                                      account_id, template=call))
            continue
        text = templates.compose(bodies[d.recipient_id % len(bodies)], footer, values)
        items.append(CampaignItem(d.contact.id, text, media_id, account_id))
    result = await outbox.enqueue_many(ws, items, campaign_id=c.id) if items else outbox.EnqueueResult([], [])
    again = [contact_id for contact_id, why in result.skipped if why == "Already queued for this campaign."]
    skipped += [(contact_id, why) for contact_id, why in result.skipped if why != "Already queued for this campaign."]

    def record(conn: sqlite3.Connection) -> None:
        store.skip(conn, c.id, skipped)
        store.relink(conn, c.id, again)

    if skipped or again:
        await ws.db.execute_write_fn(record)
    return fed + len(result.queued)


async def _requeue_held(ws: Workspace, c: Campaign, account_id: int, room: int) -> int:
    def write(conn: sqlite3.Connection) -> int:
        rows = store.held(conn, c.id, room)
        if not rows:
            return 0
        store.skip(conn, c.id, [(contact_id, SKIP_REASONS["opted_out"]) for _, contact_id, out in rows if out])
        return store.requeue(conn, c.id, [m for m, _, out in rows if not out], time.time())

    count = await ws.db.execute_write_fn(write)
    if count:
        outbox.wake(ws, account_id, campaign=True)
    return count


async def _not_on_whatsapp(ws: Workspace, c: Campaign, account_id: int, engine: str, phones: list[str]) -> set[str]:
    """The phones of this window known not to be on WhatsApp, asking the number about the next ones in one go.
    The Cloud API cannot tell (a send to such a number fails later), and a failed check never holds a campaign."""
    if not phones:
        return set()
    now = int(time.time())
    fresh = now - CHECK_FRESH_S
    if engine != "cloud_api" and ws.sessions is not None:
        unknown = await ws.db.execute_fn(lambda conn: store.unchecked(conn, phones, fresh))
        if unknown:
            ahead = await store.pending_phones(ws.db, c.id, CHECK_AHEAD)
            batch = list(dict.fromkeys([*unknown, *ahead]))
            batch = await ws.db.execute_fn(lambda conn: store.unchecked(conn, batch, fresh))
            try:
                answers = await ws.sessions.check_numbers((ws.id, account_id), batch)
            except Exception as exc:  # the number went offline, or WhatsApp refused the query: send anyway
                log.info("number check failed (workspace=%s campaign=%s): %s", ws.slug, c.id, exc)
                answers = {}
            if answers:
                await ws.db.execute_write_fn(lambda conn: store.save_checks(conn, answers, now))
    return await ws.db.execute_fn(lambda conn: store.not_on_whatsapp(conn, phones, fresh))


# -- endings --------------------------------------------------------------------------------------------------------


async def complete(ws: Workspace, c: Campaign) -> None:
    now = time.time()
    if not await _set(ws, c.id, "completed", now, ("running",), finished_at=now, detail=""):
        return
    counts = await store.counts(ws.db, c.id)
    log.info("campaign completed (workspace=%s campaign=%s sent=%s failed=%s skipped=%s)", ws.slug, c.id,
             counts.sent, counts["failed"], counts["skipped"])
    try:
        await webhooks.emit(ws, "campaign.completed", {"campaign": {
            "id": c.id, "name": c.name, "account_id": c.account_id, "total": counts.total, "sent": counts.sent,
            "delivered": counts.delivered, "read": counts["read"], "failed": counts["failed"],
            "skipped": counts["skipped"], "replied": counts.replied}})
    except Exception:  # the campaign is complete whether or not a webhook can be queued
        log.exception("could not queue campaign.completed (workspace=%s campaign=%s)", ws.slug, c.id)


async def fail(ws: Workspace, c: Campaign, why: str) -> None:
    now = time.time()

    def write(conn: sqlite3.Connection) -> bool:
        if not store.set_status(conn, c.id, "failed", now, only_from=(*store.ACTIVE, "paused"), finished_at=now,
                                detail=why):
            return False
        store.withdraw(conn, c.id, why, now, to="skipped")
        store.skip_pending(conn, c.id, why)
        return True

    async with lock_of(ws, c.id):
        if await ws.db.execute_write_fn(write):
            log.warning("campaign failed (workspace=%s campaign=%s): %s", ws.slug, c.id, why)
            publish(ws, c.id)
            _bus_toast(ws, STOPPED, "error", name=c.name, reason=why)


async def expire(ws: Workspace, c: Campaign, now: float) -> None:
    """A scheduled start missed by more than its lateness limit: nothing is sent, and the owner is told."""
    late_h = (now - (c.scheduled_at or now)) / 3600
    why = LATE % {"hours": f"{late_h:.1f}"}

    def write(conn: sqlite3.Connection) -> bool:
        if not store.set_status(conn, c.id, "failed", now, only_from=("scheduled",), finished_at=now, detail=why):
            return False
        store.skip_pending(conn, c.id, EXPIRED)
        return True

    if await ws.db.execute_write_fn(write):
        log.warning("campaign expired (workspace=%s campaign=%s, %.1f h late)", ws.slug, c.id, late_h)
        await audit.record(ws, audit.SYSTEM, "campaign.expired", f"campaign:{c.id}", late_hours=round(late_h, 1))
        publish(ws, c.id)
        _bus_toast(ws, DID_NOT_START, "warning", name=c.name, hours=round(late_h, 1))


def _bus_toast(ws: Workspace, message: str, level: str, **params: Any) -> None:
    """A toast for every open tab of the workspace: the English catalog id and its values, which each tab reads in
    its own language (`reason` is a stored sentence, translated too)."""
    if ws.bus is not None:
        ws.bus.publish(ws.id, "toast", message=message, params=params, sentences=("reason",), level=level)
