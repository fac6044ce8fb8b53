"""/api/v1/auto-replies and /api/v1/business-hours through the front door: every endpoint, roles, bad input."""

from __future__ import annotations

import pytest

from tests.web.test_api_base import make_token
from tests.web.test_openapi_schemathesis import server  # noqa: F401  (a real server for the fuzz run)


@pytest.fixture
async def admin(client, owner) -> dict:
    return {"Authorization": f"Bearer {await make_token(client, owner.slug, 'admin')}"}


@pytest.fixture
async def agent(client, owner) -> dict:
    return {"Authorization": f"Bearer {await make_token(client, owner.slug, 'agent')}"}


async def create(client, headers, **body) -> dict:
    r = await client.post("/api/v1/auto-replies", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_rules_are_created_listed_in_order_changed_and_deleted(client, admin):
    first = await create(client, admin, trigger="contains", pattern="price, harga",
                         reply={"text": "Hi {{first_name|there}}: shop.example/prices"}, name="Prices")
    assert first == {**first, "trigger": "contains", "pattern": "price, harga", "priority": 1, "active": True,
                     "hits": 0, "last_hit_at": None, "account_ids": None, "cooldown_s": 3600, "name": "Prices",
                     "reply": {"text": "Hi {{first_name|there}}: shop.example/prices", "template_id": None,
                               "media_id": None}}
    assert first["created_at"].endswith("Z")
    welcome = await create(client, admin, trigger="first_message", reply={"text": "Welcome!"}, priority=1,
                           cooldown_s=0)
    anything = await create(client, admin, trigger="any", reply={"text": "We will answer soon"}, active=False)
    assert welcome["pattern"] is None and anything["priority"] == 2

    listed = (await client.get("/api/v1/auto-replies", headers=admin)).json()
    assert [r["id"] for r in listed["data"]] == [first["id"], welcome["id"], anything["id"]]  # (priority, id)
    page1 = (await client.get("/api/v1/auto-replies", headers=admin, params={"limit": 2})).json()
    page2 = (await client.get("/api/v1/auto-replies", headers=admin,
                              params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    assert [r["id"] for r in page1["data"] + page2["data"]] == [r["id"] for r in listed["data"]]
    assert page2["next_cursor"] is None

    r = await client.patch(f"/api/v1/auto-replies/{anything['id']}", headers=admin,
                           json={"active": True, "priority": 9, "reply": {"text": "Soon!"}})
    assert r.status_code == 200 and r.json()["active"] and r.json()["reply"]["text"] == "Soon!"
    assert (await client.get(f"/api/v1/auto-replies/{anything['id']}", headers=admin)).json()["priority"] == 9

    assert (await client.delete(f"/api/v1/auto-replies/{first['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/v1/auto-replies/{first['id']}", headers=admin)).status_code == 404
    assert (await client.delete(f"/api/v1/auto-replies/{first['id']}", headers=admin)).status_code == 404


async def test_the_test_endpoint_names_the_rule_that_would_answer(client, admin, agent):
    prices = await create(client, admin, trigger="contains", pattern="harga", reply={"text": "Halo {{first_name}}!"})
    fallback = await create(client, admin, trigger="any", reply={"text": "Soon"})
    r = await client.post("/api/v1/auto-replies/test", headers=agent, json={"text": "Berapa harganya?"})
    assert r.status_code == 200
    body = r.json()
    assert body["rule"]["id"] == prices["id"] and body["reply"] == "Halo Budi!"
    assert body["also_matching"] == [fallback["id"]] and body["inactive_matching"] == [] and body["timed_out"] == []
    r = await client.post("/api/v1/auto-replies/test", headers=agent, json={"text": "hi", "account_id": 12345})
    assert r.status_code == 422 and "account_id" in r.json()["error"]["details"]
    await client.patch(f"/api/v1/auto-replies/{fallback['id']}", headers=admin, json={"active": False})
    nothing = (await client.post("/api/v1/auto-replies/test", headers=agent, json={"text": "hi"})).json()
    assert nothing["rule"] is None and nothing["reply"] is None and nothing["inactive_matching"] == [fallback["id"]]


async def test_agents_read_and_admins_change(client, admin, agent):
    rule = await create(client, admin, trigger="any", reply={"text": "x"})
    assert (await client.get("/api/v1/auto-replies", headers=agent)).status_code == 200
    assert (await client.get(f"/api/v1/auto-replies/{rule['id']}", headers=agent)).status_code == 200
    assert (await client.post("/api/v1/auto-replies", headers=agent,
                              json={"trigger": "any", "reply": {"text": "x"}})).status_code == 403
    assert (await client.patch(f"/api/v1/auto-replies/{rule['id']}", headers=agent,
                               json={"active": False})).status_code == 403
    assert (await client.delete(f"/api/v1/auto-replies/{rule['id']}", headers=agent)).status_code == 403
    assert (await client.patch("/api/v1/business-hours", headers=agent, json={})).status_code == 403
    assert (await client.get("/api/v1/auto-replies")).status_code == 401
    assert (await client.get("/api/v1/business-hours")).status_code == 401


BAD_RULES = [
    ({"trigger": "sometimes", "reply": {"text": "x"}}, "trigger"),
    ({"reply": {"text": "x"}}, "trigger"),
    ({"trigger": "any"}, "reply"),
    ({"trigger": "any", "reply": {"text": "x"}, "colour": "red"}, "colour"),
    ({"trigger": "any", "reply": {"text": "x", "colour": "red"}}, "colour"),
    ({"trigger": "any", "reply": {"text": 5}}, "reply.text"),
    ({"trigger": "any", "reply": "hello"}, "reply"),
    ({"trigger": "any", "reply": {}}, "reply.text"),
    ({"trigger": "any", "reply": {"text": "x"}, "cooldown_s": "an hour"}, "cooldown_s"),
    ({"trigger": "any", "reply": {"text": "x"}, "cooldown_s": -5}, "cooldown_s"),
    ({"trigger": "any", "reply": {"text": "x"}, "priority": 0}, "priority"),
    ({"trigger": "any", "reply": {"text": "x"}, "account_ids": "all"}, "account_ids"),
    ({"trigger": "any", "reply": {"text": "x"}, "account_ids": [99]}, "account_ids"),
    ({"trigger": "any", "reply": {"text": "x"}, "active": "yes"}, "active"),
    ({"trigger": "contains", "reply": {"text": "x"}}, "pattern"),
    ({"trigger": "regex", "pattern": "(unclosed", "reply": {"text": "x"}}, "pattern"),
    ({"trigger": "regex", "pattern": "(a+)+$", "reply": {"text": "x"}}, "pattern"),
    ({"trigger": "any", "reply": {"media_id": 123}}, "reply.media_id"),
    ({"trigger": "any", "reply": {"template_id": 123}}, "reply.template_id"),
    ({"trigger": "any", "reply": {"text": "{{nope}}"}}, "reply.text"),
    ({"trigger": "any", "reply": {"media_id": 2**70}}, "reply.media_id"),
]


async def test_bad_rules_are_422_naming_the_field(client, admin):
    """Shape errors name the key the decoder stopped at; meaning errors name the full path (reply.text)."""
    for body, field in BAD_RULES:
        r = await client.post("/api/v1/auto-replies", headers=admin, json=body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error" and field in error["details"], (body, error)
    assert (await client.get("/api/v1/auto-replies", headers=admin)).json()["data"] == []


async def test_malformed_json_and_bad_changes(client, admin):
    r = await client.post("/api/v1/auto-replies", headers={**admin, "Content-Type": "application/json"},
                          content=b'{"trigger": "any", "reply": ')
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    rule = await create(client, admin, trigger="any", reply={"text": "x"})
    for body, field in (({"trigger": "regex"}, "pattern"), ({"priority": "first"}, "priority"),
                        ({"unknown": 1}, "unknown"), ({"account_ids": []}, "account_ids")):
        r = await client.patch(f"/api/v1/auto-replies/{rule['id']}", headers=admin, json=body)
        assert r.status_code == 422 and field in r.json()["error"]["details"], r.text
    r = await client.post("/api/v1/auto-replies/test", headers=admin, json={"text": 42})
    assert r.status_code == 422 and "text" in r.json()["error"]["details"]
    r = await client.post("/api/v1/auto-replies/test", headers=admin, json={"text": "x", "first": True})
    assert r.status_code == 422 and "first" in r.json()["error"]["details"]
    assert (await client.get("/api/v1/auto-replies", headers=admin, params={"cursor": "@@"})).status_code == 422
    assert (await client.patch("/api/v1/auto-replies/999", headers=admin, json={"active": False})).status_code == 404
    assert (await client.get(f"/api/v1/auto-replies/{2**70}", headers=admin)).status_code == 404


async def test_a_slow_regex_is_time_limited_when_tested(client, admin):
    slow = await create(client, admin, trigger="regex", pattern=r"(?:.*Z,){12}P", reply={"text": "regex"})
    r = await client.post("/api/v1/auto-replies/test", headers=admin, json={"text": "Z," * 2000})
    assert r.status_code == 200 and r.json()["timed_out"] == [slow["id"]] and r.json()["rule"] is None


async def test_business_hours_read_and_change(client, admin, agent):
    r = await client.get("/api/v1/business-hours", headers=agent)
    assert r.status_code == 200
    hours = r.json()
    assert hours["timezone"] == "UTC" and hours["week"]["mon"] == [{"from": "09:00", "to": "17:00"}]
    assert hours["week"]["sun"] == [] and hours["holidays"] == [] and not hours["away"]["active"]
    assert isinstance(hours["open_now"], bool) and hours["next_change"].endswith("Z")

    r = await client.patch("/api/v1/business-hours", headers=admin, json={
        "week": {"sat": [{"from": "10:00", "to": "14:00"}, {"from": "15:00", "to": "24:00"}]},
        "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
        "away": {"active": True, "text": "Closed, {{first_name|friend}}!", "period_s": 7200},
    })
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["week"]["mon"] == [] and changed["week"]["sat"][1] == {"from": "15:00", "to": "24:00"}
    assert changed["holidays"] == [{"date": "2026-12-25", "name": "Christmas"}]
    assert changed["away"] == {"active": True, "text": "Closed, {{first_name|friend}}!", "period_s": 7200}
    assert changed["greeting"] == hours["greeting"]
    r = await client.patch("/api/v1/business-hours", headers=admin, json={"greeting": {"active": True}})
    assert r.json()["greeting"]["active"] and r.json()["away"]["active"]
    await client.patch("/api/v1/workspace", headers=admin, json={"timezone": "Asia/Jakarta"})
    assert (await client.get("/api/v1/business-hours", headers=agent)).json()["timezone"] == "Asia/Jakarta"


BAD_HOURS = [
    ({"week": {"mon": [{"from": "9am", "to": "17:00"}]}}, "week.mon"),
    ({"week": {"mon": [{"from": "17:00", "to": "09:00"}]}}, "week.mon"),
    ({"week": {"mon": [{"from": "09:00"}]}}, "to"),
    ({"week": {"funday": []}}, "funday"),
    ({"week": {"mon": "09-17"}}, "week.mon"),
    ({"holidays": [{"date": "christmas"}]}, "holidays"),
    ({"holidays": [{"date": "2026-12-25", "when": "all day"}]}, "when"),
    ({"away": {"active": True, "text": ""}}, "away.text"),
    ({"away": {"period_s": 5}}, "away.period_s"),
    ({"greeting": {"active": "maybe"}}, "greeting.active"),
    ({"greeting": {"text": "Hi {{nickname}}"}}, "greeting.text"),
    ({"lunch": {"from": "12:00"}}, "lunch"),
]


async def test_bad_business_hours_are_422_naming_the_field(client, admin):
    async def stored() -> dict:
        body = (await client.get("/api/v1/business-hours", headers=admin)).json()
        return {k: v for k, v in body.items() if k not in ("open_now", "next_change")}

    before = await stored()
    for body, field in BAD_HOURS:
        r = await client.patch("/api/v1/business-hours", headers=admin, json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["error"]["details"], (body, r.json())
    assert await stored() == before


@pytest.mark.timeout(180)
def test_fuzzed_automation_requests_get_no_server_error_and_match_the_document(server):  # noqa: F811
    """The automation operations get their own bounded schemathesis run (the suite-wide one may run out of budget
    before reaching them)."""
    from tests.web import test_openapi_schemathesis as fuzz

    base_url, token = server
    schema = fuzz.schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    ours = [o for o in operations if o.path.startswith(("/api/v1/auto-replies", "/api/v1/business-hours"))]
    assert len(ours) == 8
    failures = []
    for operation in ours:
        @fuzz.given(case=operation.as_strategy())
        @fuzz.hypothesis_settings(max_examples=30, deadline=None, database=None, derandomize=True,
                                  phases=[fuzz.Phase.explicit, fuzz.Phase.generate],
                                  suppress_health_check=list(fuzz.HealthCheck))
        def run(case):
            case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                   checks=fuzz.CHECKS, timeout=10)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
