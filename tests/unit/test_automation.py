"""Auto-replies through the real runtime: sandbox customers write in, rules answer through the outbox."""

from __future__ import annotations

import asyncio
import time

import pytest

from blazz import audit, auto_replies, automation, contacts, outbox
from blazz.errors import Invalid, NotFound
from blazz.store import auto_replies as store
from blazz.store import messages as messages_store
from tests.unit.test_outbox_harness import customer, running, until

ME = audit.Actor(None, "test")


async def replies(h, to: str) -> list[str]:
    return [d["text"] for d in h.delivered(to)]


async def queued(h) -> list[tuple[str, str, int]]:
    rows = await h.ws.db.fetchall("SELECT m.body, m.status, o.lane FROM messages m JOIN outbox o ON o.message_id = m.id"
                                  " WHERE m.source = 'automation' ORDER BY m.id")
    return [tuple(r) for r in rows]


async def settle(h) -> None:
    """Let queued automatic replies reach the sandbox network."""
    await until(lambda: _all_sent(h))


async def _all_sent(h) -> bool:
    return not await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE source = 'automation'"
                                      " AND status IN ('queued', 'sending')")


async def test_a_keyword_rule_answers_with_variables_through_the_normal_lane(tmp_path):
    async with running(tmp_path) as h:
        rule = await auto_replies.create(h.ws, ME, trigger="contains", pattern="price, harga",
                                       reply={"text": "Hi {{first_name|there}}, our price list: shop.example/prices"})
        await h.engine.inbound(customer(1), "Berapa HARGA-nya?", name="Budi Santoso")
        await until(lambda: replies(h, customer(1)))
        assert await replies(h, customer(1)) == ["Hi Budi, our price list: shop.example/prices"]
        rule = await auto_replies.get(h.ws, rule.id)
        assert rule.hits == 1 and rule.last_hit_at is not None
        await h.engine.inbound(customer(2), "hello")  # no keyword: no answer
        await asyncio.sleep(0.2)
        assert await replies(h, customer(2)) == []


async def test_answers_wait_in_the_normal_lane_while_the_number_is_offline(tmp_path):
    from blazz.whatsapp.events import Inbound
    from tests.unit.test_ingest import message
    async with running(tmp_path, connect=False) as h:
        await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "We got it"})
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0OFF1", "halo", phone=customer(1))))
        await until(lambda: queued(h))
        assert await queued(h) == [("We got it", "queued", 1)]  # lane 1 = normal: after agents, before campaigns
        sources = await h.ws.db.fetchall("SELECT source FROM messages ORDER BY id")
        assert [r[0] for r in sources] == ["contact", "automation"]


async def test_the_cooldown_is_per_contact(tmp_path):
    async with running(tmp_path) as h:
        await auto_replies.create(h.ws, ME, trigger="exact", pattern="menu", reply={"text": "Our menu"}, cooldown_s=600)
        await h.engine.inbound(customer(1), "Menu")
        await until(lambda: replies(h, customer(1)))
        await h.engine.inbound(customer(1), "menu!")  # again within ten minutes: silent
        await h.engine.inbound(customer(2), "MENU 🙏")  # someone else: answered
        await until(lambda: replies(h, customer(2)))
        await settle(h)
        assert await replies(h, customer(1)) == ["Our menu"] and await replies(h, customer(2)) == ["Our menu"]
        # Once the cooldown is over the first customer is answered again.
        contact = await contacts.get(h.ws, (await h.ws.db.fetchval(
            "SELECT id FROM contacts WHERE phone = ?", (customer(1),))))
        await h.ws.db.execute_write("UPDATE automation_sends SET last_at = last_at - 601 WHERE contact_id = ?",
                                    (contact.id,))
        await h.engine.inbound(customer(1), "menu")
        await until(lambda: len(h.delivered(customer(1))) == 2)


async def test_the_first_matching_rule_in_priority_order_answers_and_moving_changes_it(tmp_path):
    async with running(tmp_path) as h:
        general = await auto_replies.create(h.ws, ME, trigger="contains", pattern="order",
                                          reply={"text": "general"}, cooldown_s=0)
        specific = await auto_replies.create(h.ws, ME, trigger="starts_with", pattern="order status",
                                           reply={"text": "specific"}, cooldown_s=0)
        assert (general.priority, specific.priority) == (1, 2)
        await h.engine.inbound(customer(1), "order status 42")
        await until(lambda: replies(h, customer(1)))
        rules = await auto_replies.move(h.ws, ME, specific.id, "up")
        assert [r.id for r in rules] == [specific.id, general.id]
        await h.engine.inbound(customer(1), "order status 43")
        await until(lambda: len(h.delivered(customer(1))) == 2)
        assert await replies(h, customer(1)) == ["general", "specific"]
        # An inactive rule is passed over.
        await auto_replies.update(h.ws, ME, specific.id, active=False)
        await h.engine.inbound(customer(1), "order status 44")
        await until(lambda: len(h.delivered(customer(1))) == 3)
        assert (await replies(h, customer(1)))[-1] == "general"


async def test_a_matching_rule_in_its_cooldown_keeps_lower_rules_silent(tmp_path):
    async with running(tmp_path) as h:
        await auto_replies.create(h.ws, ME, trigger="contains", pattern="price", reply={"text": "prices"})
        await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "we will answer soon"}, cooldown_s=0)
        await h.engine.inbound(customer(1), "price?")
        await until(lambda: replies(h, customer(1)))
        await h.engine.inbound(customer(1), "price again?")
        await h.engine.inbound(customer(1), "thanks")
        await until(lambda: len(h.delivered(customer(1))) == 2)
        await settle(h)
        assert await replies(h, customer(1)) == ["prices", "we will answer soon"]


async def test_a_rule_scoped_to_one_number_answers_only_there(tmp_path):
    async with running(tmp_path) as h:
        other = await h.add_number("Warehouse", "+6281100000002")
        await h.connect(other)
        await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "front desk"}, account_ids=[h.account_id])
        other_engine = h.rt.sessions.engine((h.ws.id, other))
        await other_engine.inbound(customer(1), "halo warehouse")
        await h.engine.inbound(customer(2), "halo front")
        await until(lambda: replies(h, customer(2)))
        await asyncio.sleep(0.2)
        assert other_engine.delivered(customer(1)) == []
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "x"}, account_ids=[999])
        assert exc.value.field == "account_ids"


async def test_first_message_answers_only_a_new_contacts_first_message(tmp_path):
    async with running(tmp_path) as h:
        await auto_replies.create(h.ws, ME, trigger="first_message", reply={"text": "Welcome, {{name|friend}}!"},
                                cooldown_s=0)
        await h.engine.inbound(customer(1), "Halo", name="Sari")
        await h.engine.inbound(customer(1), "Saya mau tanya")
        await until(lambda: replies(h, customer(1)))
        # Someone we wrote to first is not a new contact when they answer.
        await outbox.send_text(h.ws, text="Promo!", to=customer(2), source="agent")
        await until(lambda: h.delivered(customer(2)))
        await h.engine.inbound(customer(2), "Info promo?")
        await asyncio.sleep(0.2)
        await settle(h)
        assert await replies(h, customer(1)) == ["Welcome, Sari!"]
        assert await replies(h, customer(2)) == ["Promo!"]


async def test_two_bots_answering_each_other_stop_after_a_few_rounds(tmp_path):
    async with running(tmp_path) as h:
        await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "Thanks for your message"}, cooldown_s=0)
        for n in range(12):  # the other side is a bot that answers every message we send
            await h.engine.inbound(customer(1), f"Auto-reply {n}: we got your message")
        await settle(h)
        await asyncio.sleep(0.1)
        assert len(h.delivered(customer(1))) == automation.LOOP_MAX


async def test_groups_opted_out_contacts_and_stale_messages_get_no_answer(tmp_path):
    async with running(tmp_path) as h:
        await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "auto"}, cooldown_s=0)
        await h.engine.inbound(customer(1), "STOP")  # opt-out word: the contact is opted out by this message
        await h.engine.inbound(customer(4), "halo")
        await until(lambda: replies(h, customer(4)))
        await asyncio.sleep(0.2)
        assert await replies(h, customer(1)) == []
        # A message that arrives a day late (a backlog after being offline) is not answered.
        from blazz.whatsapp.events import Inbound
        from tests.unit.test_ingest import message
        await h.rt.on_whatsapp_event(Inbound(h.key, message("3EB0OLD", "halo", phone=customer(5),
                                                            at=time.time() - 2 * 86400)))
        group = message("3EB0GRP", "halo group", chat="120363000000000001@g.us", phone=customer(6),
                        is_group=True, group_name="Reseller")
        await h.rt.on_whatsapp_event(Inbound(h.key, group))
        await asyncio.sleep(0.3)
        await settle(h)
        assert [d["to"] for d in h.delivered()] == [customer(4)]


async def test_a_reply_with_a_file_sends_the_file_with_the_caption(tmp_path):
    from blazz import media
    async with running(tmp_path) as h:
        png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
               b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
        stored = await media.store_upload(h.ws, png, "menu.png")
        await auto_replies.create(h.ws, ME, trigger="exact", pattern="menu",
                                reply={"text": "Menu for {{first_name}}", "media_id": stored.id})
        await h.engine.inbound(customer(1), "menu", name="Rina")
        [sent] = await until(lambda: h.delivered(customer(1)))
        assert sent["text"] == "Menu for Rina" and sent["media"]
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="any", reply={"media_id": 4242})
        assert exc.value.field == "reply.media_id"


async def test_a_regex_that_runs_out_of_time_never_answers_and_the_next_rule_still_does(tmp_path):
    async with running(tmp_path) as h:
        slow = await auto_replies.create(h.ws, ME, trigger="regex", pattern=r"(?:.*Z,){12}P",
                                       reply={"text": "regex"}, cooldown_s=0)
        await auto_replies.create(h.ws, ME, trigger="contains", pattern="z", reply={"text": "fallback"}, cooldown_s=0)
        started = time.monotonic()
        found = await automation.test(h.ws, "Z," * 2000)
        assert time.monotonic() - started < 2.0
        assert [r.id for r in found.timed_out] == [slow.id] and found.rule.reply_text == "fallback"
        await h.engine.inbound(customer(1), "Z," * 2000)
        await until(lambda: replies(h, customer(1)))
        assert await replies(h, customer(1)) == ["fallback"]
        assert (await auto_replies.get(h.ws, slow.id)).hits == 0


async def test_catastrophic_and_broken_patterns_are_refused_when_saved(tmp_path):
    async with running(tmp_path, connect=False) as h:
        for pattern in (r"(a+)+$", r"^(\w+\s?)*$!", r"(x+x+)+y"):
            try:
                await auto_replies.create(h.ws, ME, trigger="regex", pattern=pattern, reply={"text": "x"})
            except Invalid as exc:
                assert exc.field == "pattern" and "too long" in exc.message
            else:  # the regex engine handles this shape fast: it is then safe to keep
                assert automation.compile_pattern(pattern).search("a" * 4096 + "!", timeout=0.25) is None
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="regex", pattern=r"(a+)+$", reply={"text": "x"})
        assert exc.value.field == "pattern"
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="regex", pattern="(unclosed", reply={"text": "x"})
        assert exc.value.field == "pattern" and "not valid" in exc.value.message
        assert r"(a+)+$" not in [r.pattern for r in await auto_replies.list_rules(h.ws)]


@pytest.mark.parametrize(("data", "field"), [
    ({"trigger": "sometimes", "reply": {"text": "x"}}, "trigger"),
    ({"trigger": "contains", "reply": {"text": "x"}}, "pattern"),
    ({"trigger": "contains", "pattern": " , ,", "reply": {"text": "x"}}, "pattern"),
    ({"trigger": "any", "reply": {}}, "reply.text"),
    ({"trigger": "any", "reply": "hello"}, "reply"),
    ({"trigger": "any", "reply": {"text": "x", "colour": "red"}}, "reply.colour"),
    ({"trigger": "any", "reply": {"text": "x" * 5000}}, "reply.text"),
    ({"trigger": "any", "reply": {"text": "x"}, "cooldown_s": -1}, "cooldown_s"),
    ({"trigger": "any", "reply": {"text": "x"}, "cooldown_s": True}, "cooldown_s"),
    ({"trigger": "any", "reply": {"text": "x"}, "priority": 0}, "priority"),
    ({"trigger": "any", "reply": {"text": "x"}, "account_ids": []}, "account_ids"),
    ({"trigger": "any", "reply": {"text": "x"}, "active": "yes"}, "active"),
    ({"trigger": "any", "reply": {"text": "x"}, "when": "always"}, "when"),
    ({"trigger": "regex", "pattern": "x" * 501, "reply": {"text": "x"}}, "pattern"),
])
async def test_bad_rules_are_refused_naming_the_field(tmp_path, data, field):
    async with running(tmp_path, connect=False) as h:
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, **data)
        assert exc.value.field == field


async def test_test_box_shows_the_answering_rule_and_what_else_matches(tmp_path):
    async with running(tmp_path, connect=False) as h:
        off = await auto_replies.create(h.ws, ME, trigger="contains", pattern="jam", reply={"text": "off"},
                                        active=False)
        hours = await auto_replies.create(h.ws, ME, trigger="contains", pattern="jam buka, open",
                                        reply={"text": "09-17"})
        anything = await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "any"})
        welcome = await auto_replies.create(h.ws, ME, trigger="first_message", reply={"text": "hi"}, priority=1)
        found = await automation.test(h.ws, "Jam buka berapa?")
        assert found.rule.id == hours.id and [r.id for r in found.later] == [anything.id]
        assert [r.id for r in found.inactive] == [off.id]
        assert (await automation.test(h.ws, "hello", first_message=True)).rule.id == welcome.id
        assert (await automation.test(h.ws, "")).rule.id == anything.id  # a photo without caption
        assert (await auto_replies.get(h.ws, hours.id)).hits == 0


async def test_deleting_a_rule_forgets_its_cooldowns(tmp_path):
    async with running(tmp_path) as h:
        rule = await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "x"})
        await h.engine.inbound(customer(1), "halo")
        await until(lambda: replies(h, customer(1)))
        assert await h.ws.db.fetchval("SELECT count(*) FROM automation_sends") == 1
        await auto_replies.delete(h.ws, ME, rule.id)
        assert await h.ws.db.fetchval("SELECT count(*) FROM automation_sends") == 0
        with pytest.raises(NotFound):
            await auto_replies.get(h.ws, rule.id)
        with pytest.raises(NotFound):
            await auto_replies.delete(h.ws, ME, rule.id)
        entries = await h.ws.db.fetchall("SELECT action FROM audit_log WHERE action LIKE 'auto_reply.%' ORDER BY id")
        assert [e[0] for e in entries] == ["auto_reply.created", "auto_reply.deleted"]


def test_keywords_ignore_case_accents_spacing_and_surrounding_punctuation():
    assert automation.normalise("  Café   OPEN? ") == "cafe open?"
    assert automation.keywords("Price, HARGA ,, price") == ("price", "harga")
    rule = store.Rule(1, "", "exact", "jam buka", "x", None, None, None, 0, 1, True, 0, None, 0, 0)
    c = automation.compile_rule(rule)
    assert c.matches("Jam  Buka?!", automation.normalise("Jam  Buka?!"), False)
    assert not c.matches("jam buka besok", automation.normalise("jam buka besok"), False)


async def test_replies_with_unknown_variables_are_refused_and_templates_answer_whole(tmp_path):
    from blazz import templates
    async with running(tmp_path) as h:
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "Hi {{frist_name}}"})
        assert exc.value.field == "reply.text" and "frist_name" in exc.value.message
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="any", reply={"template_id": 77})
        assert exc.value.field == "reply.template_id"
        template = await templates.create(h.ws, templates.TemplateInput(
            name="Opening hours", body="Halo {{first_name|Kak}}, we open 09:00-17:00.", footer="Toko Sinar"))
        with pytest.raises(Invalid) as exc:
            await auto_replies.create(h.ws, ME, trigger="any", reply={"template_id": template.id, "text": "and"})
        assert exc.value.field == "reply.template_id"
        rule = await auto_replies.create(h.ws, ME, trigger="contains", pattern="buka",
                                         reply={"template_id": template.id})
        assert await auto_replies.preview(h.ws, rule) == "Halo Budi, we open 09:00-17:00.\n\nToko Sinar"
        await h.engine.inbound(customer(1), "Jam berapa buka?")
        [sent] = await until(lambda: h.delivered(customer(1)))
        assert sent["text"] == "Halo Kak, we open 09:00-17:00.\n\nToko Sinar"


async def test_an_automatic_answer_is_one_message_even_if_the_hook_runs_twice(tmp_path):
    async with running(tmp_path) as h:
        await auto_replies.create(h.ws, ME, trigger="any", reply={"text": "once"}, cooldown_s=0)
        await h.engine.inbound(customer(1), "halo")
        await until(lambda: replies(h, customer(1)))
        [inbound] = [m for m in await messages_store.in_conversation(
            h.ws.db, await h.ws.db.fetchval("SELECT id FROM conversations")) if m.direction == "in"]
        await automation.on_messages(h.ws, [inbound])
        await settle(h)
        assert await replies(h, customer(1)) == ["once"]
