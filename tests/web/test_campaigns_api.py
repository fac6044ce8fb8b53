"""/api/v1/templates and /api/v1/campaigns through the front door with workspace-scoped tokens: create, start,
follow counts, pause/resume/cancel, recipients as JSON pages and CSV, and every bad input as a 4xx."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.web.test_api_accounts import Api
from tests.web.test_api_base import make_token


@pytest.fixture
async def admin(client, owner) -> Api:
    return Api(client, await make_token(client, owner.slug, "admin"))


@pytest.fixture
async def agent(client, owner) -> Api:
    return Api(client, await make_token(client, owner.slug, "agent"))


async def eventually(check, within: float = 15.0):
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
    return result


async def shop(admin: Api, n: int = 3, connect: bool = True) -> None:
    assert (await admin.post("/accounts", json={"name": "Shop", "engine": "sandbox"})).status_code == 201
    r = await admin.patch("/accounts/1", json={"pacing": {"gap_s": [0, 0], "pause_every": 0, "daily_cap": None,
                                                          "warmup": False, "window": None, "typing": False}})
    assert r.status_code == 200, r.text
    if connect:
        await admin.post("/accounts/1/connect")
        await admin.post("/sandbox/accounts/1/scan")
    for i in range(n):
        r = await admin.post("/contacts", json={"phone": f"+62812{i:08d}", "name": f"Budi{i} Santoso",
                                                "groups": ["Pelanggan"]})
        assert r.status_code == 201, r.text


async def test_templates_api_creates_lists_renders_changes_and_deletes(admin, agent):
    r = await admin.post("/templates", json={"name": "Promo", "body": "Halo {{first_name|Kak}} di {{kota}}",
                                             "variants": ["Hai {{name}}"], "footer": "Balas STOP"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["variables"] == ["first_name", "kota", "name"] and t["unknown_variables"] == ["kota"]
    assert (await agent.post("/templates", json={"name": "x", "body": "y"})).status_code == 403
    for bad, field in (({"name": "", "body": "x"}, "name"), ({"name": "A", "body": ""}, "body"),
                       ({"name": "A", "body": "x", "variants": ["b", "c", "d"]}, "variants"),
                       ({"name": "A", "body": "x", "media_id": 99}, "media_id"),
                       ({"name": "A", "body": "x", "colour": "red"}, "colour")):
        r = await admin.post("/templates", json=bad)
        assert r.status_code == 422 and field in r.json()["error"]["details"], (bad, r.text)
    assert (await admin.post("/templates", json={"name": "promo", "body": "x"})).status_code == 409
    await admin.post("/templates", json={"name": "Another", "body": "x"})
    page = (await agent.get("/templates?limit=1")).json()
    assert [x["name"] for x in page["data"]] == ["Another"] and page["next_cursor"]
    rest = (await agent.get(f"/templates?limit=1&cursor={page['next_cursor']}")).json()
    assert [x["name"] for x in rest["data"]] == ["Promo"] and rest["next_cursor"] is None
    assert (await agent.get("/templates?cursor=bad")).status_code == 422
    contact = (await admin.post("/contacts", json={"phone": "+6281200000009", "name": "Sari"})).json()
    r = await agent.post(f"/templates/{t['id']}/render", json={"contact_id": contact["id"], "variant": 0})
    assert r.status_code == 200 and r.json()["text"] == "Halo Sari di {{kota}}\n\nBalas STOP"
    assert r.json()["unknown_variables"] == ["kota"]
    assert (await agent.post(f"/templates/{t['id']}/render", json={"contact_id": 999})).status_code == 404
    r = await admin.patch(f"/templates/{t['id']}", json={"body": "Halo {{first_name}}", "variants": []})
    assert r.status_code == 200 and r.json()["unknown_variables"] == [] and r.json()["footer"] == "Balas STOP"
    assert (await admin.delete(f"/templates/{t['id']}")).status_code == 204
    assert (await agent.get(f"/templates/{t['id']}")).status_code == 404


async def test_a_campaign_is_created_started_and_followed_through_the_api(admin, agent):
    await shop(admin)
    r = await admin.post("/campaigns", json={"name": "Promo", "account_id": 1, "text": "Halo {{first_name|Kak}}!",
                                             "variants": ["Hai {{first_name|Kak}}!"],
                                             "audience": {"groups": ["Pelanggan"]}})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "draft" and c["counts"]["total"] == 0 and c["audience"]["groups"] == [1]
    assert (await agent.post(f"/campaigns/{c['id']}/start")).status_code == 403
    r = await admin.post(f"/campaigns/{c['id']}/start")
    assert r.status_code == 200 and r.json()["status"] == "running" and r.json()["counts"]["total"] == 3

    async def completed():
        got = (await agent.get(f"/campaigns/{c['id']}")).json()
        return got if got["status"] == "completed" else None
    done = await eventually(completed)
    assert done["counts"]["sent"] == 3 and done["counts"]["pending"] == 0 and done["finished_at"]
    assert (await admin.post(f"/campaigns/{c['id']}/start")).status_code == 409
    page = (await agent.get(f"/campaigns/{c['id']}/recipients?limit=2")).json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = (await agent.get(f"/campaigns/{c['id']}/recipients?limit=2&cursor={page['next_cursor']}")).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert {r["status"] for r in page["data"] + rest["data"]} <= {"sent", "delivered", "read"}
    assert (await agent.get(f"/campaigns/{c['id']}/recipients", headers={"Accept": "text/csv"})).status_code == 403
    r = await admin.get(f"/campaigns/{c['id']}/recipients", headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert len(r.text.strip().splitlines()) == 4
    listed = (await agent.get("/campaigns?status=completed")).json()
    assert [x["id"] for x in listed["data"]] == [c["id"]]
    delivered = (await admin.get("/sandbox/accounts/1/delivered")).json()
    rows = delivered["data"] if isinstance(delivered, dict) else delivered
    # The two texts alternate in snapshot order.
    assert sorted(d["text"] for d in rows) == ["Hai Budi0!", "Hai Budi2!", "Halo Budi1!"]


async def test_pause_resume_and_cancel_through_the_api(admin):
    await shop(admin, connect=False)
    c = (await admin.post("/campaigns", json={"name": "P", "account_id": 1, "text": "Halo",
                                              "audience": {"all": True}})).json()
    await admin.post(f"/campaigns/{c['id']}/start")
    r = await admin.post(f"/campaigns/{c['id']}/pause")
    assert r.status_code == 200 and r.json()["status"] == "paused"
    assert (await admin.post(f"/campaigns/{c['id']}/pause")).status_code == 409
    assert (await admin.post(f"/campaigns/{c['id']}/resume")).json()["status"] == "running"
    r = await admin.post(f"/campaigns/{c['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["counts"]["skipped"] == 3
    assert (await admin.post(f"/campaigns/{c['id']}/retry")).status_code == 409


async def test_bad_campaign_input_is_a_4xx_with_the_field(admin):
    await shop(admin, n=1, connect=False)
    await admin.post("/groups", json={"name": "Kosong"})
    base = {"name": "x", "account_id": 1, "text": "Halo", "audience": {"groups": ["Pelanggan"]}}
    cases = [({"audience": {"groups": ["Tidak ada"]}}, 422, "audience.groups"),
             ({"audience": {}}, 422, "audience"),
             ({"audience": {"all": True, "fields": [{"key": "kota", "value": "Medan"}]}}, 422, "audience.fields"),
             ({"audience": {"all": True, "recent_days": 0}}, 422, "audience.recent_days"),
             ({"account_id": 99}, 422, "account_id"),
             ({"scheduled_at": "2020-01-01T00:00:00Z"}, 422, "scheduled_at"),
             ({"scheduled_at": "tomorrow"}, 422, "scheduled_at"),
             ({"scheduled_at": "2030-01-01T09:00:00"}, 422, "scheduled_at"),
             ({"text": None}, 422, "text"),
             ({"pacing": {"gap_s": [30, 5]}}, 422, "pacing.gap_s"),
             ({"pacing": {"window": {"days": [1], "from": "9 am", "to": "17:00"}}}, 422, "pacing.window"),
             ({"pacing": {"daily_cap": 0}}, 422, "pacing.daily_cap"),
             ({"pacing": {"speed": "fast"}}, 422, "speed"),
             ({"pacing": "fast"}, 422, "pacing"),
             ({"name": ""}, 422, "name")]
    for change, status, field in cases:
        r = await admin.post("/campaigns", json={**base, **change})
        assert r.status_code == status and field in r.json()["error"]["details"], (change, r.text)
    unknown = (await admin.post("/campaigns", json={**base, "text": "Halo {{frist_name}}"})).json()
    r = await admin.post(f"/campaigns/{unknown['id']}/start")
    assert r.status_code == 422 and "{{frist_name}}" in r.json()["error"]["message"]
    empty = (await admin.post("/campaigns", json={**base, "audience": {"groups": ["Kosong"]}})).json()
    r = await admin.post(f"/campaigns/{empty['id']}/start")
    assert r.status_code == 422 and "Nobody" in r.json()["error"]["message"]
    assert (await admin.get("/campaigns/999")).status_code == 404
    assert (await admin.get("/campaigns?status=sideways")).status_code == 422
    assert (await admin.get(f"/campaigns/{empty['id']}/recipients?status=lost")).status_code == 422
    assert (await admin.post("/campaigns/99999999999999999999/start")).status_code == 404


async def test_a_campaign_gets_its_own_pacing_at_creation_and_shows_it(admin, agent):
    await shop(admin, n=1, connect=False)
    await admin.patch("/accounts/1", json={"pacing": {"gap_s": [8, 20], "daily_cap": 600}})
    base = {"name": "Own pace", "account_id": 1, "text": "Halo", "audience": {"groups": ["Pelanggan"]}}
    plain = (await admin.post("/campaigns", json=base)).json()
    assert plain["pacing"] is None
    unpaced = {"gap_s": [0, 0], "pause_every": 0, "daily_cap": None, "warmup": False, "window": None,
               "typing": False}
    r = await admin.post("/campaigns", json={**base, "pacing": unpaced})
    assert r.status_code == 201, r.text
    own = r.json()["pacing"]
    assert own["gap_s"] == [0, 0] and own["daily_cap"] is None and own["window"] is None and own["typing"] is False
    got = (await agent.get(f"/campaigns/{r.json()['id']}")).json()
    assert got["pacing"] == own
    # Keys not given start from the number's pacing.
    r = await admin.post("/campaigns", json={**base, "pacing": {"window": {"days": [1, 2, 3, 4, 5], "from": "09:00",
                                                                         "to": "17:00"}}})
    windowed, own = r.json()["id"], r.json()["pacing"]
    assert own["gap_s"] == [8, 20] and own["daily_cap"] == 600
    assert own["window"] == {"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "17:00"}
    assert (await admin.post("/campaigns", json={**base, "pacing": None})).json()["pacing"] is None
    # A refused pacing creates nothing.
    before = len((await agent.get("/campaigns")).json()["data"])
    r = await admin.post("/campaigns", json={**base, "pacing": {"gap_s": [30, 5]}})
    assert r.status_code == 422 and "pacing.gap_s" in r.json()["error"]["details"]
    assert len((await agent.get("/campaigns")).json()["data"]) == before
    # The number's pacing changing later leaves a campaign's own alone.
    await admin.patch("/accounts/1", json={"pacing": {"daily_cap": 50}})
    assert (await agent.get(f"/campaigns/{windowed}")).json()["pacing"]["daily_cap"] == 600
