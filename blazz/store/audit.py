"""The workspace's audit log (`audit_log`): who did what, when. Append-only."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: int
    user_id: int | None
    actor: str
    action: str
    target: str
    details: dict


def insert(conn: sqlite3.Connection, user_id: int | None, actor: str, action: str, target: str, details: dict) -> None:
    """Inside a caller's transaction, so the entry exists exactly when the change does."""
    conn.execute(
        "INSERT INTO audit_log (at, user_id, actor, action, target, details) VALUES (?, ?, ?, ?, ?, ?)",
        (int(time.time()), user_id, actor, action, target, json.dumps(details, ensure_ascii=False)),
    )


async def record(db: Database, user_id: int | None, actor: str, action: str, target: str, details: dict) -> None:
    await db.execute_write_fn(lambda conn: insert(conn, user_id, actor, action, target, details))


async def recent(db: Database, *, limit: int = 100, before_id: int | None = None, action: str | None = None,
                 user_id: int | None = None) -> list[AuditEntry]:
    where, params = [], []
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    if action:
        where.append("(action = ? OR action LIKE ?)")
        params += [action, action + ".%"]
    if user_id is not None:
        where.append("user_id = ?")
        params.append(user_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = await db.fetchall(
        f"SELECT id, at, user_id, actor, action, target, details FROM audit_log {clause} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [AuditEntry(*r[:6], json.loads(r[6] or "{}")) for r in rows]
