"""The dashboard's queries, over the counters of store/dashboard_counters.py (never over `messages` itself).

A range is [start, end) in UTC epoch seconds; start is a local midnight, so a multiple of the 15-minute slot in every
timezone in use. Days are buckets of `(slot + offset) / 86400` in the workspace's UTC offset.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from blazz.store.dashboard_counters import SLOT_S
from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class DayCount:
    day: int  # days since 1970-01-01 in the workspace's timezone
    incoming: int
    outgoing: int
    opened: int
    resolved: int


@dataclass(frozen=True, slots=True)
class Percentiles:
    count: int
    values: tuple[int | None, ...]  # one per asked quantile, None when there is nothing to measure


@dataclass(frozen=True, slots=True)
class AgentActivity:
    user_id: int
    replies: int
    conversations: int


@dataclass(frozen=True, slots=True)
class AccountHealth:
    id: int
    name: str
    engine: str
    status: str
    detail: str
    sent: int
    failed: int


@dataclass(frozen=True, slots=True)
class CampaignRates:
    id: int
    name: str
    status: str
    sent: int
    delivered: int
    read: int
    replied: int
    failed: int


def first_slot(start: int) -> int:
    """The slot holding `start` (itself, for a midnight of any timezone in use)."""
    return start - start % SLOT_S


async def days(db: Database, start: int, end: int, offset: int) -> list[DayCount]:
    rows = await db.fetchall(
        "SELECT (slot + ?) / 86400 AS d, sum(incoming), sum(outgoing), sum(opened), sum(resolved)"
        " FROM dashboard_slots WHERE slot >= ? AND slot < ? GROUP BY d ORDER BY d",
        (offset, first_slot(start), end))
    return [DayCount(*r) for r in rows]


# The timed events and the column that places each in time; the names are ours, never a caller's.
_TIMES = {"reply": ("dashboard_reply_times", "asked_at"), "resolution": ("dashboard_resolution_times", "resolved_at")}


def _percentiles(conn: sqlite3.Connection, kind: str, start: int, end: int, qs: tuple[float, ...]) -> Percentiles:
    table, at = _TIMES[kind]
    # Rows per bucket of the range, walking only the buckets that exist (each count is one index range).
    per_bucket = [(b, n) for b, n in conn.execute(
        f"WITH RECURSIVE b(bucket) AS (SELECT min(bucket) FROM {table}"
        f" UNION ALL SELECT (SELECT min(bucket) FROM {table} WHERE bucket > b.bucket) FROM b"
        f"   WHERE b.bucket IS NOT NULL)"
        f" SELECT bucket, (SELECT count(*) FROM {table} t WHERE t.bucket = b.bucket AND t.{at} >= ? AND t.{at} < ?)"
        f" FROM b WHERE bucket IS NOT NULL", (start, end)) if n]
    total = sum(n for _, n in per_bucket)
    values: list[int | None] = []
    for q in qs:
        if not total:
            values.append(None)
            continue
        rank = min(total - 1, max(0, math.ceil(q * total) - 1))  # nearest rank, 0-based, as dashboard.percentile
        bucket, below = _bucket_of_rank(per_bucket, rank)
        values.append(conn.execute(
            f"SELECT seconds FROM {table} WHERE bucket = ? AND {at} >= ? AND {at} < ? ORDER BY seconds"
            " LIMIT 1 OFFSET ?", (bucket, start, end, rank - below)).fetchone()[0])
    return Percentiles(total, tuple(values))


def _bucket_of_rank(per_bucket: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket holding the `rank`-th smallest row (0-based), and how many rows the buckets before it hold."""
    below = 0
    for bucket, n in per_bucket:
        if rank < below + n:
            return bucket, below
        below += n
    raise ValueError(f"rank {rank} beyond {below} rows")


async def reply_times(db: Database, start: int, end: int, qs: tuple[float, ...]) -> Percentiles:
    """How long customers who started waiting in the range waited for the team's first reply."""
    return await db.execute_fn(lambda conn: _percentiles(conn, "reply", start, end, qs))


async def resolution_times(db: Database, start: int, end: int, qs: tuple[float, ...]) -> Percentiles:
    """Seconds from opening to resolving, for conversations resolved in the range."""
    return await db.execute_fn(lambda conn: _percentiles(conn, "resolution", start, end, qs))


def _agent_activity(conn: sqlite3.Connection, start: int, end: int, now: int) -> list[AgentActivity]:
    first = first_slot(start)
    authors = [r[0] for r in conn.execute(
        "WITH RECURSIVE a(author_id) AS (SELECT min(author_id) FROM dashboard_agent_lines"
        "  UNION ALL SELECT (SELECT min(author_id) FROM dashboard_agent_lines WHERE author_id > a.author_id)"
        "  FROM a WHERE a.author_id IS NOT NULL)"
        " SELECT author_id FROM a WHERE author_id IS NOT NULL")]
    out = []
    for author in authors:
        lines = conn.execute("SELECT sum(lines) FROM dashboard_agent_lines WHERE author_id = ? AND slot >= ?"
                             " AND slot < ?", (author, first, end)).fetchone()[0]
        if not lines:
            continue
        if end > now:  # nothing of theirs lies after the range: count each conversation's latest slot in it
            threads = conn.execute(
                "SELECT count(*) FROM dashboard_agent_slots INDEXED BY dashboard_agent_latest"
                " WHERE author_id = ? AND next_slot = 0 AND slot >= ?", (author, first)).fetchone()[0]
        else:  # count each conversation's first slot in the range
            threads = conn.execute("SELECT sum(prev_slot < ?) FROM dashboard_agent_slots WHERE author_id = ?"
                                   " AND slot >= ? AND slot < ?", (first, author, first, end)).fetchone()[0]
        out.append(AgentActivity(author, lines, threads))
    return sorted(out, key=lambda a: (-a.replies, a.user_id))


async def agent_activity(db: Database, start: int, end: int, now: int) -> list[AgentActivity]:
    """Per person who wrote in the range: their outgoing lines, and the conversations they wrote them in."""
    return await db.execute_fn(lambda conn: _agent_activity(conn, start, end, now))


async def account_health(db: Database, start: int, end: int) -> list[AccountHealth]:
    rows = await db.fetchall(
        "SELECT a.id, a.name, a.engine, a.status, a.status_detail, coalesce(sum(s.sent), 0), coalesce(sum(s.failed), 0)"
        " FROM accounts a LEFT JOIN dashboard_slots s ON s.account_id = a.id AND s.slot >= ? AND s.slot < ?"
        " GROUP BY a.id ORDER BY a.id", (first_slot(start), end))
    return [AccountHealth(*r) for r in rows]


async def campaign_rates(db: Database, start: int, end: int, limit: int = 10) -> list[CampaignRates]:
    """Launched campaigns of the range, newest first, with their recipients' outcomes."""
    rows = await db.fetchall(
        "SELECT c.id, c.name, c.status, coalesce(d.sent, 0), coalesce(d.delivered, 0), coalesce(d.read, 0),"
        " coalesce(d.replied, 0), coalesce(d.failed, 0)"
        " FROM campaigns c LEFT JOIN dashboard_campaigns d ON d.campaign_id = c.id"
        " WHERE c.launched_at >= ? AND c.launched_at < ? ORDER BY c.launched_at DESC LIMIT ?",
        (start, end, limit))
    return [CampaignRates(*r) for r in rows]
