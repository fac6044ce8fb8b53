"""Reaching the runtime and the current workspace from a request, and rendering pages with the shared context."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXTemplate
from litestar.response import Template

from blazz.runtime import Runtime
from blazz.store.workspaces import Membership
from blazz.workspaces import Workspace

# Handler parameter types for the per-request workspace and membership (provided by `provide_*` below).
CurrentWorkspace = NamedDependency[Workspace]
CurrentMember = NamedDependency[Membership]


def runtime_of(connection: ASGIConnection) -> Runtime:
    return connection.app.state.runtime


def membership_of(connection: ASGIConnection) -> Membership:
    membership = connection.state.get("membership")
    if membership is None:
        raise NotFoundException("Workspace not found")
    return membership


async def provide_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def provide_workspace(request: Request) -> Workspace:
    """The workspace of the URL, already checked by `member_guard`; its database handle is this workspace's only."""
    membership = membership_of(request)
    return await runtime_of(request).workspace(membership.workspace)


async def provide_membership(request: Request) -> Membership:
    return membership_of(request)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Template:
    """A full page, or the `_`-partial of it for htmx requests that target a part of the page."""
    context.setdefault("membership", request.state.get("membership"))
    return Template(template_name=template, context=context, status_code=status_code)


def fragment(template: str, status_code: int = 200, **context: Any) -> HTMXTemplate:
    return HTMXTemplate(template_name=template, context=context, status_code=status_code)
