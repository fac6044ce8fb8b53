"""The dashboard: counts per day, response and resolution times, team, numbers and campaigns over a date range."""

from __future__ import annotations

import re
import time
from zoneinfo import ZoneInfo

from blazz import dashboard

DAY = 86400


async def _seed(ws, now: int) -> None:
    """Two days of traffic: a conversation answered in 10 min and resolved in 2 h, one answered in 30 min."""
    db = ws.db

    def write(conn):
        conn.execute("INSERT INTO accounts (id, name, engine, status, created_at)"
                     " VALUES (1, 'Shop', 'sandbox', 'connected', ?)",
                     (now,))
        for cid, phone in ((1, "+6281200000001"), (2, "+6281200000002")):
            conn.execute("INSERT INTO contacts (id, phone, name, created_at, updated_at) VALUES (?, ?, 'C', ?, ?)",
                         (cid, phone, now, now))
        t1, t2 = now - DAY - 7200, now - 4000
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, status, last_message_at, created_at,"
                     " resolved_at) VALUES (1, 1, 1, 'resolved', ?, ?, ?)", (t1, t1, t1 + 7200))
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                     " VALUES (2, 2, 1, ?, ?)", (t2, t2))
        msgs = [(1, "in", "received", "contact", None, t1), (1, "out", "read", "agent", 7, t1 + 600),
                (1, "out", "note", "agent", 7, t1 + 700),
                (2, "in", "received", "contact", None, t2), (2, "in", "received", "contact", None, t2 + 60),
                (2, "out", "delivered", "agent", 7, t2 + 1800)]
        for conv, direction, status, source, author, at in msgs:
            conn.execute("INSERT INTO messages (conversation_id, account_id, direction, status, source, author_id,"
                         " created_at) VALUES (?, 1, ?, ?, ?, ?, ?)", (conv, direction, status, source, author, at))
        conn.execute("INSERT INTO campaigns (id, name, status, launched_at, created_at, updated_at)"
                     " VALUES (1, 'Promo', 'completed', ?, ?, ?)",
                     (now - 3600, now, now))
        for contact, status, replied in ((1, "read", now - 100), (2, "delivered", None)):
            conn.execute("INSERT INTO campaign_recipients (campaign_id, contact_id, status, replied_at)"
                         " VALUES (1, ?, ?, ?)", (contact, status, replied))

    await db.execute_write_fn(write)


async def test_dashboard_counts_times_team_numbers_and_campaigns(client, owner):
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    now = int(time.time())
    await _seed(ws, now)
    board = await dashboard.build(ws, *dashboard.date_range(ZoneInfo("UTC"), 7))
    assert len(board.days) == 7
    assert board.totals == {"incoming": 3, "outgoing": 2, "opened": 2, "resolved": 1}  # the note is not a message
    assert board.first_response.count == 2
    assert (board.first_response.median_s, board.first_response.p90_s) == (600, 1800)
    assert (board.resolution.median_s, board.resolution.p90_s) == (7200, 7200)
    assert [(a.user_id, a.replies, a.conversations) for a in board.agents] == [(7, 3, 2)]
    assert [(a.name, a.sent, a.failed) for a in board.accounts] == [("Shop", 2, 0)]
    c = board.campaigns[0]
    assert (c.name, c.sent, c.delivered, c.read, c.replied) == ("Promo", 2, 2, 1, 1)

    r = await client.get(f"/w/{owner.slug}/dashboard?days=7")
    assert r.status_code == 200
    assert r.text.count("<svg viewBox") == 2 and "Messages in and out per day" in r.text
    assert "10 minutes" in r.text and "Promo" in r.text and "50%" in r.text
    assert re.search(r"<title>\w{3} \d{1,2} \w{3}: \d+ in, \d+ out</title>", r.text), "a bar pair's hover text"
    assert 'class="tab active" href="/w/toko-sinar/dashboard?days=7"' in r.text


async def test_date_range_picker_and_bad_dates(client, owner):
    r = await client.get(f"/w/{owner.slug}/dashboard")
    assert r.status_code == 200 and "No campaign was launched" in r.text
    assert 'class="tab active" href="/w/toko-sinar/dashboard?days=30"' in r.text
    r = await client.get(f"/w/{owner.slug}/dashboard?start=2024-03-01&end=2024-03-10")
    assert r.status_code == 200 and "Mar 1\u2009–\u200910, 2024" in r.text  # Babel's range, thin spaces around the dash
    r = await client.get(f"/w/{owner.slug}/dashboard?start=not-a-date")
    assert r.status_code == 200  # falls back to the last 30 days
    r = await client.get(f"/w/{owner.slug}/dashboard?start=2001-01-01")
    assert r.status_code == 200 and "2001" not in r.text.split("<h1>Dashboard</h1>")[1].split("</p>")[0]


def test_percentiles_use_nearest_rank():
    assert dashboard.percentile([], 0.5) is None
    assert dashboard.percentile([5], 0.9) == 5
    assert dashboard.percentile(list(range(1, 11)), 0.5) == 5
    assert dashboard.percentile(list(range(1, 11)), 0.9) == 9
    assert dashboard.duration(45) == "45 seconds" and dashboard.duration(5400) == "1.5 hours"
    assert dashboard.duration(3600) == "1 hour" and dashboard.duration(86400 * 2) == "2 days"
