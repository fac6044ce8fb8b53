"""The inbox's other parts through the front door: canned replies, search into a thread, files both ways (and how
they are served), WhatsApp group chats, choosing the sending number, and the Cloud API's 24-hour window."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time

from blazz import ingest, templates
from blazz.store import accounts as accounts_store
from blazz.whatsapp.events import InboundMessage
from tests.conftest import form_post
from tests.web.test_inbox import CUSTOMER, Shop, agent_client, eventually
from tests.web.test_inbox import shop as shop  # the fixture, shared

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")


async def test_canned_replies_are_written_by_admins_and_filled_for_the_contact(shop: Shop):
    page = f"/w/{shop.slug}/inbox/canned-replies/"
    r = await form_post(shop.client, page, {"shortcut": "/Thanks", "title": "Thank you",
                                            "body": "Terima kasih {{first_name}}! Salam, {{agent_name}}. {{nope}}"})
    assert r.status_code == 200 and "/thanks" in r.text
    r = await form_post(shop.client, page, {"shortcut": "thanks", "body": "again"})
    assert r.status_code == 422 and "already a canned reply" in r.text
    r = await form_post(shop.client, page, {"shortcut": "two words", "body": "x"})
    assert r.status_code == 422
    conv = await shop.customer_writes("Halo", name="Rina Wati")
    await templates.create(shop.ws, templates.TemplateInput(name="Order shipped", body="Halo {{first_name|Kak}},"
                                                            " pesanan dikirim", footer="Toko Sinar"))
    filled = json.loads((await shop.get(f"/{conv}/canned")).text)
    assert filled == [{"shortcut": "thanks", "title": "Thank you", "text": "Terima kasih Rina! Salam, Sari. {{nope}}"},
                      {"shortcut": "template-order-shipped", "title": "Template: Order shipped",
                       "text": "Halo Rina, pesanan dikirim\n\nToko Sinar"}]

    reply_id = int(re.search(r'canned-replies/(\d+)/delete', r.text).group(1))
    r = await form_post(shop.client, f"{page}{reply_id}", {"shortcut": "thanks", "body": "Makasih {{name}}"})
    assert r.status_code == 200 and "Makasih" in r.text
    budi = await agent_client(shop)
    seen = await budi.get(page)
    assert seen.status_code == 200 and "/thanks" in seen.text and "New canned reply" not in seen.text
    assert (await form_post(budi, page, {"shortcut": "x", "body": "y"})).status_code == 403
    assert (await form_post(budi, f"{page}{reply_id}/delete", {})).status_code == 403
    r = await form_post(shop.client, f"{page}{reply_id}/delete", {})
    assert r.status_code == 200 and "No canned replies yet" in r.text
    await budi.aclose()


async def test_a_search_result_opens_its_thread_around_the_message(shop: Shop):
    conv = await shop.customer_writes("Saya mau pesan kopi arabika 2 kg")
    for i in range(30):
        await shop.ws.db.execute_write("INSERT INTO messages (conversation_id, account_id, direction, body, status,"
                                       " created_at) VALUES (?, ?, 'in', ?, 'received', ?)",
                                       (conv, shop.account_id, f"lainnya {i}", int(time.time())))
    r = await shop.get("/search?q=arabika")
    hit = re.search(rf'href="(/w/{shop.slug}/inbox/{conv}\?message=(\d+))"', r.text)
    assert hit and "kopi arabika" in r.text and "Messages" in r.text
    thread = await shop.get(hit.group(1).split("/inbox")[1])
    assert f'data-around="{hit.group(2)}"' in thread.text and 'class="thread-newer"' in thread.text
    full = await shop.get("/?q=arabika", htmx=False)
    assert full.status_code == 200 and "kopi arabika" in full.text
    nothing = await shop.get("/search?q=zzzyyyxxx")
    assert "Nothing found" in nothing.text
    assert 'id="conv-' in (await shop.get("/search?q=")).text, "an empty search shows the list again"


async def test_files_go_out_from_the_composer_and_are_served_without_running(shop: Shop):
    conv = await shop.customer_writes("Kirim fotonya dong")
    r = await form_post(shop.client, f"/w/{shop.slug}/inbox/{conv}/send",
                        {"text": "Ini kak", "mode": "reply"}, htmx=True, files={"file": ("foto.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    src = re.search(r'<img class="media" src="([^"]+)"', r.text).group(1)
    out = await eventually(shop.delivered)
    assert out[0]["kind"] == "image" and out[0]["text"] == "Ini kak"
    served = await shop.client.get(src)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    bad = await form_post(shop.client, f"/w/{shop.slug}/inbox/{conv}/send", {"mode": "reply"}, htmx=True,
                          files={"file": ("x.exe", b"MZ" + b"\x00" * 64, "application/octet-stream")})
    assert bad.status_code == 422

    # A customer's HTML "document" is a download, never a page of ours.
    page = b"<html><script>alert(document.cookie)</script></html>"
    await shop.customer_writes("dokumen", media={"mime": "text/html", "filename": "invoice.html",
                                                   "base64": base64.b64encode(page).decode()})
    media_id = await shop.ws.db.fetchval("SELECT max(id) FROM media")
    await eventually(lambda: _ready(shop, media_id))
    line = (await shop.get(f"/{conv}")).text
    assert "invoice.html" in line and 'class="media-card"' in line
    served = await shop.client.get(f"/w/{shop.slug}/inbox/media/{media_id}")
    assert served.status_code == 200 and served.content == page
    assert served.headers["content-type"].startswith("application/octet-stream")
    assert served.headers["content-disposition"].startswith("attachment")
    assert (await shop.client.get(f"/w/{shop.slug}/inbox/media/424242")).status_code == 404


async def _ready(shop: Shop, media_id: int) -> bool:
    return await shop.ws.db.fetchval("SELECT status FROM media WHERE id = ?", (media_id,)) == "ready"


async def test_a_limited_agent_cannot_fetch_files_of_conversations_they_cannot_see(shop: Shop):
    budi = await agent_client(shop)
    conv = await shop.customer_writes("foto", media={"mime": "image/png", "filename": "a.png",
                                                     "base64": base64.b64encode(PNG).decode()})
    media_id = await shop.ws.db.fetchval("SELECT max(id) FROM media")
    await eventually(lambda: _ready(shop, media_id))
    await shop.post(f"/{conv}/assign", {"assignee": "me"})
    url = f"/w/{shop.slug}/inbox/media/{media_id}"
    assert (await budi.get(url)).status_code == 200, "everyone sees everything until the owner limits agents"
    await form_post(shop.client, f"/w/{shop.slug}/inbox/settings/", {"agents_assigned_only": "1"})
    assert (await budi.get(url)).status_code == 404
    assert (await shop.client.get(url)).status_code == 200
    await budi.aclose()


async def test_group_chats_are_conversations_with_each_sender_named(shop: Shop):
    now = time.time()
    group = "120363025000000001@g.us"
    await ingest.ingest(shop.ws, shop.account_id, [
        InboundMessage("G1", group, "+6281211110001", now, "text", "Siapa yang ikut arisan?", sender_name="Ani",
                       is_group=True, group_name="Arisan RT 05"),
        InboundMessage("G2", group, "+6281211110002", now + 1, "text", "Saya ikut", sender_name="Dedi",
                       is_group=True, group_name="Arisan RT 05"),
    ])
    conv = await shop.ws.db.fetchval("SELECT v.id FROM conversations v JOIN contacts c ON c.id = v.contact_id"
                                     " WHERE c.kind = 'group'")
    listed = (await shop.get("/list")).text
    assert "Arisan RT 05" in listed
    thread = (await shop.get(f"/{conv}")).text
    assert re.findall(r'<span class="author"[^>]*>([^<]+)</span>', thread) == ["Ani", "Dedi"]
    assert "Group chat" in thread
    r = await shop.post(f"/{conv}/send", {"text": "Saya juga"})
    assert r.status_code == 200
    out = await eventually(shop.delivered)
    assert out[0]["to"] == group


async def test_a_reply_can_go_out_from_another_number_the_contact_wrote_to(shop: Shop):
    r = await shop.api.post("/accounts", json={"name": "Gudang", "engine": "sandbox", "phone": "+6281100000002"})
    second = r.json()["id"]
    await shop.api.post(f"/accounts/{second}/connect")
    await shop.api.post(f"/sandbox/accounts/{second}/scan")
    first_conv = await shop.customer_writes("ke toko")
    shop.account_id, original = second, shop.account_id
    other_conv = await shop.customer_writes("ke gudang")
    shop.account_id = original
    thread = (await shop.get(f"/{first_conv}")).text
    assert 'name="account_id"' in thread and ">Gudang</option>" in thread
    r = await shop.post(f"/{first_conv}/send", {"text": "dari gudang", "account_id": str(second)})
    assert r.status_code == 200 and r.headers["x-inbox-conversation"] == str(other_conv)

    async def from_second():
        return (await shop.api.get(f"/sandbox/accounts/{second}/delivered")).json()["data"]

    sent = await eventually(from_second)
    assert [(d["to"], d["text"]) for d in sent] == [(CUSTOMER, "dari gudang")]


async def test_outside_the_24_hour_window_a_cloud_api_number_takes_notes_only(shop: Shop):
    account_id = await accounts_store.insert(shop.ws.db, "Meta number", "cloud_api",
                                             {"phone_number_id": "1", "access_token": "t"}, "key-1")
    old = int(time.time()) - 2 * 24 * 3600

    def write(conn):
        contact = conn.execute("INSERT INTO contacts (phone, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                               ("+6281233334444", "Lama", old, old)).lastrowid
        conv = conn.execute("INSERT INTO conversations (contact_id, account_id, last_message_at, last_inbound_at,"
                            " created_at) VALUES (?, ?, ?, ?, ?)", (contact, account_id, old, old, old)).lastrowid
        mid = conn.execute("INSERT INTO messages (conversation_id, account_id, direction, body, status, created_at)"
                           " VALUES (?, ?, 'in', 'halo', 'received', ?)", (conv, account_id, old)).lastrowid
        conn.execute("UPDATE conversations SET last_message_id = ? WHERE id = ?", (mid, conv))
        return conv

    conv = await shop.ws.db.execute_write_fn(write)
    thread = (await shop.get(f"/{conv}")).text
    assert "Only a template can reach this customer now" in thread and 'data-window-closed="1"' in thread
    r = await shop.post(f"/{conv}/send", {"text": "halo lagi"})
    assert r.status_code == 422 and "24 hours" in r.text
    assert (await shop.post(f"/{conv}/send", {"text": "follow up besok", "mode": "note"})).status_code == 200


async def test_a_voice_message_recorded_as_ogg_goes_out_and_other_formats_need_ffmpeg(shop: Shop):
    conv = await shop.customer_writes("Bisa voice note?")
    recording = b"OggS\x00\x02" + bytes(range(200))  # Firefox records Ogg/Opus: sent as it is
    r = await form_post(shop.client, f"/w/{shop.slug}/inbox/{conv}/voice", {}, htmx=True,
                        files={"file": ("voice", recording, "audio/ogg;codecs=opus")})
    assert r.status_code == 200, r.text
    assert "<audio" in r.text
    out = await eventually(shop.delivered)
    assert len(out) == 1 and out[0]["to"] == CUSTOMER
    kind = await shop.ws.db.fetchval("SELECT kind FROM messages WHERE direction = 'out' ORDER BY id DESC LIMIT 1")
    assert kind == "voice", "a browser recording goes out as a WhatsApp voice note, not an audio file"
    webm = b"\x1aE\xdf\xa3" + bytes(300)  # what Chromium records
    r = await form_post(shop.client, f"/w/{shop.slug}/inbox/{conv}/voice", {}, htmx=True,
                        files={"file": ("voice", webm, "audio/webm;codecs=opus")})
    if shutil.which("ffmpeg") is None:
        assert r.status_code == 422 and "ffmpeg" in r.text
    else:
        assert r.status_code == 422 and "could not be converted" in r.text, "not a real recording"
    thread = (await shop.get(f"/{conv}")).text
    assert 'data-ffmpeg="' in thread and "/voice" in thread
