"""The inbox's REST API: send with an Idempotency-Key, follow a message, upload a file, list and page
conversations and their messages, change status and assignee, search (contract: shared/API.md)."""

from __future__ import annotations

import base64

import pytest

from tests.web.test_inbox import CUSTOMER, Shop, eventually
from tests.web.test_inbox import shop as shop  # the fixture, shared

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")


async def test_send_is_queued_idempotent_and_its_status_followed(shop: Shop):
    api = shop.api
    body = {"to": "+62 812-3456-7890", "text": "Pesanan Anda sudah dikirim"}
    r = await api.post("/messages", json=body, headers={"Idempotency-Key": "order-1001"})
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["status"] == "queued" and first["id"] > 0
    again = await api.post("/messages", json=body, headers={"Idempotency-Key": "order-1001"})
    assert again.status_code == 200 and again.json()["id"] == first["id"], "the first result, not a second message"
    clash = await api.post("/messages", json={**body, "text": "lain"}, headers={"Idempotency-Key": "order-1001"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "conflict"

    async def sent():
        m = (await api.get(f"/messages/{first['id']}")).json()
        return m if m["status"] in ("sent", "delivered") else None

    m = await eventually(sent)
    assert m["text"] == body["text"] and m["direction"] == "out" and m["sent_at"].endswith("Z")
    assert len([d for d in await shop.delivered() if d["to"] == CUSTOMER]) == 1
    assert (await api.get("/messages/999999")).status_code == 404


@pytest.mark.parametrize("body, field", [({"text": "hai"}, "to"), ({"to": CUSTOMER}, "text"),
                                         ({"to": CUSTOMER, "text": "x", "surprise": 1}, "surprise"),
                                         ({"to": "not a phone", "text": "x"}, "to"),
                                         ({"to": CUSTOMER, "template": {"name": "nope"}}, "template")])
async def test_bad_sends_are_422_naming_the_field(shop: Shop, body, field):
    r = await shop.api.post("/messages", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["details"]


async def test_an_uploaded_file_is_sent_with_a_caption(shop: Shop):
    r = await shop.api.post("/media", files={"file": ("photo.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["mime"] == "image/png" and media["size"] == len(PNG)
    r = await shop.api.post("/messages", json={"to": CUSTOMER, "media_id": media["id"], "text": "Fotonya kak"})
    assert r.status_code == 202
    out = await eventually(shop.delivered)
    assert out[0]["kind"] == "image" and out[0]["text"] == "Fotonya kak"
    bad = await shop.api.post("/media", files={"file": ("run.exe", b"MZ\x90\x00" + b"\x00" * 100, "application/x")})
    assert bad.status_code == 422


async def test_conversations_list_page_and_change(shop: Shop):
    conv = await shop.customer_writes("Halo, mau tanya")
    await shop.customer_writes("Satu lagi", phone="+6281299990001")
    page = (await shop.api.get("/conversations?limit=1")).json()
    assert len(page["data"]) == 1 and page["next_cursor"]
    rest = (await shop.api.get(f"/conversations?limit=1&cursor={page['next_cursor']}")).json()
    assert rest["data"][0]["id"] == conv and rest["next_cursor"] is None
    assert (await shop.api.get("/conversations?status=closed")).status_code == 422
    assert (await shop.api.get("/conversations?cursor=garbage")).status_code == 422

    r = await shop.api.patch(f"/conversations/{conv}", json={"status": "resolved", "assignee_id": 1})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved" and r.json()["assignee_id"] == 1 and r.json()["resolved_at"]
    assert [c["id"] for c in (await shop.api.get("/conversations?assignee=1")).json()["data"]] == [conv]
    assert conv not in [c["id"] for c in (await shop.api.get("/conversations?assignee=none")).json()["data"]]
    assert [c["id"] for c in (await shop.api.get("/conversations?status=resolved")).json()["data"]] == [conv]
    assert (await shop.api.patch(f"/conversations/{conv}", json={"assignee_id": 999})).status_code == 422
    assert (await shop.api.patch(f"/conversations/{conv}", json={"status": "gone"})).status_code == 422
    assert (await shop.api.patch("/conversations/999999", json={"status": "open"})).status_code == 404

    messages = (await shop.api.get(f"/conversations/{conv}/messages")).json()
    kinds = [m["kind"] for m in messages["data"]]
    assert kinds[-1] == "text" and messages["data"][-1]["text"] == "Halo, mau tanya"
    assert "event" in kinds, "status and assignment changes are part of the thread"
    events = [m["text"] for m in messages["data"] if m["kind"] == "event"]
    assert any(e.startswith("API (Order system) resolved") for e in events)


async def test_conversation_messages_page_backwards(shop: Shop):
    conv = await shop.customer_writes("pertama")
    for i in range(4):
        await shop.customer_writes(f"pesan {i}")
    first = (await shop.api.get(f"/conversations/{conv}/messages?limit=3")).json()
    assert [m["text"] for m in first["data"]] == ["pesan 3", "pesan 2", "pesan 1"]
    older = (await shop.api.get(f"/conversations/{conv}/messages?limit=3&before={first['next_cursor']}")).json()
    assert [m["text"] for m in older["data"]] == ["pesan 0", "pertama"] and older["next_cursor"] is None


async def test_search_finds_messages_newest_first_and_contacts(shop: Shop):
    await shop.customer_writes("Kopi arabika masih ada?", name="Rina Kopi")
    await shop.customer_writes("Saya pesan kopi dua", phone="+6281299990002")
    r = (await shop.api.get("/search?q=kopi")).json()
    assert [m["text"] for m in r["messages"]] == ["Saya pesan kopi dua", "Kopi arabika masih ada?"]
    assert [c["name"] for c in r["contacts"]] == ["Rina Kopi"]
    assert (await shop.api.get("/search?q=")).json() == {"messages": [], "contacts": []}
    assert (await shop.api.get('/search?q="OR NEAR(*')).status_code == 200, "search syntax is never an error"
