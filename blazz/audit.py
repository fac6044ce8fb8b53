"""Recording who did what in a workspace. Actions are dotted names: `member.role_changed`, `account.logout`, ...

Call `audit.record` after a change succeeds (or `store.audit.insert` inside the change's own transaction). Details
never hold secrets or message bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

from blazz.store import audit as audit_store
from blazz.store.audit import AuditEntry
from blazz.workspaces import Workspace


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a person (user id + email) or a system part ("api token 'Order system'", "scheduler")."""

    user_id: int | None
    label: str


SYSTEM = Actor(None, "Blazz")


async def record(ws: Workspace, actor: Actor, action: str, target: str = "", **details) -> None:
    await audit_store.record(ws.db, actor.user_id, actor.label, action, target, details)


async def recent(ws: Workspace, *, limit: int = 100, before_id: int | None = None, action: str | None = None,
                 user_id: int | None = None) -> list[AuditEntry]:
    return await audit_store.recent(ws.db, limit=limit, before_id=before_id, action=action, user_id=user_id)
