"""Settings → Diagnostics: `blazz doctor` in human form — checks, versions, data folder, disk use, log tail.

The report covers the whole install; this page keeps only app.db and this workspace's own databases so one
workspace's admins learn nothing about the others. The log tail is for owners (it names every workspace).
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Template

from blazz import diagnostics
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace, has_role


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
        report = for_workspace(report, ws, has_role(me.role, "owner"))
        return page(request, "settings/diagnostics.html", ws=ws, report=report, human_bytes=diagnostics.human_bytes)
