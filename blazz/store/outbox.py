"""The outbox of one workspace: what waits to be sent, by account and lane, and the campaign lane's pacing state.

An entry is `pending` (due at `next_attempt_at`), `sending` (claimed by a worker), `failed` or `cancelled`; a sent
entry is deleted (its message row is the record). `provider_msg_id` is chosen before the first attempt, so a resend
after a crash carries the same WhatsApp id and an engine that honours it does not deliver a second copy.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from blazz.store.database import Database

LANES = {"urgent": 0, "normal": 1, "campaign": 2}  # lower goes first
LANE_NAMES = {number: name for name, number in LANES.items()}
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Entry:
    """A claimed entry with everything the engine needs to send it."""

    id: int
    message_id: int
    lane: int
    attempts: int  # including the one being made now
    provider_msg_id: str
    conversation_id: int
    kind: str
    text: str
    campaign_id: int | None
    to: str | None  # group JID, E.164 phone or LID
    opted_out: bool
    media_sha256: str | None
    media_mime: str | None
    media_filename: str | None
    media_status: str | None
    reply_to: str | None  # provider id of the quoted message
    meta: dict[str, Any] = field(default_factory=dict)  # the message's meta: {"template": ...} for a Meta template


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


def insert(conn: sqlite3.Connection, message_id: int, account_id: int, lane: int, provider_msg_id: str,
           now: float) -> int:
    return conn.execute(
        "INSERT INTO outbox (message_id, account_id, lane, next_attempt_at, provider_msg_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", (message_id, account_id, lane, now, provider_msg_id, int(now), int(now))
    ).lastrowid


def sending_account(conn: sqlite3.Connection, account_id: int | None) -> int | None:
    """The number a send goes out from: the one asked for if it exists, else the workspace's default."""
    if account_id is not None:
        row = conn.execute("SELECT id FROM accounts WHERE id = ? AND deleted_at IS NULL", (account_id,)).fetchone()
    else:
        row = conn.execute("SELECT id FROM accounts WHERE deleted_at IS NULL ORDER BY is_default DESC, id LIMIT 1"
                           ).fetchone()
    return row[0] if row else None


def _campaign_filter(only: Sequence[int] | None, skip: Sequence[int]) -> tuple[str, list[int]]:
    """SQL keeping the messages of some campaigns only (`only`), or all but some (`skip`); messages alias `m`."""
    if only is not None:
        return f" AND m.campaign_id IN ({_marks(only)})", list(only)
    if skip:
        return f" AND (m.campaign_id IS NULL OR m.campaign_id NOT IN ({_marks(skip)}))", list(skip)
    return "", []


def claim(conn: sqlite3.Connection, account_id: int, lanes: Sequence[int], limit: int, now: float, *,
          only_campaigns: Sequence[int] | None = None, skip_campaigns: Sequence[int] = ()) -> list[Entry]:
    """Take up to `limit` due entries of these lanes, most urgent first then oldest, and mark them `sending`.
    `only_campaigns`/`skip_campaigns` narrow it to some campaigns' messages (campaigns paced on their own)."""
    narrow, narrow_args = _campaign_filter(only_campaigns, skip_campaigns)
    rows = conn.execute(
        "SELECT o.id, o.message_id, o.lane, o.attempts + 1, o.provider_msg_id, m.conversation_id, m.kind, m.body,"
        " m.campaign_id, coalesce(c.jid, c.phone, c.lid), c.opted_out_at IS NOT NULL, md.sha256, md.mime,"
        " md.filename, md.status, q.provider_id, m.meta"
        " FROM outbox o JOIN messages m ON m.id = o.message_id"
        " JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id"
        " LEFT JOIN media md ON md.id = m.media_id LEFT JOIN messages q ON q.id = m.quoted_id"
        f" WHERE o.state = 'pending' AND o.account_id = ? AND o.lane IN ({_marks(lanes)})"
        f" AND o.next_attempt_at <= ?{narrow} ORDER BY o.lane, o.next_attempt_at, o.id LIMIT ?",
        (account_id, *lanes, now, *narrow_args, limit),
    ).fetchall()
    entries = [Entry(*r[:10], bool(r[10]), *r[11:16], json.loads(r[16]) if r[16] else {}) for r in rows]
    if entries:
        ids = [e.id for e in entries]
        conn.execute(f"UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?"
                     f" WHERE id IN ({_marks(ids)})", (int(now), *ids))
        message_ids = [e.message_id for e in entries]
        conn.execute(f"UPDATE messages SET status = 'sending' WHERE status = 'queued' AND id IN ({_marks(ids)})",
                     message_ids)
    return entries


def next_due_at(conn: sqlite3.Connection, account_id: int, lanes: Sequence[int], *,
                only_campaigns: Sequence[int] | None = None, skip_campaigns: Sequence[int] = ()) -> float | None:
    """When the earliest pending entry of these lanes (of these campaigns, as for `claim`) is due (None: nothing
    waits)."""
    narrow, narrow_args = _campaign_filter(only_campaigns, skip_campaigns)
    if narrow:
        return conn.execute(
            f"SELECT min(o.next_attempt_at) FROM outbox o JOIN messages m ON m.id = o.message_id"
            f" WHERE o.state = 'pending' AND o.account_id = ? AND o.lane IN ({_marks(lanes)}){narrow}",
            (account_id, *lanes, *narrow_args)).fetchone()[0]
    return conn.execute(
        f"SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending' AND account_id = ?"
        f" AND lane IN ({_marks(lanes)})", (account_id, *lanes)).fetchone()[0]


def sent(conn: sqlite3.Connection, entry_ids: Sequence[int]) -> None:
    for part in _chunks(list(entry_ids)):
        conn.execute(f"DELETE FROM outbox WHERE id IN ({_marks(part)})", part)


def reschedule(conn: sqlite3.Connection, entry_id: int, next_attempt_at: float, error: str | None, now: float,
               *, count_attempt: bool = True) -> None:
    """Back to pending for a later attempt; without `count_attempt` the try did not count (number offline)."""
    conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?, updated_at = ?,"
                 " attempts = attempts - ? WHERE id = ?",
                 (next_attempt_at, error, int(now), 0 if count_attempt else 1, entry_id))


def fail(conn: sqlite3.Connection, entry_id: int, error: str, now: float) -> None:
    conn.execute("UPDATE outbox SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ?",
                 (error, int(now), entry_id))


def recover(conn: sqlite3.Connection, account_id: int, *, resend: bool, reason: str, now: float,
            claimed_before: float | None = None, keep: Sequence[str] = ()) -> list[int]:
    """Settle entries a previous run left `sending` (it stopped between the engine call and recording the result).

    With `resend` (the engine honours our pre-generated id, so a second send of the same id is not a second
    message) they go back to pending; otherwise they fail with `reason`, since resending could duplicate them.
    `claimed_before` limits it to entries claimed before then, `keep` spares those provider ids (sends still in
    the engine's hands). Returns their message ids.
    """
    rows = conn.execute("SELECT id, message_id, provider_msg_id FROM outbox WHERE state = 'sending'"
                        " AND account_id = ? AND updated_at < ?",
                        (account_id, claimed_before if claimed_before is not None else now + 1)).fetchall()
    spared = set(keep)
    rows = [r for r in rows if r[2] not in spared]
    if not rows:
        return []
    entry_ids = [r[0] for r in rows]
    message_ids = [r[1] for r in rows]
    for part in _chunks(entry_ids):
        if resend:
            conn.execute(f"UPDATE outbox SET state = 'pending', next_attempt_at = ?, updated_at = ?"
                         f" WHERE id IN ({_marks(part)})", (now, int(now), *part))
        else:
            conn.execute(f"UPDATE outbox SET state = 'failed', last_error = ?, updated_at = ?"
                         f" WHERE id IN ({_marks(part)})", (reason, int(now), *part))
    for part in _chunks(message_ids):
        if resend:
            conn.execute(f"UPDATE messages SET status = 'queued' WHERE status = 'sending' AND id IN ({_marks(part)})",
                         part)
        else:
            conn.execute(f"UPDATE messages SET status = 'failed', error = ? WHERE status IN ('queued', 'sending')"
                         f" AND id IN ({_marks(part)})", (reason, *part))
    return message_ids


def requeue(conn: sqlite3.Connection, message_id: int, now: float) -> bool:
    """Give a failed message a fresh set of attempts (same pre-generated id); False if it is not failed."""
    cur = conn.execute("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL,"
                       " updated_at = ? WHERE message_id = ? AND state IN ('failed', 'cancelled')",
                       (now, int(now), message_id))
    if cur.rowcount:
        conn.execute("UPDATE messages SET status = 'queued', error = NULL WHERE id = ?", (message_id,))
    return bool(cur.rowcount)


def cancel(conn: sqlite3.Connection, message_ids: Sequence[int], reason: str, now: float) -> list[int]:
    """Withdraw entries not yet claimed by a worker; returns the message ids withdrawn."""
    done: list[int] = []
    for part in _chunks(list(message_ids)):
        rows = conn.execute(f"UPDATE outbox SET state = 'cancelled', last_error = ?, updated_at = ?"
                            f" WHERE state = 'pending' AND message_id IN ({_marks(part)}) RETURNING message_id",
                            (reason, int(now), *part)).fetchall()
        done += [r[0] for r in rows]
    for part in _chunks(done):
        conn.execute(f"UPDATE messages SET status = 'failed', error = ? WHERE id IN ({_marks(part)})",
                     (reason, *part))
    return done


def pending_for_contact(conn: sqlite3.Connection, contact_id: int, lanes: Sequence[int]) -> list[int]:
    """Message ids of this contact's entries still waiting in these lanes (any of the contact's conversations)."""
    return [r[0] for r in conn.execute(
        "SELECT o.message_id FROM conversations v JOIN messages m ON m.conversation_id = v.id"
        " JOIN outbox o ON o.message_id = m.id"
        f" WHERE v.contact_id = ? AND o.state = 'pending' AND o.lane IN ({_marks(lanes)})", (contact_id, *lanes))]


async def counts(db: Database, account_id: int | None = None) -> dict[str, int]:
    """Entries per state (sent ones are gone), e.g. for health and progress displays."""
    sql, args = "SELECT state, count(*) FROM outbox", ()
    if account_id is not None:
        sql, args = sql + " WHERE account_id = ?", (account_id,)
    return {state: n for state, n in await db.fetchall(sql + " GROUP BY state", args)}


async def waiting(db: Database, account_id: int, lane: int) -> int:
    return await db.fetchval("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending') AND account_id = ?"
                             " AND lane = ?", (account_id, lane))


# -- the campaign lane's pacing state, one row per account ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PacingState:
    account_id: int
    day: str = ""  # workspace-local date (YYYY-MM-DD) the counters belong to
    sent_today: int = 0
    since_pause: int = 0
    next_send_at: float = 0.0
    paused_reason: str | None = None
    paused_until: float | None = None  # None with a reason: until the owner resumes
    owner_active_at: float | None = None


_PACING_COLS = "account_id, day, sent_today, since_pause, next_send_at, paused_reason, paused_until, owner_active_at"


def pacing_state(conn: sqlite3.Connection, account_id: int) -> PacingState:
    row = conn.execute(f"SELECT {_PACING_COLS} FROM pacing_state WHERE account_id = ?", (account_id,)).fetchone()
    return PacingState(*row) if row else PacingState(account_id)


async def pacing_state_of(db: Database, account_id: int) -> PacingState:
    return await db.execute_fn(lambda conn: pacing_state(conn, account_id))


def save_pacing_state(conn: sqlite3.Connection, state: PacingState, now: float) -> None:
    conn.execute(
        f"INSERT INTO pacing_state ({_PACING_COLS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (account_id) DO UPDATE SET day = excluded.day, sent_today = excluded.sent_today,"
        " since_pause = excluded.since_pause, next_send_at = excluded.next_send_at,"
        " paused_reason = excluded.paused_reason, paused_until = excluded.paused_until,"
        " owner_active_at = excluded.owner_active_at, updated_at = excluded.updated_at",
        (state.account_id, state.day, state.sent_today, state.since_pause, state.next_send_at, state.paused_reason,
         state.paused_until, state.owner_active_at, now),
    )


def note_owner_activity(conn: sqlite3.Connection, account_id: int, at: float) -> None:
    state = pacing_state(conn, account_id)
    if state.owner_active_at is None or at > state.owner_active_at:
        save_pacing_state(conn, replace(state, owner_active_at=at), at)


async def pending_message_ids(db: Database, account_id: int) -> list[int]:
    """Messages still waiting to go out through one number (not yet claimed by a worker)."""
    rows = await db.fetchall("SELECT message_id FROM outbox WHERE account_id = ? AND state = 'pending'", (account_id,))
    return [r[0] for r in rows]
