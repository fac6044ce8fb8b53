"""Bearer-token authentication for /api/v1: the token decides the workspace; there is no other way to name one."""

from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from blazz import api_tokens
from blazz.api_tokens import TokenIdentity
from blazz.i18n import gettext as _
from blazz.web.context import runtime_of
from blazz.workspaces import Workspace, has_role


async def api_token_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    header = connection.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("missing bearer token")
    identity = await api_tokens.authenticate(runtime_of(connection).app_db, token.strip())
    if identity is None:
        raise NotAuthorizedException("invalid or revoked token")
    connection.state.api_identity = identity
    needed = (handler.opt or {}).get("api_role")
    if needed and not has_role(identity.token.role, needed):
        raise PermissionDeniedException(_("This needs a token with the %(role)s role.", role=needed))


def requires_api_role(role: str) -> dict:
    return {"api_role": role}


async def provide_identity(request: Request) -> TokenIdentity:
    return request.state.api_identity


async def provide_api_workspace(request: Request) -> Workspace:
    return await runtime_of(request).workspace(request.state.api_identity.workspace)


ApiIdentity = NamedDependency[TokenIdentity]
ApiWorkspace = NamedDependency[Workspace]
