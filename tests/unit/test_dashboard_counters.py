"""The dashboard's counters: SQLite triggers keep them equal to a recount through real traffic (replies, receipts,
failures, notes, resolve and reopen, an erased contact) and through any mix of out-of-order writes, moves and
deletes; migration m014 fills them in on an existing workspace exactly as the triggers would have; and the dashboard
read from them gives the numbers the old queries over every message gave."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from blazz import contacts, dashboard, inbox, workspace_settings
from blazz.demo import Sizes, build_workspace_file
from blazz.store import dashboard_counters
from blazz.store.database import connect
from blazz.store.migrations import Migrations
from blazz.store.registry import workspace_database
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS
from blazz.workspaces import Workspace
from tests.unit.test_outbox_harness import customer, running, until

OWNER = inbox.Agent(1, "Sari", "owner")
DAY = 86_400
REPLY_TABLES = ("dashboard_waits", "dashboard_reply_times")


def counters(conn: sqlite3.Connection, tables: tuple[str, ...] = dashboard_counters.TABLES) -> dict[str, list]:
    out = {}
    for table in tables:
        rows = [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]
        if table == "dashboard_slots":
            rows = [r for r in rows if any(r[2:])]  # a slot emptied by deletes may stay as zeros
        out[table] = rows
    return out


def counted_and_recounted(conn: sqlite3.Connection,
                          tables: tuple[str, ...] = dashboard_counters.TABLES) -> tuple[dict, dict]:
    """The counters as the triggers left them, and as a recount from scratch makes them (then rolled back)."""
    kept = counters(conn, tables)
    conn.execute("SAVEPOINT recount")
    try:
        dashboard_counters.rebuild(conn)
        return kept, counters(conn, tables)
    finally:
        conn.execute("ROLLBACK TO recount")
        conn.execute("RELEASE recount")


# -- real traffic -----------------------------------------------------------------------------------------------------


async def _messages(h, n: int) -> bool:
    return await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE direction = 'in'") >= n


async def test_counters_equal_a_recount_after_real_traffic(tmp_path):
    async with running(tmp_path / "data") as h:
        await h.engine.configure(read_delay_ms=30)
        for n in (1, 2, 3):
            await h.engine.inbound(customer(n), f"halo {n}")
            await h.engine.inbound(customer(n), "ada stok?")
        await until(lambda: _messages(h, 6))
        convs = dict(await h.ws.db.fetchall("SELECT c.phone, v.id FROM conversations v JOIN contacts c"
                                            " ON c.id = v.contact_id"))
        first, second, third = (convs[customer(n)] for n in (1, 2, 3))
        replies = [await inbox.reply(h.ws, OWNER, conv, text="ada kak") for conv in (first, second)]
        for m in replies:
            await h.until_status(m.id, "read")
        await inbox.add_note(h.ws, OWNER, first, "cek gudang dulu", {1: "Sari"})
        await inbox.set_status(h.ws, OWNER, first, "resolved")
        await h.engine.inbound(customer(1), "satu lagi")  # reopens the first conversation
        await inbox.set_status(h.ws, OWNER, second, "resolved")
        await inbox.set_status(h.ws, OWNER, second, "open")
        await h.engine.configure(fail_rate=1.0)
        failing = await inbox.reply(h.ws, OWNER, third, text="maaf")
        await h.until_status(failing.id, "failed")
        await until(lambda: _messages(h, 7))

        kept, recounted = await h.ws.db.execute_write_fn(counted_and_recounted)
        assert kept == recounted
        slots = kept["dashboard_slots"]
        assert sum(r[2] for r in slots) == 7 and sum(r[3] for r in slots) == 3, "the note is not a message"
        assert (sum(r[4] for r in slots), sum(r[5] for r in slots)) == (2, 1), "sent (read counts) and failed"
        assert sum(r[6] for r in slots) == 3 and sum(r[7] for r in slots) == 0, "resolved, then both reopened"
        assert len(kept["dashboard_reply_times"]) == 3, "the second and third waits: answered; the first's too"
        waiting = {r[0]: r[1] for r in kept["dashboard_waits"]}
        assert waiting[first] is not None and waiting[second] is None

        # The third customer is erased for good: their conversation and messages leave every counter.
        contact = await h.ws.db.fetchval("SELECT contact_id FROM conversations WHERE id = ?", (third,))
        await contacts.delete(h.ws, [contact])
        assert await contacts.purge_expired(h.ws, at=int(time.time()) + 40 * DAY) == 1
        kept, recounted = await h.ws.db.execute_write_fn(counted_and_recounted)
        assert kept == recounted
        assert sum(r[2] for r in kept["dashboard_slots"]) == 5
        assert third not in {r[0] for r in kept["dashboard_waits"]}


# -- any mix of writes ------------------------------------------------------------------------------------------------


def _workspace_file(path: Path, migrations: Migrations = WORKSPACE_MIGRATIONS) -> sqlite3.Connection:
    migrations.apply(path)
    conn = connect(path)
    conn.execute("INSERT INTO accounts (id, name, engine, created_at) VALUES (1, 'A', 'sandbox', 0),"
                 " (2, 'B', 'sandbox', 0)")
    conn.executemany("INSERT INTO contacts (id, phone, created_at, updated_at) VALUES (?, ?, 0, 0)",
                     [(i, customer(i)) for i in range(1, 201)])
    conn.execute("INSERT INTO campaigns (name, created_at, updated_at) VALUES ('Promo', 0, 0), ('Lebaran', 0, 0)")
    return conn


OUT_STATUSES = ("queued", "sending", "sent", "delivered", "read", "failed", "note")


def test_triggers_match_a_recount_through_out_of_order_writes_moves_and_deletes(tmp_path):
    conn = _workspace_file(tmp_path / "workspace.db")
    rnd = random.Random(14)
    base = 1_700_000_000
    conv_ids: list[int] = []
    next_contact = iter(range(1, 201))

    def new_conversation() -> None:
        at = base + rnd.randrange(3 * DAY)
        conv_ids.append(conn.execute(
            "INSERT INTO conversations (contact_id, account_id, last_message_at, created_at) VALUES (?, ?, ?, ?)",
            (next(next_contact), rnd.choice((1, 2)), at, at)).lastrowid)

    for _ in range(6):
        new_conversation()
    conn.execute("BEGIN")
    for step in range(1500):
        roll = rnd.random()
        ids = [r[0] for r in conn.execute("SELECT id FROM messages")]
        if roll < 0.5 or not ids:
            conv = rnd.choice(conv_ids)
            account = conn.execute("SELECT account_id FROM conversations WHERE id = ?", (conv,)).fetchone()[0]
            incoming = rnd.random() < 0.4
            conn.execute(
                "INSERT INTO messages (conversation_id, account_id, direction, status, source, author_id, kind,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conv, account, "in" if incoming else "out", "received" if incoming else rnd.choice(OUT_STATUSES),
                 "contact" if incoming else rnd.choice(("agent", "phone", "automation")),
                 None if incoming or rnd.random() < 0.2 else rnd.choice((1, 2, 3)),
                 rnd.choice(("text", "text", "event")), base + rnd.randrange(3 * DAY)))  # in any order of time
        elif roll < 0.62:
            conn.execute("UPDATE messages SET status = ? WHERE id = ? AND direction = 'out'",
                         (rnd.choice(OUT_STATUSES), rnd.choice(ids)))
        elif roll < 0.68:
            conn.execute("UPDATE messages SET created_at = ? WHERE id = ?",
                         (base + rnd.randrange(3 * DAY), rnd.choice(ids)))
        elif roll < 0.74:
            conn.execute("UPDATE messages SET conversation_id = ? WHERE id = ?",
                         (rnd.choice(conv_ids), rnd.choice(ids)))
        elif roll < 0.78:
            conn.execute("UPDATE messages SET author_id = ? WHERE id = ?",
                         (rnd.choice((None, 1, 2)), rnd.choice(ids)))
        elif roll < 0.86:
            conn.execute("DELETE FROM messages WHERE id = ?", (rnd.choice(ids),))
        elif roll < 0.96:
            conv = rnd.choice(conv_ids)
            resolved = None if rnd.random() < 0.3 else base + rnd.randrange(4 * DAY)
            conn.execute("UPDATE conversations SET status = ?, resolved_at = ? WHERE id = ?",
                         ("resolved" if resolved else "open", resolved, conv))
        elif len(conv_ids) > 3 and rnd.random() < 0.25:
            gone = conv_ids.pop(rnd.randrange(len(conv_ids)))
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (gone,))
            conn.execute("DELETE FROM conversations WHERE id = ?", (gone,))
        elif len(conv_ids) < 30:
            new_conversation()
        if rnd.random() < 0.4:
            _recipient_step(conn, rnd)
        if step % 250 == 249:  # the counters hold at every point, not just at the end
            kept, recounted = counted_and_recounted(conn, tuple(t for t in dashboard_counters.TABLES
                                                                if t not in REPLY_TABLES))
            assert kept == recounted, f"after step {step}"
    conn.execute("COMMIT")
    kept = counters(conn)
    assert len(kept["dashboard_agent_slots"]) > 50 and len(kept["dashboard_resolution_times"]) > 3
    assert sum(sum(r[1:]) for r in kept["dashboard_campaigns"]) > 20
    conn.close()


RECIPIENT_STATUSES = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped")


def _recipient_step(conn: sqlite3.Connection, rnd: random.Random) -> None:
    """One change to campaign recipients: added, moved along, replying, removed, or a whole campaign deleted."""
    roll = rnd.random()
    campaigns = [r[0] for r in conn.execute("SELECT id FROM campaigns")]
    recipients = [r[0] for r in conn.execute("SELECT id FROM campaign_recipients")]
    if roll < 0.4 or not recipients:
        conn.execute("INSERT OR IGNORE INTO campaign_recipients (campaign_id, contact_id, status, replied_at)"
                     " VALUES (?, ?, ?, ?)", (rnd.choice(campaigns), rnd.randrange(1, 201),
                                              rnd.choice(RECIPIENT_STATUSES), rnd.choice((None, None, 1_700_000_000))))
    elif roll < 0.7:
        conn.execute("UPDATE campaign_recipients SET status = ? WHERE id = ?",
                     (rnd.choice(RECIPIENT_STATUSES), rnd.choice(recipients)))
    elif roll < 0.8:
        conn.execute("UPDATE campaign_recipients SET replied_at = ? WHERE id = ?",
                     (rnd.choice((None, 1_700_000_000, 1_700_000_500)), rnd.choice(recipients)))
    elif roll < 0.99:
        conn.execute("DELETE FROM campaign_recipients WHERE id = ?", (rnd.choice(recipients),))
    else:
        conn.execute("DELETE FROM campaigns WHERE id = ?", (rnd.choice(campaigns),))  # its recipients go with it
        conn.execute("INSERT INTO campaigns (name, created_at, updated_at) VALUES ('Promo', 0, 0)")


def test_no_trigger_compares_with_a_list_of_values(tmp_path):
    """SQLite builds a temporary table for `x IN ('a', 'b', 'c')` on every row a trigger runs for (m016 measured it
    at a quarter of a campaign message's writes): triggers spell such lists out as comparisons."""
    conn = _workspace_file(tmp_path / "workspace.db")
    triggers = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
    assert len([n for n in triggers if n.startswith(dashboard_counters.TRIGGER_PREFIX)]) == 18
    listed = {name for name, sql in triggers.items() if re.search(r"\bIN\s*\(\s*'[^)]*,[^)]*,", sql)}
    assert listed == set()
    assert re.search(r"\bIN\s*\(\s*'[^)]*,[^)]*,", dashboard_counters.M014_SCHEMA), "the check finds such lists"
    conn.close()


# -- first replies --------------------------------------------------------------------------------------------------


def test_a_wait_starts_with_an_unanswered_message_and_ends_with_the_teams_first_reply(tmp_path):
    conn = _workspace_file(tmp_path / "workspace.db")
    t = 1_700_000_000
    for conv in (1, 2, 3):
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                     " VALUES (?, ?, 1, ?, ?)", (conv, conv, t, t))

    def line(conv: int, at: int, direction: str = "in", source: str = "contact", status: str = "received",
             kind: str = "text", meta: dict | None = None) -> None:
        conn.execute("INSERT INTO messages (conversation_id, account_id, direction, status, source, kind, meta,"
                     " created_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
                     (conv, direction, status, source, kind, json.dumps(meta) if meta else None, at))

    line(1, t)
    line(1, t + 60)  # still the same wait
    line(1, t + 100, "out", "agent", "note")  # a note is not an answer
    line(1, t + 200, "out", "automation", "sent")  # nor is an auto-reply
    line(1, t + 600, "out", "agent", "queued")  # 600 s after the first unanswered message
    line(1, t + 700, "out", "agent", "sent")  # nobody was waiting
    line(1, t + 800)
    line(1, t + 1000, "out", "phone", "sent")  # typed on the phone: the team answered, 200 s
    line(1, t + 500)  # history arriving late, older than the last reply: no wait
    line(2, t + 50)
    resolved = {"event": "status", "status": "resolved"}
    line(2, t + 90, "out", "system", "note", "event", resolved)  # resolved: the "thanks!" needed no answer
    line(2, t + 5000, "out", "agent", "sent")
    line(3, t + 10)  # still waiting
    times = conn.execute("SELECT asked_at - ?, seconds FROM dashboard_reply_times ORDER BY asked_at", (t,)).fetchall()
    assert [tuple(r) for r in times] == [(0, 600), (800, 200)]
    assert conn.execute("SELECT asked_at - ? FROM dashboard_waits WHERE conversation_id = 3", (t,)).fetchone()[0] == 10
    kept, recounted = counted_and_recounted(conn)
    assert kept == recounted
    conn.close()


# -- migration --------------------------------------------------------------------------------------------------------


def _history(conn: sqlite3.Connection) -> None:
    """The same workspace life, written to a file with or without the counters' triggers."""
    rnd = random.Random(3)
    t = 1_700_000_000
    for conv in range(1, 21):
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                     " VALUES (?, ?, ?, ?, ?)", (conv, conv, 1 + conv % 2, t, t + conv * 3000))
    for _ in range(600):
        t += rnd.randrange(1, 900)
        conv = rnd.randrange(1, 21)
        incoming = rnd.random() < 0.5
        conn.execute(
            "INSERT INTO messages (conversation_id, account_id, direction, status, source, author_id, kind, meta,"
            " created_at) VALUES (?, 1 + ? % 2, ?, ?, ?, ?, ?, ?, ?)",
            (conv, conv, "in" if incoming else "out", "received" if incoming else rnd.choice(OUT_STATUSES[:-1]),
             "contact" if incoming else "agent", None if incoming else rnd.choice((1, 2)),
             "text", None, t))
        if rnd.random() < 0.05:
            conn.execute("UPDATE conversations SET status = 'resolved', resolved_at = ? WHERE id = ?", (t, conv))
            conn.execute("INSERT INTO messages (conversation_id, account_id, direction, status, source, author_id,"
                         " kind, meta, created_at) VALUES (?, 1 + ? % 2, 'out', 'note', 'system', 1, 'event', ?, ?)",
                         (conv, conv, json.dumps({"event": "status", "status": "resolved"}), t))
    conn.execute("UPDATE messages SET status = 'read' WHERE status = 'delivered' AND id % 3 = 0")
    conn.execute("DELETE FROM messages WHERE conversation_id = 7")
    conn.execute("DELETE FROM conversations WHERE id = 7")


def test_migration_fills_the_counters_of_an_existing_workspace_as_the_triggers_would_have(tmp_path):
    before_m014 = Migrations("workspace")
    names = [step[0] for step in WORKSPACE_MIGRATIONS.steps]
    before_m014.steps = WORKSPACE_MIGRATIONS.steps[:names.index("m014_dashboard_counters")]

    existing = _workspace_file(tmp_path / "old.db", before_m014)  # a workspace from before the counters
    _history(existing)
    assert existing.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'dashboard_%'").fetchone()[0] == 0
    assert WORKSPACE_MIGRATIONS.apply_to(existing) == names[names.index("m014_dashboard_counters"):]

    live = _workspace_file(tmp_path / "new.db")  # the same life with the triggers counting along
    _history(live)
    upgraded, counted = counters(existing), counters(live)
    assert upgraded == counted
    messages = existing.execute("SELECT count(*) FROM messages WHERE status != 'note'").fetchone()[0]
    assert sum(r[2] + r[3] for r in upgraded["dashboard_slots"]) == messages > 500
    assert len(upgraded["dashboard_reply_times"]) > 50 and len(upgraded["dashboard_resolution_times"]) > 5
    existing.close()
    live.close()


# -- the same numbers as before ---------------------------------------------------------------------------------------

# The dashboard's queries before the counters (over every message of the range): the reference for its numbers.
OLD_PER_DAY = ("SELECT (created_at + ?) / 86400 AS d, sum(direction = 'in'),"
               " sum(direction = 'out' AND status != 'note') FROM messages WHERE created_at >= ? AND created_at < ?"
               " GROUP BY d ORDER BY d")
OLD_CONVERSATIONS = ("SELECT ({c} + ?) / 86400 AS d, count(*) FROM conversations WHERE {c} >= ? AND {c} < ?"
                     " GROUP BY d")
OLD_RESOLUTIONS = "SELECT resolved_at - created_at FROM conversations WHERE resolved_at >= ? AND resolved_at < ?"
OLD_AGENTS = ("SELECT author_id, count(*), count(DISTINCT conversation_id) FROM messages"
              " WHERE created_at >= ? AND created_at < ? AND author_id IS NOT NULL AND direction = 'out'"
              " GROUP BY author_id ORDER BY 2 DESC")
OLD_ACCOUNTS = ("SELECT account_id, sum(status IN ('sent', 'delivered', 'read')), sum(status = 'failed') FROM messages"
                " WHERE created_at >= ? AND created_at < ? AND direction = 'out' GROUP BY account_id")


def _old_board(conn: sqlite3.Connection, first: date, last: date, tz: ZoneInfo) -> dict:
    start, end, offset = dashboard.bounds(tz, first, last)
    days = {}
    for d, incoming, outgoing in conn.execute(OLD_PER_DAY, (offset, start, end)):
        days[d] = [incoming, outgoing, 0, 0]
    for slot, column in ((2, "created_at"), (3, "resolved_at")):
        for d, n in conn.execute(OLD_CONVERSATIONS.format(c=column), (offset, start, end)):
            days.setdefault(d, [0, 0, 0, 0])[slot] = n
    resolutions = [r[0] for r in conn.execute(OLD_RESOLUTIONS, (start, end)) if r[0] >= 0]
    waits = [r[0] for r in conn.execute("SELECT seconds FROM dashboard_reply_times WHERE asked_at >= ?"
                                        " AND asked_at < ?", (start, end))]
    shown = range((first - date(1970, 1, 1)).days, (last - date(1970, 1, 1)).days + 1)
    return {
        "days": {d: tuple(v) for d, v in days.items() if any(v) and d in shown},
        "resolution": (len(resolutions), *(dashboard.percentile(resolutions, q) for q in dashboard.QUANTILES)),
        "replies": (len(waits), *(dashboard.percentile(waits, q) for q in dashboard.QUANTILES)),
        "agents": [tuple(r) for r in conn.execute(OLD_AGENTS, (start, end))],
        "accounts": {r[0]: (r[1], r[2]) for r in conn.execute(OLD_ACCOUNTS, (start, end))},
    }


def _board(board: dashboard.Dashboard) -> dict:
    epoch = date(1970, 1, 1)
    return {
        "days": {(d.day - epoch).days: (d.incoming, d.outgoing, d.opened, d.resolved) for d in board.days
                 if d.incoming or d.outgoing or d.opened or d.resolved},
        "resolution": (board.resolution.count, board.resolution.median_s, board.resolution.p90_s),
        "replies": (board.first_response.count, board.first_response.median_s, board.first_response.p90_s),
        "agents": [(a.user_id, a.replies, a.conversations) for a in board.agents],
        "accounts": {a.id: (a.sent, a.failed) for a in board.accounts if a.sent or a.failed},
    }


async def test_the_dashboard_gives_the_numbers_of_the_old_queries_over_every_message(tmp_path):
    path = tmp_path / "workspace.db"
    build_workspace_file(path, Sizes(400, 6000, 200), owner_id=1)  # a year of history up to now
    conn = connect(path)
    # The bulk load counted once at the end, and the counters' triggers are back for what comes after it.
    kept, recounted = counted_and_recounted(conn)
    assert kept == recounted and len(kept["dashboard_reply_times"]) > 500
    fresh = _workspace_file(tmp_path / "fresh.db")
    triggers = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'dashboard%' ORDER BY name"
    restored = [tuple(r) for r in conn.execute(triggers)]
    assert restored == [tuple(r) for r in fresh.execute(triggers)] and len(restored) > 10
    fresh.close()
    # A second person, notes and events: lines that count for the team but are not messages.
    conn.execute("UPDATE messages SET author_id = 2 WHERE author_id IS NOT NULL AND id % 3 = 0")
    conn.execute("UPDATE messages SET status = 'note', kind = 'note' WHERE direction = 'out' AND id % 11 = 0")
    db = workspace_database(path)
    await db.open()
    try:
        ws = Workspace(1, "demo-shop", "Demo shop", db, tmp_path)
        compared = 0
        for name in ("Asia/Jakarta", "Asia/Kolkata", "America/St_Johns", "UTC"):  # +7, +5:30, -3:30 (or -2:30)
            await workspace_settings.update(db, timezone=name)
            tz = ZoneInfo(name)
            today = dashboard.date_range(tz, 1)[1]
            for first, last in ((today - timedelta(days=6), today), (today - timedelta(days=29), today),
                                (today - timedelta(days=89), today),
                                (today - timedelta(days=70), today - timedelta(days=40))):
                expected = _old_board(conn, first, last, tz)
                assert _board(await dashboard.build(ws, first, last)) == expected, (name, first, last)
                compared += sum(v[0] + v[1] for v in expected["days"].values())
        assert compared > 10_000 and expected["agents"] and expected["resolution"][0]
    finally:
        await db.close()
        conn.close()
