"""Contact groups (tags) of one workspace: names, colours and how many live contacts each holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    color: str
    created_at: int
    members: int = 0  # live contacts in it; filled only by `with_counts`


_COLUMNS = "id, name, color, created_at"


async def list_all(db: Database) -> list[Group]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM groups ORDER BY name COLLATE NOCASE")
    return [Group(*row) for row in rows]


async def with_counts(db: Database) -> list[Group]:
    rows = await db.fetchall(
        "SELECT g.id, g.name, g.color, g.created_at, count(c.id) FROM groups g"
        " LEFT JOIN contact_groups cg ON cg.group_id = g.id"
        " LEFT JOIN contacts c ON c.id = cg.contact_id AND c.deleted_at IS NULL"
        " GROUP BY g.id ORDER BY g.name COLLATE NOCASE"
    )
    return [Group(*row) for row in rows]


async def get(db: Database, group_id: int) -> Group | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM groups WHERE id = ?", (group_id,))
    return Group(*row) if row else None


def get_sync(conn: sqlite3.Connection, group_id: int) -> Group | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM groups WHERE id = ?", (group_id,)).fetchone()
    return Group(*row) if row else None


def by_name(conn: sqlite3.Connection, name: str) -> Group | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM groups WHERE name = ?", (name,)).fetchone()
    return Group(*row) if row else None


def count_sync(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM groups").fetchone()[0]


def insert(conn: sqlite3.Connection, name: str, color: str, now: int) -> int:
    return conn.execute("INSERT INTO groups (name, color, created_at) VALUES (?, ?, ?)", (name, color, now)).lastrowid


def update(conn: sqlite3.Connection, group_id: int, name: str, color: str) -> bool:
    return conn.execute("UPDATE groups SET name = ?, color = ? WHERE id = ?", (name, color, group_id)).rowcount > 0


def delete(conn: sqlite3.Connection, group_id: int) -> bool:
    return conn.execute("DELETE FROM groups WHERE id = ?", (group_id,)).rowcount > 0


def ensure(conn: sqlite3.Connection, names: Iterable[str], colors: list[str], now: int) -> dict[str, int]:
    """The id of each named group (names compare without case), creating the missing ones with the next colours."""
    out: dict[str, int] = {}
    count = conn.execute("SELECT count(*) FROM groups").fetchone()[0]
    for name in names:
        key = name.casefold()
        if key in out:
            continue
        row = conn.execute("SELECT id FROM groups WHERE name = ?", (name,)).fetchone()
        if row is None:
            out[key] = insert(conn, name, colors[count % len(colors)], now)
            count += 1
        else:
            out[key] = row[0]
    return out
