"""Auto-reply rules of one workspace, the per-contact record of automatic messages (cooldowns), and what automation
needs to know about the conversation a message arrived in. All SQL for automation lives here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blazz.store.database import Database

COLUMNS = (
    "id", "name", "trigger", "pattern", "reply_text", "reply_template_id", "reply_media_id", "account_ids",
    "cooldown_s", "priority", "active", "hits", "last_hit_at", "created_at", "updated_at",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM auto_replies"
WRITABLE = frozenset({"name", "trigger", "pattern", "reply_text", "reply_template_id", "reply_media_id",
                      "account_ids", "cooldown_s", "priority", "active"})


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    trigger: str  # exact | contains | starts_with | regex | any | first_message
    pattern: str
    reply_text: str
    reply_template_id: int | None
    reply_media_id: int | None
    account_ids: tuple[int, ...] | None  # None: every number of the workspace
    cooldown_s: int
    priority: int  # rules are checked in ascending priority, then id
    active: bool
    hits: int
    last_hit_at: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Facts:
    """What automation needs about the contact and conversation of one inbound message."""

    contact_id: int
    kind: str  # person | group
    opted_out: bool
    first_ever: bool  # nothing earlier from or to this contact, on any number
    previous_at: int | None  # the conversation's message before this one


def _rule(row: Sequence[Any]) -> Rule:
    values = list(row)
    values[7] = tuple(json.loads(values[7])) if values[7] is not None else None
    values[10] = bool(values[10])
    return Rule(*values)


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in WRITABLE:
            raise ValueError(f"not a writable auto-reply column: {key}")
        if key == "account_ids":
            value = json.dumps(sorted(value)) if value is not None else None
        elif key == "active":
            value = int(bool(value))
        out[key] = value
    return out


async def list_all(db: Database) -> list[Rule]:
    rows = await db.fetchall(f"{_SELECT} ORDER BY priority, id")
    return [_rule(r) for r in rows]


async def page(db: Database, after: tuple[int, int] | None, limit: int) -> list[Rule]:
    """Rules in checking order, after the (priority, id) of the last one seen."""
    if after is None:
        rows = await db.fetchall(f"{_SELECT} ORDER BY priority, id LIMIT ?", (limit,))
    else:
        rows = await db.fetchall(f"{_SELECT} WHERE (priority, id) > (?, ?) ORDER BY priority, id LIMIT ?",
                                 (*after, limit))
    return [_rule(r) for r in rows]


async def get(db: Database, rule_id: int) -> Rule | None:
    row = await db.fetchone(f"{_SELECT} WHERE id = ?", (rule_id,))
    return _rule(row) if row else None


def get_sync(conn: sqlite3.Connection, rule_id: int) -> Rule | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (rule_id,)).fetchone()
    return _rule(row) if row else None


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM auto_replies").fetchone()[0]


def next_priority(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(priority), 0) + 1 FROM auto_replies").fetchone()[0]


def insert(conn: sqlite3.Connection, values: dict[str, Any], now: int) -> int:
    cols = _encode(values)
    names = ", ".join(cols)
    marks = ", ".join("?" for _ in cols)
    return conn.execute(f"INSERT INTO auto_replies ({names}, created_at, updated_at) VALUES ({marks}, ?, ?)",
                        (*cols.values(), now, now)).lastrowid


def update(conn: sqlite3.Connection, rule_id: int, values: dict[str, Any], now: int) -> None:
    cols = _encode(values)
    if not cols:
        return
    assigns = ", ".join(f"{k} = ?" for k in cols)
    conn.execute(f"UPDATE auto_replies SET {assigns}, updated_at = ? WHERE id = ?", (*cols.values(), now, rule_id))


def delete(conn: sqlite3.Connection, rule_id: int) -> bool:
    conn.execute("DELETE FROM automation_sends WHERE key = ?", (rule_key(rule_id),))
    return conn.execute("DELETE FROM auto_replies WHERE id = ?", (rule_id,)).rowcount > 0


def renumber(conn: sqlite3.Connection, ordered_ids: Sequence[int]) -> None:
    """Give the rules priorities 1, 2, 3... in this order (a reorder in the UI)."""
    conn.executemany("UPDATE auto_replies SET priority = ? WHERE id = ?",
                     [(n, rule_id) for n, rule_id in enumerate(ordered_ids, start=1)])


def ordered_ids(conn: sqlite3.Connection) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM auto_replies ORDER BY priority, id")]


def record_hit(conn: sqlite3.Connection, rule_id: int, now: int) -> None:
    conn.execute("UPDATE auto_replies SET hits = hits + 1, last_hit_at = ? WHERE id = ?", (now, rule_id))


# -- cooldowns --------------------------------------------------------------------------------------------------


def rule_key(rule_id: int) -> str:
    return f"rule:{rule_id}"


def last_sent(conn: sqlite3.Connection, contact_id: int, key: str) -> int | None:
    row = conn.execute("SELECT last_at FROM automation_sends WHERE contact_id = ? AND key = ?",
                       (contact_id, key)).fetchone()
    return row[0] if row else None


def note_sent(conn: sqlite3.Connection, contact_id: int, key: str, now: int) -> None:
    conn.execute("INSERT INTO automation_sends (contact_id, key, last_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (contact_id, key) DO UPDATE SET last_at = excluded.last_at", (contact_id, key, now))


RECENT = 200  # the bot-loop guard looks at this many latest messages: a loop fills them within its window


def automated_since(conn: sqlite3.Connection, conversation_id: int, since: int) -> int:
    """Automatic messages queued in this conversation since `since` (the bot-loop guard counts them), among its
    latest RECENT messages, so a long thread costs the same as a short one."""
    return conn.execute(
        "SELECT count(*) FROM (SELECT source, created_at FROM messages WHERE conversation_id = ? ORDER BY id DESC"
        " LIMIT ?) WHERE source = 'automation' AND created_at >= ?", (conversation_id, RECENT, since)).fetchone()[0]


# -- the conversation of an inbound message ---------------------------------------------------------------------


def facts(conn: sqlite3.Connection, conversation_id: int, message_id: int) -> Facts | None:
    row = conn.execute(
        "SELECT c.id, c.kind, c.opted_out_at FROM conversations v JOIN contacts c ON c.id = v.contact_id"
        " WHERE v.id = ?", (conversation_id,)).fetchone()
    if row is None:
        return None
    earlier = conn.execute(
        "SELECT 1 FROM conversations v JOIN messages m ON m.conversation_id = v.id"
        " WHERE v.contact_id = ? AND m.id < ? LIMIT 1", (row[0], message_id)).fetchone()
    previous = conn.execute(
        "SELECT created_at FROM messages WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT 1",
        (conversation_id, message_id)).fetchone()
    return Facts(contact_id=row[0], kind=row[1], opted_out=row[2] is not None, first_ever=earlier is None,
                 previous_at=previous[0] if previous else None)
