"""The media index of one workspace: which content-addressed file a message shows, and downloads still to do.

Files themselves live under `<workspace>/media/<sha256[:2]>/<sha256>` (see `blazz.media`); a row is `ready` once its
file is there, `pending` while an inbound file waits to be downloaded (retried with backoff), `failed` after that.
A ready row whose file the workspace's retention setting removed keeps its name and type with `expired_at` set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blazz.store.database import Database

COLUMNS = ("id", "sha256", "mime", "size", "filename", "status", "remote", "attempts", "created_at", "account_id",
           "next_attempt_at", "last_error", "expired_at")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM media"


@dataclass(frozen=True, slots=True)
class Media:
    id: int
    sha256: str | None
    mime: str
    size: int | None
    filename: str | None
    status: str  # ready | pending | failed
    remote: dict[str, Any] | None  # the engine's reference, kept while a download is pending
    attempts: int
    created_at: int
    account_id: int | None
    next_attempt_at: float | None
    last_error: str | None
    expired_at: int | None  # the file was removed by the retention setting (the row stays for the thread)


def _media(row: Sequence[Any] | None) -> Media | None:
    if row is None:
        return None
    values = list(row)
    values[6] = json.loads(values[6]) if values[6] else None
    return Media(*values)


async def get(db: Database, media_id: int) -> Media | None:
    return _media(await db.fetchone(f"{_SELECT} WHERE id = ?", (media_id,)))


def get_sync(conn: sqlite3.Connection, media_id: int) -> Media | None:
    return _media(conn.execute(f"{_SELECT} WHERE id = ?", (media_id,)).fetchone())


def insert_ready(conn: sqlite3.Connection, sha256: str, mime: str, size: int, filename: str | None, now: int) -> int:
    """An index row for a stored file; the same content with the same type reuses its row (one campaign picture
    sent to 100k people is one row and one file)."""
    row = conn.execute("SELECT id FROM media WHERE sha256 = ? AND mime = ? AND status = 'ready'"
                       " AND coalesce(filename, '') = coalesce(?, '') LIMIT 1", (sha256, mime, filename)).fetchone()
    if row:
        return row[0]
    return conn.execute("INSERT INTO media (sha256, mime, size, filename, status, created_at)"
                        " VALUES (?, ?, ?, ?, 'ready', ?)", (sha256, mime, size, filename, now)).lastrowid


def insert_pending(conn: sqlite3.Connection, *, account_id: int, mime: str, filename: str | None, size: int | None,
                   remote: dict[str, Any], now: float) -> int:
    """An inbound file to download; the message shows a placeholder until it is ready."""
    return conn.execute(
        "INSERT INTO media (mime, size, filename, status, remote, account_id, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
        (mime, size, filename, json.dumps(remote, ensure_ascii=False), account_id, now, int(now))).lastrowid


async def due(db: Database, now: float, limit: int = 50) -> list[Media]:
    rows = await db.fetchall(f"{_SELECT} WHERE status = 'pending' AND next_attempt_at <= ?"
                             " ORDER BY next_attempt_at LIMIT ?", (now, limit))
    return [_media(r) for r in rows]


async def next_due_at(db: Database) -> float | None:
    return await db.fetchval("SELECT min(next_attempt_at) FROM media WHERE status = 'pending'")


def mark_ready(conn: sqlite3.Connection, media_id: int, sha256: str, size: int) -> None:
    conn.execute("UPDATE media SET sha256 = ?, size = ?, status = 'ready', remote = NULL, last_error = NULL,"
                 " next_attempt_at = NULL WHERE id = ?", (sha256, size, media_id))


def mark_retry(conn: sqlite3.Connection, media_id: int, next_attempt_at: float, error: str, *,
               counted: bool = True) -> None:
    """Try again at `next_attempt_at`; an attempt that could not be made (number offline) does not count."""
    conn.execute("UPDATE media SET attempts = attempts + ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                 (int(counted), next_attempt_at, error, media_id))


def mark_failed(conn: sqlite3.Connection, media_id: int, error: str) -> None:
    conn.execute("UPDATE media SET attempts = attempts + 1, status = 'failed', next_attempt_at = NULL,"
                 " last_error = ? WHERE id = ?", (error, media_id))


def messages_of(conn: sqlite3.Connection, media_id: int) -> list[tuple[int, int]]:
    """(message id, conversation id) of every message showing this file."""
    return [(r[0], r[1]) for r in conn.execute("SELECT id, conversation_id FROM messages WHERE media_id = ?",
                                               (media_id,))]


def expirable(conn: sqlite3.Connection, cutoff: int, limit: int) -> list[tuple[int, str]]:
    """(id, sha256) of files that only messages show, whose newest such message is older than `cutoff` and none
    still waiting to go out, and that no template, auto-reply or campaign uses."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT m.id, m.sha256 FROM media m WHERE m.status = 'ready' AND m.sha256 IS NOT NULL"
        " AND m.expired_at IS NULL"
        " AND (SELECT max(created_at) FROM messages WHERE media_id = m.id) < :cutoff"
        " AND NOT EXISTS (SELECT 1 FROM messages WHERE media_id = m.id AND status IN ('queued', 'sending'))"
        " AND NOT EXISTS (SELECT 1 FROM templates WHERE media_id = m.id)"
        " AND NOT EXISTS (SELECT 1 FROM auto_replies WHERE reply_media_id = m.id)"
        " AND NOT EXISTS (SELECT 1 FROM campaigns WHERE json_extract(message, '$.media_id') = m.id)"
        " LIMIT :limit", {"cutoff": cutoff, "limit": limit})]


def expire(conn: sqlite3.Connection, ids: Sequence[int], now: int) -> None:
    conn.executemany("UPDATE media SET sha256 = NULL, expired_at = ? WHERE id = ?", [(now, i) for i in ids])


def sha_in_use(conn: sqlite3.Connection, sha256: str) -> bool:
    return conn.execute("SELECT 1 FROM media WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is not None
