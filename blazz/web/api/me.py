"""GET /api/v1/me: which workspace and role the token carries."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from blazz.web.api.auth import ApiIdentity


class WorkspaceRef(msgspec.Struct):
    id: int
    slug: str
    name: str


class Me(msgspec.Struct):
    workspace: WorkspaceRef
    role: str
    token_name: str


class MeController(Controller):
    path = "/me"

    @get("/", operation_id="getMe", summary="The token's workspace and role")
    async def me(self, identity: ApiIdentity) -> Me:
        ws = identity.workspace
        return Me(WorkspaceRef(ws.id, ws.slug, ws.name), identity.token.role, identity.token.name)
