"""Campaigns on the real runtime with the sandbox engine: launch and snapshot, exclusions with reasons, feeding,
personalisation and variants, pause/resume/cancel, schedules, lateness, replies, retries, and every bad input."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from blazz import audit, campaign_checks, campaign_feed, campaigns, contact_groups, contacts, pacing, templates
from blazz.errors import Conflict, Invalid
from blazz.store import campaigns as campaigns_store
from blazz.templates import TemplateInput
from tests.unit.test_outbox_harness import customer, running, until

ME = audit.Actor(1, "owner@shop.test")


async def people(h, n: int, group: str = "Pelanggan", start: int = 0, **extra) -> list[int]:
    """n contacts in a group, named Pelanggan 0..n-1 with first names."""
    ids = []
    for i in range(start, start + n):
        c, _ = await contacts.create(h.ws, {"phone": customer(i), "name": f"Budi{i} Santoso", "groups": [group],
                                            **extra})
        ids.append(c.id)
    return ids


async def group_id(h, name: str) -> int:
    return next(g.id for g in await contact_groups.groups(h.ws) if g.name == name)


async def draft(h, text: str = "Halo {{first_name|Kak}}, promo!", groups: list[str] = ("Pelanggan",), **more):
    data = {"name": "Promo", "account_id": h.account_id, "message": {"text": text},
            "audience": {"groups": [await group_id(h, g) for g in groups]}}
    data.update(more)
    return await campaigns.create(h.ws, data)


async def finished(h, campaign_id: int, within: float = 20.0) -> campaigns_store.Campaign:
    async def done():
        c = await campaigns_store.get(h.ws.db, campaign_id)
        return c if c.status in ("completed", "cancelled", "failed") else None
    return await until(done, within=within)


async def recipients(h, campaign_id: int) -> dict[str, tuple[str, str | None]]:
    rows = await campaigns_store.recipients(h.ws.db, campaign_id, limit=1000)
    return {r.phone: (r.status, r.reason) for r in rows}


async def test_a_campaign_sends_a_personalised_message_to_each_recipient_once_then_completes(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 5)
        c = await draft(h)
        launched = await campaigns.launch(h.ws, c.id, ME)
        assert launched.status == "running" and launched.total == 5
        assert launched.content["bodies"] == ["Halo {{first_name|Kak}}, promo!"]
        done = await finished(h, c.id)
        assert done.status == "completed" and done.finished_at
        texts = sorted(d["text"] for d in h.delivered())
        assert texts == sorted(f"Halo Budi{i}, promo!" for i in range(5))
        counts = await campaigns_store.counts(h.ws.db, c.id)
        assert counts.total == 5 and counts.sent == 5 and counts.open == 0
        entries = await audit.recent(h.ws, action="campaign")
        assert [e.action for e in entries] == ["campaign.launched"]


async def test_variants_rotate_per_recipient_and_a_template_brings_its_footer(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 6)
        t = await templates.create(h.ws, TemplateInput(name="Promo", body="A {{first_name}}", variants=("B", "C"),
                                                       footer="Balas STOP"))
        c = await draft(h, message={"template_id": t.id})
        await campaigns.launch(h.ws, c.id, ME)
        await finished(h, c.id)
        firsts = sorted(d["text"].split()[0] for d in h.delivered())
        assert firsts == ["A", "A", "B", "B", "C", "C"]
        assert all(d["text"].endswith("\n\nBalas STOP") for d in h.delivered())


async def test_exclusions_are_counted_then_skipped_with_their_reason(tmp_path):
    async with running(tmp_path) as h:
        ids = await people(h, 6)
        await contacts.set_opted_out(h.ws, ids[0], True)
        # A contact with no number at all (only possible by hand in the database: every form asks for one).
        def nameless(conn: sqlite3.Connection) -> None:
            cid = conn.execute("INSERT INTO contacts (name, created_at, updated_at) VALUES ('Tanpa Nomor', 0, 0)"
                               ).lastrowid
            conn.execute("INSERT INTO contact_groups (contact_id, group_id) SELECT ?, id FROM groups", (cid,))
        await h.ws.db.execute_write_fn(nameless)
        await h.engine.configure(not_on_whatsapp=[customer(1), customer(2)])
        # customer(1) was checked before (and the answer cached); customer(2) is found out while feeding.
        await h.ws.db.execute_write_fn(lambda conn: campaigns_store.save_checks(conn, {customer(1): False},
                                                                                int(time.time())))
        older = await draft(h, text="Lama")
        await campaigns.launch(h.ws, older.id, ME)
        await finished(h, older.id)
        summary = await campaign_checks.audience_summary(h.ws, {"groups": [await group_id(h, "Pelanggan")],
                                                          "recent_days": 7})
        assert summary.total == 7 and summary.included == 0
        assert summary.excluded == {"opted_out": 1, "invalid": 1, "not_on_whatsapp": 2, "recent": 3}
        no_guard = await campaign_checks.audience_summary(h.ws, {"groups": [await group_id(h, "Pelanggan")]})
        assert no_guard.included == 3
        got = await recipients(h, older.id)
        assert got[customer(0)] == ("skipped", "The contact opted out.")
        assert got[None] == ("skipped", "The contact has no WhatsApp number.")
        assert got[customer(1)] == ("skipped", "This number is not on WhatsApp.")
        assert got[customer(2)] == ("skipped", "This number is not on WhatsApp.")  # checked at feeding time
        assert {got[customer(i)][0] for i in (3, 4, 5)} <= {"sent", "delivered", "read"}
        assert sorted(d["to"] for d in h.delivered()) == [customer(3), customer(4), customer(5)]
        guarded = await draft(h, text="Baru", audience={"groups": [await group_id(h, "Pelanggan")],
                                                        "recent_days": 7})
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, guarded.id, ME)
        assert err.value.field == "audience" and "excluded" in err.value.message


async def test_bad_input_is_refused_with_the_reason(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 2)
        await contact_groups.create_group(h.ws, "Kosong")
        unknown = await draft(h, text="Halo {{frist_name}} dari {{kota}}")
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, unknown.id, ME)
        assert "{{frist_name}}" in err.value.message and "{{kota}}" in err.value.message
        with pytest.raises(Invalid) as err:
            await draft(h, scheduled_at=time.time() - 3600)
        assert err.value.field == "scheduled_at" and "passed" in err.value.message
        empty = await draft(h, groups=["Kosong"])
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, empty.id, ME)
        assert err.value.field == "audience" and "Nobody" in err.value.message
        nobody = await campaigns.create(h.ws, {"name": "x", "account_id": h.account_id, "message": {"text": "x"}})
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, nobody.id, ME)
        assert err.value.field == "audience"
        no_number = await draft(h, account_id=None)
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, no_number.id, ME)
        assert err.value.field == "account_id"
        no_text = await draft(h, text="  ")
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, no_text.id, ME)
        assert err.value.field == "message"
        for bad in ({"name": ""}, {"name": "x", "account_id": 999}, {"name": "x", "message": {"body": "x"}},
                    {"name": "x", "audience": {"groups": "all"}}, {"name": "x", "audience": {"recent_days": 0.5}},
                    {"name": "x", "audience": {"everyone": True}}, {"name": "x", "late_limit_s": -1},
                    {"name": "x", "scheduled_at": "tomorrow"}):
            with pytest.raises(Invalid):
                await campaigns.create(h.ws, bad)
        bad_field = await campaigns.create(h.ws, {"name": "x", "account_id": h.account_id,
                                                  "message": {"text": "x"},
                                                  "audience": {"fields": [{"key": "kota", "value": "Medan"}]}})
        with pytest.raises(Invalid) as err:
            await campaigns.launch(h.ws, bad_field.id, ME)
        assert "kota" in err.value.message
        # Nothing was launched by any of these.
        assert not [c for c in await campaigns.list_page(h.ws) if c.status != "draft"]
        assert await h.ws.db.fetchval("SELECT count(*) FROM campaign_recipients") == 0


async def test_a_campaign_launched_while_the_number_is_offline_waits_and_says_so_then_sends(tmp_path):
    async with running(tmp_path, connect=False) as h:
        await people(h, 3)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)

        async def waiting():
            return "Waiting for Shop front to connect" in (await campaigns_store.get(h.ws.db, c.id)).detail
        await until(waiting)
        assert h.delivered() == []
        await h.connect()
        done = await finished(h, c.id)
        assert done.status == "completed" and done.detail == "" and len(h.delivered()) == 3


async def test_pause_takes_the_window_back_at_once_and_resume_sends_each_recipient_once(tmp_path):
    async with running(tmp_path, pacing_off=False) as h:
        # Paced: a gap of 0.3 s between messages, so the campaign is caught half way.
        await pacing.update(h.ws, h.account_id, gap_min_s=0.3, gap_max_s=0.3, typing=False, pause_every=0,
                            daily_cap=None, warmup=False, owner_quiet_s=None)
        await people(h, 8)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        await until(lambda: len(h.delivered()) >= 2)
        paused = await campaigns.pause(h.ws, c.id, ME)
        assert paused.status == "paused"
        sent_at_pause = len(h.delivered())
        assert (await campaigns_store.counts(h.ws.db, c.id))["queued"] <= 1  # at most the one a worker holds
        await settle(h, c.id)
        await asyncio.sleep(1.0)  # three gaps: nothing more goes out while paused
        assert len(h.delivered()) <= sent_at_pause + 1
        assert (await campaigns_store.counts(h.ws.db, c.id))["pending"] >= 4
        with pytest.raises(Conflict):
            await campaigns.pause(h.ws, c.id, ME)
        await campaigns.resume(h.ws, c.id, ME)
        done = await finished(h, c.id, within=30)
        assert done.status == "completed"
        phones = [d["to"] for d in h.delivered()]
        assert sorted(phones) == sorted(customer(i) for i in range(8))  # each exactly once


async def settle(h, campaign_id: int) -> None:
    """Wait until no recipient of the paused campaign is still queued (a send in hand may finish)."""
    async def settled():
        return (await campaigns_store.counts(h.ws.db, campaign_id))["queued"] == 0
    await until(settled)


async def test_cancel_withdraws_what_waits_and_skips_the_rest(tmp_path):
    async with running(tmp_path, connect=False) as h:
        await people(h, 5)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        cancelled = await campaigns.cancel(h.ws, c.id, ME)
        assert cancelled.status == "cancelled" and cancelled.finished_at
        got = await recipients(h, c.id)
        assert {s for s, _ in got.values()} == {"skipped"}
        assert {r for _, r in got.values()} == {campaign_feed.CANCELLED}
        await h.connect()
        await until(lambda: h.rt.delivery.worker(h.key) is not None)
        with pytest.raises(Conflict):
            await campaigns.resume(h.ws, c.id, ME)
        assert h.delivered() == []
        assert await h.ws.db.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0


async def test_a_scheduled_campaign_starts_at_its_time(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 2)
        c = await draft(h, scheduled_at=time.time() + 1.5)
        launched = await campaigns.launch(h.ws, c.id, ME)
        assert launched.status == "scheduled" and launched.started_at is None
        assert h.delivered() == []
        done = await finished(h, c.id)
        assert done.status == "completed" and done.started_at >= c.scheduled_at - 0.01
        assert len(h.delivered()) == 2


async def test_a_start_missed_by_more_than_the_lateness_limit_expires_and_says_why(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 2)
        c = await draft(h, scheduled_at=time.time() + 3600, late_limit_s=600)
        await campaigns.launch(h.ws, c.id, ME)
        # The laptop slept through the start: an hour and a half passed.
        await h.ws.db.execute_write("UPDATE campaigns SET scheduled_at = ? WHERE id = ?", (time.time() - 5400, c.id))
        await h.rt.campaigns.tick()
        done = await finished(h, c.id)
        assert done.status == "failed" and "1.5 h late" in done.detail
        assert {s for s, _ in (await recipients(h, c.id)).values()} == {"skipped"}
        assert h.delivered() == []
        assert [e.action for e in await audit.recent(h.ws, action="campaign.expired")] == ["campaign.expired"]
        # Within the limit it still starts on wake.
        d = await draft(h, scheduled_at=time.time() + 3600, late_limit_s=7200)
        await campaigns.launch(h.ws, d.id, ME)
        await h.ws.db.execute_write("UPDATE campaigns SET scheduled_at = ? WHERE id = ?", (time.time() - 5400, d.id))
        await h.rt.campaigns.tick()
        assert (await finished(h, d.id)).status == "completed"


async def test_a_reply_within_72_hours_marks_the_recipient_replied(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 3)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        await finished(h, c.id)
        await h.engine.inbound(customer(1), "Mau dong, berapa harganya?")

        async def replied():
            return (await campaigns_store.counts(h.ws.db, c.id)).replied == 1
        await until(replied)
        rows = await campaigns_store.recipients(h.ws.db, c.id, status="replied")
        assert [r.phone for r in rows] == [customer(1)]
        group, added = await campaigns.save_as_group(h.ws, c.id, "replied", "Tertarik promo")
        assert added == 1
        members = await contacts.list_contacts(h.ws, contacts.Filters(group_id=group))
        assert [m.phone for m in members.contacts] == [customer(1)]
        with pytest.raises(Invalid):
            await campaigns.save_as_group(h.ws, c.id, "failed", "Gagal")


async def test_failed_recipients_can_be_sent_again(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 3)
        await pacing.update(h.ws, h.account_id, breaker_failures=0, breaker_sample=0)  # no circuit breaker here
        await h.engine.configure(fail_rate=1.0)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        await finished(h, c.id)
        got = await recipients(h, c.id)
        assert {s for s, _ in got.values()} == {"failed"}
        assert all("gave up after" in r for _, r in got.values())
        await h.engine.configure(fail_rate=0.0)
        result = await campaigns.retry_failed(h.ws, c.id, ME)
        assert result.queued == 3 and result.not_retried == 0
        done = await finished(h, c.id)
        assert done.status == "completed"
        assert len(h.delivered()) == 3


async def test_a_contact_who_opts_out_after_launch_is_skipped(tmp_path):
    async with running(tmp_path, connect=False) as h:
        ids = await people(h, 3)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        await contacts.set_opted_out(h.ws, ids[2], True)
        await h.connect()
        await finished(h, c.id)
        got = await recipients(h, c.id)
        assert got[customer(2)] == ("skipped", "The contact opted out.")
        assert sorted(d["to"] for d in h.delivered()) == [customer(0), customer(1)]


async def test_a_launched_campaign_cannot_be_edited_or_deleted_but_can_be_duplicated(tmp_path):
    async with running(tmp_path, connect=False) as h:
        await people(h, 2)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        with pytest.raises(Conflict):
            await campaigns.launch(h.ws, c.id, ME)
        with pytest.raises(Conflict):
            await campaigns.update(h.ws, c.id, {"name": "Other"})
        with pytest.raises(Conflict):
            await campaigns.delete_draft(h.ws, c.id)
        copy = await campaigns.duplicate(h.ws, c.id)
        assert copy.status == "draft" and copy.name == "Promo (copy)" and copy.message == c.message
        assert copy.audience == c.audience and copy.scheduled_at is None
        await campaigns.delete_draft(h.ws, copy.id)


async def test_a_launch_that_crashed_half_way_is_launched_again_cleanly(tmp_path):
    async with running(tmp_path) as h:
        await people(h, 4)
        c = await draft(h)
        # A launch stopped after its first snapshot chunk: the campaign is still a draft with some recipients.
        audience = await campaign_checks.audience_of(h.ws, c.audience, c.id)
        await h.ws.db.execute_write_fn(lambda conn: campaigns_store.snapshot(
            conn, c.id, audience, campaigns.REASONS, after_contact=0, limit=2))
        launched = await campaigns.launch(h.ws, c.id, ME)
        assert launched.total == 4
        await finished(h, c.id)
        assert len(h.delivered()) == 4
