"""Settings → Audit log: who did what and when in this workspace, sign-ins included, filtered and exportable as CSV.

Workspace actions come from the workspace database (`audit_log`); sign-ins of this workspace's members come from
app.db (`login_audit`). Both are merged into one timeline in the workspace's timezone.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Response, Template

from blazz import audit, workspace_settings, workspaces
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.store import login_audit
from blazz.web.context import CurrentWorkspace, page, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace

PAGE_ROWS = 200  # one screen of history; the CSV carries more
EXPORT_ROWS = 50_000
LOGIN = "login"  # the action filter that shows sign-ins only

# What each stored action code means, in words (the codes themselves stay stable: filters and the CSV use them).
# A code missing here is shown as it is.
ACTION_LABELS = {
    "api.rate_limit_changed": N_("API rate limit changed"),
    "api_token.created": N_("API token created"),
    "api_token.revoked": N_("API token revoked"),
    "audit.exported": N_("Audit log exported"),
    "auto_reply.created": N_("Auto-reply created"),
    "auto_reply.updated": N_("Auto-reply changed"),
    "auto_reply.deleted": N_("Auto-reply deleted"),
    "auto_reply.moved": N_("Auto-reply moved"),
    "backup.created": N_("Backup made"),
    "backup.downloaded": N_("Backup downloaded"),
    "backup.restored": N_("Backup restored"),
    "business_hours.updated": N_("Business hours changed"),
    "campaign.launched": N_("Campaign launched"),
    "campaign.paused": N_("Campaign paused"),
    "campaign.resumed": N_("Campaign resumed"),
    "campaign.cancelled": N_("Campaign cancelled"),
    "campaign.expired": N_("Campaign expired"),
    "campaign.retried": N_("Campaign's failed messages retried"),
    "login.succeeded": N_("Signed in"),
    "login.failed": N_("Sign-in failed"),
    "member.invited": N_("Member invited"),
    "member.invitation_revoked": N_("Invitation revoked"),
    "member.role_changed": N_("Member's role changed"),
    "member.removed": N_("Member removed"),
    "webhook.created": N_("Webhook added"),
    "webhook.updated": N_("Webhook changed"),
    "webhook.enabled": N_("Webhook turned on"),
    "webhook.paused": N_("Webhook turned off"),
    "webhook.disabled": N_("Webhook turned off after failing"),
    "webhook.deleted": N_("Webhook deleted"),
    "webhook.redelivered": N_("Webhook event redelivered"),
    "webhook.test_sent": N_("Webhook test event sent"),
    "workspace.renamed": N_("Workspace renamed"),
    "workspace.settings_changed": N_("Workspace settings changed"),
}
GROUP_LABELS = {
    "api": N_("API"),
    "api_token": N_("API tokens"),
    "audit": N_("Audit log"),
    "auto_reply": N_("Auto-replies"),
    "backup": N_("Backups"),
    "business_hours": N_("Business hours"),
    "campaign": N_("Campaigns"),
    "login": N_("Sign-ins"),
    "member": N_("Team"),
    "webhook": N_("Webhooks"),
    "workspace": N_("Workspace"),
}
# Why a sign-in failed, as blazz.auth and blazz.web.auth record it (stored in English).
LOGIN_REASONS = {
    "wrong email or password": N_("wrong email or password"),
    "wrong 2FA code": N_("wrong 2FA code"),
}

# Parts of Blazz that act on their own, as they sign the log (people sign with their email).
SYSTEM_ACTORS = {
    "Webhook delivery": N_("Webhook delivery"),
    "command line": N_("command line"),
}
API_ACTOR = N_("API token '%(name)s'")  # blazz.web.api: audit.Actor(None, f"API token '{name}'")
_API_ACTOR = re.compile(r"API token '(.*)'", re.DOTALL)


def action_label(code: str) -> str:
    """The action in the reader's language ("Workspace renamed"), or its code when it has no label yet."""
    return _(ACTION_LABELS[code]) if code in ACTION_LABELS else code


def group_label(group: str) -> str:
    return _(GROUP_LABELS[group]) if group in GROUP_LABELS else group.replace("_", " ").capitalize()


def actor_label(actor: str) -> str:
    if actor in SYSTEM_ACTORS:
        return _(SYSTEM_ACTORS[actor])
    if match := _API_ACTOR.fullmatch(actor):
        return _(API_ACTOR, name=match.group(1))
    return actor


def details_label(row: AuditRow) -> str:
    if row.action.startswith(LOGIN + ".") and row.details in LOGIN_REASONS:
        return _(LOGIN_REASONS[row.details])
    return row.details


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: int
    when: str  # local time in the workspace's timezone
    actor: str
    action: str
    target: str
    details: str


def _details(details: dict) -> str:
    return ", ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                     for k, v in details.items())


async def _zone(ws: Workspace) -> ZoneInfo:
    return ZoneInfo((await workspace_settings.load(ws.db)).timezone)


async def timeline(request: Request, ws: Workspace, action: str, user_id: int | None, limit: int,
                   tz: ZoneInfo) -> list[AuditRow]:
    """Workspace actions and member sign-ins, newest first, after the filters."""
    rows: list[tuple[int, str, str, str, str]] = []
    if action != LOGIN:
        for e in await audit.recent(ws, limit=limit, action=action or None, user_id=user_id):
            rows.append((e.at, e.actor, e.action, e.target, _details(e.details)))
    if not action or action == LOGIN:
        members = await workspaces.members(runtime_of(request).app_db, ws.id)
        ids = [m.user_id for m in members if user_id is None or m.user_id == user_id]
        for a in await login_audit.recent(runtime_of(request).app_db, limit=limit, user_ids=ids):
            kind = "login.succeeded" if a.success else "login.failed"
            rows.append((a.at, a.email, kind, a.address or "", a.reason))
    rows.sort(key=lambda r: r[0], reverse=True)
    return [AuditRow(at, datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M:%S"), *rest)
            for at, *rest in rows[:limit]]


def _filters(request: Request) -> tuple[str, int | None]:
    action = request.query_params.get("action", "").strip()[:60]
    person = request.query_params.get("person", "")
    return action, int(person) if person.isdigit() else None


class AuditPageController(Controller):
    path = "/w/{slug:str}/settings/audit"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    @get("/", **requires("admin"))
    async def show(self, request: Request, ws: CurrentWorkspace) -> Template:
        action, user_id = _filters(request)
        tz = await _zone(ws)
        rows = await timeline(request, ws, action, user_id, PAGE_ROWS, tz)
        kinds = [r[0] for r in await ws.db.fetchall("SELECT DISTINCT action FROM audit_log ORDER BY action")]
        groups = sorted({k.split(".")[0] for k in kinds} | {LOGIN})
        members = await workspaces.members(runtime_of(request).app_db, ws.id)
        template = "settings/_audit_rows.html" if request.headers.get("hx-request") else "settings/audit.html"
        return page(request, template, ws=ws, rows=rows, action=action, person=user_id, groups=groups,
                    kinds=kinds, members=members, limit=PAGE_ROWS, tz=tz, action_label=action_label,
                    group_label=group_label, details_label=details_label,
                    actor_label=actor_label, query=request.url.query or "")

    @get("/export.csv", **requires("admin"))
    async def export(self, request: Request, ws: CurrentWorkspace) -> Response:
        action, user_id = _filters(request)
        rows = await timeline(request, ws, action, user_id, EXPORT_ROWS, await _zone(ws))
        out = io.StringIO()
        writer = csv.writer(out)
        # Stable columns for scripts (the action code, the details as stored); `description` is for people.
        writer.writerow(["time", "time_utc", "who", "action", "target", "details", "description"])
        for r in rows:
            utc = datetime.fromtimestamp(r.at, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([r.when, utc, r.actor, r.action, r.target, r.details, action_label(r.action)])
        await audit.record(ws, audit.Actor(request.user.id, request.user.email), "audit.exported", "csv",
                           rows=len(rows), filter=action or None, person=user_id)
        name = f"blazz-audit-{ws.slug}-{datetime.now(ZoneInfo('UTC')).strftime('%Y%m%d')}.csv"
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
