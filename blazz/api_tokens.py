"""API tokens: created for one workspace with a role, shown once, stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from blazz.errors import Invalid, NotFound
from blazz.store import api_tokens as tokens_store
from blazz.store import workspaces as ws_store
from blazz.store.api_tokens import ApiToken
from blazz.store.database import Database
from blazz.store.workspaces import WorkspaceRow

PREFIX = "blz_"
TOUCH_EVERY_S = 60  # last-used time is informational; don't write on every request


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    token: ApiToken
    workspace: WorkspaceRow


async def create(app_db: Database, workspace_id: int, name: str, role: str = "agent",
                 created_by: int | None = None) -> tuple[str, ApiToken]:
    """Return the plain token (shown once) and its stored record."""
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise Invalid("name", "Give the token a name of 1-80 characters, e.g. 'Order system'.")
    if role not in ("admin", "agent"):
        raise Invalid("role", "Choose admin or agent.")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = await tokens_store.create(app_db, workspace_id, name, hash_token(token), role, created_by)
    stored = next(t for t in await tokens_store.for_workspace(app_db, workspace_id) if t.id == token_id)
    return token, stored


async def authenticate(app_db: Database, token: str) -> TokenIdentity | None:
    """The token's workspace and role, or None when it is unknown or revoked."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    stored = await tokens_store.by_hash(app_db, hash_token(token))
    if stored is None or stored.revoked_at is not None:
        return None
    workspace = await ws_store.by_id(app_db, stored.workspace_id)
    if workspace is None:
        return None
    if not stored.last_used_at or time.time() - stored.last_used_at > TOUCH_EVERY_S:
        await tokens_store.touch(app_db, stored.id)
    return TokenIdentity(stored, workspace)


async def revoke(app_db: Database, workspace_id: int, token_id: int) -> None:
    if not await tokens_store.revoke(app_db, workspace_id, token_id):
        raise NotFound("No such active token in this workspace.")


async def for_workspace(app_db: Database, workspace_id: int) -> list[ApiToken]:
    return await tokens_store.for_workspace(app_db, workspace_id)
