"""Campaigns of one workspace and their recipients. All SQL for campaigns lives here.

A recipient's status follows its message through the triggers of migration m008 (queued when the outbox entry is
written, then sent, delivered, read or failed with the message), in the same transaction as the message's change.
This module adds what only campaigns know: the snapshot of the audience, skips with their reasons, withdrawals for
pause and cancel, replies, and the numbers known not to be on WhatsApp.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from blazz.store import contacts as contacts_store
from blazz.store import outbox as outbox_store
from blazz.store.contacts import Contact
from blazz.store.database import Database

CHUNK = 500
STATUSES = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped")
ACTIVE = ("scheduled", "running")
_COLUMNS = ("id", "name", "status", "account_id", "message", "content", "audience", "pacing", "scheduled_at",
            "late_limit_s", "launched_at", "started_at", "finished_at", "detail", "total", "created_by", "created_at",
            "updated_at")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM campaigns"
_JSON = {"message", "content", "audience", "pacing"}


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    status: str  # draft | scheduled | running | paused | completed | cancelled | failed
    account_id: int | None
    message: dict[str, Any]  # as composed: template_id or text + variants, media_id
    content: dict[str, Any] | None  # snapshot at launch: bodies, footer, media_id
    audience: dict[str, Any]  # all, groups, fields, recent_days
    pacing: dict[str, Any] | None
    scheduled_at: float | None
    late_limit_s: float | None
    launched_at: float | None
    started_at: float | None
    finished_at: float | None
    detail: str
    total: int
    created_by: int | None
    created_at: int
    updated_at: int


def _campaign(row: Sequence[Any] | None) -> Campaign | None:
    if row is None:
        return None
    values = list(row)
    for i, name in enumerate(_COLUMNS):
        if name in _JSON:
            values[i] = json.loads(values[i]) if values[i] is not None else (None if name in ("content", "pacing")
                                                                                else {})
    return Campaign(*values)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))


# -- campaigns ----------------------------------------------------------------------------------------------------


async def get(db: Database, campaign_id: int) -> Campaign | None:
    return _campaign(await db.fetchone(f"{_SELECT} WHERE id = ?", (campaign_id,)))


def get_sync(conn: sqlite3.Connection, campaign_id: int) -> Campaign | None:
    return _campaign(conn.execute(f"{_SELECT} WHERE id = ?", (campaign_id,)).fetchone())


async def page(db: Database, *, status: str | None = None, before_id: int | None = None,
               limit: int = 50) -> list[Campaign]:
    """Newest first."""
    where, args = ["id < ?"], [before_id if before_id is not None else 2**63 - 1]
    if status:
        where.append("status = ?")
        args.append(status)
    rows = await db.fetchall(f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [_campaign(r) for r in rows]


async def finished_since(db: Database, since: float) -> list[int]:
    """Ids of the campaigns that finished since then (their receipts and replies still come in)."""
    return [r[0] for r in await db.fetchall("SELECT id FROM campaigns WHERE finished_at >= ? ORDER BY id", (since,))]


async def active(db: Database) -> list[tuple[int, str, float | None]]:
    """(id, status, scheduled_at) of the campaigns the scheduler looks after (waiting for their time, or sending):
    all the heartbeat needs, without decoding the rest."""
    rows = await db.fetchall("SELECT id, status, scheduled_at FROM campaigns WHERE status IN ('scheduled', 'running')"
                             " ORDER BY id")
    return [(r[0], r[1], r[2]) for r in rows]


def insert(conn: sqlite3.Connection, *, name: str, account_id: int | None, message: dict, audience: dict,
           scheduled_at: float | None, late_limit_s: float | None, created_by: int | None, now: int,
           pacing: dict | None = None) -> int:
    return conn.execute(
        "INSERT INTO campaigns (name, account_id, message, audience, pacing, scheduled_at, late_limit_s, created_by,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (name, account_id, json.dumps(message, ensure_ascii=False), json.dumps(audience, ensure_ascii=False),
         json.dumps(pacing) if pacing is not None else None, scheduled_at, late_limit_s, created_by, now, now)
    ).lastrowid


def update(conn: sqlite3.Connection, campaign_id: int, now: int, **values: Any) -> None:
    """Set columns of a campaign (JSON ones encoded here)."""
    unknown = set(values) - set(_COLUMNS[1:])
    if unknown:
        raise ValueError(f"not campaign columns: {sorted(unknown)}")
    sets, args = [], []
    for name, value in values.items():
        sets.append(f"{name} = ?")
        args.append(json.dumps(value, ensure_ascii=False) if name in _JSON and value is not None else value)
    conn.execute(f"UPDATE campaigns SET {', '.join(sets)}, updated_at = ? WHERE id = ?", (*args, now, campaign_id))


def set_status(conn: sqlite3.Connection, campaign_id: int, status: str, now: float, *, only_from: Sequence[str],
               **values: Any) -> bool:
    """Move a campaign to `status` if it is in one of `only_from` now (an atomic check-and-set)."""
    row = conn.execute(f"SELECT status FROM campaigns WHERE id = ? AND status IN ({_marks(only_from)})",
                       (campaign_id, *only_from)).fetchone()
    if row is None:
        return False
    update(conn, campaign_id, int(now), status=status, **values)
    return True


def own_pacing(conn: sqlite3.Connection, account_id: int) -> dict[int, dict[str, Any]]:
    """The campaigns of this number that have their own pacing and may have messages in its outbox (running, or
    paused with a send still in flight): campaign id → its pacing as stored."""
    rows = conn.execute("SELECT id, pacing FROM campaigns WHERE status IN ('running', 'paused') AND account_id = ?"
                        " AND pacing IS NOT NULL", (account_id,)).fetchall()
    return {r[0]: json.loads(r[1]) for r in rows}


@dataclass(frozen=True, slots=True)
class GapState:
    """Where a campaign with its own pacing is between its gaps and long pauses."""

    since_pause: int = 0
    next_send_at: float = 0.0


def gap_states(conn: sqlite3.Connection, campaign_ids: Sequence[int]) -> dict[int, GapState]:
    """Every given campaign's gap state (a fresh one for a campaign that sent nothing yet)."""
    found = {cid: GapState() for cid in campaign_ids}
    for part in _chunks(list(campaign_ids)):
        for r in conn.execute(f"SELECT campaign_id, since_pause, next_send_at FROM campaign_pacing_state"
                              f" WHERE campaign_id IN ({_marks(part)})", part):
            found[r[0]] = GapState(r[1], r[2])
    return found


def save_gap_state(conn: sqlite3.Connection, campaign_id: int, state: GapState, now: float) -> None:
    conn.execute("INSERT INTO campaign_pacing_state (campaign_id, since_pause, next_send_at, updated_at)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT (campaign_id) DO UPDATE SET since_pause = excluded.since_pause,"
                 " next_send_at = excluded.next_send_at, updated_at = excluded.updated_at",
                 (campaign_id, state.since_pause, state.next_send_at, now))


async def delete(db: Database, campaign_id: int) -> bool:
    """Remove a draft (it has no recipients and sent nothing)."""
    cur = await db.execute_write("DELETE FROM campaigns WHERE id = ? AND status = 'draft'", (campaign_id,))
    return cur.rowcount > 0


# -- the audience ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a campaign goes to: everyone, or members of any of `group_ids`; then only those whose custom fields
    equal the given values. `recent_since` skips contacts that another campaign messaged since then."""

    everyone: bool = False
    group_ids: tuple[int, ...] = ()
    fields: tuple[tuple[str, Any], ...] = ()
    recent_since: int | None = None
    checks_fresh_after: int = 0  # "not on WhatsApp" answers older than this are not trusted any more


def _audience_where(a: Audience) -> tuple[str, list[Any]]:
    where = ["c.deleted_at IS NULL", "c.kind = 'person'"]
    args: list[Any] = []
    if not a.everyone:
        where.append(f"c.id IN (SELECT contact_id FROM contact_groups WHERE group_id IN ({_marks(a.group_ids)}))")
        args += a.group_ids
    for key, value in a.fields:
        where.append(f"{contacts_store.field_expr(key, 'c.')} = ?")
        args.append(value)
    return " AND ".join(where), args


def _why(a: Audience, campaign_id: int) -> tuple[str, list[Any]]:
    """SQL giving the reason code a contact is excluded (NULL: it gets the message)."""
    sql = ("CASE WHEN c.opted_out_at IS NOT NULL THEN 'opted_out'"
           " WHEN c.phone IS NULL AND c.lid IS NULL THEN 'invalid'"
           " WHEN c.phone IS NOT NULL AND EXISTS (SELECT 1 FROM number_checks n WHERE n.phone = c.phone"
           " AND n.on_whatsapp = 0 AND n.checked_at >= ?) THEN 'not_on_whatsapp'")
    args: list[Any] = [a.checks_fresh_after]
    if a.recent_since is not None:
        sql += (" WHEN EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.contact_id = c.id AND r.sent_at >= ?"
                " AND r.campaign_id != ?) THEN 'recent'")
        args += [a.recent_since, campaign_id]
    return sql + " END", args


async def audience_counts(db: Database, a: Audience, campaign_id: int = 0) -> dict[str, int]:
    """How many contacts the audience holds in all, and how many of them each exclusion removes."""
    where, args = _audience_where(a)
    why, why_args = _why(a, campaign_id)
    rows = await db.fetchall(f"SELECT {why} AS why, count(*) FROM contacts c WHERE {where} GROUP BY why",
                             (*why_args, *args))
    counts = {(r[0] or "included"): r[1] for r in rows}
    counts["total"] = sum(counts.values())
    return counts


async def first_included(db: Database, a: Audience, campaign_id: int = 0) -> Contact | None:
    """The first contact of the audience who would get the message (for a preview), if any."""
    where, args = _audience_where(a)
    why, why_args = _why(a, campaign_id)
    cols = ", ".join("c." + col for col in contacts_store.COLUMNS)
    row = await db.fetchone(f"SELECT {cols} FROM contacts c WHERE {where} AND ({why}) IS NULL ORDER BY c.id LIMIT 1",
                            (*args, *why_args))
    return contacts_store.to_contact(row) if row else None


def snapshot(conn: sqlite3.Connection, campaign_id: int, a: Audience, reasons: dict[str, str], *,
             after_contact: int, limit: int) -> tuple[int, int | None]:
    """Add the next `limit` contacts of the audience (by id, after `after_contact`) as recipients: pending, or
    skipped with the reason of `reasons`. Returns (rows added, last contact id seen; None when done)."""
    where, args = _audience_where(a)
    why, why_args = _why(a, campaign_id)
    last = conn.execute(f"SELECT max(id) FROM (SELECT c.id FROM contacts c WHERE {where} AND c.id > ?"
                        f" ORDER BY c.id LIMIT ?)", (*args, after_contact, limit)).fetchone()[0]
    if last is None:
        return 0, None
    cases = " ".join("WHEN ? THEN ?" for _ in reasons)
    reason_args = [x for pair in reasons.items() for x in pair]
    added = conn.execute(
        f"INSERT OR IGNORE INTO campaign_recipients (campaign_id, contact_id, status, reason)"
        f" SELECT ?, id, CASE WHEN why IS NULL THEN 'pending' ELSE 'skipped' END, CASE why {cases} ELSE why END"
        f" FROM (SELECT c.id, {why} AS why FROM contacts c WHERE {where} AND c.id > ? AND c.id <= ? ORDER BY c.id)",
        (campaign_id, *reason_args, *why_args, *args, after_contact, last)).rowcount
    return added, last


def clear_recipients(conn: sqlite3.Connection, campaign_id: int) -> None:
    """Drop a draft's partial snapshot (a launch that crashed half way); launched campaigns are never touched."""
    conn.execute("DELETE FROM campaign_recipients WHERE campaign_id = ? AND EXISTS (SELECT 1 FROM campaigns"
                 " WHERE id = ? AND status = 'draft')", (campaign_id, campaign_id))


def recipient_total(conn: sqlite3.Connection, campaign_id: int) -> int:
    return conn.execute("SELECT count(*) FROM campaign_recipients WHERE campaign_id = ?", (campaign_id,)).fetchone()[0]


# -- progress -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    by_status: dict[str, int] = field(default_factory=dict)
    replied: int = 0

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def sent(self) -> int:
        """Messages that left: sent, delivered or read."""
        return self["sent"] + self["delivered"] + self["read"]

    @property
    def delivered(self) -> int:
        return self["delivered"] + self["read"]

    @property
    def done(self) -> int:
        """Recipients with a final answer: sent on, failed or skipped."""
        return self.sent + self["failed"] + self["skipped"]

    @property
    def open(self) -> int:
        return self["pending"] + self["queued"]


def counts_sync(conn: sqlite3.Connection, campaign_id: int) -> Counts:
    rows = conn.execute("SELECT status, count(*) FROM campaign_recipients WHERE campaign_id = ? GROUP BY status",
                        (campaign_id,)).fetchall()
    replied = conn.execute("SELECT count(*) FROM campaign_recipients WHERE campaign_id = ? AND replied_at IS NOT NULL",
                           (campaign_id,)).fetchone()[0]
    return Counts({r[0]: r[1] for r in rows}, replied)


async def counts(db: Database, campaign_id: int) -> Counts:
    return await db.execute_fn(lambda conn: counts_sync(conn, campaign_id))


async def open_count(db: Database, campaign_id: int) -> tuple[int, int]:
    """(pending, queued) recipients: what is still to be fed, and what waits in the outbox."""
    rows = await db.fetchall("SELECT status, count(*) FROM campaign_recipients WHERE campaign_id = ?"
                             " AND status IN ('pending', 'queued') GROUP BY status", (campaign_id,))
    found = {r[0]: r[1] for r in rows}
    return found.get("pending", 0), found.get("queued", 0)


async def queued_count(db: Database, campaign_id: int) -> int:
    return await db.fetchval("SELECT count(*) FROM campaign_recipients WHERE campaign_id = ? AND status = 'queued'",
                             (campaign_id,))


async def has_pending(db: Database, campaign_id: int) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = ?"
                                  " AND status = 'pending')", (campaign_id,)))


async def pending_phones(db: Database, campaign_id: int, limit: int) -> list[str]:
    """Phones of the next pending recipients, in the order they will be fed."""
    rows = await db.fetchall(
        "SELECT c.phone FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.campaign_id = ?"
        " AND r.status = 'pending' AND c.phone IS NOT NULL ORDER BY r.id LIMIT ?", (campaign_id, limit))
    return [r[0] for r in rows]


async def sends_over_time(db: Database, campaign_id: int, bucket_s: int) -> list[tuple[int, int]]:
    """(bucket start, messages sent in it), oldest first."""
    rows = await db.fetchall(
        "SELECT (sent_at / ?) * ?, count(*) FROM campaign_recipients WHERE campaign_id = ? AND sent_at IS NOT NULL"
        " GROUP BY 1 ORDER BY 1", (bucket_s, bucket_s, campaign_id))
    return [(r[0], r[1]) for r in rows]


async def sent_span(db: Database, campaign_id: int) -> tuple[int | None, int | None]:
    row = await db.fetchone("SELECT min(sent_at), max(sent_at) FROM campaign_recipients WHERE campaign_id = ?"
                            " AND sent_at IS NOT NULL", (campaign_id,))
    return (row[0], row[1]) if row else (None, None)


# -- recipients -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecipientRow:
    id: int
    contact_id: int
    name: str
    phone: str | None
    status: str
    reason: str | None
    message_id: int | None
    sent_at: int | None
    delivered_at: int | None
    read_at: int | None
    replied_at: int | None


def _recipient_filter(campaign_id: int, status: str | None) -> tuple[str, list[Any]]:
    if status == "replied":
        return "r.campaign_id = ? AND r.replied_at IS NOT NULL", [campaign_id]
    if status:
        return "r.campaign_id = ? AND r.status = ?", [campaign_id, status]
    return "r.campaign_id = ?", [campaign_id]


async def recipients(db: Database, campaign_id: int, *, status: str | None = None, after_id: int = 0,
                     limit: int = 50) -> list[RecipientRow]:
    """A page of recipients in snapshot order; `status` may also be "replied"."""
    where, args = _recipient_filter(campaign_id, status)
    rows = await db.fetchall(
        "SELECT r.id, r.contact_id, coalesce(c.name, ''), c.phone, r.status, r.reason, r.message_id, r.sent_at,"
        " m.delivered_at, m.read_at, r.replied_at FROM campaign_recipients r"
        " LEFT JOIN contacts c ON c.id = r.contact_id LEFT JOIN messages m ON m.id = r.message_id"
        f" WHERE {where} AND r.id > ? ORDER BY r.id LIMIT ?", (*args, after_id, limit))
    return [RecipientRow(*r) for r in rows]


async def contact_ids(db: Database, campaign_id: int, status: str) -> list[int]:
    where, args = _recipient_filter(campaign_id, status)
    return [r[0] for r in await db.fetchall(f"SELECT r.contact_id FROM campaign_recipients r WHERE {where}", args)]


@dataclass(frozen=True, slots=True)
class Due:
    """A pending recipient with the contact details its message is rendered from."""

    recipient_id: int
    contact: Contact


def next_pending(conn: sqlite3.Connection, campaign_id: int, limit: int) -> list[Due]:
    """The next pending recipients that never had a message (snapshot order)."""
    cols = ", ".join("c." + col for col in contacts_store.COLUMNS)
    rows = conn.execute(
        f"SELECT r.id, {cols} FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id"
        " WHERE r.campaign_id = ? AND r.status = 'pending' AND r.message_id IS NULL ORDER BY r.id LIMIT ?",
        (campaign_id, limit)).fetchall()
    return [Due(r[0], contacts_store.to_contact(r[1:])) for r in rows]


def skip(conn: sqlite3.Connection, campaign_id: int, skipped: Sequence[tuple[int, str]]) -> None:
    """Mark pending recipients (by contact id) skipped with a reason."""
    conn.executemany("UPDATE campaign_recipients SET status = 'skipped', reason = ? WHERE campaign_id = ?"
                     " AND contact_id = ? AND status = 'pending'",
                     ((why, campaign_id, contact_id) for contact_id, why in skipped))


def skip_missing_contacts(conn: sqlite3.Connection, campaign_id: int, reason: str) -> int:
    """Pending recipients whose contact row is gone (erased from the bin) can never be fed: skip them."""
    return conn.execute(
        "UPDATE campaign_recipients SET status = 'skipped', reason = ? WHERE campaign_id = ? AND status = 'pending'"
        " AND message_id IS NULL AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = contact_id)",
        (reason, campaign_id)).rowcount


def relink(conn: sqlite3.Connection, campaign_id: int, contact_ids: Sequence[int]) -> None:
    """Recipients whose message exists already (found by its idempotency key) take that message's status."""
    for contact_id in contact_ids:
        row = conn.execute("SELECT id, status, error, sent_at FROM messages WHERE idempotency_key = ?",
                           (f"campaign:{campaign_id}:{contact_id}",)).fetchone()
        if row is None:
            continue
        status = {"sending": "queued", "queued": "queued"}.get(row[1], row[1])
        conn.execute("UPDATE campaign_recipients SET message_id = ?, status = ?, reason = ?, sent_at = ?"
                     " WHERE campaign_id = ? AND contact_id = ?",
                     (row[0], status if status in STATUSES else "queued", row[2] if status == "failed" else None,
                      row[3], campaign_id, contact_id))


def held(conn: sqlite3.Connection, campaign_id: int, limit: int) -> list[tuple[int, int, bool]]:
    """Recipients whose message a pause took back: (message id, contact id, contact opted out since)."""
    rows = conn.execute(
        "SELECT r.message_id, r.contact_id, c.opted_out_at IS NOT NULL OR c.deleted_at IS NOT NULL"
        " FROM campaign_recipients r LEFT JOIN contacts c ON c.id = r.contact_id"
        " WHERE r.campaign_id = ? AND r.status = 'pending' AND r.message_id IS NOT NULL ORDER BY r.id LIMIT ?",
        (campaign_id, limit)).fetchall()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def requeue(conn: sqlite3.Connection, campaign_id: int, message_ids: Sequence[int], now: float) -> int:
    """Put withdrawn or failed messages back in the outbox (their recipients follow through the trigger)."""
    return sum(1 for message_id in message_ids if outbox_store.requeue(conn, message_id, now))


def withdraw(conn: sqlite3.Connection, campaign_id: int, reason: str, now: float, *, to: str) -> int:
    """Take the campaign's queued messages that no worker holds yet out of the outbox; their recipients become
    `pending` again (a pause: the same message goes back on resume) or `skipped` (a cancel)."""
    queued = [r[0] for r in conn.execute("SELECT message_id FROM campaign_recipients WHERE campaign_id = ?"
                                         " AND status = 'queued'", (campaign_id,))]
    taken = outbox_store.cancel(conn, queued, reason, now)
    for part in _chunks(taken):
        conn.execute(f"UPDATE campaign_recipients SET status = ?, reason = ? WHERE message_id IN ({_marks(part)})",
                     (to, reason if to == "skipped" else None, *part))
    return len(taken)


def skip_pending(conn: sqlite3.Connection, campaign_id: int, reason: str) -> int:
    return conn.execute("UPDATE campaign_recipients SET status = 'skipped', reason = ? WHERE campaign_id = ?"
                        " AND status = 'pending'", (reason, campaign_id)).rowcount


def failed_messages(conn: sqlite3.Connection, campaign_id: int) -> list[tuple[int, bool]]:
    """Failed recipients' messages: (message id, contact opted out or deleted since)."""
    rows = conn.execute(
        "SELECT r.message_id, c.opted_out_at IS NOT NULL OR c.deleted_at IS NOT NULL FROM campaign_recipients r"
        " LEFT JOIN contacts c ON c.id = r.contact_id WHERE r.campaign_id = ? AND r.status = 'failed'"
        " AND r.message_id IS NOT NULL", (campaign_id,)).fetchall()
    return [(r[0], bool(r[1])) for r in rows]


async def had_campaign_messages(db: Database, conversation_ids: Sequence[int], since: int) -> bool:
    """Whether any campaign message went out in these conversations since then (read-only: most inbound messages
    answer no campaign, and then nothing needs the writer)."""
    ids = list(conversation_ids)
    return bool(ids) and bool(await db.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id IN ({_marks(ids)}) AND campaign_id IS NOT NULL"
        f" AND direction = 'out' AND sent_at >= ?)", (*ids, since)))


def mark_replied(conn: sqlite3.Connection, conversation_id: int, since: int, at: int) -> list[int]:
    """The contact of this conversation wrote: recipients whose campaign message went out there since `since`
    are marked replied. Returns the campaigns concerned."""
    rows = conn.execute(
        "SELECT id, campaign_id FROM messages WHERE conversation_id = ? AND campaign_id IS NOT NULL"
        " AND direction = 'out' AND sent_at >= ? AND sent_at <= ?", (conversation_id, since, at)).fetchall()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    conn.execute(f"UPDATE campaign_recipients SET replied_at = ? WHERE replied_at IS NULL AND message_id IN"
                 f" ({_marks(ids)})", (at, *ids))
    return sorted({r[1] for r in rows})


# -- which numbers are on WhatsApp --------------------------------------------------------------------------------


def unchecked(conn: sqlite3.Connection, phones: Sequence[str], fresh_after: int) -> list[str]:
    """The phones without a trusted answer."""
    known: set[str] = set()
    for part in _chunks(list(phones)):
        known |= {r[0] for r in conn.execute(f"SELECT phone FROM number_checks WHERE checked_at >= ? AND phone IN"
                                             f" ({_marks(part)})", (fresh_after, *part))}
    return [p for p in phones if p not in known]


def not_on_whatsapp(conn: sqlite3.Connection, phones: Sequence[str], fresh_after: int) -> set[str]:
    found: set[str] = set()
    for part in _chunks(list(phones)):
        found |= {r[0] for r in conn.execute(f"SELECT phone FROM number_checks WHERE on_whatsapp = 0 AND"
                                             f" checked_at >= ? AND phone IN ({_marks(part)})", (fresh_after, *part))}
    return found


def save_checks(conn: sqlite3.Connection, answers: dict[str, bool], now: int) -> None:
    conn.executemany("INSERT INTO number_checks (phone, on_whatsapp, checked_at) VALUES (?, ?, ?)"
                     " ON CONFLICT (phone) DO UPDATE SET on_whatsapp = excluded.on_whatsapp,"
                     " checked_at = excluded.checked_at", ((p, int(ok), now) for p, ok in answers.items()))
