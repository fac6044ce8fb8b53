"""Conversations of one workspace: exactly one per (contact, account), so chats of different numbers never mix.

All SQL for conversations lives here: finding or opening one, and moving its last activity and unread counter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blazz.store.database import Database

PREVIEW_LEN = 120  # what fits on one line of the conversation list
COLUMNS = (
    "id", "contact_id", "account_id", "status", "assignee_id", "unread", "last_message_id", "last_message_at",
    "last_preview", "last_inbound_at", "created_at", "resolved_at",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM conversations"
_KIND_LABELS = {"image": "Photo", "video": "Video", "audio": "Audio", "voice": "Voice message",
                "document": "Document", "sticker": "Sticker", "location": "Location", "contact": "Contact card",
                "template": "Template", "unsupported": "Message"}


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    contact_id: int
    account_id: int
    status: str  # open | pending | resolved
    assignee_id: int | None
    unread: int
    last_message_id: int | None
    last_message_at: int
    last_preview: str
    last_inbound_at: int | None
    created_at: int
    resolved_at: int | None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a conversation's messages go to, and whether they may be messaged."""

    contact_id: int
    phone: str | None
    lid: str | None
    jid: str | None  # group chats
    opted_out_at: int | None
    deleted_at: int | None

    @property
    def address(self) -> str | None:
        """What the engine sends to: the group JID, the E.164 phone, or the WhatsApp LID when that is all we know."""
        return self.jid or self.phone or self.lid


def _conversation(row: Sequence[Any] | None) -> Conversation | None:
    return Conversation(*row) if row else None


def preview(kind: str, body: str) -> str:
    """One line for the conversation list: the text, or what kind of message it was plus its caption."""
    text = " ".join((body or "").split())
    if kind != "text":
        label = _KIND_LABELS.get(kind, "Message")
        text = f"{label}: {text}" if text else label
    return text[:PREVIEW_LEN]


async def get(db: Database, conversation_id: int) -> Conversation | None:
    return _conversation(await db.fetchone(f"{_SELECT} WHERE id = ?", (conversation_id,)))


def get_sync(conn: sqlite3.Connection, conversation_id: int) -> Conversation | None:
    return _conversation(conn.execute(f"{_SELECT} WHERE id = ?", (conversation_id,)).fetchone())


async def find(db: Database, contact_id: int, account_id: int) -> Conversation | None:
    return _conversation(await db.fetchone(f"{_SELECT} WHERE contact_id = ? AND account_id = ?",
                                           (contact_id, account_id)))


async def of_contact(db: Database, contact_id: int) -> list[Conversation]:
    rows = await db.fetchall(f"{_SELECT} WHERE contact_id = ? ORDER BY last_message_at DESC", (contact_id,))
    return [Conversation(*r) for r in rows]


def open_for(conn: sqlite3.Connection, contact_id: int, account_id: int, now: int) -> int:
    """The conversation of this contact with this number, opened now if they never talked."""
    row = conn.execute("SELECT id FROM conversations WHERE contact_id = ? AND account_id = ?",
                       (contact_id, account_id)).fetchone()
    if row:
        return row[0]
    return conn.execute("INSERT INTO conversations (contact_id, account_id, last_message_at, created_at)"
                        " VALUES (?, ?, ?, ?)", (contact_id, account_id, now, now)).lastrowid


def contact_recipient(conn: sqlite3.Connection, contact_id: int) -> Recipient | None:
    """The contact as a recipient (any conversation with them goes to this address)."""
    row = conn.execute("SELECT id, phone, lid, jid, opted_out_at, deleted_at FROM contacts WHERE id = ?",
                       (contact_id,)).fetchone()
    return Recipient(*row) if row else None


def recipient(conn: sqlite3.Connection, conversation_id: int) -> Recipient | None:
    row = conn.execute(
        "SELECT c.id, c.phone, c.lid, c.jid, c.opted_out_at, c.deleted_at FROM conversations v"
        " JOIN contacts c ON c.id = v.contact_id WHERE v.id = ?", (conversation_id,)).fetchone()
    return Recipient(*row) if row else None


def bump(conn: sqlite3.Connection, conversation_id: int, *, message_id: int, at: int, preview_text: str,
         unread: int = 0, inbound_at: int | None = None, reopen: bool = False) -> None:
    """Record new activity: the last message moves only forward in time (a late history message does not
    replace a newer one), unread grows by `unread`, and a resolved chat reopens when the customer writes again."""
    conn.execute(
        "UPDATE conversations SET"
        " last_message_id = CASE WHEN :at >= last_message_at OR last_message_id IS NULL THEN :mid"
        "   ELSE last_message_id END,"
        " last_preview = CASE WHEN :at >= last_message_at OR last_message_id IS NULL THEN :preview"
        "   ELSE last_preview END,"
        " last_message_at = CASE WHEN last_message_id IS NULL THEN :at ELSE max(last_message_at, :at) END,"
        " unread = unread + :unread,"
        " last_inbound_at = CASE WHEN :inbound IS NULL THEN last_inbound_at"
        "   ELSE max(coalesce(last_inbound_at, 0), :inbound) END"
        # Only when the customer wrote: setting resolved_at at all runs the dashboard's trigger for that column.
        + (", status = CASE WHEN status = 'resolved' THEN 'open' ELSE status END,"
           " resolved_at = CASE WHEN status = 'resolved' THEN NULL ELSE resolved_at END" if reopen else "")
        + " WHERE id = :id",
        {"at": at, "mid": message_id, "preview": preview_text, "unread": unread, "inbound": inbound_at,
         "id": conversation_id},
    )


async def mark_read(db: Database, conversation_id: int) -> None:
    await db.execute_write("UPDATE conversations SET unread = 0 WHERE id = ?", (conversation_id,))
