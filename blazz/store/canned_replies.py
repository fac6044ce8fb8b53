"""Canned replies of one workspace: saved answers an agent inserts by typing `/` and their shortcut."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from blazz.store.database import Database

_COLS = "id, shortcut, title, body, created_by, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class CannedReply:
    id: int
    shortcut: str
    title: str
    body: str
    created_by: int | None
    created_at: int
    updated_at: int


async def all_replies(db: Database) -> list[CannedReply]:
    rows = await db.fetchall(f"SELECT {_COLS} FROM canned_replies ORDER BY shortcut COLLATE NOCASE")
    return [CannedReply(*r) for r in rows]


async def get(db: Database, reply_id: int) -> CannedReply | None:
    row = await db.fetchone(f"SELECT {_COLS} FROM canned_replies WHERE id = ?", (reply_id,))
    return CannedReply(*row) if row else None


def shortcut_taken(conn: sqlite3.Connection, shortcut: str, other_than: int | None = None) -> bool:
    row = conn.execute("SELECT id FROM canned_replies WHERE shortcut = ? AND id != ?",
                       (shortcut, other_than or 0)).fetchone()
    return row is not None


def insert(conn: sqlite3.Connection, shortcut: str, title: str, body: str, created_by: int | None, now: int) -> int:
    return conn.execute("INSERT INTO canned_replies (shortcut, title, body, created_by, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)", (shortcut, title, body, created_by, now, now)).lastrowid


def update(conn: sqlite3.Connection, reply_id: int, shortcut: str, title: str, body: str, now: int) -> bool:
    cur = conn.execute("UPDATE canned_replies SET shortcut = ?, title = ?, body = ?, updated_at = ? WHERE id = ?",
                       (shortcut, title, body, now, reply_id))
    return cur.rowcount > 0


async def delete(db: Database, reply_id: int) -> bool:
    cur = await db.execute_write("DELETE FROM canned_replies WHERE id = ?", (reply_id,))
    return cur.rowcount > 0
