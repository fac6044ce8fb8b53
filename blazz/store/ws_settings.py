"""The workspace `settings` table: JSON values by key (typed access with defaults: `blazz.workspace_settings`)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from blazz.store.database import Database


async def get_all(db: Database) -> dict[str, Any]:
    rows = await db.fetchall("SELECT key, value FROM settings")
    return {row["key"]: json.loads(row["value"]) for row in rows}


async def get(db: Database, key: str) -> Any | None:
    value = await db.fetchval("SELECT value FROM settings WHERE key = ?", (key,))
    return None if value is None else json.loads(value)


def put(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value, ensure_ascii=False)),
    )


async def put_many(db: Database, values: dict[str, Any]) -> None:
    def write(conn: sqlite3.Connection) -> None:
        for key, value in values.items():
            put(conn, key, value)

    await db.execute_write_fn(write)
