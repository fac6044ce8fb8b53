"""Settings → Diagnostics: `blazz doctor` in human form — checks, versions, data folder, disk use, log tail.

The report covers the whole install; this page keeps only app.db and this workspace's own databases so one
workspace's admins learn nothing about the others. The log tail is for owners (it names every workspace).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Template

from blazz import diagnostics, i18n, workspace_settings
from blazz.diagnostics import Moment, Size
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace, has_role

STATUS_LABELS = {"ok": N_("ok"), "warning": N_("warning"), "problem": N_("problem")}


def size(n: int | None) -> str:
    """`diagnostics.human_bytes` with the reader's decimal mark: 1.5 GB, 1,5 GB."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{i18n.number(value, 0 if unit == 'B' else 1)} {unit}"
        value /= 1024
    return f"{i18n.number(value, 1)} GB"


def moment(iso: str | None, tz: ZoneInfo) -> str:
    """An ISO UTC time of the report as a date and time in the workspace's timezone (as it is when unreadable)."""
    try:
        return i18n.datetime(dt.datetime.fromisoformat(str(iso)), tz=tz)
    except ValueError:
        return str(iso or "")


def _words(message: str, params: dict[str, Any], tz: ZoneInfo) -> str:
    shown = {k: size(v) if isinstance(v, Size) else moment(v, tz) if isinstance(v, Moment) else v
             for k, v in params.items()}
    return _(message, **shown)


def in_words(report: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The report's check names, details and statuses, and its database names, in the reader's language."""
    shown = dict(report)
    shown["checks"] = [c | {"label_text": _words(c["label"], c["label_params"], tz),
                            "detail_text": _words(c["message"], c["params"], tz),
                            "status_text": _(STATUS_LABELS[c["status"]])} for c in report["checks"]]
    shown["databases"] = [db | {"label_text": _words(db["label"], db["label_params"], tz)}
                          for db in report["databases"]]
    return shown


def for_workspace(report: dict[str, Any], ws: Workspace, show_log: bool) -> dict[str, Any]:
    """The install's report with other workspaces' databases, sizes and checks left out."""
    own = f"workspace {ws.slug}"

    def ours(name: str) -> bool:
        return not name.startswith("workspace ") or name == own or name.startswith(own + " ")

    kept = dict(report)
    kept["databases"] = [db for db in report["databases"] if ours(db["name"])]
    kept["workspaces"] = [w for w in report["workspaces"] if w["slug"] == ws.slug]
    kept["checks"] = [c for c in report["checks"] if ours(c["name"])]
    kept["log"] = {**report["log"], "tail": report["log"]["tail"] if show_log else []}
    kept["show_log"] = show_log
    return kept


class DiagnosticsPageController(Controller):
    path = "/w/{slug:str}/settings/diagnostics"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    @get("/", **requires("admin"))
    async def show(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        settings = runtime_of(request).settings
        # Reads every database file: off the event loop, and the quick integrity check keeps big files fast.
        report = await asyncio.to_thread(diagnostics.diagnostics, settings, quick=True)
        tz = ZoneInfo((await workspace_settings.load(ws.db)).timezone)
        report = in_words(for_workspace(report, ws, has_role(me.role, "owner")), tz)
        return page(request, "settings/diagnostics.html", ws=ws, report=report, size=size,
                    generated=moment(report["generated_at"], tz),
                    last_backup=moment(report["backups"]["last_at"], tz) if report["backups"]["last_at"] else None)
