"""Outgoing webhooks through the API and a real local receiver: signatures, retries, redelivery, the delivery log,
refused targets, auto-disable and deliveries that survive a restart."""

from __future__ import annotations

import asyncio
import time

import pytest
from litestar.testing import AsyncTestClient

from blazz import audit, webhooks
from blazz.web.app import create_app
from tests.fakes.webhook_receiver import WebhookReceiver, free_port
from tests.web.test_api_base import make_token


async def until(check, within: float = 10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def fast_retries(client):
    worker = client.app.state.runtime.webhooks
    worker.retry_base_s = worker.retry_cap_s = 0.05
    return worker


@pytest.fixture
async def admin(client, owner) -> dict:
    return {"Authorization": f"Bearer {await make_token(client, owner.slug, 'admin')}"}


async def subscribe(client, headers, url, events=("contact.created", "contact.updated"), **extra) -> dict:
    r = await client.post("/api/v1/webhooks", headers=headers,
                          json={"url": url, "events": list(events), "allow_private": True, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_new_contact_is_posted_signed_with_the_secret_shown_once(client, admin, receiver):
    hook = await subscribe(client, admin, receiver.url, description="Order system")
    assert hook["secret"].startswith("whsec_") and hook["active"] and hook["events"] == ["contact.created",
                                                                                          "contact.updated"]
    listed = (await client.get("/api/v1/webhooks", headers=admin)).json()
    assert [h["id"] for h in listed["data"]] == [hook["id"]] and "secret" not in listed["data"][0]
    assert "secret" not in (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)).json()

    r = await client.post("/api/v1/contacts", headers=admin, json={"phone": "+6281234567890", "name": "Budi"})
    assert r.status_code == 201
    got = await until(lambda: receiver.received)
    req = got[0]
    body = req.json
    assert body["type"] == "contact.created" and body["data"]["contact"]["phone"] == "+6281234567890"
    assert body["data"]["contact"]["name"] == "Budi" and body["workspace"]["slug"]
    assert req.header("Blazz-Event") == "contact.created" and req.header("Blazz-Event-Id") == body["id"]
    assert req.header("Content-Type") == "application/json"
    # What a receiver does: the signature over "<timestamp>.<raw body>" with the secret matches...
    assert webhooks.verify(hook["secret"], req.header("Blazz-Timestamp"), req.body, req.header("Blazz-Signature"))
    # ...and fails for another secret, a changed body or an old timestamp.
    assert not webhooks.verify("whsec_other", req.header("Blazz-Timestamp"), req.body, req.header("Blazz-Signature"))
    assert not webhooks.verify(hook["secret"], req.header("Blazz-Timestamp"), req.body + b" ",
                               req.header("Blazz-Signature"))
    assert not webhooks.verify(hook["secret"], req.header("Blazz-Timestamp"), req.body,
                               req.header("Blazz-Signature"), now=time.time() + 3600)

    contact_id = r.json()["id"]
    await client.patch(f"/api/v1/contacts/{contact_id}", headers=admin, json={"email": "budi@shop.test"})
    await until(lambda: len(receiver.received) == 2)
    update = receiver.received[1].json
    assert update["type"] == "contact.updated" and update["data"]["changed"] == ["email"]
    assert update["data"]["contact"]["email"] == "budi@shop.test"


async def test_receiver_answering_500_then_200_gets_a_retry_and_the_log_shows_both(client, admin, receiver,
                                                                                   fast_retries):
    hook = await subscribe(client, admin, receiver.url)
    receiver.answer(500)
    await client.post("/api/v1/contacts", headers=admin, json={"phone": "+6281234567891"})
    await until(lambda: len(receiver.received) == 2)
    first, second = receiver.received
    assert first.header("Blazz-Event-Id") == second.header("Blazz-Event-Id")
    assert webhooks.verify(hook["secret"], second.header("Blazz-Timestamp"), second.body,
                           second.header("Blazz-Signature"))

    async def delivered():
        page = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin)).json()
        return page if page["data"] and page["data"][0]["status"] == "delivered" else None

    log = (await until(delivered))["data"]
    assert len(log) == 1 and log[0]["attempts"] == 2 and log[0]["response_status"] == 200
    detail = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries/{log[0]['id']}", headers=admin)).json()
    assert [a["response_status"] for a in detail["attempt_log"]] == [500, 200]
    assert detail["body"].encode() == second.body and detail["event_id"] == first.header("Blazz-Event-Id")
    state = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)).json()
    assert state["failure_streak"] == 0 and state["last_status"] == 200


async def test_redeliver_sends_the_same_event_again_and_test_events_reach_one_webhook(client, admin, receiver):
    hook = await subscribe(client, admin, receiver.url)
    other = WebhookReceiver().start()
    try:
        await subscribe(client, admin, other.url)
        r = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin)
        assert r.status_code == 202 and r.json()["event"] == "webhook.test"
        await until(lambda: receiver.received)
        assert receiver.received[0].json["data"]["webhook_id"] == hook["id"]
        await asyncio.sleep(0.2)
        assert other.received == []  # a test event goes to the one webhook only
    finally:
        other.stop()

    async def done():
        d = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin)).json()["data"]
        return d if d and d[0]["status"] == "delivered" else None

    first = (await until(done))[0]
    r = await client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{first['id']}/redeliver", headers=admin)
    assert r.status_code == 202 and r.json()["redelivery_of"] == first["id"]
    await until(lambda: len(receiver.received) == 2)
    assert receiver.received[1].header("Blazz-Event-Id") == receiver.received[0].header("Blazz-Event-Id")
    log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=1", headers=admin)).json()
    assert len(log["data"]) == 1 and log["next_cursor"]
    older = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?cursor={log['next_cursor']}",
                              headers=admin)).json()
    assert [d["id"] for d in older["data"]] == [first["id"]] and older["next_cursor"] is None
    r = await client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999/redeliver", headers=admin)
    assert r.status_code == 404


@pytest.mark.parametrize(("url", "allow_private", "says"), [
    ("ftp://files.example.com/in", False, "Only http:// and https://"),
    ("javascript:alert(1)", True, "Only http:// and https://"),
    ("http://169.254.169.254/latest/meta-data/", True, "metadata"),
    ("http://[fd00:ec2::254]/", True, "metadata"),
    ("http://100.100.100.200/", True, "metadata"),
    ("http://10.1.2.3/hook", False, "private"),
    ("http://localhost:8080/hook", False, "private"),
    ("http://[::ffff:127.0.0.1]/hook", False, "private"),
    ("http://2130706433/hook", False, "private"),  # 127.0.0.1 spelled as a number
    ("http://0.0.0.0/hook", True, "not a host"),
    ("http://user:pw@hooks.example.com/", False, "credentials"),
    ("https:///nohost", False, "host name"),
    ("http://exa mple.com/", False, "spaces"),
    ("", False, "Enter the URL"),
])
async def test_webhook_urls_that_are_refused(client, admin, url, allow_private, says):
    r = await client.post("/api/v1/webhooks", headers=admin,
                          json={"url": url, "events": ["contact.created"], "allow_private": allow_private})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and says in error["details"]["url"]


async def test_bad_webhook_bodies(client, admin, owner, receiver):
    url = "/api/v1/webhooks"
    r = await client.post(url, headers={**admin, "Content-Type": "application/json"}, content=b'{"url": ')
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = await client.post(url, headers=admin, json={"url": receiver.url, "events": ["contact.created"], "x": 1})
    assert r.status_code == 422 and "x" in r.json()["error"]["details"]
    r = await client.post(url, headers=admin, json={"url": receiver.url, "events": "contact.created"})
    assert r.status_code == 422 and "events" in r.json()["error"]["details"]
    r = await client.post(url, headers=admin, json={"url": 5, "events": ["contact.created"]})
    assert r.status_code == 422 and "url" in r.json()["error"]["details"]
    r = await client.post(url, headers=admin, json={"url": receiver.url, "events": ["order.paid"],
                                                    "allow_private": True})
    assert r.status_code == 422 and "order.paid" in r.json()["error"]["details"]["events"]
    r = await client.post(url, headers=admin, json={"url": receiver.url, "events": [], "allow_private": True})
    assert r.status_code == 422 and "events" in r.json()["error"]["details"]
    r = await client.post(url, headers=admin, json={"events": ["contact.created"]})
    assert r.status_code == 422 and "url" in r.json()["error"]["details"]
    r = await client.patch("/api/v1/webhooks/1", headers=admin, json={"active": "yes"})
    assert r.status_code == 422 and "active" in r.json()["error"]["details"]
    r = await client.get("/api/v1/webhooks/99999999999999999999999/deliveries", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"  # beyond SQLite's integers
    r = await client.post(url, headers=admin, content=b"{" + b" " * (50 * 1024 * 1024) + b"}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


async def test_webhooks_need_an_admin_token_and_stay_in_their_workspace(client, admin, owner, receiver):
    hook = await subscribe(client, admin, receiver.url)
    agent = {"Authorization": f"Bearer {await make_token(client, owner.slug, 'agent')}"}
    for method, path in (("GET", "/api/v1/webhooks"), ("POST", f"/api/v1/webhooks/{hook['id']}/test"),
                         ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries")):
        r = await client.request(method, path, headers=agent)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (await client.get("/api/v1/webhooks")).status_code == 401
    rt = client.app.state.runtime
    from blazz import api_tokens, workspaces

    other = await workspaces.create_workspace(rt.app_db, "Other shop", 1)
    token, _ = await api_tokens.create(rt.app_db, other.id, "Other", "admin")
    theirs = {"Authorization": f"Bearer {token}"}
    for method, path in (("GET", f"/api/v1/webhooks/{hook['id']}"), ("DELETE", f"/api/v1/webhooks/{hook['id']}"),
                         ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries"),
                         ("PATCH", f"/api/v1/webhooks/{hook['id']}")):
        r = await client.request(method, path, headers=theirs, json={} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path)
    assert (await client.get("/api/v1/webhooks", headers=theirs)).json()["data"] == []


async def test_pause_edit_and_delete(client, admin, receiver, fast_retries):
    hook = await subscribe(client, admin, receiver.url, events=["contact.created"])
    r = await client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"active": False})
    assert r.json()["status"] == "paused" and not r.json()["active"]
    await client.post("/api/v1/contacts", headers=admin, json={"phone": "+6281234567892"})
    await asyncio.sleep(0.3)
    assert receiver.received == []  # nothing is queued for a paused webhook
    r = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin)
    assert r.status_code == 409
    r = await client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin,
                           json={"active": True, "events": ["contact.updated", "contact.created"]})
    assert r.json()["active"] and r.json()["events"] == ["contact.created", "contact.updated"]
    r = await client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"allow_private": False})
    assert r.status_code == 422 and "private" in r.json()["error"]["details"]["url"]
    events = (await client.get("/api/v1/webhooks/events", headers=admin)).json()
    assert {e["name"] for e in events} == set(webhooks.EVENTS)
    assert (await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)).status_code == 404
    actions = [e.action for e in await audit.recent(await _ws(client))]
    assert {"webhook.created", "webhook.paused", "webhook.enabled", "webhook.updated",
            "webhook.deleted"} <= set(actions)


async def _ws(client):
    rt = client.app.state.runtime
    return await rt.workspace_by_slug((await rt.app_db.fetchone("SELECT slug FROM workspaces WHERE id = 1"))[0])


async def test_a_name_that_turns_private_after_creation_is_refused_at_delivery(client, owner, receiver):
    """DNS rebinding: the name resolved to a public address when it was added, to a private one when sending."""
    ws = await _ws(client)

    async def public(host, port):
        return ["93.184.216.34"]

    async def rebound(host, port):
        return ["93.184.216.34", "127.0.0.1"]  # one bad address is enough to refuse

    hook, _ = await webhooks.create(ws, audit.SYSTEM, f"http://hooks.shop.example:{receiver.port}/in",
                                    ["contact.created"], resolve=public)
    client.app.state.runtime.webhooks.resolve = rebound
    await webhooks.emit(ws, "contact.created", {"contact": {"id": 1}})

    async def attempted():
        log = await webhooks.deliveries(ws, hook.id)
        return log if log and log[0].error else None  # claimed is not yet attempted: wait for the result

    log = await until(attempted)
    assert "Refused" in log[0].error and "127.0.0.1" in log[0].error and log[0].response_status is None
    assert receiver.received == []


async def test_a_webhook_failing_for_too_long_is_turned_off_and_the_owner_told(client, admin, receiver, fast_retries):
    fast_retries.disable_min_failures, fast_retries.disable_after_s = 3, 0
    hook = await subscribe(client, admin, receiver.url)
    receiver.answer(*[500] * 20)
    rt = client.app.state.runtime
    ws = await _ws(client)
    with rt.bus.subscribe(ws.id) as sub:
        await client.post("/api/v1/contacts", headers=admin, json={"phone": "+6281234567893"})
        state = await until(lambda: _disabled(client, admin, hook["id"]))
        toast = await until(lambda: _next_toast(sub))
    assert state["status"] == "disabled" and not state["active"] and "3 failed attempts" in state["disabled_reason"]
    assert "kept failing" in toast.data["message"] and toast.data["level"] == "error"
    assert len(receiver.received) == 3
    log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin)).json()["data"]
    assert log[0]["status"] == "failed" and log[0]["response_status"] == 500
    entry = next(e for e in await audit.recent(ws) if e.action == "webhook.disabled")
    assert entry.actor == "Webhook delivery" and entry.details["failures"] == 3
    # Turned back on, it delivers again.
    await client.patch(f"/api/v1/webhooks/{hook['id']}", headers=admin, json={"active": True})
    receiver.reset()  # 200s from now on
    await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin)
    await until(lambda: receiver.received)


async def _disabled(client, admin, hook_id):
    state = (await client.get(f"/api/v1/webhooks/{hook_id}", headers=admin)).json()
    return state if state["status"] == "disabled" else None


async def _next_toast(sub):
    event = await sub.next(0.05)
    return event if event is not None and event.name == "toast" else None


async def test_retries_stop_after_the_give_up_window(client, admin, fast_retries):
    fast_retries.give_up_after_s = 0.3
    hook = await subscribe(client, admin, f"http://127.0.0.1:{free_port()}/down")
    await client.post("/api/v1/contacts", headers=admin, json={"phone": "+6281234567894"})

    async def failed():
        log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin)).json()["data"]
        return log if log and log[0]["status"] == "failed" else None

    log = await until(failed)
    assert log[0]["attempts"] >= 2 and "Could not connect" in log[0]["error"] and log[0]["next_attempt_at"] is None


async def test_deliveries_survive_a_restart(settings, tmp_path):
    """The receiver is down; Blazz stops with the delivery pending and sends it after starting again."""
    port = free_port()
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        from tests.conftest import do_setup

        owner = await do_setup(client)
        headers = {"Authorization": f"Bearer {await make_token(client, owner.slug, 'admin')}"}
        client.app.state.runtime.webhooks.retry_base_s = 0.2
        hook = await subscribe(client, headers, f"http://127.0.0.1:{port}/hooks/blazz")
        await client.post("/api/v1/contacts", headers=headers, json={"phone": "+6281234567895"})

        async def attempted():
            log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers)).json()["data"]
            return log if log and log[0]["error"] else None

        await until(attempted)

    with WebhookReceiver(port=port) as receiver:
        app = create_app(settings)
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            client.app.state.runtime.webhooks.retry_base_s = 0.05
            got = await until(lambda: receiver.received)
            assert got[0].json["type"] == "contact.created"
            assert got[0].json["data"]["contact"]["phone"] == "+6281234567895"
