"""The campaigns pages: the list, the wizard (name → number → message → audience → schedule → pacing → review),
and one campaign's page with live progress (bus event "campaign.progress" → each tab fetches the fresh numbers),
rates, a chart of sends over time, controls, and the recipients table with CSV export.

Everyone in the workspace sees campaigns and their results; composing, launching and controlling them needs an
admin, since a campaign speaks for the business to thousands of people.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Stream, Template

from blazz import (
    accounts,
    campaign_checks,
    campaign_stats,
    campaigns,
    cloud_templates,
    contact_groups,
    contacts,
    custom_fields,
    i18n,
    pacing,
    templates,
)
from blazz.errors import DomainError, Invalid
from blazz.i18n import N_, ngettext
from blazz.i18n import gettext as _
from blazz.store import campaigns as campaigns_store
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.web.toasts import toast
from blazz.web.workspace_pages import actor_of
from blazz.workspaces import Workspace, has_role

STEPS = ("name", "account", "message", "audience", "schedule", "pacing", "review")
STEP_TITLES = {"name": N_("Name"), "account": N_("Number"), "message": N_("Message"), "audience": N_("Audience"),
               "schedule": N_("Schedule"), "pacing": N_("Pacing"), "review": N_("Review")}  # pages translate them
FILTERS = ("pending", "queued", "sent", "delivered", "read", "replied", "failed", "skipped")
PAGE = 50


class Clock:
    """Times as the workspace reads them: its timezone, for display (in the reader's language) and for the
    schedule's date and time."""

    def __init__(self, tz: dt.tzinfo):
        self.tz = tz

    @property
    def name(self) -> str:
        return str(self.tz)

    def show(self, ts: float | None) -> str:
        """Thu 26 Nov 2026, 10:00 (Kam 26 Nov 2026, 10.00 in Indonesian)."""
        return i18n.datetime(ts, "EEE d MMM y, HH:mm", tz=self.tz) if ts else ""

    def short(self, ts: float | None) -> str:
        """The time of day (with seconds) today, else the day and time."""
        if not ts:
            return ""
        today = dt.datetime.fromtimestamp(ts, self.tz).date() == dt.datetime.now(self.tz).date()
        return i18n.datetime(ts, "HH:mm:ss" if today else "d MMM HH:mm", tz=self.tz)

    def field(self, ts: float | None) -> str:
        return dt.datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%dT%H:%M") if ts else ""

    def parse(self, value: str) -> float | None:
        if not value:
            return None
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise Invalid("scheduled_at", "Give the date and time like 2026-12-01 09:00.") from None
        return moment.replace(tzinfo=self.tz).timestamp() if moment.tzinfo is None else moment.timestamp()


async def clock_of(ws: Workspace) -> Clock:
    return Clock(await pacing.timezone_of(ws))


def _ints(values: list[str]) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return out


async def _form(request: Request) -> Any:
    return await request.form()


def message_from(form: Any) -> dict[str, Any]:
    kind = form.get("kind") or "text"
    media_id = form.get("media_id") or None
    if kind == "cloud":
        return {"cloud_template_id": form.get("cloud_template_id") or None}
    if kind == "template":
        return {"template_id": form.get("template_id") or None, "text": "", "variants": [], "media_id": media_id}
    variants = [form.get("variant_2") or "", form.get("variant_3") or ""]
    return {"template_id": None, "text": form.get("text") or "", "variants": variants, "media_id": media_id}


def audience_from(form: Any) -> dict[str, Any]:
    fields = []
    key, value = (form.get("field_key") or "").strip(), (form.get("field_value") or "").strip()
    if key:
        fields.append({"key": key, "value": value})
    recent = form.get("recent_days") if form.get("recent_guard") == "on" else None
    try:
        groups = form.getall("groups")
    except KeyError:
        groups = []
    return {"all": form.get("who") == "all", "groups": _ints(groups), "fields": fields, "recent_days": recent}


class CampaignsController(Controller):
    path = "/w/{slug:str}/campaigns"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    # -- the list ---------------------------------------------------------------------------------------------

    @get("/", **requires("agent"))
    async def index(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        status = request.query_params.get("status") or None
        if status not in (None, *("draft", "scheduled", "running", "paused", "completed", "cancelled", "failed")):
            status = None
        rows = await campaigns.list_page(ws, status=status, limit=200)
        progress = {c.id: await campaign_stats.progress(ws, c.id) for c in rows}
        return page(request, "campaigns/index.html", ws=ws, rows=rows, progress=progress, status=status,
                    clock=await clock_of(ws), can_edit=has_role(me.role, "admin"), in_words=campaign_stats.in_words)

    @get("/{campaign_id:int}/row", **requires("agent"))
    async def row(self, ws: CurrentWorkspace, me: CurrentMember, campaign_id: FromPath[int]) -> Template:
        c = await campaigns.get(ws, campaign_id)
        return Template(template_name="campaigns/_row.html",
                        context={"ws": ws, "c": c, "p": await campaign_stats.progress(ws, c.id),
                                 "clock": await clock_of(ws), "in_words": campaign_stats.in_words,
                                 "status_word": campaigns.status_word})

    # -- the wizard -------------------------------------------------------------------------------------------

    @post("/", status_code=200, **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template | ClientRedirect:
        form = await _form(request)
        try:
            c = await campaigns.create(ws, {"name": form.get("name")}, created_by=request.user.id)
        except Invalid as exc:
            return Template(template_name="campaigns/_new.html", status_code=422,
                            context={"ws": ws, "name": form.get("name") or "", "error": exc.message})
        return ClientRedirect(f"/w/{ws.slug}/campaigns/{c.id}/edit/account")

    @get("/{campaign_id:int}/edit/{step:str}", **requires("admin"))
    async def wizard(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int],
                     step: FromPath[str]) -> Template | Redirect:
        c = await campaigns.get(ws, campaign_id)
        if c.status != "draft" and not (step == "pacing" and c.status in campaigns.PACING_STATES):
            return Redirect(f"/w/{ws.slug}/campaigns/{c.id}")  # a scheduled or paused one may still change its pace
        if step not in STEPS:
            step = "name"
        return page(request, "campaigns/wizard.html", **await self._wizard_context(ws, c, step))

    async def _wizard_context(self, ws: Workspace, c: campaigns_store.Campaign, step: str, **extra: Any) -> dict:
        context: dict[str, Any] = {"ws": ws, "c": c, "step": step, "steps": STEPS, "titles": STEP_TITLES,
                                   "errors": {}, "clock": await clock_of(ws), "in_words": campaign_stats.in_words}
        if step in ("account", "pacing", "review"):
            context["numbers"] = await accounts.list_views(ws)
        if step == "message":
            context["templates"] = await templates.list_all(ws)
            context["variables"] = await templates.known_variables(ws)
            context["samples"] = (await contacts.list_contacts(ws, contacts.Filters(), limit=30)).contacts
            context["cloud"] = await self._cloud_choices(ws, c)
        if step == "audience":
            context["groups"] = await contact_groups.groups(ws, with_counts=True)
            context["fields"] = await custom_fields.fields(ws)
        if step in ("pacing", "review") and c.account_id is not None:
            context.update(await self._pace(ws, c))
        if step == "review":
            context["problems"] = await self._problems(ws, c)
            if c.message.get("cloud_template_id") is not None:
                context["cloud_preview"] = await self._cloud_sample(ws, c)
        context.update(extra)
        return context

    async def _cloud_choices(self, ws: Workspace, c: campaigns_store.Campaign) -> dict[str, Any] | None:
        """On a Cloud API number: its templates a campaign can send (approved by Meta, no media header); None on
        other numbers."""
        if c.account_id is None:
            return None
        account = (await accounts.view(ws, c.account_id)).account
        if account.engine != "cloud_api":
            return None
        usable = [t for t in await cloud_templates.list_for(ws, account.id)
                  if t.status == "APPROVED" and cloud_templates.header_format(t) in (None, "TEXT")]
        return {"number": account, "templates": usable}

    async def _cloud_sample(self, ws: Workspace, c: campaigns_store.Campaign) -> dict[str, Any]:
        """The Meta template as the first recipient of the audience would read it (example values without one)."""
        contact = await campaign_checks.sample_recipient(ws, c)
        return await cloud_preview(ws, c.message["cloud_template_id"], c.account_id,
                                   contact.id if contact is not None else None)

    async def _pace(self, ws: Workspace, c: campaigns_store.Campaign) -> dict[str, Any]:
        """The pacing this campaign follows (its number's, or its own) and the finish it gives its audience."""
        try:
            status = await pacing.status(ws, c.account_id, c)
        except DomainError:
            return {}
        try:
            summary = await campaign_checks.audience_summary(ws, c.audience, c.id)
        except Invalid:
            summary = None
        view = await accounts.view(ws, c.account_id)
        tz = await pacing.timezone_of(ws)
        start = max(c.scheduled_at or 0, time.time())
        finish = campaign_stats.estimate_finish(status.settings, summary.included if summary else 0, start, tz,
                                                linked_at=view.account.linked_at, sent_today=status.sent_today)
        unpaced = pacing.unpaced(status.settings)
        return {"pace": status, "summary": summary, "finish": finish, "start": start, "own": bool(c.pacing),
                "unpaced": unpaced, "paced_box": not unpaced if c.pacing else status.settings.enabled}

    async def _problems(self, ws: Workspace, c: campaigns_store.Campaign) -> list[tuple[str, str]]:
        """What stops this draft from launching, step by step (the same checks the launch makes)."""
        problems: list[tuple[str, str]] = []
        if c.account_id is None:
            problems.append(("account", _("Choose the WhatsApp number that sends it.")))
        try:
            await campaign_checks.content_of(ws, c.message, c.account_id)
        except DomainError as exc:
            problems.append(("message", exc.message))
        try:
            summary = await campaign_checks.audience_summary(ws, c.audience, c.id)
            if not summary.total:
                problems.append(("audience", _("Nobody is in this audience.")))
            elif not summary.included:
                problems.append(("audience", _("Everyone in this audience is excluded.")))
        except Invalid as exc:
            problems.append(("audience", exc.message))
        if c.scheduled_at is not None and c.scheduled_at < time.time() - campaign_checks.PAST_GRACE_S:
            problems.append(("schedule", _("The scheduled time has passed.")))
        return problems

    @post("/{campaign_id:int}/edit/{step:str}", status_code=200, **requires("admin"))
    async def save_step(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int],
                        step: FromPath[str]) -> Template | ClientRedirect:
        c = await campaigns.get(ws, campaign_id)
        if step not in STEPS:
            step = "name"
        form = await _form(request)
        clock = await clock_of(ws)
        try:
            if step == "name":
                await campaigns.update(ws, c.id, {"name": form.get("name")})
            elif step == "account":
                await campaigns.update(ws, c.id, {"account_id": form.get("account_id")})
            elif step == "message":
                await campaigns.update(ws, c.id, {"message": message_from(form)})
            elif step == "audience":
                await campaigns.update(ws, c.id, {"audience": audience_from(form)})
                await campaign_checks.audience_of(ws, (await campaigns.get(ws, c.id)).audience, c.id)
            elif step == "schedule":
                when = clock.parse(form.get("scheduled_at") or "") if form.get("when") == "later" else None
                if form.get("when") == "later" and when is None:
                    raise Invalid("scheduled_at", "Choose the date and time to send it.")
                await campaigns.update(ws, c.id, {"scheduled_at": when,
                                                  "late_limit_s": _hours(form.get("late_limit_h"))})
        except Invalid as exc:
            c = await campaigns.get(ws, campaign_id)
            context = await self._wizard_context(ws, c, step, errors={exc.field: exc.message}, form=form)
            return Template(template_name="campaigns/_wizard_step.html", context=context, status_code=422)
        following = STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]
        return ClientRedirect(f"/w/{ws.slug}/campaigns/{c.id}/edit/{following}")

    @post("/{campaign_id:int}/pacing", status_code=200, **requires("admin"))
    async def save_pacing(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int]) -> Template:
        """The pacing step: the campaign follows its number's pacing (which can be changed here for every campaign
        of that number) or has its own. Choosing "own" starts from the number's; the form's fields then change it."""
        c = await campaigns.get(ws, campaign_id)
        if c.account_id is None:
            raise Invalid("account_id", "Choose the number first.")
        form = await _form(request)
        own, fields = form.get("mode") == "custom", form.get("gap_min_s") is not None
        try:
            if own:
                c = await campaigns.set_pacing(ws, c.id, pacing_from(form) if fields else (c.pacing or {}))
                done = toast("This campaign's pacing is saved.")
            elif fields:
                await pacing.update(ws, c.account_id, **pacing_from(form))
                done = toast("The number's pacing is saved.")
            else:
                c = await campaigns.set_pacing(ws, c.id, None)
                done = toast("This campaign follows the number's pacing.")
        except Invalid as exc:
            context = await self._wizard_context(ws, c, "pacing", errors={exc.field: exc.message})
            return Template(template_name="campaigns/_wizard_step.html", context=context, status_code=422)
        context = await self._wizard_context(ws, c, "pacing")
        return Template(template_name="campaigns/_wizard_step.html", context=context, headers=done)

    @post("/{campaign_id:int}/preview", status_code=200, **requires("admin"))
    async def preview(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int]) -> Template:
        form = await _form(request)
        message = message_from(form)
        if message.get("cloud_template_id") is not None or form.get("kind") == "cloud":
            c = await campaigns.get(ws, campaign_id)
            shown = await cloud_preview(ws, _first_int(message.get("cloud_template_id")), c.account_id,
                                        _first_int(form.get("contact_id")))
            return Template(template_name="campaigns/_cloud_preview.html", context={"ws": ws, **shown})
        if message["template_id"]:
            try:
                t = await templates.get(ws, int(message["template_id"]))
                bodies, footer = list(t.bodies), t.footer
            except (DomainError, ValueError):
                bodies, footer = [], ""
        else:
            bodies, footer = [message["text"], *message["variants"]], ""
        contact_id = _first_int(form.get("contact_id"))
        shown = await templates.preview(ws, bodies, footer, contact_id)
        return Template(template_name="message_templates/_preview.html", context={"ws": ws, "p": shown})

    @post("/{campaign_id:int}/audience-count", status_code=200, **requires("admin"))
    async def audience_count(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int]) -> Template:
        form = await _form(request)
        try:
            audience = campaign_checks.clean_audience(audience_from(form))
            summary = await campaign_checks.audience_summary(ws, audience, campaign_id)
            error = None
        except Invalid as exc:
            summary, error = None, exc.message
        return Template(template_name="campaigns/_audience_count.html",
                        context={"summary": summary, "error": error})

    @post("/{campaign_id:int}/launch", status_code=200, **requires("admin"))
    async def launch(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int]
                     ) -> Template | ClientRedirect:
        try:
            await campaigns.launch(ws, campaign_id, actor_of(request))
        except DomainError as exc:
            c = await campaigns.get(ws, campaign_id)
            context = await self._wizard_context(ws, c, "review", launch_error=exc.message)
            return Template(template_name="campaigns/_wizard_step.html", context=context, status_code=exc.status)
        return ClientRedirect(f"/w/{ws.slug}/campaigns/{campaign_id}")

    @post("/{campaign_id:int}/delete", status_code=200, **requires("admin"))
    async def delete(self, ws: CurrentWorkspace, campaign_id: FromPath[int]) -> ClientRedirect:
        await campaigns.delete_draft(ws, campaign_id)
        return ClientRedirect(f"/w/{ws.slug}/campaigns")

    # -- one campaign -------------------------------------------------------------------------------------------

    @get("/{campaign_id:int}", **requires("agent"))
    async def detail(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                     campaign_id: FromPath[int]) -> Template | Redirect:
        c = await campaigns.get(ws, campaign_id)
        if c.status == "draft" and has_role(me.role, "admin"):
            return Redirect(f"/w/{ws.slug}/campaigns/{c.id}/edit/review")
        status = request.query_params.get("status") or None
        status = status if status in FILTERS else None
        context = await self._live_context(ws, me, c.id)
        rows = await campaigns_store.recipients(ws.db, c.id, status=status, limit=PAGE + 1)
        return page(request, "campaigns/campaign.html", **context, rows=rows[:PAGE],
                    more=rows[PAGE - 1].id if len(rows) > PAGE else None, status=status, filters=FILTERS,
                    status_word=campaigns.status_word)

    async def _live_context(self, ws: Workspace, me: Any, campaign_id: int) -> dict[str, Any]:
        p = await campaign_stats.progress(ws, campaign_id)
        return {"ws": ws, "c": p.campaign, "p": p, "chart": await campaign_stats.sends_chart(ws.db, campaign_id),
                "clock": await clock_of(ws), "can_edit": has_role(me.role, "admin"),
                "in_words": campaign_stats.in_words}

    @get("/{campaign_id:int}/live", **requires("agent"))
    async def live(self, ws: CurrentWorkspace, me: CurrentMember, campaign_id: FromPath[int]) -> Template:
        return Template(template_name="campaigns/_live.html", context=await self._live_context(ws, me, campaign_id))

    @get("/{campaign_id:int}/recipients", **requires("agent"))
    async def recipients(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int]) -> Template:
        await campaigns.get(ws, campaign_id)
        status = request.query_params.get("status") or None
        status = status if status in FILTERS else None
        after = _first_int(request.query_params.get("after")) or 0
        rows = await campaigns_store.recipients(ws.db, campaign_id, status=status, after_id=after, limit=PAGE + 1)
        return Template(template_name="campaigns/_recipient_rows.html",
                        context={"ws": ws, "campaign_id": campaign_id, "rows": rows[:PAGE], "status": status,
                                 "more": rows[PAGE - 1].id if len(rows) > PAGE else None,
                                 "clock": await clock_of(ws), "in_words": campaign_stats.in_words,
                                 "status_word": campaigns.status_word})

    @get("/{campaign_id:int}/recipients.csv", **requires("admin"))
    async def export(self, request: Request, ws: CurrentWorkspace, campaign_id: FromPath[int]) -> Stream:
        c = await campaigns.get(ws, campaign_id)
        status = request.query_params.get("status") or None
        status = status if status in FILTERS else None
        name = "".join(ch if ch.isalnum() else "-" for ch in c.name.lower()).strip("-")[:40] or "campaign"
        return Stream(campaign_stats.recipients_csv(ws, campaign_id, status), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": f'attachment; filename="{name}-recipients.csv"'})

    @post("/{campaign_id:int}/{action:str}", status_code=200, **requires("admin"))
    async def control(self, request: Request, ws: CurrentWorkspace, me: CurrentMember, campaign_id: FromPath[int],
                      action: FromPath[str]) -> Template | ClientRedirect:
        actor = actor_of(request)
        if action == "pause":
            await campaigns.pause(ws, campaign_id, actor)
            done = toast("Paused. Nothing more goes out until you resume.")
        elif action == "resume":
            await campaigns.resume(ws, campaign_id, actor)
            done = toast("Resumed.")
        elif action == "cancel":
            await campaigns.cancel(ws, campaign_id, actor)
            done = toast("Cancelled. Messages already sent stay sent.")
        elif action == "retry":
            result = await campaigns.retry_failed(ws, campaign_id, actor)
            said = ngettext("%(num)s failed message queued again.", "%(num)s failed messages queued again.",
                            result.queued)
            if result.not_retried:
                said += " " + ngettext("%(num)s could not be: WhatsApp reported it failed after taking it.",
                                       "%(num)s could not be: WhatsApp reported them failed after taking them.",
                                       result.not_retried)
            done = toast(said)  # already in the reader's language: the catalog has no entry for the whole
        elif action == "duplicate":
            copy = await campaigns.duplicate(ws, campaign_id, created_by=request.user.id)
            return ClientRedirect(f"/w/{ws.slug}/campaigns/{copy.id}/edit/name")
        elif action == "resume-number":
            c = await campaigns.get(ws, campaign_id)
            if c.account_id is not None:
                await pacing.resume(ws, c.account_id)
            done = toast("Campaign sending on this number resumed.")
        elif action == "save-group":
            form = await _form(request)
            _group, added = await campaigns.save_as_group(ws, campaign_id, form.get("which") or "",
                                                          form.get("group_name") or "")
            done = toast(ngettext("%(num)s contact saved in the group “%(group)s”.",
                                  "%(num)s contacts saved in the group “%(group)s”.", added,
                                  group=form.get("group_name") or ""))
        else:
            raise Invalid("action", "Unknown action.")
        context = await self._live_context(ws, me, campaign_id)
        return Template(template_name="campaigns/_live.html", context=context, headers=done)


async def cloud_preview(ws: Workspace, cloud_id: int | None, account_id: int | None,
                        contact_id: int | None) -> dict[str, Any]:
    """A Meta template as one contact (or example values) would read it, and what stops it from going out: a
    parameter without a mapping, or one that is empty for this contact."""
    if cloud_id is None:
        return {"t": None}
    try:
        t = await campaign_checks.cloud_template(ws, cloud_id, account_id)
    except Invalid as exc:
        return {"t": None, "problem": exc.message}
    contact, values = None, dict(templates.EXAMPLE)
    if contact_id is not None:
        try:
            contact = await contacts.get(ws, contact_id, include_deleted=False)
            values = await templates.contact_values(ws, contact_id)
        except DomainError:
            contact = None
    problem = None
    try:
        await campaign_checks.cloud_template(ws, cloud_id, account_id, launching=True)
        cloud_templates.call_for(t, values)
    except Invalid as exc:
        problem = exc.message
    return {"t": t, "text": cloud_templates.text_for(t, values, header=True), "contact": contact, "problem": problem}


def _first_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def pacing_from(form: Any) -> dict[str, Any]:
    """The pacing form's changes, in `pacing.update`'s terms (minutes shown to people, seconds stored)."""
    def minutes(name: str) -> Any:
        value = form.get(name)
        try:
            return float(value) * 60
        except (TypeError, ValueError):
            return value

    return {"enabled": form.get("enabled") == "on", "gap_min_s": form.get("gap_min_s"),
            "gap_max_s": form.get("gap_max_s"), "pause_every": form.get("pause_every") or 0,
            "pause_min_s": minutes("pause_min_m"), "pause_max_s": minutes("pause_max_m"),
            "daily_cap": form.get("daily_cap") or None, "warmup": form.get("warmup") == "on",
            "typing": form.get("typing") == "on", "window_start": form.get("window_start") or None,
            "window_end": form.get("window_end") or None}


def _hours(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise Invalid("late_limit_h", "Give the number of hours, e.g. 6.") from None
    if not 0 <= hours <= 168:
        raise Invalid("late_limit_h", "Give between 0 and 168 hours (7 days).")
    return hours * 3600
