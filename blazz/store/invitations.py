"""Invitation links to join a workspace (app.db `invitations`); only a hash of the link's token is stored."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    workspace_id: int
    role: str
    email: str | None
    created_by: int | None
    created_at: int
    expires_at: int
    accepted_at: int | None
    revoked_at: int | None

    @property
    def usable(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > time.time()


_COLS = "id, workspace_id, role, email, created_by, created_at, expires_at, accepted_at, revoked_at"


async def create(
    db: Database, workspace_id: int, token_hash: str, role: str, email: str | None, created_by: int, ttl_s: int
) -> int:
    now = int(time.time())
    cur = await db.execute_write(
        "INSERT INTO invitations (workspace_id, token_hash, role, email, created_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (workspace_id, token_hash, role, email, created_by, now, now + ttl_s),
    )
    return cur.lastrowid


async def by_token_hash(db: Database, token_hash: str) -> Invitation | None:
    row = await db.fetchone(f"SELECT {_COLS} FROM invitations WHERE token_hash = ?", (token_hash,))
    return Invitation(*row) if row else None


async def pending(db: Database, workspace_id: int) -> list[Invitation]:
    rows = await db.fetchall(
        f"SELECT {_COLS} FROM invitations WHERE workspace_id = ? AND accepted_at IS NULL AND revoked_at IS NULL"
        " AND expires_at > ? ORDER BY created_at DESC",
        (workspace_id, int(time.time())),
    )
    return [Invitation(*r) for r in rows]


def mark_accepted(conn: sqlite3.Connection, invitation_id: int, user_id: int) -> bool:
    """Accept once: returns False when someone else used the link first."""
    cur = conn.execute(
        "UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE id = ? AND accepted_at IS NULL"
        " AND revoked_at IS NULL",
        (int(time.time()), user_id, invitation_id),
    )
    return cur.rowcount == 1


async def revoke(db: Database, workspace_id: int, invitation_id: int) -> bool:
    cur = await db.execute_write(
        "UPDATE invitations SET revoked_at = ? WHERE id = ? AND workspace_id = ? AND accepted_at IS NULL",
        (int(time.time()), invitation_id, workspace_id),
    )
    return cur.rowcount == 1
