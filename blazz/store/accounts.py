"""WhatsApp numbers of one workspace (`accounts`): their engine settings, last known state and defaults."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    engine: str
    phone: str | None
    jid: str | None
    push_name: str | None
    status: str
    status_detail: str
    settings: dict
    pacing: dict | None
    webhook_key: str | None
    is_default: bool
    ignore_groups: bool
    keep_connected: bool
    linked_at: int | None
    created_at: int


_COLS = ("id, name, engine, phone, jid, push_name, status, status_detail, settings, pacing, webhook_key, is_default,"
         " ignore_groups, keep_connected, linked_at, created_at")


def _account(row: sqlite3.Row | None) -> Account | None:
    if row is None:
        return None
    values = list(row)
    values[8] = json.loads(values[8] or "{}")
    values[9] = json.loads(values[9]) if values[9] else None
    values[11], values[12], values[13] = bool(values[11]), bool(values[12]), bool(values[13])
    return Account(*values)


async def all_active(db: Database) -> list[Account]:
    rows = await db.fetchall(f"SELECT {_COLS} FROM accounts WHERE deleted_at IS NULL ORDER BY id")
    return [_account(r) for r in rows]


async def get(db: Database, account_id: int) -> Account | None:
    return _account(await db.fetchone(
        f"SELECT {_COLS} FROM accounts WHERE id = ? AND deleted_at IS NULL", (account_id,)))


async def by_webhook_key(db: Database, key: str) -> Account | None:
    return _account(await db.fetchone(
        f"SELECT {_COLS} FROM accounts WHERE webhook_key = ? AND deleted_at IS NULL", (key,)))


async def default(db: Database) -> Account | None:
    return _account(await db.fetchone(
        f"SELECT {_COLS} FROM accounts WHERE deleted_at IS NULL ORDER BY is_default DESC, id LIMIT 1"))


async def insert(db: Database, name: str, engine: str, settings: dict, webhook_key: str | None) -> int:
    def write(conn: sqlite3.Connection) -> int:
        first = conn.execute("SELECT count(*) FROM accounts WHERE deleted_at IS NULL").fetchone()[0] == 0
        cur = conn.execute(
            "INSERT INTO accounts (name, engine, settings, webhook_key, is_default, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (name, engine, json.dumps(settings), webhook_key, int(first), int(time.time())),
        )
        return cur.lastrowid

    return await db.execute_write_fn(write)


async def update_settings(db: Database, account_id: int, *, name: str | None = None, settings: dict | None = None,
                          pacing: dict | None = None, ignore_groups: bool | None = None) -> None:
    sets, params = [], []
    for column, value in (("name", name), ("ignore_groups", ignore_groups)):
        if value is not None:
            sets.append(f"{column} = ?")
            params.append(int(value) if isinstance(value, bool) else value)
    for column, value in (("settings", settings), ("pacing", pacing)):
        if value is not None:
            sets.append(f"{column} = ?")
            params.append(json.dumps(value))
    if sets:
        await db.execute_write(f"UPDATE accounts SET {', '.join(sets)} WHERE id = ?", (*params, account_id))


async def record_state(db: Database, account_id: int, status: str, detail: str, phone: str | None,
                       jid: str | None = None, push_name: str | None = None) -> None:
    """Persist the session manager's view; the phone, JID and push name are kept once known."""
    linked = int(time.time()) if status == "connected" else None
    await db.execute_write(
        "UPDATE accounts SET status = ?, status_detail = ?, phone = COALESCE(?, phone), jid = COALESCE(?, jid),"
        " push_name = COALESCE(?, push_name), linked_at = CASE WHEN ? IS NOT NULL AND linked_at IS NULL THEN ?"
        " ELSE linked_at END WHERE id = ?",
        (status, detail, phone, jid, push_name, linked, linked, account_id),
    )


async def set_keep_connected(db: Database, account_id: int, keep: bool) -> None:
    await db.execute_write("UPDATE accounts SET keep_connected = ? WHERE id = ?", (int(keep), account_id))


async def forget_link(db: Database, account_id: int) -> None:
    """After a logout: the next link may be another phone, and warm-up starts again."""
    await db.execute_write("UPDATE accounts SET linked_at = NULL, keep_connected = 0 WHERE id = ?", (account_id,))


async def set_default(db: Database, account_id: int) -> None:
    def write(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE accounts SET is_default = (id = ?) WHERE deleted_at IS NULL", (account_id,))

    await db.execute_write_fn(write)


async def soft_delete(db: Database, account_id: int) -> None:
    """The row stays (conversations and messages point at it); it just disappears from every list."""

    def write(conn: sqlite3.Connection) -> None:
        was_default = conn.execute("SELECT is_default FROM accounts WHERE id = ?", (account_id,)).fetchone()
        conn.execute("UPDATE accounts SET deleted_at = ?, is_default = 0, keep_connected = 0, webhook_key = NULL"
                     " WHERE id = ?", (int(time.time()), account_id))
        if was_default and was_default[0]:
            conn.execute("UPDATE accounts SET is_default = 1 WHERE id = (SELECT min(id) FROM accounts"
                         " WHERE deleted_at IS NULL)")

    await db.execute_write_fn(write)


async def to_restore(db: Database) -> list[Account]:
    rows = await db.fetchall(f"SELECT {_COLS} FROM accounts WHERE deleted_at IS NULL AND keep_connected = 1")
    return [_account(r) for r in rows]
