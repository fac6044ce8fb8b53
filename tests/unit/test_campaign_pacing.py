"""A campaign's own pacing: checked with the number's rules, kept by duplicates, changed only while nothing is in
flight, and followed by the real worker with the sandbox engine: an unpaced campaign on a paced number drains at
once while the number's other campaign keeps its gaps and an agent's reply is not held; a slow campaign keeps its
own gaps on an unpaced number; the number's daily count covers them all."""

from __future__ import annotations

import itertools
import time

import pytest

from blazz import campaign_stats, campaigns, contact_groups, outbox, pacing
from blazz.errors import Conflict, Invalid
from blazz.store import campaigns as campaigns_store
from blazz.store import outbox as outbox_store
from tests.unit.test_campaigns import ME, draft, finished, group_id
from tests.unit.test_outbox_harness import customer, running, until

UNPACED = {"gap_min_s": 0, "gap_max_s": 0, "pause_every": 0, "daily_cap": None, "warmup": False,
           "window_start": None, "window_end": None, "typing": False}


async def crowd(h, group: str, n: int, start: int) -> None:
    """n contacts in a group, written in one transaction (hundreds of recipients without hundreds of writes)."""
    await contact_groups.create_group(h.ws, group)
    gid = await group_id(h, group)

    def write(conn) -> None:
        for i in range(start, start + n):
            cid = conn.execute("INSERT INTO contacts (phone, name, created_at, updated_at) VALUES (?, ?, 0, 0)",
                               (customer(i), f"Budi{i}")).lastrowid
            conn.execute("INSERT INTO contact_groups (contact_id, group_id) VALUES (?, ?)", (cid, gid))

    await h.ws.db.execute_write_fn(write)


def sent_texts(h, prefix: str) -> list[dict]:
    return [d for d in h.delivered() if d["text"].startswith(prefix)]


@pytest.mark.parametrize(("changes", "field"), [
    ({"gap_min_s": 30, "gap_max_s": 10}, "gap_min_s"),
    ({"gap_max_s": "soon"}, "gap_max_s"),
    ({"window_start": "9am", "window_end": "17:00"}, "window_start"),
    ({"window_start": "09:00"}, "window_start"),
    ({"weekdays": []}, "weekdays"),
    ({"daily_cap": -5}, "daily_cap"),
    ({"speed": 3}, "speed"),
    ({"breaker_failures": 100}, "breaker_failures"),  # the breaker protects the number: not a campaign's to change
])
async def test_a_campaigns_own_pacing_is_checked_with_the_numbers_rules_and_nothing_changes(tmp_path, changes, field):
    async with running(tmp_path, connect=False) as h:
        await crowd(h, "Pelanggan", 2, 0)
        with pytest.raises(Invalid) as exc:
            await draft(h, pacing=changes)
        assert exc.value.field == field
        assert await campaigns.list_page(h.ws) == []
        c = await draft(h, pacing={"gap_min_s": 5, "gap_max_s": 9})
        with pytest.raises(Invalid) as exc:
            await campaigns.set_pacing(h.ws, c.id, changes)
        assert exc.value.field == field
        assert (await campaigns.get(h.ws, c.id)).pacing == c.pacing


async def test_the_own_pacing_is_complete_starts_from_the_number_and_goes_with_a_duplicate(tmp_path):
    async with running(tmp_path, connect=False, pacing_off=False) as h:
        await crowd(h, "Pelanggan", 2, 0)
        c = await draft(h)
        assert c.pacing is None
        c = await campaigns.set_pacing(h.ws, c.id, {"gap_min_s": 30, "gap_max_s": 40})
        number = await pacing.get_settings(h.ws, h.account_id)
        assert c.pacing["gap_min_s"] == 30 and c.pacing["daily_cap"] == number.daily_cap
        assert set(c.pacing) == set(pacing.CAMPAIGN_KEYS)
        # Later changes of the number's pacing do not change a campaign that has its own.
        await pacing.update(h.ws, h.account_id, daily_cap=5)
        assert pacing.effective(await pacing.get_settings(h.ws, h.account_id), c.pacing).daily_cap == number.daily_cap
        # "Not paced" from the form is the API's "as fast as the engine allows".
        c = await campaigns.set_pacing(h.ws, c.id, {"enabled": False})
        assert pacing.unpaced(pacing.effective(number, c.pacing)) and c.pacing["daily_cap"] is None
        copy = await campaigns.duplicate(h.ws, c.id)
        assert copy.pacing == c.pacing
        assert (await campaigns.set_pacing(h.ws, copy.id, None)).pacing is None


async def test_the_pacing_changes_only_while_nothing_is_in_flight(tmp_path):
    async with running(tmp_path, connect=False) as h:
        await crowd(h, "Pelanggan", 2, 0)
        c = await draft(h)
        await campaigns.launch(h.ws, c.id, ME)
        with pytest.raises(Conflict, match="Pause the campaign first"):
            await campaigns.set_pacing(h.ws, c.id, {"gap_min_s": 1, "gap_max_s": 2})
        await campaigns.pause(h.ws, c.id, ME)
        paused = await campaigns.set_pacing(h.ws, c.id, {"gap_min_s": 1, "gap_max_s": 2})
        assert paused.pacing["gap_max_s"] == 2 and paused.status == "paused"
        await campaigns.cancel(h.ws, c.id, ME)
        with pytest.raises(Conflict):
            await campaigns.set_pacing(h.ws, c.id, None)
        assert (await campaigns.get(h.ws, c.id)).pacing["gap_max_s"] == 2


async def test_an_unpaced_campaign_drains_at_once_on_a_paced_number_and_the_rest_keep_their_pace(tmp_path):
    async with running(tmp_path, pacing_off=False) as h:
        # The number: one message every 0.5-0.6 s, so its own 4 take about 2 s and 300 would take 3 minutes.
        await pacing.update(h.ws, h.account_id, gap_min_s=0.5, gap_max_s=0.6, typing=False, pause_every=0,
                            daily_cap=None, warmup=False, owner_quiet_s=None)
        await crowd(h, "Slow", 4, 0)
        await crowd(h, "Fast", 300, 100)
        slow = await draft(h, text="Slow {{first_name}}", groups=["Slow"])
        fast = await draft(h, text="Fast {{first_name}}", groups=["Fast"], pacing=UNPACED)
        await campaigns.launch(h.ws, slow.id, ME)
        await until(lambda: len(sent_texts(h, "Slow")) >= 1)
        started = time.monotonic()
        await campaigns.launch(h.ws, fast.id, ME)
        reply = await outbox.send_text(h.ws, to=customer(999), text="Agent reply")
        await h.until_status(reply.id, "sent", "delivered", "read", within=3)
        done = await finished(h, fast.id, within=30)
        assert done.status == "completed" and len(sent_texts(h, "Fast")) == 300
        assert time.monotonic() - started < 15  # vs 150 s at the number's pace
        await finished(h, slow.id, within=15)
        slow_times = [d["at"] for d in sent_texts(h, "Slow")]
        assert len(slow_times) == 4
        assert all(b - a >= 0.45 for a, b in itertools.pairwise(slow_times)), slow_times  # unhurried by the other
        state = await outbox_store.pacing_state_of(h.ws.db, h.account_id)
        assert state.sent_today == 304  # the number's count covers both campaigns


async def test_a_paced_campaign_keeps_its_gaps_on_an_unpaced_number_while_another_drains(tmp_path):
    async with running(tmp_path) as h:  # the number is not paced
        await crowd(h, "Careful", 4, 0)
        await crowd(h, "Bulk", 200, 100)
        careful = await draft(h, text="Careful {{first_name}}", groups=["Careful"],
                              pacing={"gap_min_s": 0.4, "gap_max_s": 0.5, "typing": False, "pause_every": 0,
                                      "daily_cap": None, "warmup": False})
        bulk = await draft(h, text="Bulk {{first_name}}", groups=["Bulk"])
        await campaigns.launch(h.ws, careful.id, ME)
        await campaigns.launch(h.ws, bulk.id, ME)
        await finished(h, bulk.id, within=20)
        assert len(sent_texts(h, "Careful")) <= 2  # the bulk one did not wait for the careful one's gaps
        await finished(h, careful.id, within=20)
        times = [d["at"] for d in sent_texts(h, "Careful")]
        assert len(times) == 4 and all(b - a >= 0.35 for a, b in itertools.pairwise(times)), times


async def test_a_campaigns_daily_cap_holds_it_and_says_why_while_the_number_goes_on(tmp_path):
    async with running(tmp_path) as h:
        await crowd(h, "Capped", 5, 0)
        await crowd(h, "Free", 3, 100)
        capped = await draft(h, text="Capped", groups=["Capped"], pacing={**UNPACED, "daily_cap": 2})
        free = await draft(h, text="Free", groups=["Free"])
        await campaigns.launch(h.ws, capped.id, ME)
        await until(lambda: len(sent_texts(h, "Capped")) == 2)

        async def says_why():
            return "Daily limit of 2" in (await campaigns_store.get(h.ws.db, capped.id)).detail
        await until(says_why)
        await campaigns.launch(h.ws, free.id, ME)
        await finished(h, free.id)
        assert len(sent_texts(h, "Free")) == 3 and len(sent_texts(h, "Capped")) == 2
        status = await pacing.status(h.ws, h.account_id, await campaigns.get(h.ws, capped.id))
        assert not status.verdict.go and status.cap_today == 2 and status.waiting >= 1


async def test_the_estimate_follows_the_campaigns_own_pacing():
    import datetime as dt

    number = pacing.PacingSettings(enabled=False)
    own = pacing.campaign_override(number, None, {"gap_min_s": 60, "gap_max_s": 60})
    start = 1_800_000_000.0
    fast = campaign_stats.estimate_finish(pacing.effective(number, None), 11, start, dt.UTC)
    slow = campaign_stats.estimate_finish(pacing.effective(number, own), 11, start, dt.UTC)
    assert fast - start < 1 and 590 <= slow - start <= 610  # ten 60 s gaps
