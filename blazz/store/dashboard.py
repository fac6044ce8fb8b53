"""The dashboard's queries: counts per day, response and resolution times, agents, numbers and campaigns.

Every query is bounded by a time range on an indexed column (`messages_created`, `messages_conversation`,
`campaign_recipients_status`); days are buckets of `(ts + offset) / 86400` in the workspace's UTC offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from blazz.store.database import Database


@dataclass(frozen=True, slots=True)
class DayCount:
    day: int  # days since 1970-01-01 in the workspace's timezone
    incoming: int
    outgoing: int


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


async def messages_per_day(db: Database, start: int, end: int, offset: int) -> list[DayCount]:
    rows = await db.fetchall(
        "SELECT (created_at + ?) / 86400 AS d, sum(direction = 'in'), sum(direction = 'out' AND status != 'note')"
        " FROM messages WHERE created_at >= ? AND created_at < ? GROUP BY d ORDER BY d",
        (offset, start, end),
    )
    return [DayCount(*r) for r in rows]


async def conversations_per_day(db: Database, start: int, end: int, offset: int) -> dict[int, tuple[int, int]]:
    """Conversations opened and resolved on each day: {day: (opened, resolved)}."""
    out: dict[int, list[int]] = {}
    for column, slot in (("created_at", 0), ("resolved_at", 1)):
        rows = await db.fetchall(
            f"SELECT ({column} + ?) / 86400 AS d, count(*) FROM conversations"
            f" WHERE {column} >= ? AND {column} < ? GROUP BY d", (offset, start, end))
        for d, n in rows:
            out.setdefault(d, [0, 0])[slot] = n
    return {d: (v[0], v[1]) for d, v in out.items()}


async def resolution_times(db: Database, start: int, end: int) -> list[int]:
    """Seconds from opening to resolving, for conversations resolved in the range."""
    rows = await db.fetchall(
        "SELECT resolved_at - created_at FROM conversations WHERE resolved_at >= ? AND resolved_at < ?",
        (start, end))
    return [r[0] for r in rows if r[0] is not None and r[0] >= 0]


async def first_response_times(db: Database, start: int, end: int, limit: int = 5000) -> list[int]:
    """Seconds from a contact's first message in the range to the first agent reply after it, per conversation."""
    rows = await db.fetchall(
        "SELECT f.first_in, (SELECT o.created_at FROM messages o WHERE o.conversation_id = f.conversation_id"
        "   AND o.id > f.first_id AND o.direction = 'out' AND o.source = 'agent' ORDER BY o.id LIMIT 1)"
        " FROM (SELECT conversation_id, min(id) AS first_id, min(created_at) AS first_in FROM messages"
        "       WHERE created_at >= ? AND created_at < ? AND direction = 'in' GROUP BY conversation_id LIMIT ?) f",
        (start, end, limit))
    return [reply - first for first, reply in rows if reply is not None]


async def agent_activity(db: Database, start: int, end: int) -> list[AgentActivity]:
    rows = await db.fetchall(
        "SELECT author_id, count(*), count(DISTINCT conversation_id) FROM messages"
        " WHERE created_at >= ? AND created_at < ? AND author_id IS NOT NULL AND direction = 'out'"
        " GROUP BY author_id ORDER BY 2 DESC", (start, end))
    return [AgentActivity(*r) for r in rows]


async def account_health(db: Database, start: int, end: int) -> list[AccountHealth]:
    counts = {r[0]: (r[1], r[2]) for r in await db.fetchall(
        "SELECT account_id, sum(status IN ('sent', 'delivered', 'read')), sum(status = 'failed') FROM messages"
        " WHERE created_at >= ? AND created_at < ? AND direction = 'out' GROUP BY account_id", (start, end))}
    rows = await db.fetchall("SELECT id, name, engine, status, status_detail FROM accounts ORDER BY id")
    return [AccountHealth(*r, *(counts.get(r[0]) or (0, 0))) for r in rows]


async def campaign_rates(db: Database, start: int, end: int, limit: int = 10) -> list[CampaignRates]:
    """Launched campaigns of the range, newest first, with their recipients' outcomes."""
    rows = await db.fetchall(
        "SELECT c.id, c.name, c.status,"
        " sum(r.status IN ('sent', 'delivered', 'read')), sum(r.status IN ('delivered', 'read')),"
        " sum(r.status = 'read'), sum(r.replied_at IS NOT NULL), sum(r.status = 'failed')"
        " FROM campaigns c LEFT JOIN campaign_recipients r ON r.campaign_id = c.id"
        " WHERE c.launched_at >= ? AND c.launched_at < ? GROUP BY c.id ORDER BY c.launched_at DESC LIMIT ?",
        (start, end, limit))
    return [CampaignRates(r[0], r[1], r[2], *(v or 0 for v in r[3:])) for r in rows]
