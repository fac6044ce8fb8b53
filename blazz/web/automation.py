"""Automation pages: auto-reply rules (list in checking order, on/off, reorder, the "test a message" box, the rule
form) and business hours (weekly schedule, holidays, away and greeting messages). Agents see them; admins change."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXTemplate
from litestar.response import Redirect, Template
from markupsafe import Markup, escape

from blazz import auto_replies, automation, business_hours, templates, workspace_settings
from blazz import media as media_service
from blazz.errors import DomainError, Invalid
from blazz.i18n import N_, ngettext
from blazz.i18n import gettext as _
from blazz.store import accounts as accounts_store
from blazz.store import media as media_store
from blazz.store.auto_replies import Rule
from blazz.web.context import CurrentWorkspace, fragment, page, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.web.toasts import toast
from blazz.web.workspace_pages import actor_of
from blazz.workspaces import Workspace

UPLOAD_LIMIT = media_service.MAX_UPLOAD + 1024 * 1024  # the largest file WhatsApp takes plus the form around it
TRIGGERS = [  # key, label, hint (English; translated per request by `triggers()`)
    ("contains", N_("Contains"), N_("Any of the words appears in the message")),
    ("exact", N_("Is exactly"), N_("The whole message is one of the words")),
    ("starts_with", N_("Starts with"), N_("The message begins with one of the words")),
    ("regex", N_("Matches a pattern"), N_("A regular expression (for experts)")),
    ("any", N_("Any message"), N_("Every message a customer sends")),
    ("first_message", N_("First message"), N_("The very first message of a new contact")),
]
COOLDOWNS = (0, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
AWAY_PERIODS = (3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)
GREETING_PERIODS = (86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400)
# Service field names → the form field that shows the message.
FORM_FIELDS = {"reply.text": "reply_text", "reply.media_id": "file", "reply.template_id": "template_id",
               "reply": "reply_text", "rules": "form"}


# Per unit: its size, the unit alone (as in "once per hour") and the counted form, in the reader's language.
_UNITS: tuple[tuple[int, Callable[[], str], Callable[[int], str]], ...] = (
    (7 * 86400, lambda: _("week"), lambda n: ngettext("%(num)s week", "%(num)s weeks", n)),
    (86400, lambda: _("day"), lambda n: ngettext("%(num)s day", "%(num)s days", n)),
    (3600, lambda: _("hour"), lambda n: ngettext("%(num)s hour", "%(num)s hours", n)),
    (60, lambda: _("minute"), lambda n: ngettext("%(num)s minute", "%(num)s minutes", n)),
    (1, lambda: _("second"), lambda n: ngettext("%(num)s second", "%(num)s seconds", n)),
)


def duration(seconds: int, *, per: bool = False) -> str:
    """"2 weeks", "15 minutes", "1 hour" (with `per`: "hour", as in "once per hour") for a period in seconds."""
    for size, alone, counted in _UNITS:
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return alone() if per and n == 1 else counted(n)
    return ngettext("%(num)s second", "%(num)s seconds", 0)


def triggers() -> list[tuple[str, str, str]]:
    """The trigger choices with their label and hint in the current language."""
    return [(key, _(label), _(hint)) for key, label, hint in TRIGGERS]


def trigger_labels() -> dict[str, str]:
    return {key: label for key, label, _hint in triggers()}


def choices(presets: tuple[int, ...], current: Any) -> list[int]:
    """The preset durations, plus the current value when it was set to something else (through the API)."""
    if not isinstance(current, int) or current in presets:
        return list(presets)
    return sorted([*presets, current])


def marked(text: str) -> Markup:
    """The text (escaped) with its {{variables}} highlighted, for showing a reply as written."""
    return Markup(re.sub(r"(\{\{.*?\}\})", r'<span class="ar-var">\1</span>', str(escape(text or "")), flags=re.S))


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


async def _shared(request: Request, ws: Workspace) -> dict[str, Any]:
    hours = await business_hours.load(ws)
    return {"ws": ws, "membership": request.state.get("membership"), "state": await business_hours.status(ws, hours),
            "hours": hours, "duration": duration, "marked": marked,
            "accounts": {a.id: a for a in await accounts_store.all_active(ws.db)}}


class AutomationController(Controller):
    path = "/w/{slug:str}/automation"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    # -- rules ----------------------------------------------------------------------------------------------------

    async def _rules_context(self, request: Request, ws: Workspace) -> dict[str, Any]:
        rules = await auto_replies.list_rules(ws)
        names = {t.id: t.name for t in await templates.list_all(ws)}
        return {**await _shared(request, ws), "rules": rules, "template_names": names, "triggers": trigger_labels()}

    @get("/", **requires("agent"))
    async def index(self, request: Request, ws: CurrentWorkspace, saved: FromQuery[int | None] = None) -> Template:
        request.session["last_ws"] = ws.slug
        context = await self._rules_context(request, ws)
        return page(request, "automation/index.html", tab="rules", saved=saved, **context)

    @post("/rules/{rule_id:int}/active", status_code=200, **requires("admin"))
    async def set_active(self, request: Request, ws: CurrentWorkspace, rule_id: FromPath[int]) -> HTMXTemplate:
        on = (await request.form()).get("active") == "on"
        rule = await auto_replies.update(ws, actor_of(request), rule_id, active=on)
        if rule.name:
            headers = toast("“%(name)s” is on.", name=rule.name) if on else toast("“%(name)s” is off.", name=rule.name)
        else:
            headers = toast("The rule is on.") if on else toast("The rule is off.")
        return HTMXTemplate(template_name="automation/_rules.html", context=await self._rules_context(request, ws),
                            headers=headers)

    @post("/rules/{rule_id:int}/move", status_code=200, **requires("admin"))
    async def move(self, request: Request, ws: CurrentWorkspace, rule_id: FromPath[int]) -> Template:
        await auto_replies.move(ws, actor_of(request), rule_id, str((await request.form()).get("direction") or ""))
        return fragment("automation/_rules.html", **await self._rules_context(request, ws))

    @post("/rules/{rule_id:int}/delete", status_code=200, **requires("admin"))
    async def delete(self, request: Request, ws: CurrentWorkspace, rule_id: FromPath[int]) -> HTMXTemplate:
        rule = await auto_replies.get(ws, rule_id)
        await auto_replies.delete(ws, actor_of(request), rule_id)
        headers = toast("“%(name)s” deleted.", name=rule.name) if rule.name else toast("Rule deleted.")
        return HTMXTemplate(template_name="automation/_rules.html", context=await self._rules_context(request, ws),
                            headers=headers)

    @post("/test", status_code=200, **requires("agent"))
    async def test(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = await request.form()
        text = str(form.get("text") or "")
        account_id = _int(form.get("account_id"))
        try:
            found = await automation.test(ws, text, account_id=account_id, first_message=form.get("first") == "on")
        except Invalid as exc:
            return fragment("automation/_test_result.html", 422, error=exc.message, test=None)
        preview = await auto_replies.preview(ws, found.rule) if found.rule else ""
        return fragment("automation/_test_result.html", ws=ws, test=found, preview=preview, text=text, error=None,
                        triggers=trigger_labels(), duration=duration, marked=marked)

    # -- the rule form --------------------------------------------------------------------------------------------

    async def _form_page(self, request: Request, ws: Workspace, rule: Rule | None, form: dict[str, Any],
                         errors: dict[str, str], status: int = 200) -> Template:
        media = None
        media_id = form.get("media_id")
        if media_id:
            media = await media_store.get(ws.db, media_id)
        variables = await templates.known_variables(ws)
        return page(request, "automation/rule.html", status, **await _shared(request, ws), rule=rule, form=form,
                    errors=errors, triggers=triggers(), media=media, variables=variables,
                    template_list=await templates.list_all(ws),
                    cooldowns=choices(COOLDOWNS, form.get("cooldown_s", auto_replies.DEFAULT_COOLDOWN_S)))

    @get("/rules/new", **requires("admin"))
    async def new(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = {"trigger": "contains", "cooldown_s": auto_replies.DEFAULT_COOLDOWN_S, "active": True, "scope": "all",
                "account_ids": [], "reply_kind": "text"}
        return await self._form_page(request, ws, None, form, {})

    @get("/rules/{rule_id:int}", **requires("admin"))
    async def edit(self, request: Request, ws: CurrentWorkspace, rule_id: FromPath[int]) -> Template:
        rule = await auto_replies.get(ws, rule_id)
        form = {"name": rule.name, "trigger": rule.trigger, "pattern": rule.pattern, "reply_text": rule.reply_text,
                "media_id": rule.reply_media_id, "template_id": rule.reply_template_id,
                "reply_kind": "template" if rule.reply_template_id else "text", "cooldown_s": rule.cooldown_s,
                "active": rule.active, "scope": "all" if rule.account_ids is None else "some",
                "account_ids": list(rule.account_ids or ())}
        return await self._form_page(request, ws, rule, form, {})

    @post("/rules", request_max_body_size=UPLOAD_LIMIT, **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template | Redirect:
        return await self._save(request, ws, None)

    @post("/rules/{rule_id:int}", request_max_body_size=UPLOAD_LIMIT, **requires("admin"))
    async def update(self, request: Request, ws: CurrentWorkspace, rule_id: FromPath[int]) -> Template | Redirect:
        return await self._save(request, ws, await auto_replies.get(ws, rule_id))

    async def _save(self, request: Request, ws: Workspace, rule: Rule | None) -> Template | Redirect:
        raw = await request.form()
        form = _rule_form(raw, rule)
        try:
            upload = raw.get("file")
            if form["reply_kind"] == "text" and isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read()
                if not data:
                    raise Invalid("file", "The file is empty.")
                try:
                    form["media_id"] = (await media_service.store_upload(ws, data, upload.filename)).id
                except DomainError as exc:
                    raise Invalid("file", exc.message) from None
            data = _rule_data(form)
            if rule is None:
                saved = await auto_replies.create(ws, actor_of(request), **data)
            else:
                saved = await auto_replies.update(ws, actor_of(request), rule.id, **data)
        except Invalid as exc:
            field = FORM_FIELDS.get(exc.field, exc.field)
            known = {"name", "trigger", "pattern", "reply_text", "file", "template_id", "account_ids", "cooldown_s"}
            return await self._form_page(request, ws, rule, form, {field if field in known else "form": exc.message},
                                         422)
        return Redirect(f"/w/{ws.slug}/automation?saved={saved.id}")

    # -- business hours -------------------------------------------------------------------------------------------

    async def _hours_context(self, request: Request, ws: Workspace, hours: business_hours.BusinessHours | None = None,
                             **extra: Any) -> dict[str, Any]:
        shared = await _shared(request, ws)
        hours = hours or shared["hours"]
        tz = (await workspace_settings.load(ws.db)).timezone
        return {**shared, "hours": hours, "tab": "hours", "days": list(zip(business_hours.DAYS,
                business_hours.day_names(), strict=True)), "timezone": tz, "timezones": _timezones(),
                "holiday_dates": {h.date: dt.date.fromisoformat(h.date) for h in hours.holidays},
                "away_periods": choices(AWAY_PERIODS, hours.away.period_s),
                "greeting_periods": choices(GREETING_PERIODS, hours.greeting.period_s),
                "errors": {}, "form": None, "saved": False, **extra}

    @get("/hours", **requires("agent"))
    async def hours(self, request: Request, ws: CurrentWorkspace) -> Template:
        return page(request, "automation/hours.html", **await self._hours_context(request, ws))

    @post("/hours", status_code=200, **requires("admin"))
    async def save_hours(self, request: Request, ws: CurrentWorkspace) -> Template:
        raw = await request.form()
        try:
            week = _week(raw)
            tz = str(raw.get("timezone") or "UTC")
            away = {"active": raw.get("away_active") == "on", "text": str(raw.get("away_text") or ""),
                    "period_s": _int(raw.get("away_period_s"))}
            greeting = {"active": raw.get("greeting_active") == "on", "text": str(raw.get("greeting_text") or ""),
                        "period_s": _int(raw.get("greeting_period_s"))}
            current = (await workspace_settings.load(ws.db)).timezone
            if tz != current:
                workspace_settings.check_timezone(tz)
            hours = await business_hours.update(ws, actor_of(request), week=week, away=away, greeting=greeting)
            if tz != current:
                await workspace_settings.update(ws.db, timezone=tz)
        except Invalid as exc:
            ctx = await self._hours_context(request, ws, errors={exc.field: exc.message}, form=raw)
            return fragment("automation/_hours_form.html", 422, **ctx)
        ctx = await self._hours_context(request, ws, hours, saved=True, oob=True)
        return HTMXTemplate(template_name="automation/_hours_form.html", context=ctx,
                            headers=toast("Business hours saved."))

    @post("/hours/holidays", status_code=200, **requires("admin"))
    async def add_holiday(self, request: Request, ws: CurrentWorkspace) -> Template:
        raw = await request.form()
        hours = await business_hours.load(ws)
        given = [{"date": h.date, "name": h.name} for h in hours.holidays]
        try:
            day = business_hours.check_date(raw.get("date"))
            given = [h for h in given if h["date"] != day] + [{"date": day, "name": str(raw.get("name") or "")}]
            hours = await business_hours.update(ws, actor_of(request), holidays=given)
        except Invalid as exc:
            return fragment("automation/_holidays.html", 422, **await self._hours_context(
                request, ws, errors={"holiday": exc.message}, holiday_form=raw))
        return fragment("automation/_holidays.html", **await self._hours_context(request, ws, hours))

    @post("/hours/holidays/delete", status_code=200, **requires("admin"))
    async def delete_holiday(self, request: Request, ws: CurrentWorkspace) -> Template:
        day = str((await request.form()).get("date") or "")
        hours = await business_hours.load(ws)
        kept = [{"date": h.date, "name": h.name} for h in hours.holidays if h.date != day]
        hours = await business_hours.update(ws, actor_of(request), holidays=kept)
        return fragment("automation/_holidays.html", **await self._hours_context(request, ws, hours))


def _rule_form(raw: Any, rule: Rule | None) -> dict[str, Any]:
    """The form as typed, for showing it again; media_id keeps the current file unless it was removed."""
    getall = raw.getall if hasattr(raw, "getall") else (lambda key, default: default)
    keep_media = rule is not None and rule.reply_media_id is not None and raw.get("remove_media") != "on"
    return {
        "name": str(raw.get("name") or ""), "trigger": str(raw.get("trigger") or ""),
        "pattern": str(raw.get("pattern") or ""), "reply_text": str(raw.get("reply_text") or ""),
        "reply_kind": "template" if raw.get("reply_kind") == "template" else "text",
        "template_id": _int(raw.get("template_id")), "media_id": rule.reply_media_id if keep_media else None,
        "cooldown_s": _int(raw.get("cooldown_s")), "active": raw.get("active") == "on",
        "scope": "some" if raw.get("scope") == "some" else "all",
        "account_ids": [v for v in (_int(x) for x in getall("account_ids", [])) if v is not None],
    }


def _rule_data(form: dict[str, Any]) -> dict[str, Any]:
    if form["cooldown_s"] is None:
        raise Invalid("cooldown_s", "Choose how long to wait before answering the same person again.")
    if form["reply_kind"] == "template":
        if form["template_id"] is None:
            raise Invalid("template_id", "Choose a template, or write the reply.")
        reply = {"template_id": form["template_id"]}
    else:
        reply = {"text": form["reply_text"], "media_id": form["media_id"]}
    return {
        "name": form["name"], "trigger": form["trigger"], "pattern": form["pattern"], "reply": reply,
        "cooldown_s": form["cooldown_s"], "active": form["active"],
        "account_ids": form["account_ids"] if form["scope"] == "some" else None,
    }


def _week(raw: Any) -> dict[str, list[dict[str, str]]]:
    """Opening hours from the form: per day an open switch and up to three from/to pairs (00:00 as the end of the
    day means midnight)."""
    week: dict[str, list[dict[str, str]]] = {}
    for day, name in zip(business_hours.DAYS, business_hours.day_names(), strict=True):
        if raw.get(f"{day}_open") != "on":
            week[day] = []
            continue
        slots = []
        for n in range(business_hours.MAX_INTERVALS):
            start, end = str(raw.get(f"{day}_from_{n}") or ""), str(raw.get(f"{day}_to_{n}") or "")
            if not start and not end:
                continue
            if not start or not end:
                raise Invalid(f"week.{day}", "%(day)s: give both an opening and a closing time.", day=name)
            slots.append({"from": start, "to": "24:00" if end == "00:00" else end})
        if not slots:
            raise Invalid(f"week.{day}", "%(day)s: add opening hours, or switch the day to closed.", day=name)
        week[day] = slots
    return week


_zones: list[str] = []


def _timezones() -> list[str]:
    if not _zones:
        _zones.extend(sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")))
        _zones.insert(0, "UTC")
    return _zones
