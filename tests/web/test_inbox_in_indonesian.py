"""The inbox in Bahasa Indonesia when the browser asks for it, and still in English when it does not: the page, a
thread (event lines, day separators, status), errors, canned replies, stored failure reasons, the scripts' strings,
and the fragments the event stream pushes (each tab in its own language)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from types import SimpleNamespace

from blazz import i18n, outbox
from blazz.web import events, inbox_view
from tests.conftest import csrf_of
from tests.web.test_api_accounts import Api
from tests.web.test_api_base import make_token
from tests.web.test_events_stream import live_server, logged_in, read_events  # noqa: F401 (a fixture)
from tests.web.test_inbox import item_of, shop  # noqa: F401 (shop: a fixture)

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


async def post(client, url: str, data: dict, headers: dict):
    if not csrf_of(client):
        await client.get("/login")
    return await client.post(url, data=data, headers={"x-csrftoken": csrf_of(client), "hx-request": "true", **headers})


def event_lines(html: str) -> list[str]:
    return re.findall(r'class="bubble event"[^>]*><span class="text">([^<]+)</span>', html)


async def test_the_inbox_and_a_thread_follow_the_browser_language(shop):  # noqa: F811
    conv = await shop.customer_writes("Halo, kaosnya ready?", name="Rina")
    await post(shop.client, f"{shop.base}/{conv}/assign", {"assignee": "me"}, EN)
    await post(shop.client, f"{shop.base}/{conv}/status", {"status": "resolved"}, EN)

    page = (await shop.client.get(f"{shop.base}/{conv}", headers=ID)).text
    assert '<html lang="id">' in page and "Cari pesan dan kontak" in page
    assert "Milik saya" in page and "Belum ditugaskan" in page and "Balas" in page and "Catatan" in page
    assert event_lines(page) == ["Sari mengambil percakapan ini", "Sari menyelesaikan percakapan ini"]
    assert '<div class="day-sep" data-day="' in page and ">Hari ini</div>" in page
    assert "Buka lagi" in page and "ditugaskan ke Sari" in page and "Detail kontak" in page
    scripts = json.loads(re.search(r'id="blazz-i18n">(.*?)</script>', page).group(1))
    assert scripts["Next conversation"] == "Percakapan berikutnya" and scripts["Read"] == "Dibaca"
    assert "Search messages and contacts" not in page and "took this conversation" not in page
    assert ">Today</div>" not in page and "Reopen" not in page

    page = (await shop.client.get(f"{shop.base}/{conv}", headers=EN)).text
    assert "Search messages and contacts" in page and ">Today</div>" in page and "Reopen" in page
    assert event_lines(page) == ["Sari took this conversation", "Sari resolved this conversation"]
    assert "Cari pesan dan kontak" not in page and "Hari ini" not in page

    # The stored text stays English for the API and webhooks.
    stored = await shop.ws.db.fetchall("SELECT body FROM messages WHERE kind = 'event' ORDER BY id")
    assert [row[0] for row in stored] == ["Sari took this conversation", "Sari resolved this conversation"]
    await shop.customer_writes("Masih ada?")
    await asyncio.sleep(0.3)  # the "reopened by the customer" line is written beside the live update
    page = (await shop.client.get(f"{shop.base}/{conv}", headers=ID)).text
    assert event_lines(page)[-1] == "Dibuka lagi: pelanggan menulis lagi"


async def test_errors_and_canned_replies_are_in_indonesian(shop):  # noqa: F811
    conv = await shop.customer_writes("Halo")
    r = await post(shop.client, f"{shop.base}/{conv}/send", {"text": "  "}, ID)
    assert r.status_code == 422 and "Tulis pesan atau lampirkan file dulu." in r.text
    r = await post(shop.client, f"{shop.base}/{conv}/send", {"text": "x" * 5000}, ID)
    assert r.status_code == 422 and "Pesan WhatsApp" in r.text and "4.096" in r.text and "5.000" in r.text
    r = await post(shop.client, f"{shop.base}/{conv}/send", {"text": "x" * 5000}, EN)
    assert "WhatsApp messages can be at most 4,096 characters; this one has 5,000." in r.text
    r = await post(shop.client, f"{shop.base}/{conv}/send", {"text": "y" * 5000, "mode": "note"}, ID)
    assert r.status_code == 422 and "Catatan maksimal 4.096 karakter." in r.text

    base = f"/w/{shop.slug}/inbox/canned-replies"
    await post(shop.client, f"{base}/", {"shortcut": "harga", "title": "", "body": "Harga mulai 50rb"}, ID)
    page = (await shop.client.get(base, headers=ID)).text
    assert "Balasan cepat baru" in page and "Balasan tersimpan" in page and "Hapus balasan cepat /harga?" in page
    assert "New canned reply" not in page
    r = await post(shop.client, f"{base}/", {"shortcut": "harga", "title": "", "body": "lagi"}, ID)
    assert r.status_code == 422 and "/harga sudah dipakai untuk balasan cepat" in r.text
    r = await post(shop.client, f"{base}/", {"shortcut": "harga", "title": "", "body": "lagi"}, EN)
    assert "/harga is already a canned reply; choose another shortcut." in r.text
    assert "New canned reply" in (await shop.client.get(base, headers=EN)).text


async def test_a_reason_written_by_the_worker_is_shown_in_the_readers_language(client, owner):
    api = Api(client, await make_token(client, owner.slug, "admin"))
    account = (await api.post("/accounts", json={"name": "Gudang", "engine": "sandbox",
                                                 "phone": "+6281100000009"})).json()["id"]
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    message = await outbox.send_text(ws, text="Pesanan siap", to="+6281234567890", account_id=account)
    assert await outbox.cancel(ws, [message.id]) == 1, "never connected: still waiting, so it can be withdrawn"
    thread = f"/w/{owner.slug}/inbox/{message.conversation_id}"
    page = (await client.get(thread, headers=ID)).text
    assert "Dibatalkan sebelum terkirim." in page and "Coba lagi" in page and "Cancelled before" not in page
    page = (await client.get(thread, headers=EN)).text
    assert "Cancelled before it was sent." in page and "Retry" in page

    gave_up = SimpleNamespace(kind="text", error="Not sent. (gave up after 1200 attempts)")
    other = SimpleNamespace(kind="text", error="Some engine's own words")
    with i18n.using("id"):
        assert inbox_view.failure(gave_up) == "Tidak terkirim. (berhenti setelah 1.200 kali percobaan)"
        assert inbox_view.failure(other) == "Some engine's own words"
        assert inbox_view.failure(SimpleNamespace(kind="text", error=None)) == "Tidak terkirim"
    with i18n.using("en"):
        assert inbox_view.failure(gave_up) == "Not sent. (gave up after 1,200 attempts)"


async def test_pushed_fragments_follow_each_watching_persons_language(live_server, monkeypatch):  # noqa: F811
    base, app = live_server
    owner = await logged_in(base, True, "owner@shop.test")
    rt = app.state.runtime
    ws = await rt.workspace_by_slug("shop-a")
    # A fragment with text of its own (the inbox's live events carry ids only).
    monkeypatch.setitem(events.FRAGMENTS, "inbox.gone", "inbox/_gone.html")
    data = {"h": inbox_view.HELPERS, "ws": SimpleNamespace(slug="shop-a"), "team": {7: "Budi"},
            "conv": SimpleNamespace(contact_name="Rina", assignee_id=7)}
    async with (owner.stream("GET", "/w/shop-a/events", headers=ID) as in_id,
                owner.stream("GET", "/w/shop-a/events", headers=EN) as in_en):
        lines_id, lines_en = in_id.aiter_lines(), in_en.aiter_lines()
        assert (await read_events(lines_id, 1, 5))[0][0] == "hello"
        assert (await read_events(lines_en, 1, 5))[0][0] == "hello"
        for _ in range(50):
            if rt.bus.subscribers(ws.id) >= 2:
                break
            await asyncio.sleep(0.05)

        async def publish():
            rt.bus.publish(ws.id, "inbox.gone", **data)

        asyncio.run_coroutine_threadsafe(publish(), rt.loop).result(5)
        got_id = await read_events(lines_id, 1, 5)
        got_en = await read_events(lines_en, 1, 5)
    assert got_id and "Ditugaskan ke Budi: percakapan ini tidak lagi ada di kotak masuk Anda." in got_id[0][1]
    assert "Kembali ke kotak masuk" in got_id[0][1] and "Back to the inbox" not in got_id[0][1]
    assert got_en and "Assigned to Budi: it has left your inbox." in got_en[0][1]
    assert "Back to the inbox" in got_en[0][1] and "Kembali" not in got_en[0][1]
    await owner.aclose()


def test_event_lines_stored_before_their_meta_named_everyone_show_as_stored():
    old = SimpleNamespace(body="Sari took this conversation", meta={"event": "assigned", "by": 1})
    new = SimpleNamespace(body="API (Zapier) resolved this conversation",
                          meta={"event": "status", "line": "resolved", "by_name": "API (Zapier)"})
    with i18n.using("id"):
        assert inbox_view.event_text(old) == "Sari took this conversation"
        assert inbox_view.event_text(new) == "API (Zapier) menyelesaikan percakapan ini"


async def test_a_photo_is_called_a_photo_in_the_readers_language(shop):  # noqa: F811
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    conv = await shop.customer_writes("Warna merah", media={"mime": "image/png", "base64": png})
    item = item_of((await shop.client.get(f"{shop.base}/list", headers={**ID, "hx-request": "true"})).text, conv)
    assert "Foto: Warna merah" in item and "Photo" not in item
    item = item_of((await shop.client.get(f"{shop.base}/list", headers={**EN, "hx-request": "true"})).text, conv)
    assert "Photo: Warna merah" in item
