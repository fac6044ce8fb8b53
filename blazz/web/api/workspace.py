"""GET/PATCH /api/v1/workspace: the token's workspace and its settings (name, timezone, phone region, opt-out words,
how long message files are kept)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, patch
from litestar.params import JSONBody

from blazz import audit, workspace_settings, workspaces
from blazz.web.api.auth import ApiIdentity, ApiWorkspace, requires_api_role
from blazz.web.api.webhooks import api_actor
from blazz.web.context import runtime_of


class WorkspaceOut(msgspec.Struct):
    id: int
    slug: str
    name: str
    timezone: str  # IANA name, e.g. Asia/Jakarta
    default_region: str | None  # ISO 3166 code national-format phone numbers belong to, e.g. ID
    opt_out_words: list[str]
    media_retention_days: int | None  # message files older than this are removed; null keeps them forever


class WorkspaceChange(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    default_region: str | msgspec.UnsetType | None = msgspec.UNSET  # null: numbers must carry a country code
    opt_out_words: list[str] | msgspec.UnsetType = msgspec.UNSET
    media_retention_days: int | msgspec.UnsetType | None = msgspec.UNSET  # null: keep files forever
    confirm_delete_all: bool = False  # needed with media_retention_days 0 (every message file goes)


class WorkspaceApi(Controller):
    path = "/workspace"
    tags = ["workspace"]

    @get("/", operation_id="getWorkspace", summary="The workspace's name and settings")
    async def get_workspace(self, ws: ApiWorkspace) -> WorkspaceOut:
        settings = await workspace_settings.load(ws.db)
        return WorkspaceOut(ws.id, ws.slug, ws.name, **settings.as_dict())

    @patch("/", operation_id="updateWorkspace", summary="Rename or change settings (admin)",
           **requires_api_role("admin"))
    async def update(self, request: Request, ws: ApiWorkspace, identity: ApiIdentity,
                     data: JSONBody[WorkspaceChange]) -> WorkspaceOut:
        given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        name = given.pop("name", None)
        confirmed = given.pop("confirm_delete_all")
        actor = api_actor(identity)
        # Settings first: they validate everything before anything (the name included) changes.
        if name is not None:
            workspaces.clean_name(name)
        if given:
            before = (await workspace_settings.load(ws.db)).as_dict()
            after = (await workspace_settings.update(ws.db, confirm_delete_all=confirmed, **given)).as_dict()
            changed = sorted(k for k in given if before[k] != after[k])
            if changed:
                await audit.record(ws, actor, "workspace.settings_changed", ws.slug, fields=changed)
        current = ws.name
        if name is not None:
            current = await workspaces.rename(runtime_of(request).app_db, identity.workspace, name)
            if current != ws.name:
                await audit.record(ws, actor, "workspace.renamed", ws.slug, old=ws.name, new=current)
        settings = await workspace_settings.load(ws.db)
        return WorkspaceOut(ws.id, ws.slug, current, **settings.as_dict())
