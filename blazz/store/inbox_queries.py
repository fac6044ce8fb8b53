"""The team inbox's reads and writes: conversation list pages, thread pages, assignment, status, internal lines
(notes and events), unread and read receipts, workload, and full-text search over messages. All its SQL lives here.

Every list is a keyset walk over an index in its display order (newest activity first, the last message's id breaking
ties), so a page costs the same on the first day as after a year of history.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blazz.store.database import Database
from blazz.store.media import COLUMNS as MEDIA_COLUMNS
from blazz.store.media import Media
from blazz.store.messages import COLUMNS as MESSAGE_COLUMNS
from blazz.store.messages import Message

CHUNK = 500  # ids per IN (...) list
STATUSES = ("open", "pending", "resolved")
_MESSAGE_SELECT = f"SELECT {', '.join('m.' + c for c in MESSAGE_COLUMNS)} FROM messages m"
_META = MESSAGE_COLUMNS.index("meta")
_REMOTE = MEDIA_COLUMNS.index("remote")


def to_message(row: Sequence[Any]) -> Message:
    values = list(row)
    values[_META] = json.loads(values[_META]) if values[_META] else {}
    return Message(*values)


# -- the conversation list ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One line of the conversation list: the conversation, who it is with, and how its last message fared."""

    id: int
    contact_id: int
    account_id: int
    status: str
    assignee_id: int | None
    unread: int
    last_message_id: int | None
    last_message_at: int
    last_preview: str
    last_inbound_at: int | None
    resolved_at: int | None
    created_at: int
    contact_kind: str  # person | group
    contact_name: str
    contact_phone: str | None
    contact_lid: str | None
    contact_jid: str | None
    contact_deleted_at: int | None
    last_direction: str | None
    last_status: str | None
    last_kind: str | None

    @property
    def is_group(self) -> bool:
        return self.contact_kind == "group"


_CONVERSATION_SELECT = (
    "SELECT v.id, v.contact_id, v.account_id, v.status, v.assignee_id, v.unread, v.last_message_id,"
    " v.last_message_at, v.last_preview, v.last_inbound_at, v.resolved_at, v.created_at,"
    " c.kind, c.name, c.phone, c.lid, c.jid, c.deleted_at, m.direction, m.status, m.kind"
    " FROM conversations v JOIN contacts c ON c.id = v.contact_id"
    " LEFT JOIN messages m ON m.id = v.last_message_id"
)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Which conversations a list shows. `visible_to` limits an agent to theirs and the unassigned ones."""

    status: str | None = "open"  # None: every status
    assignee_id: int | None = None  # only this person's
    unassigned: bool = False
    visible_to: int | None = None
    account_id: int | None = None
    group_id: int | None = None


def _where(q: ListQuery) -> tuple[list[str], list[Any]]:
    # A conversation a campaign opened shows once its message went out (the worker records it as the last one).
    where, args = ["v.last_message_id IS NOT NULL", "c.deleted_at IS NULL"], []
    if q.status is not None:
        where.append("v.status = ?")
        args.append(q.status)
    if q.assignee_id is not None:
        where.append("v.assignee_id = ?")
        args.append(q.assignee_id)
    elif q.unassigned:
        where.append("v.assignee_id IS NULL")
    if q.visible_to is not None:
        where.append("(v.assignee_id = ? OR v.assignee_id IS NULL)")
        args.append(q.visible_to)
    if q.account_id is not None:
        where.append("v.account_id = ?")
        args.append(q.account_id)
    if q.group_id is not None:
        # Correlated, so the walk stays on the activity index instead of sorting every member of a big group.
        where.append("EXISTS (SELECT 1 FROM contact_groups g WHERE g.contact_id = v.contact_id AND g.group_id = ?)")
        args.append(q.group_id)
    return where, args


# Newest activity first; within one second, the conversation whose last message came last (ids grow with arrival).
NEWEST_FIRST = "v.last_message_at DESC, v.last_message_id DESC"


def list_sql(q: ListQuery, after: tuple[int, int] | None, limit: int) -> tuple[str, list[Any]]:
    """A page of the list after the keyset (last activity, last message id) of the previous page's last row."""
    where, args = _where(q)
    if after is not None:
        where.append("(v.last_message_at, v.last_message_id) < (?, ?)")
        args += list(after)
    sql = f"{_CONVERSATION_SELECT} WHERE {' AND '.join(where)} ORDER BY {NEWEST_FIRST} LIMIT ?"
    return sql, [*args, limit]


async def conversation_page(db: Database, q: ListQuery, after: tuple[int, int] | None,
                            limit: int) -> list[ConversationRow]:
    sql, args = list_sql(q, after, limit)
    return [ConversationRow(*r) for r in await db.fetchall(sql, args)]


async def conversations_matching(db: Database, q: ListQuery, ids: Sequence[int]) -> list[ConversationRow]:
    """Those of `ids` that the list `q` shows, newest activity first (live updates of an open list)."""
    if not ids:
        return []
    where, args = _where(q)
    ids = list(ids)[:CHUNK]
    where.append(f"v.id IN ({','.join('?' * len(ids))})")
    rows = await db.fetchall(f"{_CONVERSATION_SELECT} WHERE {' AND '.join(where)} ORDER BY {NEWEST_FIRST}",
                             [*args, *ids])
    return [ConversationRow(*r) for r in rows]


async def conversation(db: Database, conversation_id: int) -> ConversationRow | None:
    row = await db.fetchone(f"{_CONVERSATION_SELECT} WHERE v.id = ?", (conversation_id,))
    return ConversationRow(*row) if row else None


async def conversations_of_contact(db: Database, contact_id: int) -> list[ConversationRow]:
    rows = await db.fetchall(f"{_CONVERSATION_SELECT} WHERE v.contact_id = ? ORDER BY v.last_message_at DESC",
                             (contact_id,))
    return [ConversationRow(*r) for r in rows]


async def open_load(db: Database, user_ids: Sequence[int]) -> dict[int, int]:
    """How many unresolved conversations each of these people holds."""
    if not user_ids:
        return {}
    ids = list(user_ids)[:CHUNK]
    marks = ",".join("?" * len(ids))
    rows = await db.fetchall(
        f"SELECT assignee_id, count(*) FROM conversations WHERE assignee_id IN ({marks})"
        " AND status IN ('open', 'pending') GROUP BY assignee_id", ids)
    load = dict.fromkeys(ids, 0)
    load.update({r[0]: r[1] for r in rows})
    return load


# -- threads --------------------------------------------------------------------------------------------------------


async def thread_page(db: Database, conversation_id: int, *, before: int | None = None, after: int | None = None,
                      limit: int = 50) -> list[Message]:
    """Messages of one thread, oldest first: the `limit` newest before `before`, or the oldest after `after`."""
    if after is not None:
        rows = await db.fetchall(f"{_MESSAGE_SELECT} WHERE m.conversation_id = ? AND m.id > ? ORDER BY m.id LIMIT ?",
                                 (conversation_id, after, limit))
        return [to_message(r) for r in rows]
    rows = await db.fetchall(f"{_MESSAGE_SELECT} WHERE m.conversation_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?",
                             (conversation_id, before if before is not None else 2**63 - 1, limit))
    return [to_message(r) for r in reversed(rows)]


async def messages_by_ids(db: Database, ids: Sequence[int]) -> dict[int, Message]:
    ids = list(dict.fromkeys(ids))[:CHUNK]
    if not ids:
        return {}
    rows = await db.fetchall(f"{_MESSAGE_SELECT} WHERE m.id IN ({','.join('?' * len(ids))})", ids)
    return {m.id: m for m in (to_message(r) for r in rows)}


async def media_by_ids(db: Database, ids: Sequence[int]) -> dict[int, Media]:
    ids = list(dict.fromkeys(ids))[:CHUNK]
    if not ids:
        return {}
    rows = await db.fetchall(f"SELECT {', '.join(MEDIA_COLUMNS)} FROM media WHERE id IN ({','.join('?' * len(ids))})",
                             ids)
    out: dict[int, Media] = {}
    for row in rows:
        values = list(row)
        values[_REMOTE] = json.loads(values[_REMOTE]) if values[_REMOTE] else None
        out[values[0]] = Media(*values)
    return out


async def last_status_event(db: Database, conversation_id: int) -> str | None:
    """The status the thread's last status event announced (None when it has none)."""
    rows = await db.fetchall("SELECT meta FROM messages WHERE conversation_id = ? AND kind = 'event'"
                             " ORDER BY id DESC LIMIT 20", (conversation_id,))
    for (meta,) in rows:
        status = json.loads(meta or "{}").get("status")
        if status:
            return status
    return None


# -- writes ---------------------------------------------------------------------------------------------------------


def insert_line(conn: sqlite3.Connection, *, conversation_id: int, kind: str, body: str, author_id: int | None,
                meta: dict[str, Any], now: int) -> int:
    """An internal line of a thread (`note` or `event`): stored with the messages, never sent to WhatsApp."""
    account_id = conn.execute("SELECT account_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()[0]
    return conn.execute(
        "INSERT INTO messages (conversation_id, account_id, direction, kind, body, status, source, author_id, meta,"
        " created_at) VALUES (?, ?, 'out', ?, ?, 'note', ?, ?, ?, ?)",
        (conversation_id, account_id, kind, body, "agent" if kind == "note" else "system", author_id,
         json.dumps(meta, ensure_ascii=False) if meta else None, now),
    ).lastrowid


def current(conn: sqlite3.Connection, conversation_id: int) -> tuple[str, int | None] | None:
    """(status, assignee id) of a conversation, read inside a write."""
    row = conn.execute("SELECT status, assignee_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    return (row[0], row[1]) if row else None


def set_assignee(conn: sqlite3.Connection, conversation_id: int, user_id: int | None) -> None:
    conn.execute("UPDATE conversations SET assignee_id = ? WHERE id = ?", (user_id, conversation_id))


def assign_if_unassigned(conn: sqlite3.Connection, conversation_id: int, user_id: int) -> bool:
    cur = conn.execute("UPDATE conversations SET assignee_id = ? WHERE id = ? AND assignee_id IS NULL"
                       " AND status != 'resolved'", (user_id, conversation_id))
    return cur.rowcount > 0


def set_status(conn: sqlite3.Connection, conversation_id: int, status: str, now: int) -> None:
    conn.execute("UPDATE conversations SET status = ?, resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE NULL END"
                 " WHERE id = ?", (status, status, now, conversation_id))


def take_unread(conn: sqlite3.Connection, conversation_id: int) -> int:
    """Reset the unread counter; returns what it was (only one of several readers sees it above zero)."""
    row = conn.execute("SELECT unread FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if not row or not row[0]:
        return 0
    conn.execute("UPDATE conversations SET unread = 0 WHERE id = ?", (conversation_id,))
    return row[0]


async def latest_inbound(db: Database, conversation_id: int, limit: int) -> list[tuple[str, str | None]]:
    """(provider id, group member phone) of the newest received messages, oldest first."""
    rows = await db.fetchall(
        "SELECT provider_id, sender_phone FROM messages WHERE conversation_id = ? AND direction = 'in'"
        " AND provider_id IS NOT NULL ORDER BY id DESC LIMIT ?", (conversation_id, limit))
    return [(r[0], r[1]) for r in reversed(rows)]


# -- search ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageHit:
    message: Message
    conversation: ConversationRow


async def search_messages(db: Database, fts: str, *, before: int | None, limit: int,
                          visible_to: int | None) -> list[MessageHit]:
    """Messages whose body matches the FTS5 expression, newest first (rowid order: no ranking of every match)."""
    where = ["messages_fts MATCH ?", "f.rowid < ?", "m.kind != 'event'", "c.deleted_at IS NULL"]
    args: list[Any] = [fts, before if before is not None else 2**63 - 1]
    if visible_to is not None:
        where.append("(v.assignee_id = ? OR v.assignee_id IS NULL)")
        args.append(visible_to)
    conv_cols = _CONVERSATION_SELECT.split(" FROM ")[0].removeprefix("SELECT ")
    msg_cols = ", ".join("m." + c for c in MESSAGE_COLUMNS)
    sql = (f"SELECT {msg_cols}, {conv_cols.replace('m.direction, m.status, m.kind', 'l.direction, l.status, l.kind')}"
           " FROM messages_fts f JOIN messages m ON m.id = f.rowid"
           " JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id"
           " LEFT JOIN messages l ON l.id = v.last_message_id"
           f" WHERE {' AND '.join(where)} ORDER BY f.rowid DESC LIMIT ?")
    rows = await db.fetchall(sql, [*args, limit])
    width = len(MESSAGE_COLUMNS)
    return [MessageHit(to_message(r[:width]), ConversationRow(*r[width:])) for r in rows]
