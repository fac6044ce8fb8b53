"""Inbox services on a real runtime with a sandbox number, and the small rules they rest on (mentions, search
expressions, canned-reply variables, list filters and cursors, times shown in the workspace's timezone)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time

import pytest

from blazz import canned_replies, inbox, inbox_assignment, ingest, search
from blazz.errors import Invalid
from blazz.store import inbox_queries as q
from blazz.web.inbox_view import Clock, contact_label, file_size, media_kind
from blazz.whatsapp.events import InboundMessage
from tests.unit.test_outbox_harness import running, until

OWNER = inbox.Agent(1, "Sari", "owner")


def test_mentions_match_whole_names_longest_first():
    team = {1: "Ana", 2: "Ana Maria", 3: "Budi Santoso", 4: ""}
    assert inbox.mentioned("tolong @ana maria cek ya", team) == [2]
    assert inbox.mentioned("@Ana dan @Budi Santoso", team) == [1, 3]
    assert inbox.mentioned("email ana@shop.test, @Anas", team) == []


def test_search_expressions_quote_every_word_and_match_the_last_as_a_prefix():
    assert search.fts_expression("kopi arabika") == '"kopi" "arabika"*'
    assert search.fts_expression('"OR NEAR(x*') == '"OR" "NEAR" "x"'
    assert search.fts_expression("b") == '"b"', "one letter would merge thousands of words"
    assert search.fts_expression("  ") is None


def test_canned_reply_variables_are_filled_and_unknown_ones_stay_visible():
    values = {"first_name": "Rina", "city": "Medan", "email": ""}
    assert canned_replies.fill("Halo {{ first_name }} dari {{city}}", values) == "Halo Rina dari Medan"
    assert canned_replies.fill("{{email}} {{nope}}", values) == "{{email}} {{nope}}"
    with pytest.raises(Invalid):
        canned_replies.clean("has space", "", "x")
    assert canned_replies.clean("/Thanks", " Thank  you ", " hi ") == ("thanks", "Thank you", "hi")


def test_list_filters_and_cursors_fall_back_or_refuse():
    f = inbox.filters_from({"view": "mine", "status": "pending", "account": "2", "group": "x"})
    assert (f.view, f.status, f.account_id, f.group_id) == ("mine", "pending", 2, None)
    assert inbox.filters_from({"view": "everyone", "status": "done"}) == inbox.Filters()
    assert f.query(OWNER, None).assignee_id == 1
    assert inbox.Filters(view="mine").query(inbox.Agent(None, "API", "admin"), None).assignee_id == 0
    assert inbox.decode_cursor("1700000000.42") == (1700000000, 42)
    for bad in ("x", "1.", "-1.2", "9" * 30 + ".1"):
        with pytest.raises(Invalid):
            inbox.decode_cursor(bad)


def test_times_are_shown_in_the_workspace_timezone():
    clock = Clock.named("Asia/Jakarta")
    now = dt.datetime.now(clock.tz)
    assert clock.short(now.timestamp()) == now.strftime("%H:%M")
    assert clock.day(now.timestamp()) == "Today"
    assert clock.day((now - dt.timedelta(days=1)).timestamp()) == "Yesterday"
    assert clock.short(dt.datetime(2001, 2, 3, 12, tzinfo=clock.tz).timestamp()) == "3/2/01"
    assert Clock.named("Not/AZone").tz == dt.UTC
    assert file_size(2_500_000) == "2.4 MB" and file_size(None) == ""
    assert media_kind(None) == "none"


async def test_group_chat_receipts_name_each_sender_and_a_second_read_sends_none(tmp_path):
    async with running(tmp_path / "data") as h:
        now = time.time()
        group = "120363025000000009@g.us"
        await ingest.ingest(h.ws, h.account_id, [
            InboundMessage("G1", group, "+6281211110001", now, "text", "satu", sender_name="Ani", is_group=True,
                           group_name="Arisan"),
            InboundMessage("G2", group, "+6281211110002", now + 1, "text", "dua", sender_name="Dedi",
                           is_group=True, group_name="Arisan"),
        ])
        conv = (await inbox.list_conversations(h.ws, OWNER, inbox.Filters())).items[0]
        assert conv.is_group and contact_label(conv) == "Arisan" and conv.unread == 2
        assert await inbox.mark_read(h.ws, OWNER, conv.id) == 2
        await until(lambda: len(h.engine.activity("mark_read")) == 2)
        reads = h.engine.activity("mark_read")
        assert sorted((r["sender"], tuple(r["provider_ids"])) for r in reads) == [
            ("+6281211110001", ("G1",)), ("+6281211110002", ("G2",))]
        assert all(r["chat"] == group for r in reads)
        assert await inbox.mark_read(h.ws, OWNER, conv.id) == 0


async def test_a_conversation_assigned_meanwhile_is_not_taken_by_auto_assignment(tmp_path):
    async with running(tmp_path / "data") as h:
        await inbox.update_settings(h.ws, auto_assign=True)
        inbox_assignment.seen(h.ws, inbox.Agent(7, "Budi", "agent"))
        # The customer's conversation is already someone's when the after-message work runs.
        await h.engine.inbound("+6281234500001", "halo")
        conv = await until(lambda: q.conversation_page(h.ws.db, q.ListQuery(status=None), None, 5))
        await until(lambda: _assignee(h, conv[0].id))
        assert await _assignee(h, conv[0].id) == 7
        await inbox.assign(h.ws, OWNER, conv[0].id, 1, {1: "Sari", 7: "Budi"})
        await h.engine.inbound("+6281234500001", "masih di sana?")
        await until(lambda: _count(h, conv[0].id, 4))
        await asyncio.sleep(0.1)
        assert await _assignee(h, conv[0].id) == 1, "an assigned conversation keeps its person"


async def _assignee(h, conversation_id: int) -> int | None:
    return await h.ws.db.fetchval("SELECT assignee_id FROM conversations WHERE id = ?", (conversation_id,))


async def _count(h, conversation_id: int, n: int) -> bool:
    return await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = ?", (conversation_id,)) >= n


def test_the_cloud_api_window_closes_after_24_hours():
    conv = q.ConversationRow(1, 1, 1, "open", None, 0, 1, 0, "", None, None, 0, "person", "", None, None, None,
                             None, None, None, None)
    assert inbox.window_closed(conv, "cloud_api") and not inbox.window_closed(conv, "sandbox")
    assert not inbox.window_closed(dataclasses.replace(conv, last_inbound_at=int(time.time()) - 3600), "cloud_api")
    assert inbox.window_closed(dataclasses.replace(conv, last_inbound_at=int(time.time()) - 25 * 3600), "cloud_api")
