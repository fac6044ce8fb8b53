"""Campaigns: personalised broadcasts to an audience of contacts, paced by the sending number, crash-proof.

A campaign is a draft while the owner composes it (name, number, message, audience, schedule: each checked by
`blazz.campaign_checks`). Launching checks it (unknown variables, a schedule in the past, an empty audience are
refused with the reason), snapshots the audience into `campaign_recipients` (opted-out, number-less, known
not-on-WhatsApp and, if asked, recently messaged contacts are skipped with a reason) and hands it to the scheduler
(`blazz.campaign_runner`), which feeds the outbox a window at a time (`blazz.campaign_feed`). Pause takes that window
back at once; resume, cancel, retry of failed recipients, duplicating and saving recipients as a contact group are
here too.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from blazz import (
    audit,
    campaign_feed,
    campaign_runner,
    contact_groups,
    outbox,
    pacing,
)
from blazz import (
    campaign_checks as checks,
)
from blazz.errors import Conflict, Invalid, NotFound
from blazz.i18n import N_, gettext
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as store
from blazz.store.campaigns import Campaign
from blazz.workspaces import Workspace

SNAPSHOT_CHUNK = 20_000  # contacts per snapshot transaction: the writer is never held long (agents' replies wait)
REASONS = campaign_feed.SKIP_REASONS
CONTROL_STATES = {"pause": ("scheduled", "running"), "resume": ("paused",),
                  "cancel": ("scheduled", "running", "paused")}
PACING_STATES = ("draft", "scheduled", "paused")  # a running campaign is paused first, so no send is in flight
# Statuses of campaigns and recipients as words inside a sentence ("A completed campaign cannot be paused."),
# translated when the sentence is made (see status_word).
STATUS_WORDS = {
    "draft": N_("draft"), "scheduled": N_("scheduled"), "running": N_("running"), "paused": N_("paused"),
    "completed": N_("completed"), "cancelled": N_("cancelled"), "failed": N_("failed"), "pending": N_("pending"),
    "queued": N_("queued"), "sent": N_("sent"), "delivered": N_("delivered"), "read": N_("read"),
    "replied": N_("replied"), "skipped": N_("skipped"),
}


def status_word(status: str) -> str:
    """A status as a word in the reader's language (call it in the request: the writer thread has no language)."""
    word = STATUS_WORDS.get(status)
    return gettext(word) if word else status


# -- drafts ---------------------------------------------------------------------------------------------------------


async def get(ws: Workspace, campaign_id: int) -> Campaign:
    found = await store.get(ws.db, campaign_id)
    if found is None:
        raise NotFound("No such campaign.")
    return found


async def list_page(ws: Workspace, *, status: str | None = None, before_id: int | None = None,
                    limit: int = 50) -> list[Campaign]:
    return await store.page(ws.db, status=status, before_id=before_id, limit=limit)


async def create(ws: Workspace, data: dict[str, Any], *, created_by: int | None = None) -> Campaign:
    """A new draft; only the name is required now, the rest may come step by step (`update`)."""
    now = time.time()
    name = checks.clean_name(data.get("name"))
    account_id = checks.clean_id(data.get("account_id"), "account_id")
    if account_id is not None and await accounts_store.get(ws.db, account_id) is None:
        raise Invalid("account_id", "No such WhatsApp number in this workspace.")
    message = checks.clean_message(data.get("message"))
    if message.get("cloud_template_id") is not None:
        await checks.cloud_template(ws, message["cloud_template_id"], account_id)
    audience = checks.clean_audience(data.get("audience"))
    scheduled_at, late = checks.clean_schedule(data.get("scheduled_at"), data.get("late_limit_s"), now)
    own = None
    if data.get("pacing") is not None:
        own = await _own_pacing(ws, account_id, None, data["pacing"])
    new_id = await ws.db.execute_write_fn(lambda conn: store.insert(
        conn, name=name, account_id=account_id, message=message, audience=audience, scheduled_at=scheduled_at,
        late_limit_s=late, created_by=created_by, now=int(now), pacing=own))
    return await get(ws, new_id)


async def _own_pacing(ws: Workspace, account_id: int | None, current: dict[str, Any] | None,
                      changes: Any) -> dict[str, Any]:
    """A campaign's own pacing after `changes`, checked against its number's with the number's rules."""
    if account_id is None:
        raise Invalid("account_id", "Choose the sending number before giving the campaign its own pacing.")
    if not isinstance(changes, dict):
        raise Invalid("pacing", "Give the pacing as its settings, or nothing to follow the number's.")
    account = await accounts_store.get(ws.db, account_id)
    if account is None:
        raise Invalid("account_id", "No such WhatsApp number in this workspace.")
    return pacing.campaign_override(pacing.settings_of(account), current, changes)


async def set_pacing(ws: Workspace, campaign_id: int, changes: dict[str, Any] | None) -> Campaign:
    """Give a campaign its own pacing (only the settings given change), or with None let it follow its number's
    again. Draft, scheduled and paused campaigns only: the sends in flight of a running one keep their pace."""
    c = await get(ws, campaign_id)
    if c.status == "running":
        raise Conflict("Pause the campaign first, then change its pacing.")
    if c.status not in PACING_STATES:
        raise Conflict("The pacing of a %(status)s campaign cannot be changed.", status=status_word(c.status))
    own = None if changes is None else await _own_pacing(ws, c.account_id, c.pacing, changes)

    def write(conn: sqlite3.Connection) -> bool:
        moved = store.set_status(conn, campaign_id, c.status, time.time(), only_from=(c.status,), pacing=own)
        if moved and own != c.pacing:
            store.save_gap_state(conn, campaign_id, store.GapState(), time.time())  # new pace, fresh gaps
        return moved

    if not await ws.db.execute_write_fn(write):
        raise Conflict("The campaign changed meanwhile; look at it again.")
    if c.account_id is not None:
        outbox.wake(ws, c.account_id, campaign=True, reload=True)
    return await get(ws, campaign_id)


async def update(ws: Workspace, campaign_id: int, data: dict[str, Any]) -> Campaign:
    """Change a draft; only the keys given change."""
    current = await get(ws, campaign_id)
    if current.status != "draft":
        raise Conflict("A launched campaign cannot be changed; duplicate it to send a new version.")
    now = time.time()
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = checks.clean_name(data["name"])
    if "account_id" in data:
        account_id = checks.clean_id(data["account_id"], "account_id")
        if account_id is not None and await accounts_store.get(ws.db, account_id) is None:
            raise Invalid("account_id", "No such WhatsApp number in this workspace.")
        values["account_id"] = account_id
    if "message" in data:
        values["message"] = checks.clean_message(data["message"])
        if values["message"].get("cloud_template_id") is not None:
            await checks.cloud_template(ws, values["message"]["cloud_template_id"],
                                 values.get("account_id", current.account_id))
    if "audience" in data:
        values["audience"] = checks.clean_audience(data["audience"])
    if "scheduled_at" in data or "late_limit_s" in data:
        values["scheduled_at"], values["late_limit_s"] = checks.clean_schedule(
            data.get("scheduled_at", current.scheduled_at), data.get("late_limit_s", current.late_limit_s), now)
    if values:
        await ws.db.execute_write_fn(lambda conn: store.update(conn, campaign_id, int(now), **values))
    return await get(ws, campaign_id)


async def delete_draft(ws: Workspace, campaign_id: int) -> None:
    await get(ws, campaign_id)
    if not await store.delete(ws.db, campaign_id):
        raise Conflict("Only a draft can be deleted; a launched campaign stays as a record of what was sent.")


async def duplicate(ws: Workspace, campaign_id: int, *, created_by: int | None = None) -> Campaign:
    c = await get(ws, campaign_id)
    name = gettext("%(name)s (copy)", name=c.name)[:checks.MAX_NAME]  # in the language of whoever duplicates it
    new_id = await ws.db.execute_write_fn(lambda conn: store.insert(
        conn, name=name, account_id=c.account_id, message=c.message, audience=c.audience, scheduled_at=None,
        late_limit_s=c.late_limit_s, created_by=created_by, now=int(time.time()), pacing=c.pacing))
    return await get(ws, new_id)


# -- launching ------------------------------------------------------------------------------------------------------


async def launch(ws: Workspace, campaign_id: int, actor: audit.Actor) -> Campaign:
    """Check the draft, snapshot its audience and hand it to the scheduler (now, or at its scheduled time)."""
    async with campaign_feed.lock_of(ws, campaign_id):
        c = await get(ws, campaign_id)
        if c.status != "draft":
            raise Conflict("This campaign was launched already.")
        now = time.time()
        if c.account_id is None or await accounts_store.get(ws.db, c.account_id) is None:
            raise Invalid("account_id", "Choose the WhatsApp number that sends this campaign.")
        content = await checks.content_of(ws, c.message, c.account_id)
        if c.scheduled_at is not None and c.scheduled_at < now - checks.PAST_GRACE_S:
            raise Invalid("scheduled_at", "The scheduled time has passed; choose a new time, or send now.")
        audience = await checks.audience_of(ws, c.audience, c.id, now)
        counts = await store.audience_counts(ws.db, audience, c.id)
        if not counts["total"]:
            raise Invalid("audience", "Nobody is in this audience: the chosen groups or filters hold no contacts.")
        if not counts.get("included") and counts["total"] == 1:
            raise Invalid("audience", "The only contact of this audience is excluded (opted out, no WhatsApp number, "
                                      "or messaged recently), so there is nobody to send to.")
        if not counts.get("included"):
            raise Invalid("audience", "All %(total)s contacts of this audience are excluded (opted out, no WhatsApp "
                                      "number, or messaged recently), so there is nobody to send to.",
                          total=counts["total"])
        await ws.db.execute_write_fn(lambda conn: store.clear_recipients(conn, c.id))  # left by a crashed launch
        after = 0
        while True:
            _, last = await ws.db.execute_write_fn(lambda conn, a=after: store.snapshot(
                conn, c.id, audience, REASONS, after_contact=a, limit=SNAPSHOT_CHUNK))
            if last is None:
                break
            after = last
        later = c.scheduled_at is not None and c.scheduled_at > now

        def flip(conn: sqlite3.Connection) -> bool:
            return store.set_status(conn, c.id, "scheduled" if later else "running", now, only_from=("draft",),
                                    content=content, launched_at=now, started_at=None if later else now,
                                    total=store.recipient_total(conn, c.id), detail="")

        if not await ws.db.execute_write_fn(flip):
            raise Conflict("This campaign was launched already.")
    launched = await get(ws, campaign_id)
    await audit.record(ws, actor, "campaign.launched", f"campaign:{c.id}", name=c.name, recipients=launched.total,
                       scheduled_at=c.scheduled_at)
    campaign_feed.publish(ws, c.id)
    campaign_runner.wake(ws, c.id)
    return launched


# -- controls -------------------------------------------------------------------------------------------------------


async def pause(ws: Workspace, campaign_id: int, actor: audit.Actor) -> Campaign:
    """Stop sending now: the messages waiting in the outbox are taken back (they go again on resume)."""
    async with campaign_feed.lock_of(ws, campaign_id):
        c = await get(ws, campaign_id)
        now = time.time()
        word = status_word(c.status)

        def write(conn: sqlite3.Connection) -> int:
            if not store.set_status(conn, campaign_id, "paused", now, only_from=CONTROL_STATES["pause"], detail=""):
                raise Conflict("A %(status)s campaign cannot be paused.", status=word)
            return store.withdraw(conn, campaign_id, campaign_feed.PAUSED, now, to="pending")

        taken = await ws.db.execute_write_fn(write)
    await audit.record(ws, actor, "campaign.paused", f"campaign:{campaign_id}", withdrawn=taken)
    campaign_feed.publish(ws, campaign_id)
    return await get(ws, campaign_id)


async def resume(ws: Workspace, campaign_id: int, actor: audit.Actor) -> Campaign:
    async with campaign_feed.lock_of(ws, campaign_id):
        c = await get(ws, campaign_id)
        now = time.time()
        later = c.started_at is None and c.scheduled_at is not None and c.scheduled_at > now
        to = "scheduled" if later else "running"
        started = c.started_at or (None if later else now)
        word = status_word(c.status)

        def write(conn: sqlite3.Connection) -> None:
            if not store.set_status(conn, campaign_id, to, now, only_from=CONTROL_STATES["resume"], detail="",
                                    started_at=started):
                raise Conflict("A %(status)s campaign cannot be resumed.", status=word)

        await ws.db.execute_write_fn(write)
    await audit.record(ws, actor, "campaign.resumed", f"campaign:{campaign_id}")
    campaign_feed.publish(ws, campaign_id)
    campaign_runner.wake(ws, campaign_id)
    return await get(ws, campaign_id)


async def cancel(ws: Workspace, campaign_id: int, actor: audit.Actor) -> Campaign:
    """Stop for good: queued messages are withdrawn, nobody else gets it; what already went out stays sent."""
    async with campaign_feed.lock_of(ws, campaign_id):
        c = await get(ws, campaign_id)
        now = time.time()
        word = status_word(c.status)

        def write(conn: sqlite3.Connection) -> tuple[int, int]:
            if not store.set_status(conn, campaign_id, "cancelled", now, only_from=CONTROL_STATES["cancel"],
                                    detail="", finished_at=now):
                raise Conflict("A %(status)s campaign cannot be cancelled.", status=word)
            taken = store.withdraw(conn, campaign_id, campaign_feed.CANCELLED, now, to="skipped")
            return taken, store.skip_pending(conn, campaign_id, campaign_feed.CANCELLED)

        taken, never = await ws.db.execute_write_fn(write)
    await audit.record(ws, actor, "campaign.cancelled", f"campaign:{campaign_id}", withdrawn=taken, not_sent=never)
    campaign_feed.publish(ws, campaign_id)
    return await get(ws, campaign_id)


@dataclass(frozen=True, slots=True)
class RetryResult:
    queued: int
    not_retried: int  # failed after WhatsApp took them (a later failure report), or the contact opted out since


async def retry_failed(ws: Workspace, campaign_id: int, actor: audit.Actor) -> RetryResult:
    """Send the failed recipients' messages again (same messages, fresh attempts)."""
    async with campaign_feed.lock_of(ws, campaign_id):
        c = await get(ws, campaign_id)
        if c.status not in ("running", "paused", "completed"):
            raise Conflict("Failed messages of a %(status)s campaign cannot be sent again.",
                           status=status_word(c.status))
        now = time.time()

        def write(conn: sqlite3.Connection) -> RetryResult:
            rows = store.failed_messages(conn, campaign_id)
            queued = store.requeue(conn, campaign_id, [m for m, gone in rows if not gone], now)
            if queued and c.status == "completed":
                store.set_status(conn, campaign_id, "running", now, only_from=("completed",), finished_at=None)
            return RetryResult(queued, len(rows) - queued)

        result = await ws.db.execute_write_fn(write)
    if result.queued and c.account_id is not None:
        outbox.wake(ws, c.account_id, campaign=True)
    await audit.record(ws, actor, "campaign.retried", f"campaign:{campaign_id}", queued=result.queued)
    campaign_feed.publish(ws, campaign_id)
    campaign_runner.wake(ws, campaign_id)
    return result


SAVABLE = ("failed", "replied", "read", "delivered", "sent", "skipped")


async def save_as_group(ws: Workspace, campaign_id: int, which: str, group_name: str) -> tuple[int, int]:
    """Put the recipients who `which` (failed, replied, ...) in a contact group, new or existing by name.
    Returns (group id, contacts in it from this campaign)."""
    await get(ws, campaign_id)
    if which not in SAVABLE:
        raise Invalid("status", "Choose one of: %(choices)s.", choices=", ".join(SAVABLE))
    ids = await store.contact_ids(ws.db, campaign_id, which)
    if not ids:
        raise Invalid("status", "No recipient of this campaign is %(status)s.", status=status_word(which))
    name = contact_groups.clean_group_name(group_name)
    existing = next((g for g in await contact_groups.groups(ws) if g.name.casefold() == name.casefold()), None)
    group = existing or await contact_groups.create_group(ws, name)
    await contact_groups.add_to_group(ws, ids, group.id)
    return group.id, len(ids)
