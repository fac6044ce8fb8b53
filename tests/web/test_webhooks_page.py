"""Settings → Webhooks in the browser: add (secret shown once), test event, delivery log, redeliver, off/on, delete."""

from __future__ import annotations

import re

import pytest

from blazz import webhooks
from tests.conftest import form_post, login
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.web.test_webhooks import until


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


async def test_owner_adds_a_webhook_sends_a_test_event_and_sees_the_log(client, owner, receiver):
    base = f"/w/{owner.slug}/settings/webhooks"
    r = await client.get(base)
    assert r.status_code == 200 and "Blazz-Signature" in r.text and "hmac" in r.text  # how to verify
    assert f'href="/w/{owner.slug}/settings/webhooks"' in r.text  # the tab

    r = await form_post(client, base + "/", {"url": "http://192.168.1.20/hook", "events": ["contact.created"]},
                        htmx=True)
    assert r.status_code == 422 and "allow LAN targets" in r.text
    r = await form_post(client, base + "/", {"url": receiver.url, "events": ["contact.created", "message.received"],
                                             "allow_private": "on", "description": "Shop"}, htmx=True)
    assert r.status_code == 200
    secret = re.search(r"whsec_[\w-]+", r.text).group(0)
    hook_id = int(re.search(rf"{base}/(\d+)", r.text).group(1))
    page = (await client.get(base)).text
    assert secret not in page and receiver.url in page  # shown once

    r = await form_post(client, f"{base}/{hook_id}/test", {}, htmx=True)
    assert r.status_code == 200 and "Test event queued" in r.headers["hx-trigger"]
    got = await until(lambda: receiver.received)
    assert got[0].json["type"] == "webhook.test"
    assert webhooks.verify(secret, got[0].header("Blazz-Timestamp"), got[0].body, got[0].header("Blazz-Signature"))

    async def logged():
        r = await client.get(f"{base}/{hook_id}/log", headers={"hx-request": "true"})
        return r.text if "badge-green\">delivered" in r.text else None

    log = await until(logged)
    assert "webhook.test" in log and ">200<" in log
    delivery_id = int(re.search(r'data-delivery="(\d+)"', log).group(1))
    r = await client.get(f"{base}/{hook_id}/deliveries/{delivery_id}", headers={"hx-request": "true"})
    assert r.status_code == 200 and "evt_" in r.text and "webhook.test" in r.text

    r = await form_post(client, f"{base}/{hook_id}/deliveries/{delivery_id}/redeliver", {}, htmx=True)
    assert r.status_code == 200 and "Redelivery queued" in r.headers["hx-trigger"]
    await until(lambda: len(receiver.received) == 2)
    assert receiver.received[1].header("Blazz-Event-Id") == receiver.received[0].header("Blazz-Event-Id")

    r = await form_post(client, f"{base}/{hook_id}", {"url": receiver.url, "events": ["contact.updated"],
                                                      "allow_private": "on"}, htmx=True)
    assert r.status_code == 200 and "Saved" in r.text
    r = await form_post(client, f"{base}/{hook_id}", {"url": "gopher://x", "events": ["contact.updated"]}, htmx=True)
    assert r.status_code == 422 and "Only http:// and https://" in r.text

    r = await form_post(client, f"{base}/{hook_id}/active", {"active": "off"}, htmx=True)
    assert r.headers["hx-redirect"] == f"{base}/{hook_id}"
    detail = (await client.get(f"{base}/{hook_id}")).text
    assert "Turn on" in detail and "Send test event" not in detail
    await form_post(client, f"{base}/{hook_id}/active", {"active": "on"}, htmx=True)
    assert "Send test event" in (await client.get(f"{base}/{hook_id}")).text

    r = await form_post(client, f"{base}/{hook_id}/delete", {}, htmx=True)
    assert r.headers["hx-redirect"] == base
    assert (await client.get(f"{base}/{hook_id}")).status_code == 404


async def test_agents_cannot_open_webhooks_or_tokens(client, owner):
    from blazz import auth, workspaces
    from tests.conftest import second_client

    rt = client.app.state.runtime
    app_db = rt.app_db
    email, name, pw = auth.prepare_user("agent@shop.test", "another long password", "Agent")
    await app_db.execute_write_fn(lambda conn: auth.insert_user(conn, email, name, pw))
    user_id = (await app_db.fetchone("SELECT id FROM users WHERE email = ?", (email,)))[0]
    ws_id = (await app_db.fetchone("SELECT id FROM workspaces WHERE slug = ?", (owner.slug,)))[0]
    await app_db.execute_write_fn(lambda conn: conn.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'agent', 0)",
        (ws_id, user_id)))
    assert workspaces.has_role("agent", "agent")
    async with second_client(client) as agent:
        await login(agent, "agent@shop.test", "another long password")
        for path in ("webhooks", "api-tokens"):
            r = await agent.get(f"/w/{owner.slug}/settings/{path}")
            assert r.status_code == 403, path
