"""Settings → Audit log: who did what and when in this workspace, sign-ins included, filtered and exportable as CSV.

Workspace actions come from the workspace database (`audit_log`); sign-ins of this workspace's members come from
app.db (`login_audit`). Both are merged into one timeline in the workspace's timezone.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Response, Template

from blazz import audit, workspace_settings, workspaces
from blazz.store import login_audit
from blazz.web.context import CurrentWorkspace, page, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace

PAGE_ROWS = 200  # one screen of history; the CSV carries more
EXPORT_ROWS = 50_000
LOGIN = "login"  # the action filter that shows sign-ins only


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


async def timeline(request: Request, ws: Workspace, action: str, user_id: int | None, limit: int) -> list[AuditRow]:
    """Workspace actions and member sign-ins, newest first, after the filters."""
    tz = ZoneInfo((await workspace_settings.load(ws.db)).timezone)
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
        rows = await timeline(request, ws, action, user_id, PAGE_ROWS)
        kinds = [r[0] for r in await ws.db.fetchall("SELECT DISTINCT action FROM audit_log ORDER BY action")]
        groups = sorted({k.split(".")[0] for k in kinds} | {LOGIN})
        members = await workspaces.members(runtime_of(request).app_db, ws.id)
        template = "settings/_audit_rows.html" if request.headers.get("hx-request") else "settings/audit.html"
        return page(request, template, ws=ws, rows=rows, action=action, person=user_id, groups=groups,
                    kinds=kinds, members=members, limit=PAGE_ROWS,
                    query=request.url.query or "")

    @get("/export.csv", **requires("admin"))
    async def export(self, request: Request, ws: CurrentWorkspace) -> Response:
        action, user_id = _filters(request)
        rows = await timeline(request, ws, action, user_id, EXPORT_ROWS)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", "time_utc", "who", "action", "target", "details"])
        for r in rows:
            utc = datetime.fromtimestamp(r.at, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([r.when, utc, r.actor, r.action, r.target, r.details])
        await audit.record(ws, audit.Actor(request.user.id, request.user.email), "audit.exported", "csv",
                           rows=len(rows), filter=action or None, person=user_id)
        name = f"blazz-audit-{ws.slug}-{datetime.now(ZoneInfo('UTC')).strftime('%Y%m%d')}.csv"
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
