"""Meta templates sent through the front door: the REST API by name (and language), and the inbox composer of a
Cloud API conversation whose 24-hour window closed. The app is real, the Cloud API number talks to the real local
fake of the Graph API, and the sandbox number stays the workspace's default."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import form_post
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_accounts_page import cloud_form
from tests.web.test_inbox import CUSTOMER, Shop, agent_client, eventually
from tests.web.test_inbox import shop as shop  # the fixture, shared

ORDER = {"name": "order_update", "language": "id", "category": "UTILITY", "status": "APPROVED", "id": "111",
         "components": [{"type": "BODY", "text": "Halo {{1}}, pesanan {{2}} sudah dikirim.",
                         "example": {"body_text": [["Budi", "#123"]]}},
                        {"type": "FOOTER", "text": "Toko Sinar"}]}
ORDER_EN = {**ORDER, "language": "en_US", "id": "112",
            "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped.",
                            "example": {"body_text": [["Budi", "#123"]]}}]}
DRAFT = {"name": "draft_promo", "language": "id", "category": "MARKETING", "status": "PENDING", "id": "113",
         "components": [{"type": "BODY", "text": "Promo!"}]}


@pytest.fixture
def graph():
    with FakeGraphApi() as fake:
        fake.templates.extend([ORDER, ORDER_EN, DRAFT])
        yield fake


async def cloud_number(shop: Shop, graph: FakeGraphApi) -> tuple[int, dict[tuple[str, str], int]]:
    """The Cloud API number, connected, its templates synced and mapped: (account id, ids by (name, language))."""
    r = await shop.api.post("/accounts", json={"name": "Official", "engine": "cloud_api", **cloud_form(graph)})
    assert r.status_code == 201, r.text
    number = r.json()["id"]
    assert (await shop.api.post(f"/accounts/{number}/connect")).status_code == 200
    await eventually(lambda: shop.client.app.state.runtime.delivery.worker((shop.ws.id, number)))
    r = await form_post(shop.client, f"/w/{shop.slug}/templates/cloud/{number}/sync", {}, htmx=True)
    assert r.status_code == 200, r.text
    rows = await shop.ws.db.fetchall("SELECT name, language, id FROM cloud_templates WHERE account_id = ?", (number,))
    ids = {(name, language): cloud_id for name, language, cloud_id in rows}
    for key in (("order_update", "id"), ("order_update", "en_US")):  # {{2}} is left for the sender to fill
        r = await form_post(shop.client, f"/w/{shop.slug}/templates/cloud/t/{ids[key]}",
                            {"body.1": "{{first_name|Kak}}"}, htmx=True)
        assert r.status_code == 200, r.text
    return number, ids


def template_posts(graph: FakeGraphApi) -> list[dict]:
    return [r.json for r in graph.calls("POST", f"/{graph.phone_number_id}/messages")
            if r.json.get("type") == "template"]


async def outgoing(shop: Shop) -> int:
    return await shop.ws.db.fetchval("SELECT count(*) FROM messages WHERE direction = 'out'"
                                     " AND kind NOT IN ('note', 'event')")


# -- REST -----------------------------------------------------------------------------------------------------------


async def test_the_api_sends_a_meta_template_by_name_and_language_from_a_cloud_number(shop: Shop, graph):
    number, _ = await cloud_number(shop, graph)
    assert (await shop.api.post("/contacts", json={"phone": CUSTOMER, "name": "Rina Wati"})).status_code == 201
    body = {"to": CUSTOMER, "account_id": number,
            "template": {"name": "order_update", "language": "id", "variables": {"body.2": "#778"}}}
    r = await shop.api.post("/messages", json=body, headers={"Idempotency-Key": "order-778"})
    assert r.status_code == 202, r.text
    sent = await eventually(lambda: template_posts(graph))
    assert sent[0]["template"] == {"name": "order_update", "language": {"code": "id"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Rina"}, {"type": "text", "text": "#778"}]}]}
    message = (await shop.api.get(f"/messages/{r.json()['id']}")).json()
    assert message["kind"] == "template" and message["account_id"] == number
    assert message["text"] == "Halo Rina, pesanan #778 sudah dikirim.\n\nToko Sinar"
    again = await shop.api.post("/messages", json=body, headers={"Idempotency-Key": "order-778"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    # A variable given by name wins over the contact's own details.
    r = await shop.api.post("/messages", json={**body, "template": {**body["template"], "language": "en_US",
                                                                     "variables": {"first_name": "Bu Rina",
                                                                                   "body.2": "#9"}}})
    assert r.status_code == 202, r.text
    latest = await eventually(lambda: [p for p in template_posts(graph) if p["template"]["language"]["code"]
                                       == "en_US"])
    assert [p["text"] for p in latest[0]["template"]["components"][0]["parameters"]] == ["Bu Rina", "#9"]


@pytest.mark.parametrize("template, field, words", [
    ({"name": "order_update", "variables": {"body.2": "#1"}}, "template.language", "say which"),
    ({"name": "order_update", "language": "pt_BR"}, "template.language", "in pt_BR"),
    ({"name": "order_update", "language": "id"}, "params.body.2", "{{2}}"),
    ({"name": "order_update", "language": "id", "variables": {"body.9": "x"}}, "params.body.9", "no parameter"),
    ({"name": "draft_promo"}, "template_id", "not approved"),
])
async def test_a_meta_template_the_api_cannot_send_is_422_with_nothing_queued(shop: Shop, graph, template, field,
                                                                            words):
    number, _ = await cloud_number(shop, graph)
    r = await shop.api.post("/messages", json={"to": CUSTOMER, "account_id": number, "template": template})
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["details"] and words in r.json()["error"]["details"][field]
    assert await outgoing(shop) == 0 and template_posts(graph) == []


async def test_on_a_sandbox_number_a_template_name_is_one_of_ours(shop: Shop, graph):
    await cloud_number(shop, graph)
    r = await shop.api.post("/templates", json={"name": "order_update", "body": "Halo {{first_name|Kak}}!"})
    assert r.status_code == 201, r.text
    r = await shop.api.post("/messages", json={"to": CUSTOMER, "template": {"name": "order_update"}})
    assert r.status_code == 202, r.text
    out = await eventually(shop.delivered)
    assert (out[0]["kind"], out[0]["text"]) == ("text", "Halo Kak!")
    r = await shop.api.post("/messages", json={"to": CUSTOMER, "template": {"name": "order_update",
                                                                            "language": "id"}})
    assert r.status_code == 422 and "template.language" in r.json()["error"]["details"]
    assert template_posts(graph) == []


# -- the inbox composer ---------------------------------------------------------------------------------------------

CLOSED = "The customer last wrote more than 24 hours ago; WhatsApp only allows an approved template now."


async def cloud_chat(shop: Shop, graph: FakeGraphApi) -> tuple[int, dict[tuple[str, str], int]]:
    """A conversation on the Cloud API number with Rina, who never wrote (so its 24-hour window is closed)."""
    number, ids = await cloud_number(shop, graph)
    assert (await shop.api.post("/contacts", json={"phone": CUSTOMER, "name": "Rina Wati"})).status_code == 201
    r = await shop.api.post("/messages", json={"to": CUSTOMER, "account_id": number, "template": {
        "name": "order_update", "language": "id", "variables": {"body.2": "#1"}}})
    assert r.status_code == 202, r.text
    await eventually(lambda: template_posts(graph))
    return r.json()["conversation_id"], ids


def options_of(html: str) -> list[str]:
    select = re.search(r'<select id="composer-template-id".*?</select>', html, re.S)
    assert select, "no template choice in the composer"
    return re.findall(r'<option value="\d+"[^>]*>([^<]*)</option>', select.group(0))


async def test_a_closed_window_offers_the_approved_templates_and_a_sent_one_lands_in_the_thread(shop: Shop, graph):
    conv, ids = await cloud_chat(shop, graph)
    page = await shop.get(f"/{conv}")
    assert page.status_code == 200 and CLOSED in page.text
    assert options_of(page.text) == ["order_update · en_US", "order_update · id"]  # the PENDING draft is not offered
    form = re.search(r'<form class="composer-template.*?</form>', page.text, re.S).group(0)
    assert " hidden" not in form.split(">")[0], "shown at once while the window is closed"
    assert "Hi Rina, order {{2}} has shipped." in form and 'name="params.body.2"' in form
    r = await shop.get(f"/{conv}/template?template_id={ids[('order_update', 'id')]}")
    assert r.status_code == 200 and "Halo Rina, pesanan {{2}} sudah dikirim.\n\nToko Sinar" in r.text
    assert 'name="params.body.2"' in r.text and "example: #123" in r.text

    r = await shop.post(f"/{conv}/template", {"template_id": str(ids[("order_update", "id")]),
                                              "params.body.2": "#55"})
    assert r.status_code == 200, r.text
    line = re.search(r'<div class="bubble out" id="m(\d+)"[^>]*data-status="(\w+)"', r.text)
    assert line and line.group(2) in ("queued", "sending", "sent")  # the worker may be quicker than the answer
    assert "Halo Rina, pesanan #55 sudah dikirim." in r.text and 'class="ticks' in r.text
    message_id = int(line.group(1))
    await eventually(lambda: [p for p in template_posts(graph) if p["template"]["components"][0]["parameters"][1]
                              ["text"] == "#55"])
    await eventually(lambda: _status_is(shop, message_id, "sent"))
    assert await shop.ws.db.fetchval("SELECT author_id FROM messages WHERE id = ?", (message_id,)) == 1
    assert "template ·" in r.text
    # Meta refusing the parameters: the line says why in words and offers a retry.
    graph.fail("POST", f"/{graph.phone_number_id}/messages", code=132000,
               message="Number of parameters does not match the expected number of params")
    r = await shop.post(f"/{conv}/template", {"template_id": str(ids[("order_update", "id")]),
                                              "params.body.2": "#56"})
    failed = int(re.search(r'id="m(\d+)"', r.text).group(1))
    await eventually(lambda: _status_is(shop, failed, "failed"))
    line = (await shop.get(f"/{conv}/lines?ids={failed}")).text
    assert "Meta expected a different number of values" in line and "(Meta error 132000)" in line
    assert "/retry" in line


async def _status_is(shop: Shop, message_id: int, status: str) -> bool:
    return await shop.status(message_id) == status


async def test_the_template_send_refuses_bad_choices_and_others_chats_with_nothing_queued(shop: Shop, graph):
    conv, ids = await cloud_chat(shop, graph)
    before = await outgoing(shop)
    cases = [({"template_id": "999999"}, 404, "No such Cloud API template"),
             ({"template_id": str(ids[("draft_promo", "id")])}, 422, "not approved"),
             ({"template_id": str(ids[("order_update", "id")])}, 422, "{{2}}"),
             ({"template_id": ""}, 422, "Choose a template"),
             ({"template_id": str(ids[("order_update", "id")]), "params.body.2": "#1", "params.body.8": "x"}, 422,
              "no parameter")]
    for data, status, words in cases:
        r = await shop.post(f"/{conv}/template", data)
        assert r.status_code == status and words in r.text, (data, r.text)
    assert (await shop.get(f"/{conv}/template?template_id={ids[('draft_promo', 'id')]}")).status_code == 404
    # An agent limited to assigned chats cannot send into someone else's.
    budi = await agent_client(shop)
    await shop.post(f"/{conv}/assign", {"assignee": "me"})
    assert (await form_post(shop.client, f"/w/{shop.slug}/inbox/settings/", {"agents_assigned_only": "1"})
            ).status_code == 200
    data = {"template_id": str(ids[("order_update", "id")]), "params.body.2": "#2"}
    assert (await shop.post(f"/{conv}/template", data, client=budi)).status_code == 404
    assert (await shop.get(f"/{conv}/template?template_id={ids[('order_update', 'id')]}", client=budi)
            ).status_code == 404
    await budi.aclose()
    assert await outgoing(shop) == before


async def test_within_the_window_the_composer_is_as_usual_with_templates_behind_a_button(shop: Shop, graph):
    conv, _ = await cloud_chat(shop, graph)
    await shop.ws.db.execute_write("UPDATE conversations SET last_inbound_at = ? WHERE id = ?",
                                   (int(time.time()) - 60, conv))
    page = await shop.get(f"/{conv}")
    assert CLOSED not in page.text and 'data-window-closed="0"' in page.text
    form = re.search(r'<form class="composer-template[^>]*>', page.text).group(0)
    assert "hidden" in form and "data-template-toggle" in page.text
    # A sandbox conversation has no Meta templates at all.
    sandbox_conv = await shop.customer_writes("Halo", phone="+6281255500099")
    other = await shop.get(f"/{sandbox_conv}")
    assert "composer-template" not in other.text and "data-template-toggle" not in other.text
