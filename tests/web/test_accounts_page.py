"""The WhatsApp numbers page: adding numbers, the QR and pair-code flows, every card action and who may use them."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from litestar.testing import AsyncTestClient

from blazz import accounts
from blazz.config import Settings
from blazz.store import accounts as accounts_store
from blazz.web.app import create_app
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, do_setup, form_post, login
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_api_base import make_token
from tests.web.test_events_stream import live_server, logged_in, read_events  # noqa: F401 (fixture)
from tests.web.test_workspaces_and_members import invite_link, join


async def add(client, slug: str, name: str = "Shop front", engine: str = "sandbox", **settings: str):
    return await form_post(client, f"/w/{slug}/accounts/", {"name": name, "engine": engine, **settings}, htmx=True)


async def act(client, slug: str, account_id: int, action: str, data: dict | None = None):
    return await form_post(client, f"/w/{slug}/accounts/{account_id}/{action}", data or {}, htmx=True)


async def workspace(client, slug: str):
    return await client.app.state.runtime.workspace_by_slug(slug)


def card_of(html: str, account_id: int) -> str:
    """The HTML of one account card in a page or fragment."""
    match = re.search(rf'<article[^>]*id="account-{account_id}".*?</article>', html, re.S)
    assert match, f"no card for account {account_id} in:\n{html[:2000]}"
    return match.group(0)


def state_of(html: str, account_id: int) -> str:
    return re.search(r'data-state="([a-z_]+)"', card_of(html, account_id)).group(1)


async def until(check, within: float = 5.0):
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
    return result


async def test_empty_page_invites_to_add_a_number(client, owner):
    r = await client.get(f"/w/{owner.slug}/accounts")
    assert r.status_code == 200
    assert "No WhatsApp numbers yet" in r.text and "Add a number" in r.text
    assert 'sse-swap="account.state,account.deleted"' in r.text
    r = await client.get(f"/w/{owner.slug}/accounts/new", headers={"hx-request": "true"})
    assert r.status_code == 200
    for label in ("WhatsApp Web", "WhatsApp Cloud API", "Sandbox", "Phone number ID", "Verify token", "App secret"):
        assert label in r.text


async def test_add_a_sandbox_number_connect_it_and_scan_the_qr(client, owner):
    r = await add(client, owner.slug)
    assert r.status_code == 200, r.text
    assert r.headers["hx-trigger-after-settle"] == "accounts:close-dialog"
    assert "Shop front added" in r.headers["hx-trigger"]
    assert 'hx-swap-oob="innerHTML"' in r.text and state_of(r.text, 1) == "stopped"
    assert "Sandbox" in card_of(r.text, 1) and "Not connected" in card_of(r.text, 1)
    assert "★" in card_of(r.text, 1), "the first number is the default"

    r = await act(client, owner.slug, 1, "connect")
    assert r.status_code == 200
    card = card_of(r.text, 1)
    assert 'hx-swap-oob="true"' in card and state_of(r.text, 1) == "qr"
    assert '<svg role="img" aria-label="QR code to link Shop front"' in card
    assert re.search(r'class="qr-box" data-expires-at="\d+\.?\d*"', card)
    assert "Simulate scan" in card and "Link with phone number instead" in card

    page = (await client.get(f"/w/{owner.slug}/accounts")).text
    assert state_of(page, 1) == "qr" and "qr-frame" in page

    r = await act(client, owner.slug, 1, "scan")
    assert r.status_code == 200 and state_of(r.text, 1) == "connected"
    assert "Connected" in card_of(r.text, 1) and "Simulate scan" not in card_of(r.text, 1)

    r = await act(client, owner.slug, 1, "disconnect")
    assert state_of(r.text, 1) == "stopped"
    r = await act(client, owner.slug, 1, "connect")  # linked already: no QR this time
    assert await until(lambda: _state(client, owner.slug, 1, "connected"))


async def _state(client, slug: str, account_id: int, want: str) -> bool:
    ws = await workspace(client, slug)
    return ws.sessions.state((ws.id, account_id)).state == want


async def test_a_second_connect_of_a_live_number_is_refused(client, owner):
    await add(client, owner.slug)
    assert (await act(client, owner.slug, 1, "connect")).status_code == 200
    r = await act(client, owner.slug, 1, "connect")
    assert r.status_code == 409
    assert "already connected" in r.text and r.headers["hx-retarget"] == "#toasts"
    ws = await workspace(client, owner.slug)
    assert len([k for k in ws.sessions.states() if k == (ws.id, 1)]) == 1
    assert ws.sessions.state((ws.id, 1)).state == "qr"


async def test_add_form_errors_are_shown_beside_the_field(client, owner):
    r = await add(client, owner.slug, name="  ")
    assert r.status_code == 422 and 'id="e-name"' in r.text and "Give the number a name" in r.text
    r = await add(client, owner.slug, engine="telegram")
    assert r.status_code == 422 and "Choose one of" in r.text
    r = await add(client, owner.slug, engine="cloud_api", phone_number_id="abc", access_token="secret-token-1")
    assert (r.status_code == 422 and "Enter the WhatsApp Business Account ID" in r.text) or "digits only" in r.text
    assert "secret-token-1" not in r.text, "a typed secret is never sent back"
    ws = await workspace(client, owner.slug)
    assert await accounts_store.all_active(ws.db) == []


async def test_pair_code_for_an_invalid_phone_is_422_and_a_valid_one_shows_the_code(client, owner):
    await add(client, owner.slug)
    r = await client.get(f"/w/{owner.slug}/accounts/1/pair", headers={"hx-request": "true"})
    assert r.status_code == 200 and "Get a code" in r.text
    r = await act(client, owner.slug, 1, "pair", {"phone": "0812"})
    assert r.status_code == 422
    assert 'id="e-phone"' in r.text and "country code" in r.text
    r = await act(client, owner.slug, 1, "pair", {"phone": "+62 812-3456-7890"})
    assert r.status_code == 200, r.text
    code = re.search(r'aria-label="Pairing code ([0-9A-Z]{8})"', r.text).group(1)
    assert f"{code[:4]}-{code[4:]}" in r.text and "Link with phone number instead" in r.text
    assert state_of(r.text, 1) == "pairing" and code[:4] in card_of(r.text, 1)
    r = await act(client, owner.slug, 1, "scan")  # the simulated phone types the code
    assert state_of(r.text, 1) == "connected" and "+6281234567890" in card_of(r.text, 1)
    r = await act(client, owner.slug, 1, "pair", {"phone": "+62 812-3456-7890"})
    assert r.status_code == 409, "no pairing code for a connected number"


async def test_logout_default_and_delete_which_keeps_the_history(client, owner):
    await add(client, owner.slug, "Shop front")
    await add(client, owner.slug, "Warehouse")
    await act(client, owner.slug, 1, "connect")
    await act(client, owner.slug, 1, "scan")
    r = await act(client, owner.slug, 1, "logout")
    assert r.status_code == 200 and state_of(r.text, 1) == "logged_out"
    assert "Link again" in card_of(r.text, 1) and "is logged out" in r.headers["hx-trigger"]

    r = await act(client, owner.slug, 2, "default")
    assert r.status_code == 200
    assert "★" in card_of(r.text, 2) and "★" not in card_of(r.text, 1)

    ws = await workspace(client, owner.slug)
    now = int(time.time())
    await ws.db.execute_write("INSERT INTO contacts (id, phone, name, created_at, updated_at) VALUES (1, ?, ?, ?, ?)",
                              ("+6281234567890", "Ani", now, now))
    await ws.db.execute_write("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                              " VALUES (1, 1, 2, ?, ?)", (now, now))
    await ws.db.execute_write("INSERT INTO messages (conversation_id, account_id, direction, body, created_at)"
                              " VALUES (1, 2, 'in', 'Halo', ?)", (now,))
    r = await act(client, owner.slug, 2, "delete")
    assert r.status_code == 200 and '<div id="account-2" hx-swap-oob="delete">' in r.text
    assert "conversations stay" in r.headers["hx-trigger"]
    page = (await client.get(f"/w/{owner.slug}/accounts")).text
    assert 'id="account-2"' not in page and "★" in card_of(page, 1), "the default moved to the remaining number"
    assert (await ws.db.fetchone("SELECT count(*) FROM messages WHERE account_id = 2"))[0] == 1
    assert (await ws.db.fetchone("SELECT count(*) FROM conversations WHERE account_id = 2"))[0] == 1
    assert (await ws.db.fetchone("SELECT deleted_at FROM accounts WHERE id = 2"))[0] is not None
    assert (await act(client, owner.slug, 2, "connect")).status_code == 404


async def test_state_changes_reach_every_open_tab_as_out_of_band_cards(live_server):  # noqa: F811
    base, app = live_server
    owner = await logged_in(base, True, "owner@shop.test")
    rt = app.state.runtime
    ws = await rt.workspace_by_slug("shop-a")

    async def post(path: str, data: dict | None = None):
        r = await owner.post(path, data=data or {}, headers={"x-csrftoken": owner.cookies["blazz_csrf"],
                                                             "hx-request": "true"})
        assert r.status_code == 200, r.text

    async with owner.stream("GET", "/w/shop-a/events") as stream:
        lines = stream.aiter_lines()
        assert (await read_events(lines, 1, 5))[0][0] == "hello"
        await until(lambda: _true(rt.bus.subscribers(ws.id)))
        await post("/w/shop-a/accounts/", {"name": "Shop front", "engine": "sandbox"})
        await post("/w/shop-a/accounts/1/connect")
        events = await read_events(lines, 3, 5)
        qr = [data for name, data in events if name == "account.state" and 'data-state="qr"' in data]
        assert qr, events
        assert 'id="account-1"' in qr[0] and 'hx-swap-oob="true"' in qr[0] and "qr-frame" in qr[0]
        await post("/w/shop-a/accounts/1/delete")
        events = await read_events(lines, 4, 3)
        assert ("account.deleted", '<div id="account-1" hx-swap-oob="delete"></div>') in events
    await owner.aclose()


async def _true(value) -> bool:
    return bool(value)


async def test_agents_get_403_and_other_workspaces_404(client, owner):
    await add(client, owner.slug)
    agent = await join(client, await invite_link(client, owner.slug), "agent@shop.test")
    try:
        assert (await agent.get(f"/w/{owner.slug}/accounts")).status_code == 403
        for action in ("connect", "disconnect", "logout", "delete", "default", "scan"):
            assert (await act(agent, owner.slug, 1, action)).status_code == 403, action
        assert (await add(agent, owner.slug, "Mine")).status_code == 403
        for path in ("list", "new", "1/pair", "1/settings", "1/webhook"):
            assert (await agent.get(f"/w/{owner.slug}/accounts/{path}")).status_code == 403, path
    finally:
        await agent.__aexit__(None, None, None)

    r = await form_post(client, "/workspaces/new", {"name": "Cabang Dua"})
    assert r.status_code == 200
    admin_b = await join(client, await invite_link(client, "cabang-dua", role="admin"), "admin@cabang.test")
    try:
        assert (await admin_b.get(f"/w/{owner.slug}/accounts")).status_code == 404
        assert (await act(admin_b, owner.slug, 1, "connect")).status_code == 404
        assert (await admin_b.get("/w/cabang-dua/accounts")).status_code == 200
        r = await act(admin_b, "cabang-dua", 1, "connect")
        assert r.status_code == 404, "account ids of another workspace do not exist here"
    finally:
        await admin_b.__aexit__(None, None, None)


@pytest.fixture
def graph():
    with FakeGraphApi() as fake:
        yield fake


def cloud_form(graph: FakeGraphApi, **overrides: str) -> dict:
    return {"phone_number_id": graph.phone_number_id, "waba_id": graph.waba_id, "access_token": graph.token,
            "app_secret": "app-secret-1234", "verify_token": "kopi-susu-9876", "graph_base_url": graph.base_url,
            **overrides}


async def test_a_wrong_cloud_api_token_shows_the_error_and_is_not_connected(client, owner, graph):
    r = await add(client, owner.slug, "Official", "cloud_api", **cloud_form(graph, access_token="EAAG-wrong"))
    assert r.status_code == 422
    assert "The number was added but is not connected" in r.text
    assert 'id="e-access_token"' in r.text and "Meta rejected the access token: Invalid OAuth access token" in r.text
    assert state_of(r.text, 1) == "failed" and "Meta rejected the access token" in card_of(r.text, 1)
    assert "EAAG-wrong" not in r.text and "app-secret-1234" not in r.text
    ws = await workspace(client, owner.slug)
    assert ws.sessions.state((ws.id, 1)).state == "failed"
    assert not (await accounts_store.get(ws.db, 1)).keep_connected

    page = (await client.get(f"/w/{owner.slug}/accounts")).text
    assert state_of(page, 1) == "failed" and "Meta rejected the access token" in card_of(page, 1)

    # Fixing the token in the settings form connects it; secrets left empty are kept.
    r = await client.get(f"/w/{owner.slug}/accounts/1/settings", headers={"hx-request": "true"})
    assert "ending in 1234" in r.text and "EAAG-wrong" not in r.text
    r = await act(client, owner.slug, 1, "settings", {"access_token": graph.token, "app_secret": ""})
    assert r.status_code == 200, r.text
    assert state_of(r.text, 1) == "connected" and "+15550783881" in card_of(r.text, 1)
    account = await accounts_store.get(ws.db, 1)
    assert account.settings["app_secret"] == "app-secret-1234" and account.keep_connected


async def test_a_phone_number_id_meta_does_not_know_is_explained_above_the_form(client, owner, graph):
    r = await add(client, owner.slug, "Official", "cloud_api", **cloud_form(graph, phone_number_id="123456789"))
    assert r.status_code == 422
    assert "The number was added but is not connected" in r.text
    assert "Meta did not accept the phone number id" in r.text and state_of(r.text, 1) == "failed"


async def test_a_cloud_api_card_shows_the_webhook_url_for_meta(client, owner, graph):
    r = await add(client, owner.slug, "Official", "cloud_api", **cloud_form(graph))
    assert r.status_code == 200, r.text
    ws = await workspace(client, owner.slug)
    key = (await accounts_store.get(ws.db, 1)).webhook_key
    assert key.startswith(f"{ws.id}.")
    page = (await client.get(f"/w/{owner.slug}/accounts")).text
    card = card_of(page, 1)
    assert state_of(page, 1) == "connected" and "Cloud API" in card
    assert f"http://testserver.local/webhooks/cloud/{key}" in card
    assert "ends in <span class=\"mono\">9876</span>" in card
    assert "kopi-susu-9876" not in page and graph.token not in page and "app-secret-1234" not in page
    r = await act(client, owner.slug, 1, "settings", {"access_token": "EAAG-new"})
    assert r.status_code == 409 and "Disconnect this number first" in r.text
    # The card pushed over SSE reaches every member (agents too): it keeps the block but carries no key.
    pushed = client.app.template_engine.get_template("accounts/_card.html").render(
        ws=ws, view=await accounts.view(ws, 1))
    assert 'id="webhook-1" data-webhook-placeholder' in pushed and key not in pushed
    r = await client.get(f"/w/{owner.slug}/accounts/1/webhook", headers={"hx-request": "true"})
    assert f"http://testserver.local/webhooks/cloud/{key}" in r.text


async def test_a_connected_sandbox_number_is_connected_again_after_a_restart(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", start_whatsapp=True)
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as first:
        owner = await do_setup(first)
        await add(first, owner.slug)
        await act(first, owner.slug, 1, "connect")
        r = await act(first, owner.slug, 1, "scan")
        assert state_of(r.text, 1) == "connected"
        phone = (await accounts_store.get((await workspace(first, owner.slug)).db, 1)).phone

    settings = Settings(data_dir=tmp_path / "data", start_whatsapp=True)
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as second:
        await login(second, OWNER_EMAIL, OWNER_PASSWORD)
        assert await until(lambda: _state(second, owner.slug, 1, "connected"))
        page = (await second.get(f"/w/{owner.slug}/accounts")).text
        assert state_of(page, 1) == "connected" and phone in card_of(page, 1)
        health = (await second.get("/health")).json()
        assert health["accounts"][0]["state"] == "connected"


async def test_health_lists_each_number(client, owner):
    await add(client, owner.slug)
    await act(client, owner.slug, 1, "connect")
    await act(client, owner.slug, 1, "scan")
    ws = await workspace(client, owner.slug)
    token = await make_token(client, owner.slug, "admin")
    r = await client.patch("/api/v1/sandbox/accounts/1", json={"disconnect": True},
                           headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text  # the network drops it; the manager reconnects
    health = (await client.get("/health")).json()
    entry = health["accounts"][0]
    assert entry["workspace_id"] == ws.id and entry["account_id"] == 1 and entry["engine"] == "sandbox"
    assert entry["state"] in ("failed", "connected") and entry["last_error"] == "Simulated network drop"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["last_event_at"])
    assert await until(lambda: _state(client, owner.slug, 1, "connected"))
    assert (await client.get("/health")).json()["accounts"][0]["reconnects"] == 1
