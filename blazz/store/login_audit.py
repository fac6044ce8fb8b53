"""Every login attempt, good or bad (app.db `login_audit`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    id: int
    at: int
    email: str
    user_id: int | None
    address: str | None
    success: bool
    reason: str


async def record(
    db: Database, email: str, user_id: int | None, address: str | None, success: bool, reason: str = ""
) -> None:
    await db.execute_write(
        "INSERT INTO login_audit (at, email, user_id, address, success, reason) VALUES (?, ?, ?, ?, ?, ?)",
        (int(time.time()), email, user_id, address, int(success), reason),
    )


async def recent(db: Database, limit: int = 100, user_ids: list[int] | None = None) -> list[LoginAttempt]:
    if user_ids is not None:
        marks = ",".join("?" * len(user_ids)) or "NULL"
        rows = await db.fetchall(
            f"SELECT id, at, email, user_id, address, success, reason FROM login_audit WHERE user_id IN ({marks})"
            " ORDER BY id DESC LIMIT ?",
            (*user_ids, limit),
        )
    else:
        rows = await db.fetchall(
            "SELECT id, at, email, user_id, address, success, reason FROM login_audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
    return [LoginAttempt(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]
