"""The outbox and its delivery workers against the real runtime and the sandbox engine."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from blazz import accounts, outbox, pacing
from blazz.errors import Conflict, Invalid, NotFound
from blazz.outbox import CampaignItem, OptedOut
from blazz.store import contacts as contacts_store
from blazz.store import conversations as conversations_store
from blazz.store import messages as messages_store
from blazz.store import outbox as outbox_store
from blazz.whatsapp.events import Receipt
from tests.unit.test_outbox_harness import customer, running, until


async def contact_id_of(h, phone: str) -> int:
    return await h.ws.db.fetchval("SELECT id FROM contacts WHERE phone = ?", (phone,))


async def test_a_send_is_queued_at_once_then_sent_then_delivered(tmp_path):
    async with running(tmp_path) as h:
        message = await outbox.send_text(h.ws, to=customer(1), text="Halo, pesanan Anda siap")
        assert message.status == "queued" and message.direction == "out" and message.source == "agent"
        await h.until_status(message.id, "delivered")
        sent = h.delivered(customer(1))
        assert [d["text"] for d in sent] == ["Halo, pesanan Anda siap"]
        stored = await messages_store.get(h.ws.db, message.id)
        assert stored.provider_id == sent[0]["provider_id"] and stored.sent_at and stored.delivered_at
        assert await outbox_store.counts(h.ws.db) == {}  # a sent entry leaves the outbox


async def test_a_phone_typed_in_national_format_uses_the_workspace_region(tmp_path):
    async with running(tmp_path) as h:
        from blazz import workspace_settings

        await workspace_settings.update(h.ws.db, default_region="ID")
        message = await outbox.send_text(h.ws, to="0812-0000-0007", text="Halo")
        await h.until_status(message.id, "sent", "delivered")
        assert h.delivered(customer(7))
        contact = await contacts_store.by_phone(h.ws.db, customer(7))
        conv = await conversations_store.get(h.ws.db, message.conversation_id)
        assert conv.contact_id == contact.id and conv.account_id == h.account_id
        assert conv.last_preview == "Halo"


async def test_a_contact_id_or_a_conversation_can_be_the_target(tmp_path):
    async with running(tmp_path) as h:
        first = await outbox.send_text(h.ws, to=customer(2), text="one")
        contact_id = await contact_id_of(h, customer(2))
        second = await outbox.send_text(h.ws, to=contact_id, text="two")
        third = await outbox.send_text(h.ws, conversation_id=first.conversation_id, text="three")
        assert first.conversation_id == second.conversation_id == third.conversation_id
        await h.until_status(third.id, "sent", "delivered")
        assert [d["text"] for d in h.delivered(customer(2))] == ["one", "two", "three"]


async def test_bad_targets_and_texts_are_refused_before_anything_is_stored(tmp_path):
    async with running(tmp_path) as h:
        with pytest.raises(Invalid) as exc:
            await outbox.send_text(h.ws, to="not a phone", text="x")
        assert exc.value.field == "to"
        with pytest.raises(Invalid):
            await outbox.send_text(h.ws, to=customer(3), text="   ")
        with pytest.raises(Invalid) as exc:
            await outbox.send_text(h.ws, to=customer(3), text="x" * 4097)
        assert "4,096" in exc.value.message
        with pytest.raises(NotFound):
            await outbox.send_text(h.ws, to=999, text="x")
        with pytest.raises(NotFound):
            await outbox.send_text(h.ws, conversation_id=999, text="x")
        with pytest.raises(NotFound):
            await outbox.send_text(h.ws, to=customer(3), account_id=999, text="x")
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 0


async def test_a_number_not_on_whatsapp_fails_once_with_that_reason(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.configure(not_on_whatsapp=[customer(4)])
        message = await outbox.send_text(h.ws, to=customer(4), text="Halo")
        await h.until_status(message.id, "failed")
        stored = await messages_store.get(h.ws.db, message.id)
        assert stored.error == "This number is not on WhatsApp"
        entry = await h.ws.db.fetchone("SELECT state, attempts FROM outbox WHERE message_id = ?", (message.id,))
        assert tuple(entry) == ("failed", 1)  # not retried
        await asyncio.sleep(0.4)  # longer than every retry delay of this harness
        assert (await h.ws.db.fetchone("SELECT attempts FROM outbox WHERE message_id = ?", (message.id,)))[0] == 1


async def test_a_failing_send_is_retried_with_backoff_then_failed_in_plain_words(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.configure(fail_rate=1.0)
        message = await outbox.send_text(h.ws, to=customer(5), text="Halo")
        await h.until_status(message.id, "failed", within=10)
        stored = await messages_store.get(h.ws.db, message.id)
        assert stored.error == "Simulated network failure while sending. (gave up after 4 attempts)"
        entry = await h.ws.db.fetchone("SELECT state, attempts FROM outbox WHERE message_id = ?", (message.id,))
        assert tuple(entry) == ("failed", 4)  # the first try and three retries (30 s, 60 s, 120 s in production)
        await h.engine.configure(fail_rate=0.0)
        again = await outbox.retry(h.ws, message.id)
        assert again.status == "queued"
        await h.until_status(message.id, "sent", "delivered")
        assert len(h.delivered(customer(5))) == 1
        with pytest.raises(Conflict):
            await outbox.retry(h.ws, message.id)  # only failed messages


async def test_a_retry_is_scheduled_after_the_backoff_delay(tmp_path):
    async with running(tmp_path, retry_delays=(5.0, 5.0, 5.0)) as h:
        await h.engine.configure(fail_rate=1.0)
        message = await outbox.send_text(h.ws, to=customer(6), text="Halo")
        await until(lambda: h.ws.db.fetchval("SELECT last_error FROM outbox WHERE message_id = ?", (message.id,)))
        entry = await h.ws.db.fetchone("SELECT state, next_attempt_at, last_error FROM outbox WHERE message_id = ?",
                                       (message.id,))
        assert entry["state"] == "pending" and entry["next_attempt_at"] > time.time() + 3
        assert entry["last_error"] == "Simulated network failure while sending."
        assert await h.status(message.id) == "queued"


async def test_an_opted_out_contact_is_refused_with_a_clear_error(tmp_path):
    async with running(tmp_path) as h:
        first = await outbox.send_text(h.ws, to=customer(8), text="Halo")
        await h.until_status(first.id, "sent", "delivered")
        contact_id = await contact_id_of(h, customer(8))
        await h.ws.db.execute_write("UPDATE contacts SET opted_out_at = 1 WHERE id = ?", (contact_id,))
        with pytest.raises(OptedOut) as exc:
            await outbox.send_text(h.ws, to=customer(8), text="Promo!")
        assert exc.value.status == 409 and "opted out" in exc.value.message
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 1


async def test_an_idempotency_key_returns_the_first_message_and_refuses_other_content(tmp_path):
    async with running(tmp_path) as h:
        first = await outbox.send_text(h.ws, to=customer(9), text="Halo", source="api", idempotency_key="k-1")
        again = await outbox.send_text(h.ws, to=customer(9), text="Halo", source="api", idempotency_key="k-1")
        assert again.id == first.id
        with pytest.raises(Conflict):
            await outbox.send_text(h.ws, to=customer(9), text="Other", source="api", idempotency_key="k-1")
        await h.until_status(first.id, "sent", "delivered")
        await asyncio.sleep(0.1)
        assert len(h.delivered(customer(9))) == 1
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 1


async def test_nothing_is_attempted_while_disconnected_and_it_resumes_on_reconnect(tmp_path):
    async with running(tmp_path) as h:
        await h.disconnect()
        message = await outbox.send_text(h.ws, to=customer(10), text="Sent while offline")
        await asyncio.sleep(0.3)
        assert h.delivered() == []
        entry = await h.ws.db.fetchone("SELECT state, attempts FROM outbox WHERE message_id = ?", (message.id,))
        assert tuple(entry) == ("pending", 0)
        await h.connect()
        await h.until_status(message.id, "sent", "delivered")
        assert [d["text"] for d in h.delivered()] == ["Sent while offline"]


async def test_receipts_only_move_a_message_forward(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.configure(receipt_delay_ms=-1)  # no automatic receipts: this test sends them
        message = await outbox.send_text(h.ws, to=customer(11), text="Halo")
        await h.until_status(message.id, "sent")
        provider_id = (await messages_store.get(h.ws.db, message.id)).provider_id
        await h.rt.on_whatsapp_event(Receipt(h.key, (provider_id,), "read", time.time()))
        assert await h.status(message.id) == "read"
        await h.rt.on_whatsapp_event(Receipt(h.key, (provider_id,), "delivered", time.time()))  # late
        stored = await messages_store.get(h.ws.db, message.id)
        assert stored.status == "read" and stored.read_at and stored.delivered_at  # read implies delivered
        await h.rt.on_whatsapp_event(Receipt(h.key, (provider_id,), "failed", time.time(), error="x"))
        assert await h.status(message.id) == "read"


async def test_a_receipt_for_an_unknown_id_is_ignored_and_logged(tmp_path, caplog):
    async with running(tmp_path) as h:
        caplog.set_level(logging.INFO, logger="blazz.delivery")
        await h.rt.on_whatsapp_event(Receipt(h.key, ("3EB0NOSUCHID",), "delivered", time.time()))
        assert "unknown message id" in caplog.text and "3EB0NOSUCHID" in caplog.text
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 0


async def test_receipts_publish_status_events_for_live_ticks(tmp_path):
    async with running(tmp_path) as h:
        with h.ws.bus.subscribe(h.ws.id) as sub:
            message = await outbox.send_text(h.ws, to=customer(12), text="Halo")
            await h.until_status(message.id, "delivered")
            names = []
            while (event := await sub.next(0.05)) is not None:
                names.append((event.name, event.data.get("status")))
                if event.name == "message.status":
                    assert message.id in event.data["message_ids"]
                    assert event.data["conversation_ids"] == [message.conversation_id]
        assert ("message.new", None) in names
        assert ("message.status", "sent") in names and ("message.status", "delivered") in names


async def test_a_campaign_queues_each_contact_once_and_skips_opted_out_ones(tmp_path):
    async with running(tmp_path) as h:
        ids = []
        for n in range(20, 25):
            first = await outbox.send_text(h.ws, to=customer(n), text="hi")
            await h.until_status(first.id, "sent", "delivered")
            ids.append(await contact_id_of(h, customer(n)))
        await h.ws.db.execute_write("UPDATE contacts SET opted_out_at = 1 WHERE id = ?", (ids[0],))
        items = [CampaignItem(contact_id=c, text="Promo 10%") for c in [*ids, 4242]]
        result = await outbox.enqueue_many(h.ws, items, campaign_id=7)
        assert [c for c, _ in result.queued] == ids[1:]
        assert dict(result.skipped) == {ids[0]: "The contact opted out.", 4242: "The contact no longer exists."}
        again = await outbox.enqueue_many(h.ws, items, campaign_id=7)
        assert again.queued == [] and dict(again.skipped)[ids[1]] == "Already queued for this campaign."
        for _, message_id in result.queued:
            await h.until_status(message_id, "sent", "delivered")
        promos = [d for d in h.delivered() if d["text"] == "Promo 10%"]
        assert sorted(d["to"] for d in promos) == sorted(customer(n) for n in range(21, 25))
        stored = await messages_store.get(h.ws.db, result.queued[0][1])
        assert stored.source == "campaign" and stored.campaign_id == 7


async def test_cancel_withdraws_queued_campaign_messages(tmp_path):
    async with running(tmp_path) as h:
        await h.disconnect()  # keeps everything queued
        contact_ids = []
        for n in range(30, 33):
            await outbox.send_text(h.ws, to=customer(n), text="hi")
            contact_ids.append(await contact_id_of(h, customer(n)))
        result = await outbox.enqueue_many(h.ws, [CampaignItem(c, "Promo") for c in contact_ids], campaign_id=3)
        message_ids = [m for _, m in result.queued]
        assert await outbox.cancel(h.ws, message_ids[:2]) == 2
        assert await outbox.cancel(h.ws, message_ids[:2]) == 0  # already withdrawn
        await h.connect()
        await h.until_status(message_ids[2], "sent", "delivered")
        for message_id in message_ids[:2]:
            stored = await messages_store.get(h.ws.db, message_id)
            assert stored.status == "failed" and stored.error == outbox.CANCELLED
        assert [d["to"] for d in h.delivered() if d["text"] == "Promo"] == [customer(32)]


async def test_an_agent_reply_never_waits_behind_a_paced_campaign(tmp_path):
    async with running(tmp_path, pacing_off=False) as h:
        await pacing.update(h.ws, h.account_id, gap_min_s=30, gap_max_s=30, typing=False, warmup=False)
        contact_ids = []
        for n in range(40, 45):
            await h.ws.db.execute_write("INSERT INTO contacts (phone, name, created_at, updated_at)"
                                        " VALUES (?, '', 0, 0)", (customer(n),))
            contact_ids.append(await contact_id_of(h, customer(n)))
        await outbox.enqueue_many(h.ws, [CampaignItem(c, "Promo") for c in contact_ids], campaign_id=1)
        await until(lambda: len(h.delivered()) == 1)  # the first campaign message, then a 30 s gap
        reply = await outbox.send_text(h.ws, to=customer(99), text="Reply from an agent")
        await h.until_status(reply.id, "sent", "delivered", within=10)
        assert [d["text"] for d in h.delivered()] == ["Promo", "Reply from an agent"]


async def test_two_numbers_keep_separate_conversations_with_one_customer(tmp_path):
    async with running(tmp_path) as h:
        second = await h.add_number("Warehouse", "+6281100000002")
        await h.connect(second)
        a = await outbox.send_text(h.ws, to=customer(50), text="from the shop")
        b = await outbox.send_text(h.ws, to=customer(50), account_id=second, text="from the warehouse")
        assert a.conversation_id != b.conversation_id
        await h.until_status(b.id, "sent", "delivered")
        await h.until_status(a.id, "sent", "delivered")
        other = h.rt.sessions.engine((h.ws.id, second))
        assert [d["text"] for d in other.delivered()] == ["from the warehouse"]
        assert [d["text"] for d in h.delivered()] == ["from the shop"]


async def test_an_entry_left_sending_is_resent_under_its_own_id_only_where_the_engine_honours_it(tmp_path):
    async with running(tmp_path, connect=False) as h:
        web = await accounts.add(h.ws, "Phone", "whatsapp_web")
        assert h.rt.delivery.honours_message_id(h.key) is True  # the sandbox sends under our id
        assert h.rt.delivery.honours_message_id((h.ws.id, web.id)) is False  # neonize cannot
        first = await outbox.send_text(h.ws, to=customer(60), text="one")
        second = await outbox.send_text(h.ws, to=customer(61), text="two", account_id=web.id)

        def crash_mid_send(conn):  # what a killed worker leaves: claimed, maybe sent, nothing recorded
            outbox_store.claim(conn, h.account_id, (0, 1, 2), 10, time.time())
            outbox_store.claim(conn, web.id, (0, 1, 2), 10, time.time())

        await h.ws.db.execute_write_fn(crash_mid_send)
        resent = await h.ws.db.execute_write_fn(lambda c: outbox_store.recover(
            c, h.account_id, resend=True, reason="x", now=time.time()))
        settled = await h.ws.db.execute_write_fn(lambda c: outbox_store.recover(
            c, web.id, resend=False, reason="may have been sent", now=time.time()))
        assert resent == [first.id] and settled == [second.id]
        assert await h.status(first.id) == "queued"
        stored = await messages_store.get(h.ws.db, second.id)
        assert (stored.status, stored.error) == ("failed", "may have been sent")
        provider_msg_id = await h.ws.db.fetchval("SELECT provider_msg_id FROM outbox WHERE message_id = ?",
                                                 (first.id,))
        await h.connect()
        await h.until_status(first.id, "sent", "delivered")
        assert [d["provider_id"] for d in h.delivered()] == [provider_msg_id]


async def test_a_claim_orphaned_while_running_is_settled_by_the_heartbeat(tmp_path):
    async with running(tmp_path) as h:
        await h.disconnect()
        message = await outbox.send_text(h.ws, to=customer(70), text="orphan")
        later = time.time() + 7200
        await h.ws.db.execute_write("UPDATE outbox SET next_attempt_at = ?", (later,))  # not due: left alone
        await h.connect()
        # A worker claimed it an hour ago, then the transaction recording its result failed: it stayed `sending`.
        await h.ws.db.execute_write_fn(lambda c: outbox_store.claim(c, h.account_id, (0,), 10, later))
        await h.ws.db.execute_write("UPDATE outbox SET updated_at = ?", (int(time.time()) - 3600,))
        await asyncio.sleep(0.05)
        assert await h.status(message.id) in ("queued", "sending")
        await h.rt.heartbeat()
        await h.until_status(message.id, "sent", "delivered")
        assert [d["text"] for d in h.delivered()] == ["orphan"]


async def test_a_session_removed_without_a_state_change_stops_its_worker_and_keeps_the_queue(tmp_path):
    async with running(tmp_path) as h:
        await h.rt.sessions.remove(h.key)  # what deleting a number does: no StateChanged follows
        queued = await outbox.send_text(h.ws, to=customer(71), text="waits")
        await until(lambda: h.rt.delivery.worker(h.key) is None)
        assert await h.status(queued.id) == "queued"
        entry = await h.ws.db.fetchone("SELECT state, attempts FROM outbox WHERE message_id = ?", (queued.id,))
        assert tuple(entry) == ("pending", 0)


def test_message_ids_chosen_before_sending_look_like_whatsapp_web_ones_and_never_repeat():
    ids = outbox.new_provider_ids(500) + [outbox.new_provider_id() for _ in range(500)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 24 and i.startswith("3EB0") and i[4:] == i[4:].upper() and int(i[4:], 16) >= 0 for i in ids)
    assert outbox.new_provider_ids(0) == []
