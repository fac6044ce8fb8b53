"""/api/v1/accounts and the sandbox controls, through the front door with workspace-scoped tokens."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

from blazz import workspaces
from blazz.store import workspaces as ws_store
from blazz.whatsapp.protocol import OutgoingMessage
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_accounts_page import cloud_form
from tests.web.test_api_base import make_token


class Api:
    """A tiny client: `await api.post("/accounts", json=...)` with the token's header."""

    def __init__(self, client, token: str):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str):
        async def call(path: str, headers: dict | None = None, **kw):
            merged = {**self.headers, **(headers or {})}
            return await self.client.request(method.upper(), f"/api/v1{path}", headers=merged, **kw)

        return call


@pytest.fixture
async def admin(client, owner) -> Api:
    return Api(client, await make_token(client, owner.slug, "admin"))


@pytest.fixture
async def agent(client, owner) -> Api:
    return Api(client, await make_token(client, owner.slug, "agent"))


async def eventually(check, within: float = 5.0):
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
    return result


async def test_create_list_get_and_connect_a_sandbox_number(admin):
    r = await admin.post("/accounts", json={"name": "Shop front", "engine": "sandbox", "phone": "+62 811 000 1111"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"] == 1 and created["engine"] == "sandbox" and created["status"] == "stopped"
    assert created["is_default"] is True and created["reconnects"] == 0 and "webhook_url" not in created
    assert created["created_at"].endswith("Z") and created["settings"] == {"phone": "+62 811 000 1111"}

    r = await admin.post("/accounts/1/connect")
    assert r.status_code == 200 and r.json()["status"] == "qr"
    qr = (await admin.get("/accounts/1/qr")).json()
    assert qr["status"] == "qr" and qr["qr"].startswith("2@") and qr["expires_at"].endswith("Z")
    r = await admin.post("/accounts/1/connect")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"

    r = await admin.post("/sandbox/accounts/1/scan")
    assert r.status_code == 200 and r.json()["status"] == "connected"
    assert r.json()["phone"] == "+628110001111"
    r = await admin.get("/accounts/1/qr")
    assert r.status_code == 409 and "connected" in r.json()["error"]["message"]
    r = await admin.post("/sandbox/accounts/1/scan")
    assert r.status_code == 409, "nothing to scan once connected"

    page = (await admin.get("/accounts")).json()
    assert page["next_cursor"] is None and [a["status"] for a in page["data"]] == ["connected"]
    one = (await admin.get("/accounts/1")).json()
    assert one["last_event_at"].endswith("Z") and one["linked_at"].endswith("Z")

    r = await admin.post("/accounts/1/disconnect")
    assert r.status_code == 200 and r.json()["status"] == "stopped"
    r = await admin.post("/accounts/1/logout")
    assert r.status_code == 200 and r.json()["status"] == "logged_out"


async def test_lists_page_with_a_cursor(admin):
    for n in range(3):
        assert (await admin.post("/accounts", json={"name": f"N{n}", "engine": "sandbox"})).status_code == 201
    first = (await admin.get("/accounts", params={"limit": 2})).json()
    assert [a["name"] for a in first["data"]] == ["N0", "N1"] and first["next_cursor"]
    second = (await admin.get("/accounts", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [a["name"] for a in second["data"]] == ["N2"] and second["next_cursor"] is None
    assert (await admin.get("/accounts", params={"limit": 0})).status_code == 422
    assert (await admin.get("/accounts", params={"cursor": "!!"})).status_code == 422


async def test_bad_input_is_422_naming_the_field(admin):
    r = await admin.post("/accounts", json={"name": "X", "engine": "sandbox", "colour": "red"})
    assert r.status_code == 422 and "colour" in r.json()["error"]["message"] + str(r.json()["error"]["details"])
    r = await admin.post("/accounts", json={"name": "", "engine": "sandbox"})
    assert r.status_code == 422 and "name" in r.json()["error"]["details"]
    r = await admin.post("/accounts", json={"name": "X", "engine": "fax"})
    assert r.status_code == 422 and "engine" in r.json()["error"]["details"]
    r = await admin.post("/accounts", json={"name": "X", "engine": "cloud_api", "phone_number_id": "123456"})
    assert r.status_code == 422 and "waba_id" in r.json()["error"]["details"]
    r = await admin.post("/accounts", json={"name": "X", "engine": "whatsapp_web", "access_token": "t"})
    assert r.status_code == 422 and "access_token" in r.json()["error"]["details"]
    r = await admin.post("/accounts", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert (await admin.get("/accounts")).json()["data"] == []

    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    r = await admin.post("/accounts/1/pair-code", json={"phone": "0812"})
    assert r.status_code == 422 and "phone" in r.json()["error"]["details"]
    r = await admin.post("/accounts/1/pair-code", json={"phone": "+62 812 3456 7890", "extra": 1})
    assert r.status_code == 422
    r = await admin.patch("/accounts/1", json={"is_default": False})
    assert r.status_code == 422 and "is_default" in r.json()["error"]["details"]
    r = await admin.patch("/accounts/1", json={"nickname": "x"})
    assert r.status_code == 422 and "nickname" in r.json()["error"]["message"] + str(r.json()["error"]["details"])


async def test_pair_code_links_by_phone(admin):
    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    r = await admin.post("/accounts/1/pair-code", json={"phone": "+62 812 3456 7890"})
    assert r.status_code == 200, r.text
    assert len(r.json()["code"]) == 8 and r.json()["status"] == "pairing"
    r = await admin.post("/sandbox/accounts/1/scan")  # the owner typed the code on the phone
    assert r.json()["status"] == "connected" and r.json()["phone"] == "+6281234567890"


async def test_patch_renames_and_moves_the_default_and_delete_keeps_history(admin):
    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    await admin.post("/accounts", json={"name": "Store", "engine": "sandbox"})
    r = await admin.patch("/accounts/2", json={"name": "Warehouse", "is_default": True})
    assert r.status_code == 200 and r.json()["name"] == "Warehouse" and r.json()["is_default"] is True
    assert (await admin.get("/accounts/1")).json()["is_default"] is False
    r = await admin.delete("/accounts/2")
    assert r.status_code == 204
    assert (await admin.get("/accounts/2")).status_code == 404
    assert (await admin.get("/accounts/1")).json()["is_default"] is True
    assert (await admin.delete("/accounts/2")).status_code == 404


async def test_cloud_api_numbers_show_their_webhook_url_and_never_their_secrets(admin, client):
    with FakeGraphApi() as graph:
        r = await admin.post("/accounts", json={"name": "Official", "engine": "cloud_api",
                                                **cloud_form(graph, access_token="EAAG-wrong")})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["webhook_url"].startswith("http://testserver.local/webhooks/cloud/1.")
        assert set(body["settings"]) == {"phone_number_id", "waba_id", "graph_base_url"}
        assert "EAAG" not in r.text and "app-secret" not in r.text and "kopi-susu" not in r.text
        r = await admin.post("/accounts/1/connect")
        assert r.status_code == 422 and "access_token" in r.json()["error"]["details"]
        assert "Meta rejected the access token" in r.json()["error"]["message"]
        got = (await admin.get("/accounts/1")).json()
        assert got["status"] == "failed" and "Meta rejected" in got["last_error"]
        r = await admin.patch("/accounts/1", json={"settings": {"access_token": graph.token}})
        assert r.status_code == 200
        r = await admin.post("/accounts/1/connect")
        assert r.status_code == 200 and r.json()["status"] == "connected" and r.json()["phone"] == "+15550783881"
        r = await admin.patch("/accounts/1", json={"settings": {"access_token": "EAAG-other"}})
        assert r.status_code == 409, "settings change only while disconnected"
        r = await admin.post("/accounts/1/pair-code", json={"phone": "+62 812 3456 7890"})
        assert r.status_code == 422
        assert (await admin.post("/sandbox/accounts/1/scan")).status_code == 404, "not a sandbox number"
        assert (await admin.get("/sandbox/accounts/1/delivered")).status_code == 404
        await admin.post("/accounts/1/disconnect")


async def test_sandbox_inbound_delivered_and_behaviour(admin, client, owner):
    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    await admin.post("/accounts/1/connect")
    await admin.post("/sandbox/accounts/1/scan")
    r = await admin.patch("/sandbox/accounts/1", json={"receipt_delay_ms": 0, "fail_rate": 0.0,
                                                       "not_on_whatsapp": ["+62 811 999"]})
    assert r.status_code == 200 and r.json()["receipt_delay_ms"] == 0 and r.json()["status"] == "connected"
    assert r.json()["not_on_whatsapp"] == ["+62 811 999"]
    for body in ({"fail_rate": 2}, {"colour": "red"}, {"receipt_delay_ms": "soon"}):
        assert (await admin.patch("/sandbox/accounts/1", json=body)).status_code == 422, body

    r = await admin.post("/sandbox/accounts/1/inbound",
                         json={"from": "+62 812 3456 7890", "text": "Halo", "id": "in-1"})
    assert r.status_code == 202 and r.json() == {"id": "in-1"}
    media = {"mime": "image/png", "filename": "a.png", "base64": base64.b64encode(b"\x89PNG fake").decode()}
    r = await admin.post("/sandbox/accounts/1/inbound", json={"from": "+6281234567890", "media": media})
    assert r.status_code == 202 and r.json()["id"]
    assert (await admin.post("/sandbox/accounts/1/inbound", json={"from": "12", "text": "x"})).status_code == 422
    bad = {"from": "+6281234567890", "media": {**media, "base64": "*"}}
    r = await admin.post("/sandbox/accounts/1/inbound", json=bad)
    assert r.status_code == 422 and "media.base64" in r.json()["error"]["details"]

    # What this number sent reaches the simulated network's log.
    rt = client.app.state.runtime
    ws_row = await ws_store.by_slug(rt.app_db, owner.slug)
    async def send(to: str, text: str):
        return await rt.sessions.send((ws_row.id, 1), OutgoingMessage(to=to, text=text))

    sends = (("+6281234567890", "Pesanan siap"), ("+6281100002222", "Promo"), ("+6281234567890", "Terima kasih"))
    for to, text in sends:
        asyncio.run_coroutine_threadsafe(send(to, text), rt.loop).result(5)
    page = (await admin.get("/sandbox/accounts/1/delivered", params={"limit": 2})).json()
    assert [d["text"] for d in page["data"]] == ["Pesanan siap", "Promo"] and page["next_cursor"]
    rest = (await admin.get("/sandbox/accounts/1/delivered", params={"cursor": page["next_cursor"]})).json()
    assert [d["text"] for d in rest["data"]] == ["Terima kasih"] and rest["next_cursor"] is None
    to_one = (await admin.get("/sandbox/accounts/1/delivered", params={"to": "+62 812-3456-7890"})).json()["data"]
    assert [d["text"] for d in to_one] == ["Pesanan siap", "Terima kasih"]
    assert to_one[0]["provider_id"] and to_one[0]["at"].endswith("Z") and to_one[0]["to"] == "+6281234567890"

    r = await admin.patch("/sandbox/accounts/1", json={"disconnect": True})
    assert r.status_code == 200
    assert await eventually(lambda: _status(admin, "connected"))
    r = await admin.patch("/sandbox/accounts/1", json={"ban_for_s": 3600})
    assert r.json()["status"] == "banned"
    got = (await admin.get("/accounts/1")).json()
    assert got["status"] == "banned" and got["retry_at"].endswith("Z")


async def _status(api: Api, want: str) -> bool:
    return (await api.get("/accounts/1")).json()["status"] == want


async def test_agent_tokens_read_but_do_not_change(admin, agent):
    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    assert (await agent.get("/accounts")).status_code == 200
    assert (await agent.get("/accounts/1")).status_code == 200
    assert (await agent.get("/sandbox/accounts/1/delivered")).status_code == 200
    for method, path, body in (("post", "/accounts", {"name": "X", "engine": "sandbox"}),
                               ("patch", "/accounts/1", {"name": "Y"}), ("delete", "/accounts/1", None),
                               ("post", "/accounts/1/connect", None), ("post", "/accounts/1/disconnect", None),
                               ("post", "/accounts/1/logout", None),
                               ("post", "/accounts/1/pair-code", {"phone": "+6281234567890"}),
                               ("post", "/sandbox/accounts/1/scan", None),
                               ("post", "/sandbox/accounts/1/inbound", {"from": "+6281234567890", "text": "x"}),
                               ("patch", "/sandbox/accounts/1", {"fail_rate": 0.5})):
        r = await getattr(agent, method)(path, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, path)


async def test_without_a_token_401_and_other_workspaces_404(client, owner, admin):
    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    for path in ("/api/v1/accounts", "/api/v1/accounts/1", "/api/v1/sandbox/accounts/1/delivered"):
        r = await client.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.post("/api/v1/accounts/1/connect", headers={"Authorization": "Bearer blz_wrong"})
    assert r.status_code == 401

    rt = client.app.state.runtime
    user = (await ws_store.members(rt.app_db, 1))[0]
    other = await workspaces.create_workspace(rt.app_db, "Cabang", user.user_id)
    theirs = Api(client, await make_token(client, other.slug, "admin"))
    assert (await theirs.get("/accounts")).json()["data"] == []
    for method, path in (("get", "/accounts/1"), ("post", "/accounts/1/connect"), ("get", "/accounts/1/qr"),
                         ("delete", "/accounts/1"), ("post", "/sandbox/accounts/1/scan")):
        r = await getattr(theirs, method)(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, path)
    assert (await admin.get("/accounts/1")).status_code == 200, "still there for its own workspace"


async def test_pacing_defaults_per_engine_changes_and_reset(admin):
    await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    pacing = (await admin.get("/accounts/1")).json()["pacing"]
    assert pacing["gap_s"] == [8.0, 20.0] and pacing["daily_cap"] == 600 and pacing["warmup"] is True
    assert pacing["window"] is None and set(pacing) >= {"pause_every", "pause_s", "typing"}

    r = await admin.patch("/accounts/1", json={"pacing": {
        "gap_s": [0, 0], "pause_every": 0, "daily_cap": None, "warmup": False, "typing": False,
        "window": {"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "19:00"}}})
    assert r.status_code == 200, r.text
    got = r.json()["pacing"]
    assert got["gap_s"] == [0, 0] and got["daily_cap"] is None and got["warmup"] is False and got["typing"] is False
    assert got["window"] == {"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "19:00"}
    r = await admin.patch("/accounts/1", json={"pacing": {"pause_s": 120}})
    assert r.json()["pacing"]["pause_s"] == 120 and r.json()["pacing"]["gap_s"] == [0, 0], "only given keys change"

    refused = (
        ({"gap_s": [30, 5]}, "pacing.gap_s"),
        ({"window": {"days": [], "from": "09:00", "to": "17:00"}}, "pacing.window"),
        ({"window": {"days": [1], "from": "9 am", "to": "17:00"}}, "pacing.window"),
    )
    for bad, field in refused:
        r = await admin.patch("/accounts/1", json={"pacing": bad})
        assert r.status_code == 422 and field in r.json()["error"]["details"], (bad, r.text)
    for bad in ({"gap_s": [1]}, {"window": {"days": [8], "from": "09:00", "to": "17:00"}}, {"speed": "fast"},
                {"daily_cap": 0}):
        r = await admin.patch("/accounts/1", json={"pacing": bad})
        assert r.status_code == 422, bad

    r = await admin.patch("/accounts/1", json={"pacing": None})
    assert r.json()["pacing"]["gap_s"] == [8.0, 20.0] and r.json()["pacing"]["window"] is None

    with FakeGraphApi() as graph:
        r = await admin.post("/accounts", json={"name": "Official", "engine": "cloud_api", **cloud_form(graph)})
    cloud = r.json()["pacing"]
    assert cloud["daily_cap"] is None and cloud["warmup"] is False and cloud["typing"] is False
