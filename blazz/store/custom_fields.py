"""Custom field definitions of one workspace (the values live in each contact's `fields` JSON)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from blazz.store.database import Database

TYPES = ("text", "number", "date", "select", "checkbox", "email", "url")


@dataclass(frozen=True, slots=True)
class CustomField:
    id: int
    key: str  # the name in templates: {{city}}
    label: str
    type: str
    options: tuple[str, ...]  # choices of a `select`
    position: int
    created_at: int


_COLUMNS = "id, key, label, type, options, position, created_at"


def _field(row) -> CustomField:
    values = list(row)
    values[4] = tuple(json.loads(values[4] or "[]"))
    return CustomField(*values)


async def list_all(db: Database) -> list[CustomField]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM custom_fields ORDER BY position, id")
    return [_field(row) for row in rows]


async def get(db: Database, field_id: int) -> CustomField | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM custom_fields WHERE id = ?", (field_id,))
    return _field(row) if row else None


def get_sync(conn: sqlite3.Connection, field_id: int) -> CustomField | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM custom_fields WHERE id = ?", (field_id,)).fetchone()
    return _field(row) if row else None


def key_taken(conn: sqlite3.Connection, key: str, except_id: int | None = None) -> bool:
    row = conn.execute("SELECT id FROM custom_fields WHERE key = ?", (key,)).fetchone()
    return row is not None and row[0] != except_id


def insert(conn: sqlite3.Connection, key: str, label: str, type_: str, options: list[str], now: int) -> int:
    position = conn.execute("SELECT coalesce(max(position), -1) + 1 FROM custom_fields").fetchone()[0]
    return conn.execute(
        "INSERT INTO custom_fields (key, label, type, options, position, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (key, label, type_, json.dumps(options, ensure_ascii=False), position, now),
    ).lastrowid


def update(conn: sqlite3.Connection, field_id: int, label: str, options: list[str]) -> bool:
    cur = conn.execute("UPDATE custom_fields SET label = ?, options = ? WHERE id = ?",
                       (label, json.dumps(options, ensure_ascii=False), field_id))
    return cur.rowcount > 0


def delete(conn: sqlite3.Connection, field_id: int) -> bool:
    return conn.execute("DELETE FROM custom_fields WHERE id = ?", (field_id,)).rowcount > 0
