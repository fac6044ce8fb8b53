"""Meta templates through the outbox: a Cloud API number (against the real local fake of the Graph API) sends the
approved template with its parameters, Meta's refusals read in words, bad choices are refused with nothing queued,
campaigns queue templates, other engines get the text, and a crash mid-send is settled as for any message."""

from __future__ import annotations

import time

import pytest

from blazz import accounts, cloud_templates, contacts, custom_fields, outbox
from blazz.delivery.worker import RECOVERED_UNKNOWN
from blazz.errors import Invalid, NotFound
from blazz.outbox import CampaignItem
from blazz.store import messages as messages_store
from blazz.store import outbox as outbox_store
from blazz.store import templates as templates_store
from blazz.store.templates import SyncedTemplate
from tests.fakes.graph_api import FakeGraphApi
from tests.unit.test_outbox_harness import customer, running, until
from tests.unit.test_templates_cloud import ORDER, PROMO, cloud_number

THANKS = {"name": "thanks", "language": "en_US", "category": "UTILITY", "status": "APPROVED", "id": "444",
          "components": [{"type": "BODY", "text": "Thank you {{1}}, your code is {{2}}.",
                          "example": {"body_text": [["Budi", "X1"]]}}]}


@pytest.fixture
def graph():
    with FakeGraphApi() as fake:
        fake.templates.extend([ORDER, PROMO, THANKS])
        yield fake


async def ready(h, graph: FakeGraphApi) -> tuple[int, dict[str, int]]:
    """A connected Cloud API number with its templates synced and order_update mapped; (number, ids by name)."""
    number = await cloud_number(h, graph)
    await until(lambda: h.rt.delivery.worker((h.ws.id, number)) is not None)
    await cloud_templates.sync(h.ws, number)
    await custom_fields.create_field(h.ws, "Order no", "text", key="order_no")
    ids = {t.name: t.id for t in await cloud_templates.list_for(h.ws, number)}
    await cloud_templates.set_mapping(h.ws, ids["order_update"], {
        "header.1": "{{order_no}}", "body.1": "{{first_name|Kak}}", "body.2": "{{order_no}}"})
    await cloud_templates.set_mapping(h.ws, ids["thanks"], {"body.1": "{{first_name|Kak}}"})  # {{2}} unmapped
    return number, ids


async def a_contact(h, n: int, name: str = "Sari Wulan", order_no: str = "#778") -> int:
    contact, _ = await contacts.create(h.ws, {"phone": customer(n), "name": name, "fields": {"order_no": order_no}})
    return contact.id


def template_posts(graph: FakeGraphApi) -> list[dict]:
    return [r.json for r in graph.calls("POST", f"/{graph.phone_number_id}/messages")
            if r.json.get("type") == "template"]


async def nothing_queued(h) -> bool:
    return await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE direction = 'out'") == 0 \
        and await outbox_store.counts(h.ws.db) == {}


async def test_a_template_reaches_meta_with_its_name_language_and_parameters(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number, ids = await ready(h, graph)
        contact_id = await a_contact(h, 1)
        message = await outbox.send_template(h.ws, template_id=ids["order_update"], to=contact_id)
        assert (message.kind, message.status, message.account_id) == ("template", "queued", number)
        # The thread keeps what the customer reads: header, body and footer filled for them.
        assert message.body == "Pesanan #778\nHalo Sari, pesanan #778 sudah dikirim.\n\nToko Sinar"
        assert message.meta["template"]["name"] == "order_update"
        assert message.meta["template"]["body_params"] == ["Sari", "#778"]
        await h.until_status(message.id, "sent")
        [sent] = template_posts(graph)
        assert sent["to"] == customer(1).lstrip("+")
        assert sent["template"] == {"name": "order_update", "language": {"code": "id"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "#778"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Sari"}, {"type": "text", "text": "#778"}]}]}
        stored = await messages_store.get(h.ws.db, message.id)
        assert stored.provider_id and stored.provider_id.startswith("wamid.")

        # Given values win: a variable by name, a parameter without a mapping by its key.
        again = await outbox.send_template(h.ws, template_id=ids["thanks"], conversation_id=message.conversation_id,
                                           values={"first_name": "Bu Sari", "body.2": "  K-42 "})
        assert again.conversation_id == message.conversation_id
        assert again.body == "Thank you Bu Sari, your code is K-42."
        await h.until_status(again.id, "sent")
        assert template_posts(graph)[-1]["template"]["components"] == [
            {"type": "body", "parameters": [{"type": "text", "text": "Bu Sari"}, {"type": "text", "text": "K-42"}]}]

        # A phone nobody has yet: its variables are empty, so fallbacks apply; it becomes a contact.
        fresh = await outbox.send_template(h.ws, template_id=ids["thanks"], to=customer(4), values={"body.2": "Z9"})
        assert fresh.body == "Thank you Kak, your code is Z9."
        assert await h.ws.db.fetchval("SELECT count(*) FROM contacts WHERE phone = ?", (customer(4),)) == 1


async def test_a_parameter_mismatch_from_meta_fails_the_message_with_a_clear_reason(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        _, ids = await ready(h, graph)
        contact_id = await a_contact(h, 2)
        graph.fail("POST", f"/{graph.phone_number_id}/messages", code=132000,
                   message="Number of parameters does not match the expected number of params")
        message = await outbox.send_template(h.ws, template_id=ids["order_update"], to=contact_id)
        await h.until_status(message.id, "failed")
        stored = await messages_store.get(h.ws.db, message.id)
        assert stored.error.startswith("Meta expected a different number of values for this template")
        assert stored.error.endswith("(Meta error 132000)")
        assert len(graph.calls("POST", f"/{graph.phone_number_id}/messages")) == 1  # final: not retried


async def test_unknown_unapproved_and_other_numbers_templates_are_refused_with_nothing_queued(tmp_path, graph):
    async with running(tmp_path) as h:
        number, ids = await ready(h, graph)
        contact_id = await a_contact(h, 3)
        with pytest.raises(NotFound):
            await outbox.send_template(h.ws, template_id=999999, to=contact_id)
        with pytest.raises(Invalid) as err:
            await outbox.send_template(h.ws, template_id=ids["promo_named"], to=contact_id)  # PENDING at Meta
        assert err.value.field == "template_id" and "not approved" in err.value.message
        # A template of another Cloud API number, from this one or into this one's conversation.
        with FakeGraphApi(phone_number_id="200000000000001", waba_id="200000000000002") as other_graph:
            other = await cloud_number(h, other_graph, connect=False)
        theirs = await h.ws.db.execute_write_fn(lambda conn: templates_store.cloud_upsert(
            conn, other, SyncedTemplate("555", "hello", "id", "UTILITY", "APPROVED",
                                        [{"type": "BODY", "text": "Halo!"}], "POSITIONAL"), int(time.time())))
        with pytest.raises(Invalid) as err:
            await outbox.send_template(h.ws, template_id=theirs, to=contact_id, account_id=number)
        assert err.value.field == "template_id" and "another of your WhatsApp numbers" in err.value.message
        sandbox_chat = await outbox.send_text(h.ws, to=contact_id, account_id=h.account_id, text="hi")
        await h.ws.db.execute_write("DELETE FROM outbox")
        await h.ws.db.execute_write("DELETE FROM messages")
        with pytest.raises(Invalid) as err:
            await outbox.send_template(h.ws, template_id=ids["order_update"],
                                       conversation_id=sandbox_chat.conversation_id)
        assert err.value.field == "template_id"
        # A parameter nobody filled, or one the template does not have.
        with pytest.raises(Invalid) as err:
            await outbox.send_template(h.ws, template_id=ids["thanks"], to=contact_id)
        assert err.value.field == "params.body.2" and "{{2}}" in err.value.message
        with pytest.raises(Invalid) as err:
            await outbox.send_template(h.ws, template_id=ids["thanks"], to=contact_id, values={"body.7": "x"})
        assert err.value.field == "params.body.7"
        await h.ws.db.execute_write("UPDATE cloud_templates SET removed_at = 1 WHERE id = ?", (ids["order_update"],))
        with pytest.raises(NotFound):
            await outbox.send_template(h.ws, template_id=ids["order_update"], to=contact_id)
        assert await nothing_queued(h)
        assert template_posts(graph) == []


async def test_campaign_items_with_templates_are_queued_and_sent_and_other_engines_get_the_text(tmp_path, graph):
    async with running(tmp_path) as h:
        number, ids = await ready(h, graph)
        order = await cloud_templates.get(h.ws, ids["order_update"])
        people = [await a_contact(h, 10 + i, name, no) for i, (name, no) in
                  enumerate([("Sari", "#1"), ("Budi", "#2")])]
        items = []
        for contact_id, (name, no) in zip(people, [("Sari", "#1"), ("Budi", "#2")], strict=True):
            values = {"first_name": name, "order_no": no}
            items.append(CampaignItem(contact_id, text=cloud_templates.text_for(order, values, header=True),
                                      account_id=number, template=cloud_templates.call_for(order, values)))
        # The sandbox number has no Meta templates: the same item goes out there as its text.
        items.append(CampaignItem(people[0], text="Pesanan #1\nHalo Sari, pesanan #1 sudah dikirim.",
                                  account_id=h.account_id, template=cloud_templates.call_for(
                                      order, {"first_name": "Sari", "order_no": "#1"})))
        result = await outbox.enqueue_many(h.ws, items, campaign_id=5)
        assert len(result.queued) == 2 and result.skipped == [(people[0], "Already queued for this campaign.")]
        local = await outbox.enqueue_many(h.ws, items[2:], campaign_id=6)
        queued = [m for _, m in result.queued]
        for message_id in [*queued, local.queued[0][1]]:
            await h.until_status(message_id, "sent", "delivered")
        stored = await messages_store.by_ids(h.ws.db, queued)
        assert {m.kind for m in stored} == {"template"} and {m.source for m in stored} == {"campaign"}
        assert stored[1].body == "Pesanan #2\nHalo Budi, pesanan #2 sudah dikirim.\n\nToko Sinar"
        posts = template_posts(graph)
        assert sorted(p["template"]["components"][1]["parameters"][0]["text"] for p in posts) == ["Budi", "Sari"]
        assert {p["template"]["name"] for p in posts} == {"order_update"}
        [text] = h.delivered(customer(10))
        assert (text["kind"], text["text"]) == ("text", "Pesanan #1\nHalo Sari, pesanan #1 sudah dikirim.")


async def test_a_template_left_sending_by_a_crash_is_settled_as_any_message(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number, ids = await ready(h, graph)
        contact_id = await a_contact(h, 20)
        await accounts.disconnect(h.ws, number)
        await until(lambda: h.rt.delivery.worker((h.ws.id, number)) is None)
        cloud = await outbox.send_template(h.ws, template_id=ids["order_update"], to=contact_id)
        order = await cloud_templates.get(h.ws, ids["order_update"])
        values = {"first_name": "Sari", "order_no": "#9"}
        local = (await outbox.enqueue_many(h.ws, [CampaignItem(
            contact_id, text="Halo Sari", account_id=h.account_id,
            template=cloud_templates.call_for(order, values))], campaign_id=1)).queued[0][1]

        def crash_mid_send(conn):  # what a killed worker leaves: claimed, maybe sent, nothing recorded
            return [*outbox_store.claim(conn, number, (0, 1, 2), 10, time.time()),
                    *outbox_store.claim(conn, h.account_id, (0, 1, 2), 10, time.time())]

        claimed = await h.ws.db.execute_write_fn(crash_mid_send)
        assert [outbox.template_of(e.meta).name for e in claimed] == ["order_update", "order_update"]
        # Meta does not honour our id, so a resend could be a second message: it fails in words instead.
        await accounts.connect(h.ws, number)
        await h.until_status(cloud.id, "failed")
        assert (await messages_store.get(h.ws.db, cloud.id)).error == RECOVERED_UNKNOWN
        # The sandbox honours it: resent once under the same id.
        provider_msg_id = await h.ws.db.fetchval("SELECT provider_msg_id FROM outbox WHERE message_id = ?", (local,))
        await h.connect()
        await h.until_status(local, "sent", "delivered")
        assert [d["provider_id"] for d in h.delivered()] == [provider_msg_id]
        assert template_posts(graph) == []
