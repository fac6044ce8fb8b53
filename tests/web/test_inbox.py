"""The inbox through the front door: a sandbox customer writes, agents read, reply, assign, resolve and take notes.

Everything is real: the app with its lifespan, SQLite files in a temp dir, the sandbox engine driven through the
sandbox API (as integrators and the e2e tests drive it), and a second agent who joined by invitation.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from dataclasses import dataclass

import pytest

from blazz import accounts
from tests.conftest import form_post
from tests.web.test_api_accounts import Api
from tests.web.test_api_base import make_token
from tests.web.test_workspaces_and_members import invite_link, join

CUSTOMER = "+6281234567890"


async def eventually(check, within: float = 10.0):
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@dataclass
class Shop:
    """A workspace with one connected sandbox number, and the owner's browser (`client`)."""

    client: object
    api: Api
    slug: str
    account_id: int
    ws: object

    @property
    def base(self) -> str:
        return f"/w/{self.slug}/inbox"

    async def customer_writes(self, text: str = "", phone: str = CUSTOMER, **extra) -> int:
        """A customer's message through the sandbox; returns its conversation id once stored."""
        before = await self.count()
        r = await self.api.post(f"/sandbox/accounts/{self.account_id}/inbound", json={"from": phone, "text": text,
                                                                                          **extra})
        assert r.status_code in (200, 201, 202), r.text
        await eventually(lambda: self._more_than(before))
        return await self.ws.db.fetchval("SELECT conversation_id FROM messages WHERE direction = 'in'"
                                         " ORDER BY id DESC LIMIT 1")

    async def count(self) -> int:
        return await self.ws.db.fetchval("SELECT count(*) FROM messages")

    async def _more_than(self, n: int) -> bool:
        return await self.count() > n

    async def post(self, path: str, data: dict | None = None, client=None, **kw):
        return await form_post(client or self.client, f"{self.base}{path}", data or {}, htmx=True, **kw)

    async def get(self, path: str = "/", client=None, htmx: bool = True):
        headers = {"hx-request": "true"} if htmx else {}
        return await (client or self.client).get(f"{self.base}{path}", headers=headers)

    async def delivered(self) -> list[dict]:
        return (await self.api.get(f"/sandbox/accounts/{self.account_id}/delivered")).json()["data"]

    async def status(self, message_id: int) -> str:
        return await self.ws.db.fetchval("SELECT status FROM messages WHERE id = ?", (message_id,))

    def sandbox_activity(self, action: str) -> list[dict]:
        """What the simulated number did besides sending (read receipts), read from its own file."""
        folder = self.client.app.state.runtime.dbs.workspace_folder(self.ws.id) / "whatsapp"
        rows = []
        for path in folder.rglob("sandbox.db"):
            conn = sqlite3.connect(path)
            rows += [json.loads(r[0]) for r in conn.execute("SELECT data FROM activity WHERE action = ?", (action,))]
            conn.close()
        return rows


@pytest.fixture
async def shop(client, owner) -> Shop:
    api = Api(client, await make_token(client, owner.slug, "admin"))
    r = await api.post("/accounts", json={"name": "Shop front", "engine": "sandbox", "phone": "+6281100000001"})
    account_id = r.json()["id"]
    await api.post(f"/accounts/{account_id}/connect")
    assert (await api.post(f"/sandbox/accounts/{account_id}/scan")).json()["status"] == "connected"
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    return Shop(client, api, owner.slug, account_id, ws)


async def agent_client(shop: Shop, email: str = "teammate@shop.test"):
    """A teammate with the agent role, logged in in their own browser."""
    return await join(shop.client, await invite_link(shop.client, shop.slug, "agent"), email)


def item_of(html: str, conversation_id: int) -> str:
    match = re.search(rf'<a class="conv-item[^"]*"[^>]*id="conv-{conversation_id}".*?</a>', html, re.S)
    assert match, f"no item for conversation {conversation_id}"
    return match.group(0)


# -- list, thread, read ---------------------------------------------------------------------------------------------


async def test_a_customer_message_is_listed_unread_and_opening_the_thread_reads_it(shop):
    conv = await shop.customer_writes("Halo, kaosnya ready?", name="Rina")
    page = await shop.get("/", htmx=False)
    assert page.status_code == 200
    item = item_of(page.text, conv)
    assert "Rina" in item and "Halo, kaosnya ready?" in item and 'class="unread-count"' in item

    r = await shop.get(f"/{conv}")
    assert r.status_code == 200 and "Halo, kaosnya ready?" in r.text and 'id="panel"' in r.text
    assert await shop.ws.db.fetchval("SELECT unread FROM conversations WHERE id = ?", (conv,)) == 0
    receipts = await eventually(lambda: shop.sandbox_activity("mark_read"))
    assert receipts[0]["chat"] == CUSTOMER and len(receipts[0]["provider_ids"]) == 1
    assert 'class="unread-count"' not in item_of((await shop.get("/list")).text, conv)
    await shop.get(f"/{conv}")
    assert len(shop.sandbox_activity("mark_read")) == 1, "nothing unread: no second receipt"


async def test_message_text_is_shown_as_text_never_as_html(shop):
    conv = await shop.customer_writes('<img src=x onerror="alert(1)"><script>alert(2)</script>')
    for r in (await shop.get(f"/{conv}", htmx=False), await shop.get("/list")):
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in r.text


async def test_a_reply_appears_queued_at_once_and_goes_out(shop):
    conv = await shop.customer_writes("Ada warna merah?")
    r = await shop.post(f"/{conv}/send", {"text": "Ada kak, <b>merah</b> tinggal 2", "mode": "reply"})
    assert r.status_code == 200 and re.search(r'class="ticks (queued|sending|sent)"', r.text)
    assert "&lt;b&gt;merah&lt;/b&gt;" in r.text
    assert r.headers["x-inbox-conversation"] == str(conv)
    message_id = int(re.search(r'id="m(\d+)"', r.text).group(1))
    sent = await eventually(shop.delivered)
    assert sent[0]["to"] == CUSTOMER and sent[0]["text"] == "Ada kak, <b>merah</b> tinggal 2"
    await eventually(lambda: _in(shop.status(message_id), ("sent", "delivered")))
    line = await shop.get(f"/{conv}/lines?ids={message_id}")
    assert re.search(r'class="ticks (sent|delivered)"', line.text)
    assert "Ada kak" in item_of((await shop.get("/list")).text, conv)


async def _in(value, allowed) -> bool:
    return (await value) in allowed


async def test_a_reply_quotes_a_message_of_its_thread_only(shop):
    conv = await shop.customer_writes("Berapa ongkirnya?")
    asked = await shop.ws.db.fetchval("SELECT max(id) FROM messages")
    r = await shop.post(f"/{conv}/send", {"text": "15 ribu kak", "reply_to": str(asked)})
    assert r.status_code == 200 and 'class="quote"' in r.text and "Berapa ongkirnya?" in r.text
    other = await shop.customer_writes("Halo", phone="+6281299990000")
    r = await shop.post(f"/{other}/send", {"text": "Hai", "reply_to": str(asked)})
    assert r.status_code == 422


async def test_an_empty_reply_is_refused_and_nothing_is_queued(shop):
    conv = await shop.customer_writes("Halo")
    before = await shop.count()
    r = await shop.post(f"/{conv}/send", {"text": "   ", "mode": "reply"})
    assert r.status_code == 422 and await shop.count() == before


async def test_the_thread_pages_backwards_with_day_separators(shop):
    conv = await shop.customer_writes("pesan 0")
    now = int(time.time())

    def write(conn):
        for i in range(1, 70):  # older history, one a day apart at the start
            conn.execute("INSERT INTO messages (conversation_id, account_id, direction, body, status, created_at)"
                         " VALUES (?, ?, 'in', ?, 'received', ?)", (conv, shop.account_id, f"pesan {i}",
                                                                    now - (70 - i) * 3600))

    await shop.ws.db.execute_write_fn(write)
    first = await shop.get(f"/{conv}")
    shown = re.findall(r'class="bubble in" id="m(\d+)"', first.text)
    assert len(shown) == 50 and 'class="thread-more"' in first.text and 'class="day-sep"' in first.text
    oldest = min(int(i) for i in shown)
    older = await shop.get(f"/{conv}/messages?before={oldest}")
    more = [int(i) for i in re.findall(r'class="bubble in" id="m(\d+)"', older.text)]
    assert len(more) == 20 and max(more) < oldest and "thread-more" not in older.text
    assert more == sorted(more), "oldest first, ready to put above what is shown"


async def test_the_list_filters_by_view_status_and_pages_with_a_cursor(shop, client):
    ids = [await shop.customer_writes(f"pesan {i}", phone=f"+62812555000{i:02d}") for i in range(3)]
    await shop.post(f"/{ids[0]}/assign", {"assignee": "me"})
    await shop.post(f"/{ids[1]}/status", {"status": "resolved"})
    listed = lambda html: [int(i) for i in re.findall(r'id="conv-(\d+)"', html)]  # noqa: E731
    assert listed((await shop.get("/list")).text) == [ids[2], ids[0]], "open ones, newest activity first"
    assert listed((await shop.get("/list?view=mine")).text) == [ids[0]]
    assert listed((await shop.get("/list?view=unassigned")).text) == [ids[2]]
    assert listed((await shop.get("/list?status=resolved")).text) == [ids[1]]
    assert sorted(listed((await shop.get("/list?status=all")).text)) == sorted(ids)
    assert listed((await shop.get("/list?status=bogus&view=bogus")).text) == [ids[2], ids[0]]

    # A full page ends with a marker that loads the next one; the cursor continues exactly after it.
    now = int(time.time())

    def many(conn):
        for i in range(60):
            contact = conn.execute("INSERT INTO contacts (phone, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                                   (f"+6281277{i:06d}", f"Pelanggan {i}", now, now)).lastrowid
            cid = conn.execute("INSERT INTO conversations (contact_id, account_id, last_message_at, created_at)"
                               " VALUES (?, ?, ?, ?)", (contact, shop.account_id, now - 1000 - i, now)).lastrowid
            mid = conn.execute("INSERT INTO messages (conversation_id, account_id, direction, body, status,"
                               " created_at) VALUES (?, ?, 'in', 'x', 'received', ?)",
                               (cid, shop.account_id, now - 1000 - i)).lastrowid
            conn.execute("UPDATE conversations SET last_message_id = ? WHERE id = ?", (mid, cid))

    await shop.ws.db.execute_write_fn(many)
    first = (await shop.get("/list?status=all")).text
    assert len(listed(first)) == 50
    more = re.search(r'class="conv-more" data-more hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = listed((await client.get(more, headers={"hx-request": "true"})).text)
    assert len(second) == 13 and not set(second) & set(listed(first))


async def test_live_updates_fetch_only_matching_items(shop):
    a = await shop.customer_writes("satu", phone="+6281255500001")
    b = await shop.customer_writes("dua", phone="+6281255500002")
    await shop.post(f"/{b}/status", {"status": "resolved"})
    r = await shop.get(f"/items?ids={a},{b},999999&status=open")
    assert item_of(r.text, a) and f'id="conv-{b}"' not in r.text, "resolved left the open list"


# -- assignment, status, notes --------------------------------------------------------------------------------------


async def test_assignment_and_status_changes_show_as_events_and_a_customer_reopens(shop, client):
    budi = await agent_client(shop)
    conv = await shop.customer_writes("Tolong dibantu")
    r = await shop.post(f"/{conv}/assign", {"assignee": "2"})  # Budi, the second person of this data dir
    assert r.status_code == 200 and "assigned to Budi" in r.text
    r = await shop.post(f"/{conv}/assign", {"assignee": "me"})
    assert "assigned to Sari" in r.text
    r = await shop.post(f"/{conv}/status", {"status": "pending"})
    assert 'data-status="pending"' in r.text
    r = await shop.post(f"/{conv}/status", {"status": "resolved"})
    assert "Reopen" in r.text
    assert (await shop.post(f"/{conv}/status", {"status": "closed"})).status_code == 422
    assert (await shop.post(f"/{conv}/assign", {"assignee": "424242"})).status_code == 422

    await shop.customer_writes("Masih ada pertanyaan")
    assert await shop.ws.db.fetchval("SELECT status FROM conversations WHERE id = ?", (conv,)) == "open"
    thread = (await shop.get(f"/{conv}")).text
    events = re.findall(r'class="bubble event"[^>]*><span class="text">([^<]+)</span>', thread)
    assert events == ["Sari assigned this conversation to Budi", "Sari took this conversation",
                      "Sari marked as pending this conversation", "Sari resolved this conversation",
                      "Reopened: the customer wrote again"]
    await budi.aclose()


async def test_a_note_stays_internal_and_tells_the_mentioned_teammate(shop):
    budi = await agent_client(shop)
    conv = await shop.customer_writes("Halo")
    rt = shop.client.app.state.runtime
    with rt.bus.subscribe(shop.ws.id) as sub:
        r = await shop.post(f"/{conv}/send", {"text": "@Budi tolong cek stok ya", "mode": "note"})
        assert r.status_code == 200 and 'class="bubble note"' in r.text and "Internal note · Sari" in r.text
        names = []
        while (event := await sub.next(1.0)) is not None:
            names.append((event.name, event.data))
    mention = next(d for n, d in names if n == "inbox.mention")
    assert mention["user_ids"] == [2] and mention["by"] == "Sari"
    await asyncio.sleep(0.3)
    assert await shop.delivered() == [], "a note never goes to WhatsApp"
    assert (await shop.post(f"/{conv}/send", {"text": "", "mode": "note"})).status_code == 422
    await budi.aclose()


# -- who sees what --------------------------------------------------------------------------------------------------


async def test_an_agent_limited_to_assigned_chats_cannot_open_others(shop):
    budi = await agent_client(shop)
    mine = await shop.customer_writes("untuk Budi", phone="+6281255500011")
    other = await shop.customer_writes("untuk Sari", phone="+6281255500012")
    free = await shop.customer_writes("belum ada", phone="+6281255500013")
    await shop.post(f"/{mine}/assign", {"assignee": "2"})
    await shop.post(f"/{other}/assign", {"assignee": "me"})
    r = await form_post(shop.client, f"/w/{shop.slug}/inbox/settings/", {"agents_assigned_only": "1"})
    assert r.status_code == 200

    listed = [int(i) for i in re.findall(r'id="conv-(\d+)"', (await shop.get("/list", client=budi)).text)]
    assert sorted(listed) == sorted([mine, free])
    for path in (f"/{other}", f"/{other}/lines?ids=1", f"/{other}/header", f"/{other}/panel",
                 f"/{other}/messages", f"/{other}/canned"):
        assert (await shop.get(path, client=budi)).status_code == 404, path
    assert (await shop.get(f"/{other}", client=budi, htmx=False)).status_code == 404
    for path, data in ((f"/{other}/send", {"text": "hai"}), (f"/{other}/assign", {"assignee": "me"}),
                       (f"/{other}/status", {"status": "resolved"}), (f"/{other}/read", {})):
        assert (await shop.post(path, data, client=budi)).status_code == 404, path
    assert (await shop.get(f"/items?ids={other}&status=all", client=budi)).text.count("conv-item") == 0
    assert "untuk Sari" not in (await shop.get("/search?q=untuk", client=budi)).text
    assert "untuk Budi" in (await shop.get("/search?q=untuk", client=budi)).text
    assert (await shop.get(f"/{mine}", client=budi)).status_code == 200
    # The owner still sees everything; an agent cannot change the setting.
    assert (await shop.get(f"/{other}")).status_code == 200
    assert (await form_post(budi, f"/w/{shop.slug}/inbox/settings/", {})).status_code == 403
    await budi.aclose()


async def test_settings_need_an_admin_and_switch_group_chats_per_number(shop):
    r = await shop.client.get(f"/w/{shop.slug}/inbox/settings/")
    assert r.status_code == 200 and "Show group chats of Shop front" in r.text
    await form_post(shop.client, f"/w/{shop.slug}/inbox/settings/", {"auto_assign": "1"})
    account = await accounts.get(shop.ws, shop.account_id)
    assert account.ignore_groups is True
    await form_post(shop.client, f"/w/{shop.slug}/inbox/settings/", {f"groups_{shop.account_id}": "1"})
    assert (await accounts.get(shop.ws, shop.account_id)).ignore_groups is False


async def test_auto_assignment_goes_to_the_least_loaded_online_agent(shop):
    budi = await agent_client(shop)
    await form_post(shop.client, f"/w/{shop.slug}/inbox/settings/", {"auto_assign": "1",
                                                                        f"groups_{shop.account_id}": "1"})
    await shop.get("/")  # Sari has the inbox open
    await shop.get("/", client=budi)  # so has Budi
    first = await shop.customer_writes("satu", phone="+6281255500021")
    await eventually(lambda: shop.ws.db.fetchval("SELECT assignee_id FROM conversations WHERE id = ?", (first,)))
    taker = await shop.ws.db.fetchval("SELECT assignee_id FROM conversations WHERE id = ?", (first,))
    second = await shop.customer_writes("dua", phone="+6281255500022")
    await eventually(lambda: shop.ws.db.fetchval("SELECT assignee_id FROM conversations WHERE id = ?", (second,)))
    other = await shop.ws.db.fetchval("SELECT assignee_id FROM conversations WHERE id = ?", (second,))
    assert {taker, other} == {1, 2}, "each gets one: the least loaded takes the next"
    thread = (await shop.get(f"/{second}")).text
    assert "automatically" in thread
    await budi.aclose()


async def test_a_failed_reply_shows_the_reason_and_can_be_retried(shop):
    shop.client.app.state.runtime.delivery.retry_delays = (0.05, 0.1, 0.2)  # not 30/60/120 s
    conv = await shop.customer_writes("Halo")
    await shop.api.patch(f"/sandbox/accounts/{shop.account_id}", json={"fail_rate": 1.0})
    r = await shop.post(f"/{conv}/send", {"text": "tidak akan sampai"})
    message_id = int(re.search(r'id="m(\d+)"', r.text).group(1))
    await eventually(lambda: _in(shop.status(message_id), ("failed",)), within=20)
    line = (await shop.get(f"/{conv}/lines?ids={message_id}")).text
    assert 'class="ticks failed"' in line and "Retry" in line and 'class="bubble-error"' in line
    await shop.api.patch(f"/sandbox/accounts/{shop.account_id}", json={"fail_rate": 0.0})
    r = await shop.post(f"/messages/{message_id}/retry")
    assert r.status_code == 200 and re.search(r"ticks (queued|sending|sent)", r.text)
    await eventually(lambda: _in(shop.status(message_id), ("sent", "delivered")), within=20)
