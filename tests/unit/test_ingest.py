"""Inbound ingest through the real runtime: sandbox customers writing in, and engine events as engines emit them."""

from __future__ import annotations

import asyncio
import time

import pytest

from blazz import ingest, outbox, workspace_settings
from blazz.outbox import CampaignItem, OptedOut
from blazz.store import contacts as contacts_store
from blazz.store import conversations as conversations_store
from blazz.store import messages as messages_store
from blazz.whatsapp.events import HistoryBatch, Inbound, InboundMessage
from tests.unit.test_outbox_harness import customer, running, until


def message(provider_id: str, text: str = "Halo", *, chat: str | None = None, phone: str | None = None,
            lid: str | None = None, **kw) -> InboundMessage:
    chat = chat or phone or lid or customer(1)
    return InboundMessage(provider_id=provider_id, chat=chat, sender_phone=phone, timestamp=kw.pop("at", time.time()),
                          kind=kw.pop("kind", "text"), text=text, sender_lid=lid, **kw)


async def conversations(h) -> list[tuple[int, int, int, str]]:
    rows = await h.ws.db.fetchall("SELECT id, contact_id, unread, last_preview FROM conversations ORDER BY id")
    return [tuple(r) for r in rows]


async def test_a_customer_message_creates_contact_and_conversation_and_counts_unread(tmp_path):
    async with running(tmp_path) as h:
        with h.ws.bus.subscribe(h.ws.id) as sub:
            await h.engine.inbound(customer(1), "Halo, masih buka?", name="Budi")
            await h.engine.inbound(customer(1), "Saya mau pesan")
            events = []
            while (event := await sub.next(0.05)) is not None:
                events.append(event.name)
        contact = await contacts_store.by_phone(h.ws.db, customer(1))
        assert contact.name == "Budi"
        [(conv_id, contact_id, unread, preview)] = await conversations(h)
        assert contact_id == contact.id and unread == 2 and preview == "Saya mau pesan"
        thread = await messages_store.in_conversation(h.ws.db, conv_id)
        assert [(m.direction, m.status, m.source, m.body) for m in thread] == [
            ("in", "received", "contact", "Saya mau pesan"), ("in", "received", "contact", "Halo, masih buka?")]
        assert events.count("message.new") == 2 and "conversation.updated" in events


async def test_a_duplicated_inbound_event_is_stored_once(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(2), "Halo", provider_id="3EB0DUP")
        await h.engine.inbound(customer(2), "Halo", provider_id="3EB0DUP")  # WhatsApp redelivers
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0DUP", phone=customer(2))))
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 1
        assert (await conversations(h))[0][2] == 1  # unread counted once


async def test_the_same_provider_id_on_two_numbers_is_two_messages(tmp_path):
    async with running(tmp_path) as h:
        second = await h.add_number("Warehouse", "+6281100000002")
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0SAME", phone=customer(3))))
        await h.rt.on_whatsapp_event(Inbound((h.ws.id, second), message("3EB0SAME", phone=customer(3))))
        rows = await h.ws.db.fetchall("SELECT account_id, conversation_id FROM messages ORDER BY id")
        assert [r[0] for r in rows] == [h.account_id, second] and rows[0][1] != rows[1][1]
        assert await h.ws.db.fetchval("SELECT count(*) FROM contacts") == 1


async def test_a_lid_only_sender_gets_its_phone_when_an_event_names_both(tmp_path):
    async with running(tmp_path) as h:
        lid = "98765432101234@lid"
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0A1", "first", chat=lid, lid=lid,
                                                            sender_name="Sari")))
        contact = await h.ws.db.fetchone("SELECT id, phone, lid, name FROM contacts")
        assert tuple(contact)[1:] == (None, lid, "Sari")
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0A2", "second", phone=customer(4), lid=lid)))
        rows = await h.ws.db.fetchall("SELECT id, phone, lid FROM contacts")
        assert [tuple(r) for r in rows] == [(contact[0], customer(4), lid)]
        [(_, _, unread, _)] = await conversations(h)
        assert unread == 2


async def test_a_phone_contact_and_a_lid_contact_merge_into_one_person_and_one_thread(tmp_path):
    async with running(tmp_path) as h:
        lid = "11112222333344@lid"
        reply = await outbox.send_text(h.ws, to=customer(5), text="Your order shipped")  # phone contact
        await h.until_status(reply.id, "sent", "delivered")
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0B1", "who is this", chat=lid, lid=lid)))
        assert await h.ws.db.fetchval("SELECT count(*) FROM contacts") == 2  # nothing said they are one person yet
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0B2", "it's me, Dewi", phone=customer(5), lid=lid)))
        rows = await h.ws.db.fetchall("SELECT id, phone, lid FROM contacts")
        assert [tuple(r)[1:] for r in rows] == [(customer(5), lid)]
        [(conv_id, contact_id, unread, preview)] = await conversations(h)
        assert contact_id == rows[0][0] and unread == 2 and preview == "it's me, Dewi"
        thread = await messages_store.in_conversation(h.ws.db, conv_id)
        assert [m.body for m in reversed(thread)] == ["Your order shipped", "who is this", "it's me, Dewi"]


async def test_messages_sent_from_the_phone_join_the_thread_as_outbound(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(6), "Ada stok?")
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0PHONE", "Ada kak", chat=customer(6),
                                                            phone=h.rt.sessions.state(h.key).phone, from_me=True)))
        [(conv_id, _, unread, preview)] = await conversations(h)
        newest = (await messages_store.in_conversation(h.ws.db, conv_id))[0]
        assert (newest.direction, newest.status, newest.source, newest.from_phone) == ("out", "sent", "phone", True)
        assert unread == 1 and preview == "Ada kak"  # the owner's own message is not unread
        contact = await contacts_store.by_phone(h.ws.db, customer(6))
        assert contact is not None and await h.ws.db.fetchval("SELECT count(*) FROM contacts") == 1


async def test_stop_opts_the_contact_out_and_withdraws_queued_campaign_messages(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(7), "Halo")
        contact = await contacts_store.by_phone(h.ws.db, customer(7))
        await h.disconnect()
        queued = await outbox.enqueue_many(h.ws, [CampaignItem(contact.id, "Promo")], campaign_id=1)
        message_id = queued.queued[0][1]
        await ingest.ingest(h.ws, h.account_id, [message("3EB0STOP", " stop! ", phone=customer(7))])
        contact = await contacts_store.by_phone(h.ws.db, customer(7))
        assert contact.opted_out_at is not None and contact.opted_out_reason == "Replied stop!"
        withdrawn = await messages_store.get(h.ws.db, message_id)
        assert withdrawn.status == "failed" and withdrawn.error == ingest.OPT_OUT_CANCELLED
        with pytest.raises(OptedOut):
            await outbox.send_text(h.ws, to=customer(7), text="Are you sure?")
        again = await outbox.enqueue_many(h.ws, [CampaignItem(contact.id, "Promo 2")], campaign_id=2)
        assert again.queued == [] and again.skipped == [(contact.id, "The contact opted out.")]


async def test_opt_out_words_follow_the_workspace_settings(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(8), "BERHENTI")
        assert (await contacts_store.by_phone(h.ws.db, customer(8))).opted_out_at is not None
        await h.engine.inbound(customer(9), "please stop sending me promos")  # not the whole message
        assert (await contacts_store.by_phone(h.ws.db, customer(9))).opted_out_at is None
        await workspace_settings.update(h.ws.db, opt_out_words=["CUKUP"])
        await h.engine.inbound(customer(9), "cukup")
        assert (await contacts_store.by_phone(h.ws.db, customer(9))).opted_out_at is not None
        await h.engine.inbound(customer(10), "STOP")  # no longer a word of this workspace
        assert (await contacts_store.by_phone(h.ws.db, customer(10))).opted_out_at is None


async def test_history_arrives_in_batches_without_unread_counts_or_hooks(tmp_path):
    seen: list[int] = []

    async def hook(ws, stored):
        seen.extend(m.id for m in stored)

    ingest.on_message(hook)
    try:
        async with running(tmp_path) as h:
            old = time.time() - 86400
            batch = tuple(message(f"3EB0H{i:05d}", f"old {i}", phone=customer(100 + i % 40), at=old + i,
                                  from_me=i % 3 == 0) for i in range(1200))
            await h.rt.on_whatsapp_event(HistoryBatch(h.key, batch))
            await h.rt.on_whatsapp_event(HistoryBatch(h.key, batch[:600]))  # a repeated chunk changes nothing
            assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 1200
            assert await h.ws.db.fetchval("SELECT count(*) FROM conversations") == 40
            assert await h.ws.db.fetchval("SELECT sum(unread) FROM conversations") == 0
            assert await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE source = 'phone'") == 400
            last = await h.ws.db.fetchone("SELECT last_message_at, last_preview FROM conversations WHERE id = 1")
            assert last[0] < time.time() - 3600 and last[1].startswith("old ")
            assert seen == []
            await h.engine.inbound(customer(100), "new")
            assert len(seen) == 1
    finally:
        ingest.hooks.remove(hook)


async def test_an_old_history_message_does_not_replace_a_newer_last_message(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(11), "newest")
        await h.rt.on_whatsapp_event(HistoryBatch(h.key, (message("3EB0OLD", "older", phone=customer(11),
                                                                  at=time.time() - 500),)))
        [(_, _, _, preview)] = await conversations(h)
        assert preview == "newest"


async def test_group_messages_go_to_the_group_and_can_be_ignored(tmp_path):
    async with running(tmp_path) as h:
        group = "120363025555555555@g.us"
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0G1", "rapat jam 3", chat=group,
                                                            phone=customer(12), is_group=True,
                                                            group_name="Tim Gudang", sender_name="Andi")))
        row = await h.ws.db.fetchone("SELECT kind, jid, name FROM contacts")
        assert tuple(row) == ("group", group, "Tim Gudang")
        stored = (await h.ws.db.fetchone("SELECT sender_phone, sender_name FROM messages"))
        assert tuple(stored) == (customer(12), "Andi")
        await h.ws.db.execute_write("UPDATE accounts SET ignore_groups = 1")
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0G2", "x", chat=group, phone=customer(12),
                                                            is_group=True)))
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 1


async def test_an_inbound_reply_points_at_the_message_it_quotes(tmp_path):
    async with running(tmp_path) as h:
        sent = await outbox.send_text(h.ws, to=customer(13), text="Mau ukuran apa?")
        await h.until_status(sent.id, "sent", "delivered")
        provider_id = (await messages_store.get(h.ws.db, sent.id)).provider_id
        await h.engine.inbound(customer(13), "XL", quoted_id=provider_id)
        reply = (await messages_store.in_conversation(h.ws.db, sent.conversation_id))[0]
        assert reply.body == "XL" and reply.quoted_id == sent.id


async def test_a_resolved_conversation_reopens_when_the_customer_writes_again(tmp_path):
    async with running(tmp_path) as h:
        await h.engine.inbound(customer(14), "Halo")
        await h.ws.db.execute_write("UPDATE conversations SET status = 'resolved', resolved_at = 1, unread = 0")
        await h.engine.inbound(customer(14), "Satu lagi")
        conv = await conversations_store.get(h.ws.db, 1)
        assert (conv.status, conv.resolved_at, conv.unread) == ("open", None, 1)


async def test_inbound_while_offline_arrives_on_reconnect(tmp_path):
    async with running(tmp_path) as h:
        await h.disconnect()
        await h.engine.inbound(customer(15), "sent while you were offline")
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 0
        await h.connect()
        await until(lambda: h.ws.db.fetchval("SELECT count(*) FROM messages"))
        assert await h.ws.db.fetchval("SELECT body FROM messages") == "sent while you were offline"
        await asyncio.sleep(0.05)
