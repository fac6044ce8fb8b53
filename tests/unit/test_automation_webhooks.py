"""Message events reach a real local webhook receiver: received, sent (through Blazz and from the phone itself) and
status (delivered, read, failed); automatic replies are messages like any other."""

from __future__ import annotations

import asyncio

from blazz import audit, auto_replies, outbox, webhooks
from blazz.whatsapp.events import Inbound
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.unit.test_ingest import message
from tests.unit.test_outbox_harness import customer, running, until

ME = audit.Actor(None, "test")
MESSAGE_EVENTS = ["message.received", "message.sent", "message.status"]


def events(receiver: WebhookReceiver) -> list[tuple[str, dict]]:
    return [(r.json["type"], r.json["data"]) for r in receiver.received]


def of_type(receiver: WebhookReceiver, name: str) -> list[dict]:
    return [data for kind, data in events(receiver) if kind == name]


async def subscribe(h, receiver: WebhookReceiver, events: list[str]):
    """Subscribe the receiver; a failed attempt (a busy machine) is retried at once, not after seconds."""
    h.rt.webhooks.retry_base_s = h.rt.webhooks.retry_cap_s = 0.05
    return await webhooks.create(h.ws, ME, receiver.url, events, allow_private=True)


async def test_an_inbound_message_and_its_automatic_answer_are_both_posted(tmp_path):
    with WebhookReceiver() as receiver:
        async with running(tmp_path) as h:
            hook, secret = await subscribe(h, receiver, MESSAGE_EVENTS)
            await h.engine.configure(receipt_delay_ms=20, read_delay_ms=60)
            await auto_replies.create(h.ws, ME, trigger="contains", pattern="harga", reply={"text": "Rp 10.000"})
            await h.engine.inbound(customer(1), "Harga kopi?", name="Budi")
            await until(lambda: len(of_type(receiver, "message.status")) >= 2, within=15)
            received = of_type(receiver, "message.received")
            assert len(received) == 1
            data = received[0]
            assert data["message"]["text"] == "Harga kopi?" and data["message"]["direction"] == "in"
            assert data["message"]["status"] == "received" and data["message"]["created_at"].endswith("Z")
            assert data["contact"] == {"id": data["contact"]["id"], "phone": customer(1), "name": "Budi",
                                       "is_group": False}
            [sent] = of_type(receiver, "message.sent")
            assert sent["message"]["text"] == "Rp 10.000" and sent["message"]["source"] == "automation"
            assert sent["message"]["status"] == "sent" and sent["contact"]["phone"] == customer(1)
            statuses = [(d["status"], d["message"]["id"]) for d in of_type(receiver, "message.status")]
            assert statuses[:2] == [("delivered", sent["message"]["id"]), ("read", sent["message"]["id"])]
            # No order between the two is promised: the auto-reply is queued before message.received is emitted
            # (DESIGN §5), and deliveries travel independently; receivers order by the message times.
            assert {kind for kind, _ in events(receiver)} >= {"message.received", "message.sent"}
            first = receiver.received[0]
            assert webhooks.verify(secret, first.header("Blazz-Timestamp"), first.body,
                                   first.header("Blazz-Signature"))
            assert hook.events == tuple(MESSAGE_EVENTS)


async def test_a_failed_send_is_a_status_event_and_phone_messages_are_sent_events(tmp_path):
    with WebhookReceiver() as receiver:
        async with running(tmp_path) as h:
            await subscribe(h, receiver, ["message.sent", "message.status"])
            await h.engine.configure(not_on_whatsapp=[customer(2)])
            failed = await outbox.send_text(h.ws, text="Halo", to=customer(2))
            await until(lambda: of_type(receiver, "message.status"))
            [status] = of_type(receiver, "message.status")
            assert status["status"] == "failed" and status["message"]["id"] == failed.id
            assert status["message"]["error"]
            # Typed on the phone itself: it joins the thread as sent, and subscribers hear of it.
            mine = message("3EB0PHONE1", "Sent from my phone", chat=customer(3), from_me=True)
            await h.rt.on_whatsapp_event(Inbound(h.key, mine))
            await until(lambda: of_type(receiver, "message.sent"))
            [phone] = of_type(receiver, "message.sent")
            assert phone["message"]["source"] == "phone" and phone["message"]["direction"] == "out"
            assert not of_type(receiver, "message.received")  # not subscribed


async def test_no_subscriber_means_no_event_rows(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(1), "Halo")
        sent = await outbox.send_text(h.ws, text="Halo juga", to=customer(1))
        await h.until_status(sent.id, "delivered", "read")
        await asyncio.sleep(0.1)
        assert await h.ws.db.fetchval("SELECT count(*) FROM webhook_events") == 0


async def test_a_burst_of_sends_is_one_event_per_message(tmp_path):
    with WebhookReceiver() as receiver:
        async with running(tmp_path) as h:
            await subscribe(h, receiver, ["message.sent"])
            queued = [await outbox.send_text(h.ws, text=f"Promo {n}", to=customer(10 + n)) for n in range(30)]
            await until(lambda: len(of_type(receiver, "message.sent")) == 30, within=20)
            assert sorted(d["message"]["id"] for d in of_type(receiver, "message.sent")) == [m.id for m in queued]


async def test_assigning_and_resolving_a_conversation_are_posted(tmp_path):
    from blazz import inbox
    with WebhookReceiver() as receiver:
        async with running(tmp_path) as h:
            await subscribe(h, receiver, ["conversation.assigned", "conversation.resolved"])
            await h.engine.inbound(customer(1), "Halo", name="Budi")
            conv_id = await until(lambda: h.ws.db.fetchval("SELECT id FROM conversations"))
            owner = inbox.Agent(1, "Sari", "owner")
            await inbox.assign(h.ws, owner, conv_id, 1, {1: "Sari"})
            await inbox.set_status(h.ws, owner, conv_id, "pending")  # not an event
            await inbox.set_status(h.ws, owner, conv_id, "resolved")
            await until(lambda: len(receiver.received) == 2)
            [(first, assigned), (second, resolved)] = events(receiver)
            assert first == "conversation.assigned" and second == "conversation.resolved"
            assert assigned["conversation"]["assignee_id"] == 1 and assigned["previous_assignee_id"] is None
            assert assigned["by"] == {"user_id": 1, "name": "Sari"}
            assert assigned["conversation"]["contact"]["phone"] == customer(1)
            assert resolved["conversation"]["status"] == "resolved" and resolved["conversation"]["resolved_at"]
