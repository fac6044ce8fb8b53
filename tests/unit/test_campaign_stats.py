"""When a campaign finishes at its number's pace (window, daily cap, warm-up, long pauses), and its sends over time
as chart buckets."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import replace

from blazz.campaign_stats import estimate_finish, seconds_per_message, sends_chart
from blazz.pacing import PacingSettings
from tests.unit.test_outbox_harness import running

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
PLAIN = PacingSettings(gap_min_s=10, gap_max_s=10, pause_every=0, daily_cap=None, warmup=False, typing=False)


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JAKARTA).timestamp()


def local(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, JAKARTA).strftime("%Y-%m-%d %H:%M")


def test_an_unpaced_number_finishes_in_moments_and_a_paced_one_takes_its_gaps():
    start = at("2026-12-01 09:00")
    assert estimate_finish(replace(PLAIN, enabled=False), 1000, start, JAKARTA) - start < 10
    assert local(estimate_finish(PLAIN, 7, start, JAKARTA)) == "2026-12-01 09:01"  # 6 gaps of 10 s after the first
    assert estimate_finish(PLAIN, 0, start, JAKARTA) == start


def test_long_pauses_and_typing_make_each_message_slower():
    paused = replace(PLAIN, pause_every=10, pause_min_s=300, pause_max_s=300)
    assert seconds_per_message(paused) == 10 + 30
    typing = replace(PLAIN, typing=True, typing_max_s=6.0)
    assert seconds_per_message(typing, text_length=60) == 10 + 3


def test_the_send_window_and_the_daily_cap_push_the_rest_to_later_days():
    windowed = replace(PLAIN, gap_min_s=60, gap_max_s=60, window_start="09:00", window_end="10:00")
    # 60 per hour-long window: 90 messages need a second morning; started at night it waits for the window.
    assert local(estimate_finish(windowed, 90, at("2026-12-01 09:00"), JAKARTA)) == "2026-12-02 09:29"
    assert local(estimate_finish(windowed, 10, at("2026-12-01 22:00"), JAKARTA)) == "2026-12-02 09:09"
    capped = replace(PLAIN, daily_cap=100)
    assert local(estimate_finish(capped, 250, at("2026-12-01 08:00"), JAKARTA)) == "2026-12-03 00:08"
    assert local(estimate_finish(capped, 50, at("2026-12-01 08:00"), JAKARTA, sent_today=80)) == "2026-12-02 00:04"


def test_a_new_number_warms_up_before_its_own_cap():
    warm = replace(PLAIN, gap_min_s=1, gap_max_s=1, daily_cap=600, warmup=True)
    start = at("2026-12-01 08:00")
    # Linked at 08:00: 40 on its first local day, 40 more after midnight while still in its first 24 h, then the
    # cap rises to 80 at 08:00 (40 more that day), and the rest comes after the next midnight.
    assert local(estimate_finish(warm, 120, start, JAKARTA, linked_at=start)) == "2026-12-02 08:00"
    assert local(estimate_finish(warm, 200, start, JAKARTA, linked_at=start)) == "2026-12-03 00:01"
    assert estimate_finish(replace(PLAIN, gap_min_s=86400, gap_max_s=86400), 10**6, start, JAKARTA) is None


async def test_sends_are_counted_per_bucket_with_empty_buckets_kept(tmp_path):
    async with running(tmp_path, connect=False) as h:
        def write(conn):
            conn.execute("INSERT INTO campaigns (name, created_at, updated_at) VALUES ('x', 0, 0)")
            conn.executemany("INSERT INTO campaign_recipients (campaign_id, contact_id, status, sent_at)"
                             " VALUES (1, ?, 'sent', ?)", [(i, 1_000_000 + s) for i, s in enumerate([0, 1, 2, 30, 31,
                                                                                                     119])])
        await h.ws.db.execute_write_fn(write)
        assert await sends_chart(h.ws.db, 2) is None
        chart = await sends_chart(h.ws.db, 1)
        assert chart.bucket_s == 5 and chart.bucket_label == "5 seconds" and chart.peak == 3
        assert [b.count for b in chart.bars][:8] == [3, 0, 0, 0, 0, 0, 2, 0]
        assert sum(b.count for b in chart.bars) == 6 and chart.bars[0].at == 1_000_000
