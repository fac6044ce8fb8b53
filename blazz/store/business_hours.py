"""The business hours of one workspace: one JSON document (weekly schedule, holidays, away and greeting messages)
in a one-row table. Its shape and checks live in `blazz.business_hours`."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from blazz.store.database import Database


async def get(db: Database) -> dict[str, Any] | None:
    value = await db.fetchval("SELECT config FROM business_hours WHERE id = 1")
    return json.loads(value) if value else None


def put(conn: sqlite3.Connection, config: dict[str, Any], now: int) -> None:
    conn.execute(
        "INSERT INTO business_hours (id, config, updated_at) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        (json.dumps(config, ensure_ascii=False), now))
