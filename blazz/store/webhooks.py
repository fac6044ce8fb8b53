"""Outgoing webhooks of one workspace: subscriptions, events, deliveries and their attempts. All their SQL is here.

A delivery is `pending` (due at `next_attempt_at`), `sending` (claimed by the worker), `delivered` or `failed`.
A process that dies mid-send leaves `sending` rows; `release_claims` puts them back to `pending` at the next start.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from blazz.store.database import Database

PAGE_MAX = 500


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    url: str
    description: str
    events: tuple[str, ...]
    allow_private: bool
    status: str  # active | paused | disabled
    disabled_reason: str | None
    failure_streak: int
    failing_since: float | None
    last_attempt_at: float | None
    last_status: int | None
    last_success_at: float | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    event_uid: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: float | None
    last_attempt_at: float | None
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: int | None
    redelivery_of: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    delivery_id: int
    at: float
    response_status: int | None
    error: str | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken by the worker, with what it needs to sign and send it."""

    id: int
    webhook_id: int
    url: str
    secret: str
    allow_private: bool
    event_uid: str
    event_type: str
    body: str
    attempts: int  # including the one being made now
    created_at: float


_HOOK_COLS = ("id, url, description, events, allow_private, status, disabled_reason, failure_streak, failing_since,"
              " last_attempt_at, last_status, last_success_at, created_at, updated_at")
_DELIVERY_COLS = ("d.id, d.webhook_id, e.uid, e.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,"
                  " d.response_status, d.response_body, d.error, d.duration_ms, d.redelivery_of, d.created_at")


def _hook(row: sqlite3.Row) -> Webhook:
    return Webhook(row[0], row[1], row[2], tuple(json.loads(row[3])), bool(row[4]), *row[5:])


# -- subscriptions ---------------------------------------------------------------------------------------------------


def insert(conn: sqlite3.Connection, url: str, description: str, events: list[str], secret: str,
           allow_private: bool, now: int) -> int:
    return conn.execute(
        "INSERT INTO webhooks (url, description, events, secret, allow_private, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (url, description, json.dumps(events), secret, int(allow_private), now, now),
    ).lastrowid


async def get(db: Database, webhook_id: int) -> Webhook | None:
    row = await db.fetchone(f"SELECT {_HOOK_COLS} FROM webhooks WHERE id = ?", (webhook_id,))
    return _hook(row) if row else None


def get_sync(conn: sqlite3.Connection, webhook_id: int) -> Webhook | None:
    row = conn.execute(f"SELECT {_HOOK_COLS} FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
    return _hook(row) if row else None


async def secret_of(db: Database, webhook_id: int) -> str | None:
    return await db.fetchval("SELECT secret FROM webhooks WHERE id = ?", (webhook_id,))


async def page(db: Database, after_id: int | None, limit: int) -> list[Webhook]:
    rows = await db.fetchall(
        f"SELECT {_HOOK_COLS} FROM webhooks WHERE id > ? ORDER BY id LIMIT ?", (after_id or 0, limit)
    )
    return [_hook(r) for r in rows]


async def active_subscriptions(db: Database) -> list[tuple[int, tuple[str, ...]]]:
    rows = await db.fetchall("SELECT id, events FROM webhooks WHERE status = 'active'")
    return [(r[0], tuple(json.loads(r[1]))) for r in rows]


def update(conn: sqlite3.Connection, webhook_id: int, values: dict, now: int) -> None:
    """Set some of url, description, events (a list), allow_private."""
    if not values:
        return
    cols = {k: (json.dumps(v) if k == "events" else int(v) if k == "allow_private" else v) for k, v in values.items()}
    assigns = ", ".join(f"{k} = ?" for k in cols)
    conn.execute(f"UPDATE webhooks SET {assigns}, updated_at = ? WHERE id = ?", (*cols.values(), now, webhook_id))


def set_status(conn: sqlite3.Connection, webhook_id: int, status: str, reason: str | None, now: int) -> None:
    """Change active/paused/disabled; turning it on again starts a fresh failure streak."""
    streak = ", failure_streak = 0, failing_since = NULL" if status == "active" else ""
    conn.execute(f"UPDATE webhooks SET status = ?, disabled_reason = ?, updated_at = ?{streak} WHERE id = ?",
                 (status, reason, now, webhook_id))


def delete(conn: sqlite3.Connection, webhook_id: int) -> bool:
    return conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount == 1


def fail_pending(conn: sqlite3.Connection, webhook_id: int, error: str) -> int:
    """Stop what still waits for this subscription (turned off or disabled); the log keeps the reason."""
    return conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, error = ?"
        " WHERE webhook_id = ? AND status = 'pending'", (error, webhook_id),
    ).rowcount


# -- events and deliveries -------------------------------------------------------------------------------------------


def matching_subscriptions(conn: sqlite3.Connection, event_type: str) -> list[int]:
    rows = conn.execute("SELECT id, events FROM webhooks WHERE status = 'active'").fetchall()
    return [r[0] for r in rows if event_type in json.loads(r[1])]


def insert_event(conn: sqlite3.Connection, uid: str, event_type: str, body: str, webhook_ids: list[int],
                 now: float) -> int:
    """One event and a pending delivery of it to each subscription, due at once."""
    event_id = conn.execute(
        "INSERT INTO webhook_events (uid, type, body, created_at) VALUES (?, ?, ?, ?)", (uid, event_type, body, now)
    ).lastrowid
    conn.executemany(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at, created_at) VALUES (?, ?, ?, ?)",
        [(hook_id, event_id, now, now) for hook_id in webhook_ids],
    )
    return event_id


def redeliver(conn: sqlite3.Connection, delivery_id: int, now: float) -> int | None:
    """A new pending delivery of the same event (same event id) to the same subscription."""
    row = conn.execute("SELECT webhook_id, event_id FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone()
    if row is None:
        return None
    return conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at, redelivery_of, created_at)"
        " VALUES (?, ?, ?, ?, ?)", (row[0], row[1], now, delivery_id, now),
    ).lastrowid


async def deliveries(db: Database, webhook_id: int, before_id: int | None, limit: int,
                     status: str | None = None) -> list[Delivery]:
    """The delivery log of one subscription, newest first."""
    where, params = ["d.webhook_id = ?"], [webhook_id]
    if before_id is not None:
        where.append("d.id < ?")
        params.append(before_id)
    if status:
        where.append("d.status = ?")
        params.append(status)
    rows = await db.fetchall(
        f"SELECT {_DELIVERY_COLS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
        f" WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT ?", (*params, min(limit, PAGE_MAX + 1)),
    )
    return [Delivery(*r) for r in rows]


async def delivery(db: Database, delivery_id: int) -> Delivery | None:
    row = await db.fetchone(
        f"SELECT {_DELIVERY_COLS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
        " WHERE d.id = ?", (delivery_id,),
    )
    return Delivery(*row) if row else None


async def event_body(db: Database, delivery_id: int) -> str | None:
    return await db.fetchval(
        "SELECT e.body FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.id = ?",
        (delivery_id,),
    )


async def attempts(db: Database, delivery_id: int) -> list[Attempt]:
    rows = await db.fetchall(
        "SELECT id, delivery_id, at, response_status, error, duration_ms FROM webhook_attempts"
        " WHERE delivery_id = ? ORDER BY id", (delivery_id,),
    )
    return [Attempt(*r) for r in rows]


# -- the worker's side -----------------------------------------------------------------------------------------------


def release_claims(conn: sqlite3.Connection, now: float) -> int:
    """After a restart: deliveries left `sending` go out again (receivers dedupe on the event id)."""
    return conn.execute(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ? WHERE status = 'sending'", (now,)
    ).rowcount


def claim(conn: sqlite3.Connection, now: float, limit: int, busy: dict[int, int], per_webhook: int) -> list[Claimed]:
    """Take up to `limit` due deliveries of active subscriptions, at most `per_webhook` in flight for each."""
    rows = conn.execute(
        "SELECT d.id, d.webhook_id, w.url, w.secret, w.allow_private, e.uid, e.type, e.body, d.attempts,"
        " d.created_at FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " JOIN webhook_events e ON e.id = d.event_id"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.status = 'active'"
        " ORDER BY d.next_attempt_at, d.id LIMIT ?", (now, limit * 4),
    ).fetchall()
    taken: list[Claimed] = []
    counts = dict(busy)
    for r in rows:
        if len(taken) >= limit:
            break
        if counts.get(r[1], 0) >= per_webhook:
            continue
        counts[r[1]] = counts.get(r[1], 0) + 1
        taken.append(Claimed(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8] + 1, r[9]))
    conn.executemany(
        "UPDATE webhook_deliveries SET status = 'sending', attempts = attempts + 1, last_attempt_at = ?"
        " WHERE id = ?", [(now, c.id) for c in taken],
    )
    return taken


def next_due(conn: sqlite3.Connection) -> float | None:
    return conn.execute(
        "SELECT min(d.next_attempt_at) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.status = 'pending' AND w.status = 'active'"
    ).fetchone()[0]


def delivery_exists(conn: sqlite3.Connection, delivery_id: int) -> bool:
    return conn.execute("SELECT 1 FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone() is not None


def record_attempt(conn: sqlite3.Connection, delivery_id: int, at: float, status: int | None, body: str | None,
                   error: str | None, duration_ms: int, next_attempt_at: float | None, outcome: str) -> None:
    """Log one attempt; `outcome` is the delivery's new status (`delivered`, `pending` for a retry, `failed`)."""
    conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, at, response_status, error, duration_ms) VALUES (?, ?, ?, ?, ?)",
        (delivery_id, at, status, error, duration_ms),
    )
    conn.execute(
        "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, response_status = ?, response_body = ?,"
        " error = ?, duration_ms = ?, last_attempt_at = ? WHERE id = ?",
        (outcome, next_attempt_at, status, body, error, duration_ms, at, delivery_id),
    )


def record_result(conn: sqlite3.Connection, webhook_id: int, at: float, status: int | None, ok: bool) -> Webhook:
    """Update the subscription's last result and failure streak; returns it as it now stands."""
    if ok:
        conn.execute(
            "UPDATE webhooks SET last_attempt_at = ?, last_status = ?, last_success_at = ?, failure_streak = 0,"
            " failing_since = NULL WHERE id = ?", (at, status, at, webhook_id),
        )
    else:
        conn.execute(
            "UPDATE webhooks SET last_attempt_at = ?, last_status = ?, failure_streak = failure_streak + 1,"
            " failing_since = coalesce(failing_since, ?) WHERE id = ?", (at, status, at, webhook_id),
        )
    return get_sync(conn, webhook_id)


def prune(conn: sqlite3.Connection, before: float) -> int:
    """Forget finished deliveries older than `before`, then events no delivery refers to."""
    gone = conn.execute(
        "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND created_at < ?", (before,)
    ).rowcount
    conn.execute(
        "DELETE FROM webhook_events WHERE created_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)", (before,)
    )
    return gone
