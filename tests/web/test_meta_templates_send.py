"""Meta templates sent through the front door: the REST API by name (and language), and the inbox composer of a
Cloud API conversation whose 24-hour window closed. The app is real, the Cloud API number talks to the real local
fake of the Graph API, and the sandbox number stays the workspace's default."""

from __future__ import annotations

import pytest

from tests.conftest import form_post
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_accounts_page import cloud_form
from tests.web.test_inbox import CUSTOMER, Shop, eventually
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
    return await shop.ws.db.fetchval("SELECT count(*) FROM messages WHERE direction = 'out'")


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
