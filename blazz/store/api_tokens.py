"""API tokens (app.db `api_tokens`): workspace-scoped, stored as SHA-256 hashes, revocable."""

from __future__ import annotations

import time
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    workspace_id: int
    name: str
    role: str
    created_by: int | None
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


_COLS = "id, workspace_id, name, role, created_by, created_at, last_used_at, revoked_at"


async def create(db: Database, workspace_id: int, name: str, token_hash: str, role: str, created_by: int | None) -> int:
    cur = await db.execute_write(
        "INSERT INTO api_tokens (workspace_id, name, token_hash, role, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (workspace_id, name, token_hash, role, created_by, int(time.time())),
    )
    return cur.lastrowid


async def by_hash(db: Database, token_hash: str) -> ApiToken | None:
    row = await db.fetchone(f"SELECT {_COLS} FROM api_tokens WHERE token_hash = ?", (token_hash,))
    return ApiToken(*row) if row else None


async def for_workspace(db: Database, workspace_id: int) -> list[ApiToken]:
    rows = await db.fetchall(
        f"SELECT {_COLS} FROM api_tokens WHERE workspace_id = ? ORDER BY revoked_at IS NOT NULL, created_at DESC",
        (workspace_id,),
    )
    return [ApiToken(*r) for r in rows]


async def revoke(db: Database, workspace_id: int, token_id: int) -> bool:
    cur = await db.execute_write(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND workspace_id = ? AND revoked_at IS NULL",
        (int(time.time()), token_id, workspace_id),
    )
    return cur.rowcount == 1


async def touch(db: Database, token_id: int) -> None:
    await db.execute_write("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (int(time.time()), token_id))
