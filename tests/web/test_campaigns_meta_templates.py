"""Meta's templates in campaigns, through the front door: a Cloud API number talking to the real local fake of the
Graph API, its templates synced and mapped on the Templates page, campaigns created through the API and composed in
the wizard. Each recipient gets the template with their own values; one whose values leave a parameter empty is
skipped with that reason; Meta's 132000 reads as a clear reason; launch refuses a template Meta has not approved or
one with a parameter nobody mapped, naming it."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import form_post
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_accounts_page import cloud_form
from tests.web.test_api_accounts import Api
from tests.web.test_api_base import make_token
from tests.web.test_campaigns import new_campaign, step

PROMO = {"name": "promo_lebaran", "language": "id", "category": "MARKETING", "status": "APPROVED", "id": "201",
         "components": [{"type": "BODY", "text": "Halo {{1}}, diskon {{2}} untuk Anda.",
                         "example": {"body_text": [["Budi", "20%"]]}},
                        {"type": "FOOTER", "text": "Toko Sinar"}]}
UNMAPPED = {"name": "order_update", "language": "id", "category": "UTILITY", "status": "APPROVED", "id": "202",
            "components": [{"type": "BODY", "text": "Pesanan {{1}} untuk {{2}} dikirim.",
                            "example": {"body_text": [["#1", "Budi"]]}}]}
PENDING = {"name": "draft_promo", "language": "id", "category": "MARKETING", "status": "PENDING", "id": "203",
           "components": [{"type": "BODY", "text": "Promo!"}]}
MISMATCH = "Number of parameters does not match the expected number"


@pytest.fixture
def graph():
    with FakeGraphApi() as fake:
        fake.templates.extend([PROMO, UNMAPPED, PENDING])
        yield fake


@pytest.fixture
async def api(client, owner) -> Api:
    return Api(client, await make_token(client, owner.slug, "admin"))


async def eventually(check, within: float = 15.0):
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
    return result


async def cloud_shop(client, owner, api: Api, graph: FakeGraphApi) -> tuple[int, dict[str, int]]:
    """The Cloud API number, connected, its templates synced and PROMO mapped; three customers, one without a
    name. Returns (account id, cloud template ids by name)."""
    r = await api.post("/accounts", json={"name": "Official", "engine": "cloud_api", **cloud_form(graph)})
    assert r.status_code == 201, r.text
    number = r.json()["id"]
    assert (await api.post(f"/accounts/{number}/connect")).status_code == 200
    runtime = client.app.state.runtime
    ws = await runtime.workspace_by_slug(owner.slug)

    async def worker():
        return runtime.delivery.worker((ws.id, number))
    await eventually(worker)
    r = await form_post(client, f"/w/{owner.slug}/templates/cloud/{number}/sync", {}, htmx=True)
    assert r.status_code == 200, r.text
    rows = await ws.db.fetchall("SELECT name, id FROM cloud_templates WHERE account_id = ?", (number,))
    ids = {name: cloud_id for name, cloud_id in rows}
    r = await form_post(client, f"/w/{owner.slug}/templates/cloud/t/{ids['promo_lebaran']}",
                        {"body.1": "{{first_name}}", "body.2": "20%"}, htmx=True)
    assert r.status_code == 200, r.text
    for phone, name in (("+6281200000001", "Rina Wati"), ("+6281200000002", "Budi Santoso"),
                        ("+6281200000003", "")):
        r = await api.post("/contacts", json={"phone": phone, "name": name, "groups": ["Pelanggan"]})
        assert r.status_code == 201, r.text
    return number, ids


def template_posts(graph: FakeGraphApi) -> list[dict]:
    return [r.json for r in graph.calls("POST", f"/{graph.phone_number_id}/messages")
            if r.json.get("type") == "template"]


async def test_a_campaign_sends_the_meta_template_with_each_recipients_values(client, owner, api, graph):
    number, ids = await cloud_shop(client, owner, api, graph)
    r = await api.post("/campaigns", json={"name": "Lebaran", "account_id": number, "audience": {"all": True},
                                           "cloud_template_id": ids["promo_lebaran"]})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["cloud_template_id"] == ids["promo_lebaran"] and c["text"] is None
    # Meta answers the first send with its parameter-mismatch error.
    graph.fail("POST", f"/{graph.phone_number_id}/messages", code=132000, message=MISMATCH)
    r = await api.post(f"/campaigns/{c['id']}/start")
    assert r.status_code == 200, r.text

    async def completed():
        got = (await api.get(f"/campaigns/{c['id']}")).json()
        return got if got["status"] == "completed" else None
    done = await eventually(completed)
    assert done["counts"]["sent"] == 1 and done["counts"]["failed"] == 1 and done["counts"]["skipped"] == 1
    posts = template_posts(graph)
    assert posts[-1]["template"]["name"] == "promo_lebaran" and posts[-1]["template"]["language"] == {"code": "id"}
    names = {p["template"]["components"][0]["parameters"][0]["text"] for p in posts}
    assert names == {"Rina", "Budi"}
    assert all(p["template"]["components"][0]["parameters"][1]["text"] == "20%" for p in posts)
    rows = {x["phone"]: x for x in (await api.get(f"/campaigns/{c['id']}/recipients")).json()["data"]}
    assert rows["+6281200000003"]["status"] == "skipped" and "would be empty" in rows["+6281200000003"]["reason"]
    failed = next(x for x in rows.values() if x["status"] == "failed")
    assert "different number of values" in failed["reason"] and "Meta error 132000" in failed["reason"]
    # The conversation keeps the template as the customer read it.
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    texts = {t for (t,) in await ws.db.fetchall("SELECT body FROM messages WHERE campaign_id = ? AND status != "
                                                "'failed'", (c["id"],))}
    assert len(texts) == 1 and texts <= {"Halo Rina, diskon 20% untuk Anda.\n\nToko Sinar",
                                         "Halo Budi, diskon 20% untuk Anda.\n\nToko Sinar"}


async def test_launch_refuses_a_template_meta_has_not_approved_or_one_with_an_unmapped_parameter(client, owner, api,
                                                                                              graph):
    number, ids = await cloud_shop(client, owner, api, graph)
    base = {"name": "x", "account_id": number, "audience": {"all": True}}
    for name, words in (("draft_promo", "has not approved the template draft_promo"),
                        ("order_update", "{{1}}, {{2}} of the template order_update")):
        c = (await api.post("/campaigns", json={**base, "cloud_template_id": ids[name]})).json()
        r = await api.post(f"/campaigns/{c['id']}/start")
        assert r.status_code == 422 and words in r.json()["error"]["message"], r.text
        assert "message.cloud_template_id" in r.json()["error"]["details"]
        got = (await api.get(f"/campaigns/{c['id']}")).json()
        assert got["status"] == "draft" and got["counts"]["total"] == 0
    assert template_posts(graph) == []
    # Refused at once: an unknown template, one mixed with text, and a Meta template on a sandbox number.
    r = await api.post("/campaigns", json={**base, "cloud_template_id": 999})
    assert r.status_code == 422 and "cloud_template_id" in r.json()["error"]["details"]
    r = await api.post("/campaigns", json={**base, "cloud_template_id": ids["promo_lebaran"], "text": "Halo"})
    assert r.status_code == 422 and "cloud_template_id" in r.json()["error"]["details"]
    sandbox = (await api.post("/accounts", json={"name": "Shop", "engine": "sandbox"})).json()["id"]
    r = await api.post("/campaigns", json={**base, "account_id": sandbox, "cloud_template_id": ids["promo_lebaran"]})
    assert r.status_code == 422 and "Cloud API numbers" in r.json()["error"]["message"]


async def test_the_wizard_offers_the_numbers_approved_templates_and_previews_them_for_a_contact(client, owner, api,
                                                                                             graph):
    number, ids = await cloud_shop(client, owner, api, graph)
    slug = owner.slug
    cid = await new_campaign(client, slug)
    await step(client, slug, cid, "account", {"account_id": str(number)})
    page = await client.get(f"/w/{slug}/campaigns/{cid}/edit/message")
    assert "data-cloud-templates" in page.text and 'value="cloud"' in page.text
    assert "promo_lebaran (id)" in page.text and "order_update (id)" in page.text
    assert "draft_promo" not in page.text  # not approved by Meta: not offered
    rina = (await api.get("/contacts?q=Rina")).json()["data"][0]["id"]
    r = await form_post(client, f"/w/{slug}/campaigns/{cid}/preview",
                        {"kind": "cloud", "cloud_template_id": str(ids["promo_lebaran"]), "contact_id": str(rina)},
                        htmx=True)
    assert "Halo Rina, diskon 20% untuk Anda." in r.text and "As Rina Wati would get it" in r.text
    assert "data-cloud-problem" not in r.text
    r = await form_post(client, f"/w/{slug}/campaigns/{cid}/preview",
                        {"kind": "cloud", "cloud_template_id": str(ids["order_update"])}, htmx=True)
    assert "data-cloud-problem" in r.text and "{{1}}, {{2}}" in r.text
    r = await step(client, slug, cid, "message", {"kind": "cloud", "cloud_template_id": str(ids["order_update"])})
    assert r.headers["hx-redirect"].endswith("/edit/audience")
    await step(client, slug, cid, "audience", {"who": "all"})
    review = await client.get(f"/w/{slug}/campaigns/{cid}/edit/review")
    assert "Before launching" in review.text and "order_update" in review.text
    r = await form_post(client, f"/w/{slug}/campaigns/{cid}/launch", {}, htmx=True)
    assert r.status_code == 422 and "data-launch-error" in r.text and "{{1}}, {{2}}" in r.text
    await step(client, slug, cid, "message", {"kind": "cloud", "cloud_template_id": str(ids["promo_lebaran"])})
    review = await client.get(f"/w/{slug}/campaigns/{cid}/edit/review")
    assert "Before launching" not in review.text and "Meta template promo_lebaran (id)" in review.text
    # The first recipient of the audience: Rina, with her own name in the template.
    assert "As Rina Wati would get it" in review.text and "Halo Rina, diskon 20% untuk Anda." in review.text
    # A sandbox number has no Meta templates to offer.
    sandbox = (await api.post("/accounts", json={"name": "Shop", "engine": "sandbox"})).json()["id"]
    other = await new_campaign(client, slug, "Biasa")
    await step(client, slug, other, "account", {"account_id": str(sandbox)})
    page = await client.get(f"/w/{slug}/campaigns/{other}/edit/message")
    assert "data-cloud-templates" not in page.text and 'value="cloud"' not in page.text
