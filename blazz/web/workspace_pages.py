"""Workspace settings that belong to the foundation: name, members and roles, invitation links, new workspaces."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Template

from blazz import audit, workspaces
from blazz.errors import DomainError, Invalid
from blazz.store import invitations as invitations_store
from blazz.web import settings_general
from blazz.web.context import (
    CurrentMember,
    CurrentWorkspace,
    fragment,
    page,
    provide_membership,
    provide_workspace,
    runtime_of,
)
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace


def actor_of(request: Request) -> audit.Actor:
    return audit.Actor(request.user.id, request.user.email)


class NewWorkspaceController(Controller):
    path = "/workspaces"
    include_in_schema = False

    @get("/new")
    async def form(self, request: Request) -> Template:
        return page(request, "workspace/new.html", form={}, errors={})

    @post("/new")
    async def create(self, request: Request) -> Template | Redirect:
        form = dict(await request.form())
        try:
            ws = await workspaces.create_workspace(runtime_of(request).app_db, form.get("name", ""), request.user.id)
        except DomainError as exc:
            field = exc.field if isinstance(exc, Invalid) else "name"
            return page(request, "workspace/new.html", 422, form=form, errors={field: exc.message})
        return Redirect(f"/w/{ws.slug}/inbox")


class SettingsController(Controller):
    path = "/w/{slug:str}/settings"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    async def _members_context(self, request: Request, ws: Workspace) -> dict:
        app_db = runtime_of(request).app_db
        return {
            "members": await workspaces.members(app_db, ws.id),
            "invitations": await invitations_store.pending(app_db, ws.id),
        }

    @get("/", **requires("admin"))
    async def general(self, request: Request, ws: CurrentWorkspace) -> Template:
        return await settings_general.show(request, ws)

    @post("/", **requires("admin"))
    async def save_general(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        return await settings_general.save(request, ws, me)

    @post("/lan", **requires("owner"))
    async def save_lan(self, request: Request, ws: CurrentWorkspace) -> Template:
        return await settings_general.save_lan(request, ws)

    @get("/members", **requires("admin"))
    async def members(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        ctx = await self._members_context(request, ws)
        return page(request, "workspace/members.html", ws=ws, me=me, new_link=None, errors={}, **ctx)

    @post("/members/invite", **requires("admin"))
    async def invite(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        form = await request.form()
        errors, link = {}, None
        try:
            token = await workspaces.invite(
                runtime_of(request).app_db, ws.id, me.user_id, form.get("role", "agent"), form.get("email")
            )
            link = str(request.base_url).rstrip("/") + f"/invite/{token}"
            await audit.record(ws, actor_of(request), "member.invited", form.get("email") or "link",
                               role=form.get("role", "agent"))
        except Invalid as exc:
            errors = {exc.field: exc.message}
        ctx = await self._members_context(request, ws)
        return fragment(
            "workspace/_members.html", 422 if errors else 200, ws=ws, me=me, new_link=link, errors=errors, **ctx
        )

    @post("/members/{user_id:int}/role", **requires("admin"))
    async def change_role(
        self, request: Request, ws: CurrentWorkspace, me: CurrentMember, user_id: FromPath[int]
    ) -> Template:
        form = await request.form()
        await workspaces.change_role(runtime_of(request).app_db, ws.id, me.role, user_id, form.get("role", ""))
        await audit.record(ws, actor_of(request), "member.role_changed", f"user {user_id}", role=form.get("role"))
        ctx = await self._members_context(request, ws)
        return fragment("workspace/_members.html", ws=ws, me=me, new_link=None, errors={}, **ctx)

    @post("/members/{user_id:int}/remove", **requires("admin"))
    async def remove(
        self, request: Request, ws: CurrentWorkspace, me: CurrentMember, user_id: FromPath[int]
    ) -> Template | ClientRedirect:
        await workspaces.remove_member(runtime_of(request).app_db, ws.id, me.role, user_id)
        await audit.record(ws, actor_of(request), "member.removed", f"user {user_id}")
        if user_id == me.user_id:
            return ClientRedirect("/")
        ctx = await self._members_context(request, ws)
        return fragment("workspace/_members.html", ws=ws, me=me, new_link=None, errors={}, **ctx)

    @post("/invitations/{invitation_id:int}/revoke", **requires("admin"))
    async def revoke(
        self, request: Request, ws: CurrentWorkspace, me: CurrentMember, invitation_id: FromPath[int]
    ) -> Template:
        if await invitations_store.revoke(runtime_of(request).app_db, ws.id, invitation_id):
            await audit.record(ws, actor_of(request), "member.invitation_revoked", f"invitation {invitation_id}")
        ctx = await self._members_context(request, ws)
        return fragment("workspace/_members.html", ws=ws, me=me, new_link=None, errors={}, **ctx)
