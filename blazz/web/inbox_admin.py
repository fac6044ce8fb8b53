"""Inbox set-up pages: who sees what and automatic assignment (admins), group chats per number, and canned
replies (everyone reads them; admins write them)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from blazz import canned_replies, inbox
from blazz.errors import Conflict, Invalid
from blazz.i18n import gettext as _
from blazz.store import accounts as accounts_store
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace, has_role


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items() if k != "_csrf_token"}


class InboxSettingsController(Controller):
    path = "/w/{slug:str}/inbox/settings"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    async def _render(self, request: Request, ws: Workspace, saved: bool = False) -> Template:
        return page(request, "inbox/settings.html", ws=ws, active="inbox", title=_("Inbox settings"),
                    settings=await inbox.load_settings(ws), accounts=await accounts_store.all_active(ws.db),
                    saved=saved)

    @get("/", **requires("admin"))
    async def show(self, request: Request, ws: CurrentWorkspace) -> Template:
        return await self._render(request, ws, saved=request.query_params.get("saved") == "1")

    @post("/", status_code=303, **requires("admin"))
    async def save(self, request: Request, ws: CurrentWorkspace) -> Redirect:
        form = await _form(request)
        await inbox.update_settings(ws, agents_assigned_only=form.get("agents_assigned_only") == "1",
                                    auto_assign=form.get("auto_assign") == "1")
        for account in await accounts_store.all_active(ws.db):
            showing = form.get(f"groups_{account.id}") == "1"
            if showing == account.ignore_groups:
                await inbox.set_ignore_groups(ws, account.id, not showing)
        return Redirect(f"/w/{ws.slug}/inbox/settings?saved=1", status_code=303)


class CannedRepliesController(Controller):
    path = "/w/{slug:str}/inbox/canned-replies"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    async def _render(self, request: Request, ws: Workspace, role: str, status_code: int = 200,
                      **extra: Any) -> Template:
        extra.setdefault("errors", {})
        extra.setdefault("form", {})
        return page(request, "inbox/canned_replies.html", status_code, ws=ws, active="inbox", title=_("Canned replies"),
                    replies=await canned_replies.all_replies(ws), can_edit=has_role(role, "admin"), **extra)

    @get("/", **requires("agent"))
    async def index(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        return await self._render(request, ws, me.role)

    @post("/", status_code=303, **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template | Redirect:
        form = await _form(request)
        try:
            await canned_replies.create(ws, str(form.get("shortcut", "")), str(form.get("title", "")),
                                        str(form.get("body", "")), request.user.id)
        except (Invalid, Conflict) as exc:
            return await self._render(request, ws, me.role, 422, form=form, errors=_errors(exc))
        return Redirect(f"/w/{ws.slug}/inbox/canned-replies", status_code=303)

    @post("/{reply_id:int}", status_code=303, **requires("admin"))
    async def update(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                     reply_id: FromPath[int]) -> Template | Redirect:
        form = await _form(request)
        try:
            await canned_replies.update(ws, reply_id, str(form.get("shortcut", "")), str(form.get("title", "")),
                                        str(form.get("body", "")))
        except (Invalid, Conflict) as exc:
            return await self._render(request, ws, me.role, 422, editing=reply_id, edit_form=form,
                                      errors=_errors(exc))
        return Redirect(f"/w/{ws.slug}/inbox/canned-replies", status_code=303)

    @post("/{reply_id:int}/delete", status_code=303, **requires("admin"))
    async def delete(self, ws: CurrentWorkspace, reply_id: FromPath[int]) -> Redirect:
        await canned_replies.delete(ws, reply_id)
        return Redirect(f"/w/{ws.slug}/inbox/canned-replies", status_code=303)


def _errors(exc: Invalid | Conflict) -> dict[str, str]:
    return {exc.field if isinstance(exc, Invalid) else "shortcut": exc.message}
