"""What a campaign is made of, checked: its name, message, audience and schedule as the owner composes them (bad
input is refused with the field and the reason), and what they resolve to at launch: the content every recipient
gets (texts, footer, file, or one of Meta's templates) and the audience as a query, counted and previewed.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from blazz import campaign_feed, cloud_templates, contacts, media, outbox, templates
from blazz.errors import Invalid, NotFound
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


def clean_name(value: Any) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise Invalid("name", "Give the campaign a name, e.g. 'Ramadan promo 2026'.")
    if len(name) > MAX_NAME:
        raise Invalid("name", "Use at most %(max)s characters for the name.", max=MAX_NAME)
    return name


def clean_id(value: Any, field: str) -> int | None:
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
    cloud_id = clean_id(raw.get("cloud_template_id"), "message.cloud_template_id")
    if cloud_id is not None:  # Meta's template is the whole message: its own text, no file of ours
        return {"template_id": None, "text": "", "variants": [], "media_id": None, "cloud_template_id": cloud_id}
    return {"template_id": clean_id(raw.get("template_id"), "message.template_id"), "text": text.replace("\r\n", "\n"),
            "variants": [v.replace("\r\n", "\n") for v in variants if v.strip()],
            "media_id": clean_id(raw.get("media_id"), "message.media_id")}


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
    return {"all": bool(raw.get("all")), "groups": list(dict.fromkeys(clean_id(g, "audience.groups") for g in groups)),
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
    excluded = {k: counts.get(k, 0) for k in campaign_feed.SKIP_REASONS}
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
