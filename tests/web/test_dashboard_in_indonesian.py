"""The dashboard in Bahasa Indonesia when the browser asks for it, and still in English when it does not: labels,
the date range, durations, numbers and percentages, the charts' axes and hover texts, statuses and empty states."""

from __future__ import annotations

import re
import time

from tests.web.test_dashboard import _seed

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


async def test_dashboard_follows_the_browser_language(client, owner):
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    await _seed(ws, int(time.time()))
    url = f"/w/{owner.slug}/dashboard?days=7"

    r = await client.get(url, headers=ID)
    assert r.status_code == 200 and '<html lang="id">' in r.text
    page = r.text
    assert "<h1>Dasbor</h1>" in page and "Pesan masuk" in page and "Percakapan dibuka" in page
    assert ">7 hari</a>" in page and "Tampilkan" in page and 'aria-label="Rentang tanggal"' in page
    assert "10 menit" in page and "Balasan pertama, median (90% dalam 30 menit)" in page  # 600 s and 1,800 s
    assert "Waktu penyelesaian, median (90% dalam 2 jam)" in page
    assert re.search(r"<title>\w{3} \d{1,2} \w{3}: \d+ masuk, \d+ keluar</title>", page), "hover text per day"
    assert "Pesan masuk dan keluar per hari" in page and "Percakapan dibuka dan selesai per hari" in page
    assert ">Tersambung</span>" in page and 'data-status="connected"' in page  # the number's state in words
    assert 'data-status="completed">Selesai</span>' in page and "Kampanye yang diluncurkan" in page
    assert ">50%</span>" in page and "Membalas" in page
    assert "mantan anggota" in page  # the replies' author is no member of this workspace
    for english in ("Messages in", "First reply", "minutes", "former member", ">connected<", "Campaigns launched",
                    ": 1 in,", "No replies"):
        assert english not in page, english

    r = await client.get(f"/w/{owner.slug}/dashboard?start=2024-03-01&end=2024-03-10", headers=ID)
    assert "1–10 Mar 2024" in r.text and "Belum ada balasan dari tim pada hari-hari ini." in r.text
    assert "Tidak ada kampanye yang diluncurkan pada hari-hari ini." in r.text
    assert re.search(r"<title>Jum 1 Mar: 0 masuk, 0 keluar</title>", r.text)

    r = await client.get(url, headers=EN)
    assert "<h1>Dashboard</h1>" in r.text and "10 minutes" in r.text and ">Connected</span>" in r.text
    assert "First reply, median (90% within 30 minutes)" in r.text and "former member" in r.text
    assert "Dasbor" not in r.text and "menit" not in r.text and "Pesan masuk" not in r.text
    r = await client.get(f"/w/{owner.slug}/dashboard?start=2024-03-01&end=2024-03-10", headers=EN)
    assert "<title>Fri 1 Mar: 0 in, 0 out</title>" in r.text


async def test_large_counts_are_grouped_the_readers_way(client, owner):
    """Thousands are written 1,234 in English and 1.234 in Indonesian, in the totals as on the chart's axis."""
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    now = int(time.time())

    def write(conn):
        conn.execute("INSERT INTO accounts (id, name, engine, status, created_at) VALUES (1, 'Shop', 'sandbox',"
                     " 'connected', ?)", (now,))
        conn.execute("INSERT INTO contacts (id, phone, name, created_at, updated_at) VALUES (1, '+6281200000001',"
                     " 'C', ?, ?)", (now, now))
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                     " VALUES (1, 1, 1, ?, ?)", (now - 60, now - 60))
        conn.executemany("INSERT INTO messages (conversation_id, account_id, direction, status, source, created_at)"
                         " VALUES (1, 1, 'in', 'received', 'contact', ?)", [(now - 60,)] * 1234)

    await ws.db.execute_write_fn(write)
    r = await client.get(f"/w/{owner.slug}/dashboard?days=7", headers=ID)
    assert '<div class="stat-value">1.234</div>' in r.text and ": 1.234 masuk, 0 keluar</title>" in r.text
    r = await client.get(f"/w/{owner.slug}/dashboard?days=7", headers=EN)
    assert '<div class="stat-value">1,234</div>' in r.text and ": 1,234 in, 0 out</title>" in r.text
