"""Pacing of the campaign lane: the pure decisions with a fixed clock, then the real worker with short gaps."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
import zoneinfo

import pytest

from blazz import outbox, pacing
from blazz.errors import Invalid
from blazz.outbox import CampaignItem
from blazz.pacing import Breaker, PacingSettings, after_send, cap_today, decide
from blazz.store import outbox as outbox_store
from blazz.store.outbox import PacingState
from blazz.whatsapp.events import Inbound, InboundMessage, TemporaryBan
from tests.unit.test_outbox_harness import customer, running, until

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
# Wednesday 2026-03-04 10:00 in Jakarta
NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=JAKARTA).timestamp()
DAY = 86400


def at(day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=JAKARTA).timestamp()


def test_the_defaults_are_the_documented_safe_ones():
    s = PacingSettings()
    assert (s.gap_min_s, s.gap_max_s, s.pause_every, s.pause_min_s, s.pause_max_s) == (8, 20, 20, 300, 900)
    assert (s.daily_cap, s.warmup, s.typing, s.breaker_failures, s.breaker_rate) == (600, True, True, 5, 0.5)
    cloud = pacing.defaults_for("cloud_api")
    assert cloud.gap_min_s == 1 / 80 and cloud.daily_cap is None and not cloud.typing


def test_gaps_are_random_within_the_range_and_a_long_pause_follows_every_n():
    s = PacingSettings(pause_every=3)
    rng = random.Random(4)
    state = PacingState(1)
    gaps = []
    for _ in range(6):
        state = after_send(s, state, now=NOW, tz=JAKARTA, rng=rng)
        gaps.append(state.next_send_at - NOW)
    short = [g for i, g in enumerate(gaps) if i % 3 != 2]
    long = [g for i, g in enumerate(gaps) if i % 3 == 2]
    assert all(8 <= g <= 20 for g in short) and len(set(short)) == len(short)
    assert all(300 <= g <= 900 for g in long)
    assert state.sent_today == 6 and state.since_pause == 0 and state.day == "2026-03-04"


def test_the_lane_waits_for_the_gap():
    s = PacingSettings()
    state = PacingState(1, day="2026-03-04", next_send_at=NOW + 12)
    verdict = decide(s, state, now=NOW, tz=JAKARTA, linked_at=NOW - 60 * DAY)
    assert not verdict.go and verdict.retry_at == NOW + 12 and "Waiting between messages" in verdict.reason
    assert decide(s, state, now=NOW + 12, tz=JAKARTA, linked_at=None).go


@pytest.mark.parametrize(("days", "cap"), [(0, 40), (1, 80), (2, 80), (3, 150), (6, 150), (7, 300), (13, 300),
                                           (14, 600), (20, 600), (21, 600), (400, 600)])
def test_a_new_number_warms_up_before_its_daily_cap(days, cap):
    assert cap_today(PacingSettings(), NOW - days * DAY - 60, NOW) == cap


def test_the_warmup_never_raises_a_lower_cap_and_can_be_switched_off():
    assert cap_today(PacingSettings(daily_cap=50), NOW - 10 * DAY, NOW) == 50
    assert cap_today(PacingSettings(warmup=False), NOW, NOW) == 600
    assert cap_today(PacingSettings(daily_cap=None, warmup=False), NOW, NOW) is None


def test_the_daily_cap_holds_until_the_next_local_day():
    s = PacingSettings(daily_cap=10, warmup=False)
    state = PacingState(1, day="2026-03-04", sent_today=10)
    verdict = decide(s, state, now=NOW, tz=JAKARTA, linked_at=None)
    assert not verdict.go and "Daily limit of 10" in verdict.reason
    assert verdict.retry_at == at(5, 0)
    assert decide(s, state, now=at(5, 0, 1), tz=JAKARTA, linked_at=None).go  # a new day in Jakarta
    assert after_send(s, state, now=at(5, 0, 1), tz=JAKARTA).sent_today == 1


def test_the_send_window_follows_hours_and_weekdays_in_the_workspace_timezone():
    s = PacingSettings(window_start="09:00", window_end="17:00", weekdays=(0, 1, 2, 3, 4))
    state = PacingState(1)
    assert decide(s, state, now=NOW, tz=JAKARTA, linked_at=None).go  # Wednesday 10:00
    evening = decide(s, state, now=at(4, 18), tz=JAKARTA, linked_at=None)
    assert not evening.go and evening.retry_at == at(5, 9) and "Thu 09:00" in evening.reason
    friday_night = decide(s, state, now=at(6, 20), tz=JAKARTA, linked_at=None)
    assert friday_night.retry_at == at(9, 9)  # Monday
    # In UTC the same instant is 03:00, outside the window: the workspace's timezone is what counts.
    assert not decide(s, state, now=NOW, tz=dt.UTC, linked_at=None).go


def test_a_window_may_run_past_midnight():
    s = PacingSettings(window_start="20:00", window_end="02:00")
    state = PacingState(1)
    assert decide(s, state, now=at(4, 23), tz=JAKARTA, linked_at=None).go
    assert decide(s, state, now=at(5, 1), tz=JAKARTA, linked_at=None).go
    assert decide(s, state, now=at(5, 3), tz=JAKARTA, linked_at=None).retry_at == at(5, 20)


def test_the_owner_chatting_on_the_phone_holds_campaigns_until_quiet():
    s = PacingSettings()
    state = PacingState(1, owner_active_at=NOW - 60)
    verdict = decide(s, state, now=NOW, tz=JAKARTA, linked_at=None)
    assert not verdict.go and verdict.retry_at == NOW + 240 and "chat on the phone" in verdict.reason
    assert decide(PacingSettings(owner_quiet_s=None), state, now=NOW, tz=JAKARTA, linked_at=None).go


def test_a_pause_holds_until_its_end_or_until_resumed():
    s = PacingSettings(enabled=False)  # even with pacing off, a tripped breaker holds the lane
    held = PacingState(1, paused_reason="Campaigns paused: banned", paused_until=None)
    assert decide(s, held, now=NOW, tz=JAKARTA, linked_at=None) == pacing.Verdict(False, None,
                                                                                   "Campaigns paused: banned")
    timed = PacingState(1, paused_reason="too many failures", paused_until=NOW + 10)
    assert not decide(s, timed, now=NOW, tz=JAKARTA, linked_at=None).go
    assert decide(s, timed, now=NOW + 10, tz=JAKARTA, linked_at=None).go


def test_pacing_off_means_no_gaps_caps_or_typing():
    s = PacingSettings(enabled=False)
    state = PacingState(1, day="2026-03-04", sent_today=10_000, next_send_at=NOW + 100, owner_active_at=NOW)
    assert decide(s, state, now=NOW, tz=JAKARTA, linked_at=NOW).go
    assert pacing.typing_seconds(s, "hello") == 0


def test_typing_lasts_with_the_text_within_the_cap():
    s = PacingSettings()
    assert pacing.typing_seconds(s, "") == 1.0
    assert pacing.typing_seconds(s, "x" * 60) == 3.0
    assert pacing.typing_seconds(s, "x" * 1000) == 6.0
    assert pacing.typing_seconds(PacingSettings(typing=False), "x") == 0


def test_the_breaker_trips_on_a_run_of_failures():
    b = Breaker(PacingSettings())
    assert [b.record(False, "network") for _ in range(4)] == [None] * 4
    reason = b.record(False, "network")
    assert reason == "Campaigns paused after 5 failed messages in a row (last: network)"
    assert b.record(False, "x") is None  # counting starts again after a trip


def test_the_breaker_trips_on_a_high_failure_rate_once_the_sample_is_big_enough():
    b = Breaker(PacingSettings(breaker_sample=10, breaker_failures=0))
    results = [b.record(ok) for ok in [True, False] * 4 + [False]]
    assert results == [None] * 9  # 5 of 9 failed, but the sample is not complete
    assert b.record(False, "undeliverable").startswith("Campaigns paused: 6 of the last 10 messages failed")


@pytest.mark.parametrize(("changes", "field"), [
    ({"gap_min_s": 30, "gap_max_s": 10}, "gap_min_s"),
    ({"gap_min_s": -1}, "gap_min_s"),
    ({"gap_max_s": "soon"}, "gap_max_s"),
    ({"window_start": "9am", "window_end": "17:00"}, "window_start"),
    ({"window_start": "09:00"}, "window_start"),
    ({"weekdays": []}, "weekdays"),
    ({"weekdays": [7]}, "weekdays"),
    ({"daily_cap": -5}, "daily_cap"),
    ({"speed": 3}, "speed"),
])
async def test_bad_pacing_settings_are_refused_naming_the_field(tmp_path, changes, field):
    async with running(tmp_path, connect=False) as h:
        with pytest.raises(Invalid) as exc:
            await pacing.update(h.ws, h.account_id, **changes)
        assert exc.value.field == field


async def test_settings_are_per_account_and_kept(tmp_path):
    async with running(tmp_path, connect=False) as h:
        second = await h.add_number("Warehouse", "+6281100000002", pacing_off=False)
        changed = await pacing.update(h.ws, second, gap_min_s=30, gap_max_s=60, window_start="08:00",
                                      window_end="20:00", weekdays=[0, 1, 2, 3, 4, 5], daily_cap=None)
        assert changed.gap_max_s == 60 and changed.daily_cap is None and changed.weekdays == (0, 1, 2, 3, 4, 5)
        assert await pacing.get_settings(h.ws, second) == changed
        assert (await pacing.get_settings(h.ws, h.account_id)).enabled is False
        status = await pacing.status(h.ws, second)
        assert status.cap_today is None and status.sent_today == 0 and status.waiting == 0


async def campaign(h, n: int, start: int = 0) -> list[int]:
    contact_ids = []
    for i in range(start, start + n):
        await h.ws.db.execute_write("INSERT INTO contacts (phone, name, created_at, updated_at) VALUES (?, '', 0, 0)",
                                    (customer(i),))
        contact_ids.append(await h.ws.db.fetchval("SELECT id FROM contacts WHERE phone = ?", (customer(i),)))
    result = await outbox.enqueue_many(h.ws, [CampaignItem(c, f"Promo {c}") for c in contact_ids], campaign_id=1)
    return [m for _, m in result.queued]


async def test_the_campaign_lane_keeps_its_gaps_types_first_and_counts(tmp_path):
    async with running(tmp_path, pacing_off=False) as h:
        await pacing.update(h.ws, h.account_id, gap_min_s=0.25, gap_max_s=0.3, typing_max_s=0.1, pause_every=0,
                            warmup=False)
        await campaign(h, 4)
        await until(lambda: len(h.delivered()) == 4, within=10)
        times = [d["at"] for d in h.delivered()]
        assert all(b - a >= 0.25 for a, b in itertools.pairwise(times))
        typing = [a for a in h.engine.activity("typing") if a["on"]]
        assert [a["to"] for a in typing] == [customer(i) for i in range(4)]
        assert all(t["at"] < d["at"] for t, d in zip(typing, h.delivered(), strict=True))
        await until(lambda: sent_today(h, 4))


async def test_the_daily_cap_stops_the_lane_and_says_why(tmp_path):
    async with running(tmp_path, pacing_off=False) as h:
        await pacing.update(h.ws, h.account_id, gap_min_s=0, gap_max_s=0, daily_cap=2, warmup=False, typing=False)
        await campaign(h, 4)
        await until(lambda: len(h.delivered()) == 2)
        await until(lambda: sent_today(h, 2))
        status = await pacing.status(h.ws, h.account_id)
        assert status.sent_today == 2 and status.waiting == 2
        assert not status.verdict.go and "Daily limit of 2" in status.verdict.reason
        reply = await outbox.send_text(h.ws, to=customer(90), text="Agent reply")  # replies are not capped
        await h.until_status(reply.id, "sent", "delivered")


async def test_a_run_of_failures_pauses_the_campaign_lane_and_resume_lifts_it(tmp_path):
    async with running(tmp_path) as h:
        await pacing.update(h.ws, h.account_id, breaker_failures=3, breaker_cooldown_s=3600)
        await h.engine.configure(fail_rate=1.0)
        await campaign(h, 6)
        status = await until(lambda: _paused(h))
        assert "after 3 failed messages in a row" in status.verdict.reason
        assert status.state.paused_until > time.time() + 3000
        await h.engine.configure(fail_rate=0.0)
        reply = await outbox.send_text(h.ws, to=customer(91), text="Replies still go out")
        await h.until_status(reply.id, "sent", "delivered")
        assert all(d["text"] == "Replies still go out" for d in h.delivered())
        await pacing.resume(h.ws, h.account_id)
        await until(lambda: len(h.delivered()) == 7, within=10)


async def sent_today(h, n: int) -> bool:
    return (await outbox_store.pacing_state_of(h.ws.db, h.account_id)).sent_today == n


async def _paused(h):
    status = await pacing.status(h.ws, h.account_id)
    return status if status.state.paused_reason else None


async def test_a_temporary_ban_pauses_campaigns_until_the_owner_resumes(tmp_path):
    async with running(tmp_path) as h:
        await h.rt.on_whatsapp_event(TemporaryBan(h.key, time.time() + 3600, "sent too many messages"))
        status = await pacing.status(h.ws, h.account_id)
        assert status.state.paused_until is None
        assert "temporarily banned" in status.verdict.reason and "sent too many messages" in status.verdict.reason


async def test_campaigns_wait_while_the_owner_chats_from_the_phone(tmp_path):
    async with running(tmp_path, pacing_off=False) as h:
        await pacing.update(h.ws, h.account_id, gap_min_s=0, gap_max_s=0, typing=False, warmup=False,
                            owner_quiet_s=0.5)
        own = InboundMessage(provider_id="3EB0MINE", chat=customer(80), sender_phone=None, timestamp=time.time(),
                             kind="text", text="typed on the phone", from_me=True)
        await h.rt.on_whatsapp_event(Inbound(h.key, own))
        active_at = (await outbox_store.pacing_state_of(h.ws.db, h.account_id)).owner_active_at
        await campaign(h, 1)
        await until(lambda: h.delivered(customer(0)), within=10)
        assert h.delivered(customer(0))[0]["at"] >= active_at + 0.5
