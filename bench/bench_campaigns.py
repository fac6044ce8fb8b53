"""Campaign benchmarks: launching a big campaign, draining one through the pipeline, and the scheduler's tick.

    python bench/bench_campaigns.py            # full sizes
    python bench/bench_campaigns.py --quick    # smaller sizes (recorded as quick)

Everything runs in this process on the real runtime: SQLite files in a scratch folder, the scheduler, the session
manager and the sandbox engine (pacing off). Results are appended to bench/RESULTS.md in bench/run.py's format;
`CAMPAIGN_BENCHMARKS` can join bench/run.py's list as they are.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import Setup, customer, until  # noqa: E402
from bench.run import Context, Result, run_suite  # noqa: E402
from blazz import audit, campaigns  # noqa: E402
from blazz.store import campaigns as campaigns_store  # noqa: E402

LAUNCH_TARGET_S = 3.0  # issue #7: launching a 100k-recipient campaign (snapshot + exclusions)
DRAIN_TARGET = 3000  # msg/s with pacing off (issue #7)
TICK_TARGET_MS = 5.0  # scheduler tick with 100 idle campaigns (issue #7)


async def _audience(s: Setup, n: int) -> int:
    """n contacts in one group with a custom field; 2 % opted out, 1 % known not to be on WhatsApp, 1 % without a
    first name (a fallback fills it)."""
    def write(conn: sqlite3.Connection) -> int:
        group = conn.execute("INSERT INTO groups (name, created_at) VALUES ('Pelanggan', 0)").lastrowid
        conn.execute("INSERT INTO custom_fields (key, label, type, created_at) VALUES ('city', 'City', 'text', 0)")
        conn.executemany(
            "INSERT INTO contacts (phone, name, first_name, fields, opted_out_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 0, 0)",
            ((customer(i), f"Customer {i}", "" if i % 100 == 7 else f"Budi{i}", '{"city": "Medan"}',
              1 if i % 50 == 3 else None) for i in range(n)))
        conn.execute("INSERT INTO contact_groups (contact_id, group_id) SELECT id, ? FROM contacts", (group,))
        conn.executemany("INSERT INTO number_checks (phone, on_whatsapp, checked_at) VALUES (?, 0, ?)",
                         ((customer(i), int(time.time())) for i in range(0, n, 100)))
        return group

    return await s.ws.db.execute_write_fn(write)


async def _draft(s: Setup, group: int, name: str) -> int:
    c = await campaigns.create(s.ws, {"name": name, "account_id": s.account_id,
                                      "message": {"text": "Halo {{first_name|Kak}}, promo di {{city}}!",
                                                  "variants": ["Hai {{first_name|Kak}}, ada promo di {{city}}"]},
                                      "audience": {"groups": [group], "recent_days": 7}})
    return c.id


async def _launch(data_dir: Path, n: int) -> list[Result]:
    async with Setup(data_dir) as s:
        group = await _audience(s, n)
        cid = await _draft(s, group, "Launch")
        cpu0 = time.process_time()
        started = time.perf_counter()
        launched = await campaigns.launch(s.ws, cid, audit.SYSTEM)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        counts = await campaigns_store.counts(s.ws.db, cid)
        assert launched.total == n, launched.total
        return [Result(f"launch a {n:,}-recipient campaign (checks, exclusions, snapshot)", wall, "s",
                       LAUNCH_TARGET_S,
                       detail=f"{cpu:.2f} s CPU; {counts['pending']:,} pending, {counts['skipped']:,} skipped "
                              f"(opted out, not on WhatsApp); recently-messaged guard on; snapshot in "
                              f"{campaigns.SNAPSHOT_CHUNK:,}-contact transactions")]


async def _drain(data_dir: Path, n: int) -> list[Result]:
    async with Setup(data_dir) as s:
        group = await _audience(s, n)
        cid = await _draft(s, group, "Drain")
        engine = await s.connect()
        cpu0 = time.process_time()
        started = time.perf_counter()
        await campaigns.launch(s.ws, cid, audit.SYSTEM)

        async def completed() -> bool:
            return (await campaigns_store.get(s.ws.db, cid)).status == "completed"

        await until(completed)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        counts = await campaigns_store.counts(s.ws.db, cid)
        delivered = len(engine.delivered())
        assert delivered == counts.sent, (delivered, counts)
        return [Result(f"campaign of {n:,} recipients, launch → completed, pacing off", counts.sent / wall, "msg/s",
                       DRAIN_TARGET, lower_is_better=False,
                       detail=f"{counts.sent:,} sent in {wall:.1f} s wall, {cpu:.1f} s CPU; personalised per "
                              f"recipient, 2 rotating texts, fed a window at a time; receipts processed meanwhile")]


async def _tick(data_dir: Path, campaigns_n: int, ticks: int) -> list[Result]:
    async with Setup(data_dir) as s:
        group = await _audience(s, 50)
        later = time.time() + 30 * 86400
        for i in range(campaigns_n):
            cid = await _draft(s, group, f"Later {i}")
            await campaigns.update(s.ws, cid, {"scheduled_at": later})
            await campaigns.launch(s.ws, cid, audit.SYSTEM)
        await s.rt.campaigns.tick()  # every idle campaign has its (sleeping) runner now
        times = []
        for _ in range(ticks):
            started = time.perf_counter()
            await s.rt.campaigns.tick()
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        return [Result(f"scheduler tick with {campaigns_n} idle (scheduled) campaigns (median)",
                       statistics.median(times), "ms", TICK_TARGET_MS,
                       detail=f"p95 {p95:.2f} ms, max {times[-1]:.2f} ms over {ticks} ticks")]


def campaign_launch(ctx: Context) -> list[Result]:
    """Launching a big campaign: audience checks, exclusions and the snapshot of its recipients."""
    n = 20_000 if ctx.quick else 100_000
    return asyncio.run(_launch(ctx.folder("campaign-launch") / "data", n))


def campaign_drain(ctx: Context) -> list[Result]:
    """A campaign with pacing off through the scheduler, the feeding windows and the outbox to the sandbox."""
    n = 10_000 if ctx.quick else 50_000
    return asyncio.run(_drain(ctx.folder("campaign-drain") / "data", n))


def campaign_tick(ctx: Context) -> list[Result]:
    """The heartbeat's campaign tick while 100 campaigns wait for their time."""
    return asyncio.run(_tick(ctx.folder("campaign-tick") / "data", 100, 50 if ctx.quick else 200))


CAMPAIGN_BENCHMARKS = [campaign_launch, campaign_drain, campaign_tick]


def main(argv: list[str] | None = None) -> int:
    return run_suite(CAMPAIGN_BENCHMARKS, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
