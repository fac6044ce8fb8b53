"""Settings → API tokens: create (shown once), list with last use, revoke, and the per-token rate limit."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from blazz import api_tokens, audit, workspaces
from blazz.errors import Invalid
from blazz.web.api import rate_limit
from blazz.web.context import CurrentWorkspace, fragment, page, provide_membership, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.web.workspace_pages import actor_of
from blazz.workspaces import Workspace


class ApiTokensController(Controller):
    path = "/w/{slug:str}/settings/api-tokens"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    async def _context(self, request: Request, ws: Workspace, **extra) -> dict:
        app_db = runtime_of(request).app_db
        people = {m.user_id: m.name or m.email for m in await workspaces.members(app_db, ws.id)}
        context = {
            "ws": ws, "tokens": await api_tokens.for_workspace(app_db, ws.id), "people": people,
            "rate": await rate_limit.workspace_rate(ws.db), "rate_bounds": (rate_limit.MIN_RATE, rate_limit.MAX_RATE),
            "new_token": None, "errors": {}, "form": {}, "rate_saved": False,
        }
        context.update(extra)
        return context

    @get("/", **requires("admin"))
    async def index(self, request: Request, ws: CurrentWorkspace) -> Template:
        return page(request, "settings/api_tokens.html", **await self._context(request, ws))

    @post("/", **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = dict(await request.form())
        try:
            token, stored = await api_tokens.create(runtime_of(request).app_db, ws.id, form.get("name", ""),
                                                    form.get("role", "agent"), request.user.id)
        except Invalid as exc:
            ctx = await self._context(request, ws, errors={exc.field: exc.message}, form=form)
            return fragment("settings/_api_tokens.html", 422, **ctx)
        await audit.record(ws, actor_of(request), "api_token.created", stored.name, role=stored.role,
                           token_id=stored.id)
        return fragment("settings/_api_tokens.html", **await self._context(request, ws, new_token=token))

    @post("/{token_id:int}/revoke", **requires("admin"))
    async def revoke(self, request: Request, ws: CurrentWorkspace, token_id: FromPath[int]) -> Template:
        app_db = runtime_of(request).app_db
        name = next((t.name for t in await api_tokens.for_workspace(app_db, ws.id) if t.id == token_id), "")
        await api_tokens.revoke(app_db, ws.id, token_id)
        await audit.record(ws, actor_of(request), "api_token.revoked", name, token_id=token_id)
        return fragment("settings/_api_tokens.html", **await self._context(request, ws))

    @post("/rate", **requires("admin"))
    async def rate(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = await request.form()
        try:
            old = await rate_limit.workspace_rate(ws.db)
            new = await rate_limit.set_workspace_rate(request.app, ws.db, form.get("rate_limit"))
        except Invalid as exc:
            ctx = await self._context(request, ws, errors={exc.field: exc.message})
            return fragment("settings/_api_tokens.html", 422, **ctx)
        if new != old:
            await audit.record(ws, actor_of(request), "api.rate_limit_changed", ws.slug, old=old, new=new)
        return fragment("settings/_api_tokens.html", **await self._context(request, ws, rate_saved=True))
