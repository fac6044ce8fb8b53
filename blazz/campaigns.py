"""Campaigns: personalised broadcasts to an audience of contacts, paced by the sending number, crash-proof.

A campaign is a draft while the owner composes it (name, number, message, audience, schedule). Launching checks it
(unknown variables, a schedule in the past, an empty audience are refused with the reason), snapshots the audience
into `campaign_recipients` (opted-out, number-less, known not-on-WhatsApp and, if asked, recently messaged contacts
are skipped with a reason) and hands it to the scheduler (`blazz.campaign_runner`), which feeds the outbox a window
at a time (`blazz.campaign_feed`). Pause takes that window back at once; resume, cancel, retry of failed recipients,
duplicating and saving recipients as a contact group are here too.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from blazz import (
    audit,
    campaign_feed,
    campaign_runner,
    cloud_templates,
    contact_groups,
    contacts,
    media,
    outbox,
    pacing,
    templates,
)
from blazz.errors import Conflict, Invalid, NotFound
from blazz.i18n import N_, gettext
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as store
from blazz.store import custom_fields as fields_store
from blazz.store import groups as groups_store
from blazz.store import media as media_store
from blazz.store.campaigns import Campaign
from blazz.store.contacts import Contact
from blazz.store.templates import CloudTemplateRow
from blazz.workspaces import Workspace

MAX_NAME = 120
MAX_RECENT_DAYS = 365
MAX_LATE_LIMIT_S = 7 * 86400
PAST_GRACE_S = 60  # a time picked to the minute for "now" is not "in the past"
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


# -- what a campaign says -------------------------------------------------------------------------------------------


def clean_name(value: Any) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise Invalid("name", "Give the campaign a name, e.g. 'Ramadan promo 2026'.")
    if len(name) > MAX_NAME:
        raise Invalid("name", "Use at most %(max)s characters for the name.", max=MAX_NAME)
    return name


def _id(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise Invalid(field, "Give an id (a whole number).")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(field, "Give an id (a whole number).") from None
    if not 0 < number < 2**63:
        raise Invalid(field, "There is nothing with that id.")
    return number


def clean_message(raw: Any) -> dict[str, Any]:
    """The message as composed: a template, or text with up to two alternatives; a file either way (optional); or
    one of Meta's approved templates (`cloud_template_id`, a Cloud API number's only way outside the 24 hours)."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise Invalid("message", "Give the message as text or a template.")
    unknown = sorted(set(raw) - {"template_id", "text", "variants", "media_id", "cloud_template_id"})
    if unknown:
        raise Invalid("message." + unknown[0], "%(key)s is not part of a campaign message.", key=unknown[0])
    variants = raw.get("variants") or []
    if not isinstance(variants, list | tuple) or not all(isinstance(v, str) for v in variants):
        raise Invalid("message.variants", "Give the alternative texts as a list of texts.")
    text = raw.get("text") or ""
    if not isinstance(text, str):
        raise Invalid("message.text", "The message text must be text.")
    cloud_id = _id(raw.get("cloud_template_id"), "message.cloud_template_id")
    if cloud_id is not None:  # Meta's template is the whole message: its own text, no file of ours
        return {"template_id": None, "text": "", "variants": [], "media_id": None, "cloud_template_id": cloud_id}
    return {"template_id": _id(raw.get("template_id"), "message.template_id"), "text": text.replace("\r\n", "\n"),
            "variants": [v.replace("\r\n", "\n") for v in variants if v.strip()],
            "media_id": _id(raw.get("media_id"), "message.media_id")}


def clean_audience(raw: Any) -> dict[str, Any]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise Invalid("audience", "Say who gets the campaign: groups, or all contacts.")
    unknown = sorted(set(raw) - {"all", "groups", "fields", "recent_days"})
    if unknown:
        raise Invalid("audience." + unknown[0], "%(key)s is not part of an audience.", key=unknown[0])
    groups = raw.get("groups") or []
    if not isinstance(groups, list | tuple):
        raise Invalid("audience.groups", "Give the groups as a list of ids.")
    fields = raw.get("fields") or []
    if not isinstance(fields, list | tuple) or not all(
            isinstance(f, dict) and set(f) <= {"key", "value"} and isinstance(f.get("key"), str) for f in fields):
        raise Invalid("audience.fields", 'Give field filters as [{"key": "city", "value": "Medan"}].')
    recent = raw.get("recent_days")
    if recent in (None, "", 0, "0"):
        recent = None
    else:
        try:
            recent = int(recent)
        except (TypeError, ValueError):
            raise Invalid("audience.recent_days", "Give a number of days.") from None
        if not 1 <= recent <= MAX_RECENT_DAYS:
            raise Invalid("audience.recent_days", "Give between 1 and %(max)s days.", max=MAX_RECENT_DAYS)
    return {"all": bool(raw.get("all")), "groups": list(dict.fromkeys(_id(g, "audience.groups") for g in groups)),
            "fields": [{"key": f["key"], "value": f.get("value")} for f in fields if f["key"]], "recent_days": recent}


def clean_schedule(scheduled_at: Any, late_limit_s: Any, now: float) -> tuple[float | None, float | None]:
    if scheduled_at in (None, ""):
        at = None
    else:
        try:
            at = float(scheduled_at)
        except (TypeError, ValueError):
            raise Invalid("scheduled_at", "Give the start as a date and time.") from None
        if at != at or not 0 < at < 4e9:
            raise Invalid("scheduled_at", "Give the start as a date and time.")
        if at < now - PAST_GRACE_S:
            raise Invalid("scheduled_at", "That time has passed; choose a time in the future, or send now.")
    if late_limit_s in (None, ""):
        late = None
    else:
        try:
            late = float(late_limit_s)
        except (TypeError, ValueError):
            raise Invalid("late_limit_s", "Give the lateness limit in seconds.") from None
        if not 0 <= late <= MAX_LATE_LIMIT_S:
            raise Invalid("late_limit_s", "The lateness limit is between 0 and 7 days.")
    return at, late


async def audience_of(ws: Workspace, audience: dict[str, Any], campaign_id: int = 0,
                      now: float | None = None) -> store.Audience:
    """The audience as a query, its groups and custom fields checked; Invalid when it selects nobody at all."""
    now = time.time() if now is None else now
    group_ids = tuple(g for g in audience.get("groups") or () if g is not None)
    if group_ids:
        known = {g.id for g in await groups_store.list_all(ws.db)}
        missing = [g for g in group_ids if g not in known]
        if missing:
            raise Invalid("audience.groups", "One of the chosen groups no longer exists.")
    specs = {f.key: f for f in await fields_store.list_all(ws.db)}
    fields: list[tuple[str, Any]] = []
    for f in audience.get("fields") or ():
        spec = specs.get(f["key"])
        if spec is None:
            raise Invalid("audience.fields", "There is no custom field %(key)s.", key=repr(f["key"]))
        value = contacts.field_value(spec, f.get("value"))
        if value is None:
            raise Invalid("audience.fields", "Give a value for %(field)s.", field=spec.label)
        fields.append((spec.key, (1 if value else 0) if spec.type == "checkbox" else value))
    everyone = bool(audience.get("all"))
    if not everyone and not group_ids and not fields:
        raise Invalid("audience", "Choose who gets it: one or more groups, all contacts, or a custom field filter.")
    recent = audience.get("recent_days")
    return store.Audience(everyone=everyone or not group_ids, group_ids=group_ids, fields=tuple(fields),
                          recent_since=int(now - recent * 86400) if recent else None,
                          checks_fresh_after=int(now - campaign_feed.CHECK_FRESH_S))


async def sample_recipient(ws: Workspace, c: Campaign) -> Contact | None:
    """The first contact of a draft's audience who would get it (for a preview); None without one."""
    try:
        audience = await audience_of(ws, c.audience, c.id)
    except Invalid:
        return None
    return await store.first_included(ws.db, audience, c.id)


@dataclass(frozen=True, slots=True)
class AudienceSummary:
    total: int  # contacts the audience selects
    included: int  # of them, those who will get the message
    excluded: dict[str, int]  # reason code (see campaign_feed.SKIP_REASONS) → contacts


async def audience_summary(ws: Workspace, audience: dict[str, Any], campaign_id: int = 0) -> AudienceSummary:
    counts = await store.audience_counts(ws.db, await audience_of(ws, audience, campaign_id), campaign_id)
    excluded = {k: counts.get(k, 0) for k in REASONS}
    return AudienceSummary(counts["total"], counts.get("included", 0), excluded)


async def content_of(ws: Workspace, message: dict[str, Any], account_id: int | None = None) -> dict[str, Any]:
    """What every recipient gets (the texts, footer and file, or Meta's template), checked: refuses unknown
    variables by name, and a Meta template that cannot go from this number."""
    if message.get("cloud_template_id") is not None:
        t = await cloud_template(ws, message["cloud_template_id"], account_id, launching=True)
        await templates.check_known(ws, t.mapping.values(), field="message")
        return {"bodies": [cloud_templates.text_for(t, {}, header=True)], "footer": "", "media_id": None,
                "template_id": None, "template_name": t.name, "cloud_template": dataclasses.asdict(t)}
    template_id = message.get("template_id")
    if template_id is not None:
        try:
            t = await templates.get(ws, template_id)
        except NotFound:
            raise Invalid("message.template_id", "That template was deleted; choose another or write the text.") \
                from None
        bodies, footer, media_id, name = list(t.bodies), t.footer, message.get("media_id") or t.media_id, t.name
    else:
        bodies = [b.strip() for b in [message.get("text") or "", *(message.get("variants") or [])] if b.strip()]
        footer, media_id, name = "", message.get("media_id"), None
    if not bodies and media_id is None:
        raise Invalid("message", "Write the message (or choose a template) first.")
    if len(bodies) > templates.MAX_VARIANTS:
        raise Invalid("message.variants", "A campaign message has at most %(max)s versions.",
                      max=templates.MAX_VARIANTS)
    for i, body in enumerate(bodies):
        if len(body) > outbox.MAX_TEXT:
            raise Invalid("message.text", "Text %(n)s is longer than WhatsApp's %(max)s characters.", n=str(i + 1),
                          max=outbox.MAX_TEXT)
    await templates.check_known(ws, [*bodies, footer], field="message")
    if media_id is not None:
        found = await media_store.get(ws.db, media_id)
        if found is None:
            raise Invalid("message.media_id", "No such file; upload it first.")
        media.sendable(found)
    return {"bodies": bodies or [""], "footer": footer, "media_id": media_id, "template_id": template_id,
            "template_name": name}


async def cloud_template(ws: Workspace, cloud_id: int, account_id: int | None, *,
                         launching: bool = False) -> CloudTemplateRow:
    """A Meta template a campaign of this number may use; `launching` adds what may still change while composing
    (Meta's approval, the mapping of each parameter, a media header). Invalid names what is wrong."""
    field = "message.cloud_template_id"
    try:
        t = await cloud_templates.get(ws, cloud_id)
    except NotFound:
        t = None
    if t is None or t.removed_at is not None:
        raise Invalid(field, "That Meta template is gone; sync the number's templates and choose again.")
    account = await accounts_store.get(ws.db, account_id) if account_id is not None else None
    if account is not None and account.engine != "cloud_api":
        raise Invalid(field, "Meta's templates go out from Cloud API numbers, and %(number)s is not one: choose a "
                             "Cloud API number, or write the message.", number=account.name)
    if account is not None and t.account_id != account.id:
        raise Invalid(field, "The template %(name)s belongs to another of your numbers; choose one of %(number)s's "
                             "templates.", name=t.name, number=account.name)
    if not launching:
        return t
    if t.status != "APPROVED":
        raise Invalid(field, "Meta has not approved the template %(name)s (it is %(status)s); only an approved "
                             "template can be sent.", name=t.name, status=t.status.lower())
    if cloud_templates.header_format(t) not in (None, "TEXT"):
        raise Invalid(field, "The template %(name)s starts with a file (a media header), which a campaign cannot "
                             "send; choose a template without one.", name=t.name)
    missing = cloud_templates.unmapped(t)
    if missing:
        names = ", ".join("{{" + p.name + "}}" + (" (header)" if p.component == "header" else "")
                          for p in cloud_templates.params_of(t) if p.key in missing)
        raise Invalid(field, "Say what goes in %(params)s of the template %(name)s: on the Templates page, map each "
                             "parameter to the contact's details, e.g. {{first_name|Kak}}.", params=names, name=t.name)
    return t


def snapshot_template(content: dict[str, Any]) -> CloudTemplateRow | None:
    """The Meta template a launched campaign sends (as it was at launch), or None for one of our messages."""
    data = content.get("cloud_template")
    return CloudTemplateRow(**data) if data else None


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
    name = clean_name(data.get("name"))
    account_id = _id(data.get("account_id"), "account_id")
    if account_id is not None and await accounts_store.get(ws.db, account_id) is None:
        raise Invalid("account_id", "No such WhatsApp number in this workspace.")
    message = clean_message(data.get("message"))
    if message.get("cloud_template_id") is not None:
        await cloud_template(ws, message["cloud_template_id"], account_id)
    audience = clean_audience(data.get("audience"))
    scheduled_at, late = clean_schedule(data.get("scheduled_at"), data.get("late_limit_s"), now)
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
        values["name"] = clean_name(data["name"])
    if "account_id" in data:
        account_id = _id(data["account_id"], "account_id")
        if account_id is not None and await accounts_store.get(ws.db, account_id) is None:
            raise Invalid("account_id", "No such WhatsApp number in this workspace.")
        values["account_id"] = account_id
    if "message" in data:
        values["message"] = clean_message(data["message"])
        if values["message"].get("cloud_template_id") is not None:
            await cloud_template(ws, values["message"]["cloud_template_id"],
                                 values.get("account_id", current.account_id))
    if "audience" in data:
        values["audience"] = clean_audience(data["audience"])
    if "scheduled_at" in data or "late_limit_s" in data:
        values["scheduled_at"], values["late_limit_s"] = clean_schedule(
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
    name = gettext("%(name)s (copy)", name=c.name)[:MAX_NAME]  # in the language of whoever duplicates it
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
        content = await content_of(ws, c.message, c.account_id)
        if c.scheduled_at is not None and c.scheduled_at < now - PAST_GRACE_S:
            raise Invalid("scheduled_at", "The scheduled time has passed; choose a new time, or send now.")
        audience = await audience_of(ws, c.audience, c.id, now)
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
