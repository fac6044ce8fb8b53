"""Messages of one workspace: inserting outgoing and inbound rows, status moves, receipts. All SQL for messages.

Statuses move forward only: queued → sending → sent → delivered → read. `failed` ends an outgoing message (a retry
puts it back to queued); inbound messages are `received`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from blazz.store.database import Database

# Where each status stands on the way to the customer; receipts only ever move a message to a higher rank.
RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit

COLUMNS = (
    "id", "conversation_id", "account_id", "direction", "kind", "body", "media_id", "status", "provider_id", "error",
    "quoted_id", "source", "author_id", "sender_phone", "sender_name", "campaign_id", "idempotency_key", "meta",
    "created_at", "sent_at", "delivered_at", "read_at",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM messages"


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    account_id: int
    direction: str  # in | out
    kind: str
    body: str
    media_id: int | None
    status: str  # received | queued | sending | sent | delivered | read | failed | note
    provider_id: str | None
    error: str | None
    quoted_id: int | None
    source: str  # contact, agent, api, automation, campaign, phone (sent from the phone itself), system
    author_id: int | None
    sender_phone: str | None
    sender_name: str | None
    campaign_id: int | None
    idempotency_key: str | None
    meta: dict[str, Any]
    created_at: int
    sent_at: int | None
    delivered_at: int | None
    read_at: int | None

    @property
    def from_phone(self) -> bool:
        """Written on the owner's phone (or another linked device), not through Blazz."""
        return self.source == "phone"


def _message(row: Sequence[Any] | None) -> Message | None:
    if row is None:
        return None
    values = list(row)
    values[17] = json.loads(values[17]) if values[17] else {}
    return Message(*values)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


# -- reading ------------------------------------------------------------------------------------------------------


async def get(db: Database, message_id: int) -> Message | None:
    return _message(await db.fetchone(f"{_SELECT} WHERE id = ?", (message_id,)))


def get_sync(conn: sqlite3.Connection, message_id: int) -> Message | None:
    return _message(conn.execute(f"{_SELECT} WHERE id = ?", (message_id,)).fetchone())


async def by_ids(db: Database, ids: Sequence[int]) -> list[Message]:
    def read(conn: sqlite3.Connection) -> list[Message]:
        out: list[Message] = []
        for part in _chunks(list(ids)):
            rows = conn.execute(f"{_SELECT} WHERE id IN ({','.join('?' * len(part))}) ORDER BY id", part)
            out += [_message(r) for r in rows]
        return out

    return await db.execute_fn(read)


async def by_provider_id(db: Database, account_id: int, provider_id: str) -> Message | None:
    return _message(await db.fetchone(f"{_SELECT} WHERE account_id = ? AND provider_id = ?", (account_id, provider_id)))


def by_idempotency_key(conn: sqlite3.Connection, key: str) -> Message | None:
    return _message(conn.execute(f"{_SELECT} WHERE idempotency_key = ?", (key,)).fetchone())


def key_taken(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("SELECT 1 FROM messages WHERE idempotency_key = ?", (key,)).fetchone() is not None


def in_conversation_sync(conn: sqlite3.Connection, message_id: int, conversation_id: int) -> bool:
    """Whether the message belongs to that conversation (a reply may only quote its own thread)."""
    return conn.execute("SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                        (message_id, conversation_id)).fetchone() is not None


def conversation_of(conn: sqlite3.Connection, message_id: int) -> int | None:
    row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    return row[0] if row else None


async def in_conversation(db: Database, conversation_id: int, before: int | None = None,
                          limit: int = 50) -> list[Message]:
    """A page of one thread, newest first (`before` = a message id to page backwards from)."""
    rows = await db.fetchall(
        f"{_SELECT} WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
        (conversation_id, before if before is not None else 2**63 - 1, limit),
    )
    return [_message(r) for r in rows]


async def count_by_status(db: Database, account_id: int | None = None) -> dict[str, int]:
    sql, args = "SELECT status, count(*) FROM messages", ()
    if account_id is not None:
        sql, args = sql + " WHERE account_id = ?", (account_id,)
    return {status: n for status, n in await db.fetchall(sql + " GROUP BY status", args)}


# -- writing ------------------------------------------------------------------------------------------------------


def insert_outgoing(conn: sqlite3.Connection, *, conversation_id: int, account_id: int, kind: str, body: str,
                    media_id: int | None, source: str, author_id: int | None, quoted_id: int | None,
                    campaign_id: int | None, idempotency_key: str | None, now: int,
                    meta: dict[str, Any] | None = None) -> int:
    """A new outgoing message in status `queued` (its outbox entry is written by the caller, same transaction).
    `meta` holds what the engine needs beyond the body, e.g. {"template": ...} for a Meta template."""
    cur = conn.execute(
        "INSERT INTO messages (conversation_id, account_id, direction, kind, body, media_id, status, source,"
        " author_id, quoted_id, campaign_id, idempotency_key, meta, created_at)"
        " VALUES (?, ?, 'out', ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
        (conversation_id, account_id, kind, body, media_id, source, author_id, quoted_id, campaign_id,
         idempotency_key, json.dumps(meta, ensure_ascii=False) if meta else None, now),
    )
    return cur.lastrowid


@dataclass(frozen=True, slots=True)
class InboundRow:
    """A message as ingest stores it; `direction` is out for what the owner sent from the phone."""

    conversation_id: int
    account_id: int
    direction: str
    kind: str
    body: str
    provider_id: str
    source: str  # contact | phone
    status: str  # received | sent
    created_at: int
    media_id: int | None = None
    quoted_id: int | None = None
    sender_phone: str | None = None
    sender_name: str | None = None
    meta: dict[str, Any] | None = None


def insert_inbound(conn: sqlite3.Connection, row: InboundRow) -> int | None:
    """Store one received message; None when (account, provider id) is already stored (a redelivery)."""
    sent_at = row.created_at if row.direction == "out" else None
    found = conn.execute(
        "INSERT OR IGNORE INTO messages (conversation_id, account_id, direction, kind, body, media_id, status,"
        " provider_id, quoted_id, source, sender_phone, sender_name, meta, created_at, sent_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (row.conversation_id, row.account_id, row.direction, row.kind, row.body, row.media_id, row.status,
         row.provider_id, row.quoted_id, row.source, row.sender_phone, row.sender_name,
         json.dumps(row.meta, ensure_ascii=False) if row.meta else None, row.created_at, sent_at),
    ).fetchone()
    return found[0] if found else None


def id_by_provider(conn: sqlite3.Connection, account_id: int, provider_id: str) -> int | None:
    row = conn.execute("SELECT id FROM messages WHERE account_id = ? AND provider_id = ?",
                       (account_id, provider_id)).fetchone()
    return row[0] if row else None


def index_queued(conn: sqlite3.Connection) -> None:
    """Add the messages this transaction wrote to the search index, all in one statement just before it commits (the
    writer runs this; see migration m016 for why not row by row)."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM messages_fts_queue)").fetchone()[0]:
        conn.execute("INSERT INTO messages_fts (rowid, body) SELECT m.id, m.body FROM messages_fts_queue q"
                     " JOIN messages m ON m.id = q.id")
        conn.execute("DELETE FROM messages_fts_queue")


def set_media(conn: sqlite3.Connection, message_id: int, media_id: int) -> None:
    conn.execute("UPDATE messages SET media_id = ? WHERE id = ?", (media_id, message_id))


def mark_sending(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    conn.executemany("UPDATE messages SET status = 'sending' WHERE id = ? AND status = 'queued'",
                     ((i,) for i in ids))


def mark_sent(conn: sqlite3.Connection, message_id: int, account_id: int, provider_id: str, at: int) -> None:
    """Record the provider id. If ingest already stored the engine's echo of this very message (same provider
    id, written "from the phone"), that copy goes: one message, not two."""
    sql = ("UPDATE messages SET status = 'sent', provider_id = ?, sent_at = ?, error = NULL"
           " WHERE id = ? AND status IN ('queued', 'sending')")
    try:
        conn.execute(sql, (provider_id, at, message_id))
    except sqlite3.IntegrityError:
        conn.execute("DELETE FROM messages WHERE account_id = ? AND provider_id = ? AND id != ? AND source = 'phone'",
                     (account_id, provider_id, message_id))
        conn.execute(sql, (provider_id, at, message_id))


def mark_queued(conn: sqlite3.Connection, message_id: int, error: str | None) -> None:
    """Back in the queue (a retry is scheduled, or the number went offline mid-send)."""
    conn.execute("UPDATE messages SET status = 'queued', error = ? WHERE id = ? AND status IN ('queued', 'sending',"
                 " 'failed')", (error, message_id))


def mark_failed(conn: sqlite3.Connection, message_ids: Sequence[int], error: str) -> None:
    conn.executemany("UPDATE messages SET status = 'failed', error = ? WHERE id = ?"
                     " AND status IN ('queued', 'sending')", ((error, i) for i in message_ids))


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    changed: list[tuple[int, int]]  # (message id, conversation id) that moved forward
    unknown: list[str]  # provider ids with no message of this account


def apply_receipt(conn: sqlite3.Connection, account_id: int, provider_ids: Sequence[str], status: str, at: int,
                  error: str | None = None) -> ReceiptResult:
    """Move messages forward to `status` (delivered | read | failed); never backwards, never twice."""
    changed: list[tuple[int, int]] = []
    unknown: list[str] = []
    for part in _chunks(list(dict.fromkeys(provider_ids))):
        rows = conn.execute(
            f"SELECT provider_id, id, conversation_id, status FROM messages WHERE account_id = ?"
            f" AND provider_id IN ({','.join('?' * len(part))})", (account_id, *part)).fetchall()
        found = {r[0]: r for r in rows}
        unknown += [p for p in part if p not in found]
        if status == "failed":
            # A failure report counts only before the customer's phone confirmed anything.
            moving = [r for r in rows if r[3] in ("sending", "sent")]
            conn.executemany("UPDATE messages SET status = 'failed', error = ? WHERE id = ?",
                             ((error or "WhatsApp could not deliver this message.", r[1]) for r in moving))
        else:
            moving = [r for r in rows if r[3] in RANK and RANK[r[3]] < RANK[status]]
            if status == "delivered":
                conn.executemany("UPDATE messages SET status = 'delivered', delivered_at = ? WHERE id = ?",
                                 ((at, r[1]) for r in moving))
            else:  # read implies delivered, whether or not that receipt came first
                conn.executemany("UPDATE messages SET status = 'read', read_at = ?,"
                                 " delivered_at = coalesce(delivered_at, ?) WHERE id = ?",
                                 ((at, at, r[1]) for r in moving))
        changed += [(r[1], r[2]) for r in moving]
    return ReceiptResult(changed, unknown)
