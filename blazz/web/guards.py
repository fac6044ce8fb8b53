"""Who may reach what: membership of the URL's workspace (404 otherwise) and the role a route needs (403)."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from blazz.i18n import gettext as _
from blazz.store import workspaces as ws_store
from blazz.web.context import runtime_of
from blazz.workspaces import ROLE_LABELS, has_role


async def member_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Resolve the URL's workspace for the logged-in user. Not a member → 404: other workspaces stay invisible."""
    slug = connection.path_params.get("slug")
    user = connection.user
    if slug is None or user is None:
        raise NotFoundException("Workspace not found")
    membership = await ws_store.membership(runtime_of(connection).app_db, slug, user.id)
    if membership is None:
        raise NotFoundException("Workspace not found")
    connection.state.membership = membership
    if not connection.headers.get("hx-request"):
        # Full pages show a workspace switcher; fragments don't need it.
        connection.state.memberships = await ws_store.memberships_of(runtime_of(connection).app_db, user.id)
    needed = (handler.opt or {}).get("role")
    if needed and not has_role(membership.role, needed):
        raise PermissionDeniedException(_("This needs the %(role)s role in this workspace.",
                                          role=_(ROLE_LABELS.get(needed, needed))))


def requires(role: str) -> dict:
    """Handler opt that `member_guard` enforces: `@get(..., **requires("admin"))`."""
    return {"role": role}
