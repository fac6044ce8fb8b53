"""Meta's webhook for Cloud API numbers: the verify handshake and signed deliveries, shaped as Meta sends them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest

from blazz.store import accounts as accounts_store
from blazz.whatsapp.events import Inbound, Receipt
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_accounts_page import add, cloud_form, workspace

APP_SECRET = "app-secret-1234"
VERIFY_TOKEN = "kopi-susu-9876"


@pytest.fixture
def graph():
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture
async def cloud(client, owner, graph):
    """A connected Cloud API number; returns (webhook path, events the runtime handed to services)."""
    r = await add(client, owner.slug, "Official", "cloud_api", **cloud_form(graph))
    assert r.status_code == 200, r.text
    ws = await workspace(client, owner.slug)
    key = (await accounts_store.get(ws.db, 1)).webhook_key
    seen: list = []

    async def record(_ws, event) -> None:
        seen.append(event)

    rt = client.app.state.runtime
    rt.on_event(Inbound, record)
    rt.on_event(Receipt, record)
    return f"/webhooks/cloud/{key}", seen


def meta_payload(graph: FakeGraphApi) -> dict:
    """A text message and a delivered status, shaped as Meta's webhooks reference shows them."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": graph.phone_number_id},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUY2QjZBRTI5NUE2QzU0RkYA",
                      "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": "Does it come in another colour?"}}],
        "statuses": [{"id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI4QjAxRDkwNzMzQkMzOTRBMjYA", "status": "delivered",
                      "timestamp": str(int(time.time())), "recipient_id": "16505551234",
                      "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"}}],
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": graph.waba_id, "changes": [{"value": value, "field": "messages"}]}]}


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_handshake_echoes_the_challenge_for_the_right_verify_token(client, cloud):
    path, _ = cloud
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    r = await client.get(path, params=params)
    assert r.status_code == 200 and r.text == "1158201444" and r.headers["content-type"].startswith("text/plain")
    r = await client.get(path, params={**params, "hub.verify_token": "guess"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.get(path, params={**params, "hub.mode": "unsubscribe"})
    assert r.status_code == 403
    for other in ("/webhooks/cloud/1.nope", "/webhooks/cloud/nope", "/webhooks/cloud/99.x"):
        assert (await client.get(other, params=params)).status_code == 404, other


async def test_a_signed_delivery_reaches_the_services(client, owner, cloud, graph):
    path, seen = cloud
    body = json.dumps(meta_payload(graph)).encode()
    r = await client.post(path, content=body, headers=signed(body))
    assert r.status_code == 200
    ws = await workspace(client, owner.slug)
    row = await ws.db.fetchone("SELECT account_id, direction, body FROM messages")
    assert tuple(row) == (1, "in", "Does it come in another colour?"), "stored before Meta got its 200"
    r = await client.post(path, content=body, headers=signed(body))  # Meta redelivers
    assert r.status_code == 200 and (await ws.db.fetchone("SELECT count(*) FROM messages"))[0] == 1
    inbound = next(e for e in seen if isinstance(e, Inbound))
    assert inbound.key[1] == 1 and inbound.message.text == "Does it come in another colour?"
    assert inbound.message.sender_phone == "+16505551234" and inbound.message.sender_name == "Sheena Nelson"
    receipt = next(e for e in seen if isinstance(e, Receipt))
    assert receipt.status == "delivered"


@pytest.mark.parametrize("case", ["missing", "wrong secret", "body altered", "not sha256"])
async def test_a_delivery_without_a_valid_signature_is_refused_and_nothing_is_handled(client, owner, cloud, graph,
                                                                                      case):
    path, seen = cloud
    body = json.dumps(meta_payload(graph)).encode()
    headers = {
        "missing": {"Content-Type": "application/json"},
        "wrong secret": signed(body, "another-secret"),
        "body altered": signed(body),
        "not sha256": {"X-Hub-Signature-256": "sha1=" + hashlib.sha1(body).hexdigest()},
    }[case]
    sent = body.replace(b"another colour", b"a free sample") if case == "body altered" else body
    r = await client.post(path, content=sent, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    await asyncio.sleep(0.05)
    assert seen == []
    ws = await workspace(client, owner.slug)
    assert (await ws.db.fetchone("SELECT count(*) FROM messages"))[0] == 0


async def test_a_deleted_number_no_longer_has_a_webhook(client, owner, cloud, graph):
    path, seen = cloud
    r = await client.post(f"/w/{owner.slug}/accounts/1/delete", headers={"x-csrftoken": client.cookies["blazz_csrf"],
                                                                          "hx-request": "true"})
    assert r.status_code == 200
    body = json.dumps(meta_payload(graph)).encode()
    assert (await client.post(path, content=body, headers=signed(body))).status_code == 404
    assert seen == []


async def test_a_signed_body_that_is_not_json_is_a_400(client, cloud):
    path, seen = cloud
    body = b"not json"
    r = await client.post(path, content=body, headers=signed(body))
    assert r.status_code == 400 and seen == []


async def test_numbers_of_one_meta_app_share_a_callback_url(client, owner, cloud, graph):
    """Meta sends all of an app's numbers to one URL: each number takes the changes addressed to it."""
    path, seen = cloud
    second = cloud_form(graph, phone_number_id="106540352299999")
    r = await add(client, owner.slug, "Second line", "cloud_api", **second)
    assert r.status_code == 422, "Meta's fake knows only the first number; no need for it to connect here"
    payload = meta_payload(graph)
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "106540352299999"
    body = json.dumps(payload).encode()
    assert (await client.post(path, content=body, headers=signed(body))).status_code == 200
    assert {e.key[1] for e in seen} == {2}, "delivered to the second number only"
