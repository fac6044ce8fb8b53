"""People who log in (app.db `users`)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str
    password_hash: str
    totp_secret: str | None
    locale: str | None
    created_at: int
    last_login_at: int | None

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]


_COLS = "id, email, name, password_hash, totp_secret, locale, created_at, last_login_at"


def _user(row: sqlite3.Row | None) -> User | None:
    return User(*row) if row else None


async def count(db: Database) -> int:
    return await db.fetchval("SELECT count(*) FROM users")


async def by_id(db: Database, user_id: int) -> User | None:
    return _user(await db.fetchone(f"SELECT {_COLS} FROM users WHERE id = ?", (user_id,)))


async def by_email(db: Database, email: str) -> User | None:
    return _user(await db.fetchone(f"SELECT {_COLS} FROM users WHERE email = ?", (email,)))


async def by_ids(db: Database, ids: list[int]) -> dict[int, User]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = await db.fetchall(f"SELECT {_COLS} FROM users WHERE id IN ({marks})", ids)
    return {row["id"]: User(*row) for row in rows}


def insert(conn: sqlite3.Connection, email: str, name: str, password_hash: str) -> int:
    """Insert inside a caller's write transaction; raises sqlite3.IntegrityError on a duplicate email."""
    cur = conn.execute(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
        (email, name, password_hash, int(time.time())),
    )
    return cur.lastrowid


async def set_password(db: Database, user_id: int, password_hash: str) -> None:
    await db.execute_write("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


async def set_totp(db: Database, user_id: int, secret: str | None) -> None:
    await db.execute_write("UPDATE users SET totp_secret = ? WHERE id = ?", (secret, user_id))


async def update_profile(db: Database, user_id: int, name: str, locale: str | None) -> None:
    await db.execute_write("UPDATE users SET name = ?, locale = ? WHERE id = ?", (name, locale, user_id))


async def set_locale(db: Database, user_id: int, locale: str | None) -> None:
    """NULL means "follow the browser's language"."""
    await db.execute_write("UPDATE users SET locale = ? WHERE id = ?", (locale, user_id))


async def touch_login(db: Database, user_id: int) -> None:
    await db.execute_write("UPDATE users SET last_login_at = ? WHERE id = ?", (int(time.time()), user_id))
