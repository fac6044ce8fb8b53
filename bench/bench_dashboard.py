"""Dashboard benchmarks on a demo workspace of 100k contacts, 50k conversations and 1M messages: server time of
`dashboard.build` for the last 30 and 90 days and of the whole page, what each of its queries costs, and what keeping
the counters costs (a full recount, and the triggers' share of writing messages).

    python bench/bench_dashboard.py            # full sizes
    python bench/bench_dashboard.py --quick    # 20k contacts, 200k messages (recorded as quick)

The demo workspace is built once and kept in bench/out/ (ignored by git), so later runs start at once; a workspace
built by an older Blazz is migrated when the app opens it, as a user's would be. Everything runs in this process on
the real app (litestar's test client, logged in, no network). Results are appended to bench/RESULTS.md in
bench/run.py's format.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from litestar.testing import AsyncTestClient  # noqa: E402

from bench.run import Context, Result, log, run_suite  # noqa: E402
from blazz import dashboard, workspace_settings  # noqa: E402
from blazz.config import Settings  # noqa: E402
from blazz.runtime import Runtime  # noqa: E402
from blazz.store import dashboard as store  # noqa: E402
from blazz.store import dashboard_counters  # noqa: E402
from blazz.store import messages as messages_store  # noqa: E402
from blazz.store.database import connect  # noqa: E402
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS  # noqa: E402
from blazz.web.app import create_app  # noqa: E402

BUILD_P95_MS = 100  # issue #9: the dashboard's server time on the 1M-message demo
EMAIL, PASSWORD = "owner@shop.test", "measure twice cut once"
REPEAT = 50
CACHE = ROOT / "bench" / "out"
WRITES = 20_000  # messages written to measure the triggers' share (rolled back afterwards)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def _sizes(ctx: Context) -> tuple[int, int]:
    return (20_000, 200_000) if ctx.quick else (100_000, 1_000_000)


def demo_data_dir(ctx: Context) -> Path:
    """The cached demo's data dir, built on first use."""
    contacts_n, messages_n = _sizes(ctx)
    data_dir = CACHE / f"dashboard-demo-{contacts_n}-{messages_n}" / "data"
    if (data_dir / "workspaces").exists():
        log(f"  reusing the demo workspace in {data_dir.relative_to(ROOT)}")
        for path in (data_dir / "workspaces").glob("*/workspace.db"):  # built by an older Blazz, maybe
            WORKSPACE_MIGRATIONS.apply(path)
        return data_dir
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "BLAZZ_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    subprocess.run(ctx.blazz("admin", "create-user", "--email", EMAIL, "--password", PASSWORD, "--name", "Bench"),
                   check=True, capture_output=True, env=env)
    subprocess.run(ctx.blazz("demo", "--contacts", str(contacts_n), "--messages", str(messages_n), "--owner", EMAIL),
                   check=True, capture_output=True, text=True, env=env)
    log(f"  demo workspace built in {time.perf_counter() - started:.1f} s, kept in {data_dir.relative_to(ROOT)}")
    return data_dir


def _label(ctx: Context) -> str:
    contacts_n, messages_n = _sizes(ctx)
    return f"{contacts_n // 1000}k contacts, {contacts_n // 2000}k conversations, {messages_n / 1e6:.1f}M messages"


async def _times(fn: Callable[[], Awaitable[object]], repeat: int = REPEAT) -> list[float]:
    for _ in range(5):  # warm the caches the way a second visitor would find them
        await fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _result(name: str, times: list[float], target: float | None, extra: str = "") -> Result:
    return Result(name, _percentile(times, 0.95), "ms", target,
                  detail=f"p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms, {len(times)} runs{extra}")


async def _time_dashboard(data_dir: Path, label: str) -> list[Result]:
    app = create_app(Settings(data_dir=data_dir, start_whatsapp=False))
    opened = time.perf_counter()
    async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
        log(f"  app open in {time.perf_counter() - opened:.1f} s (migrations included)")
        await client.get("/login")
        r = await client.post("/login", data={"email": EMAIL, "password": PASSWORD},
                              headers={"x-csrftoken": client.cookies.get("blazz_csrf", "")})
        assert r.status_code in (200, 302), r.text[:200]
        runtime: Runtime = app.state.runtime
        # A new data dir is due its first daily backup, which the app starts in a thread: let it finish first, or it
        # is timed along with the dashboard (it copies the whole workspace).
        await runtime.daily_backups()
        if runtime.daily_backups.task is not None:
            waited = time.perf_counter()
            await runtime.daily_backups.task
            log(f"  waited {time.perf_counter() - waited:.1f} s for the app's daily backup")
        ws = await runtime.workspace_by_slug("demo-shop")
        tz = ZoneInfo((await workspace_settings.load(ws.db)).timezone)
        out = []
        for days in (30, 90):
            first, last = dashboard.date_range(tz, days)
            board = await dashboard.build(ws, first, last)
            facts = (f"; {board.totals['incoming']:,} in, {board.totals['outgoing']:,} out, "
                     f"{board.first_response.count:,} reply times, {board.resolution.count:,} resolutions")
            out.append(_result(f"dashboard.build, last {days} days, on {label} (p95)",
                               await _times(lambda f=first, la=last: dashboard.build(ws, f, la)), BUILD_P95_MS, facts))

        async def page() -> None:
            r = await client.get(f"/w/{ws.slug}/dashboard?days=30")
            assert r.status_code == 200, r.text[:300]

        out.append(_result(f"dashboard page, last 30 days, request to last byte, on {label} (p95)", await _times(page),
                           BUILD_P95_MS))
        # What each query costs, for the 30 days (informational).
        start, end, offset = dashboard.bounds(tz, *dashboard.date_range(tz, 30))
        now = end - 1  # the range reaches now, as the page's own
        parts = {
            "messages and conversations per day": lambda: store.days(ws.db, start, end, offset),
            "reply times (median, p90)": lambda: store.reply_times(ws.db, start, end, dashboard.QUANTILES),
            "resolution times (median, p90)": lambda: store.resolution_times(ws.db, start, end, dashboard.QUANTILES),
            "team activity": lambda: store.agent_activity(ws.db, start, end, now),
            "numbers' health": lambda: store.account_health(ws.db, start, end),
            "campaign rates": lambda: store.campaign_rates(ws.db, start, end),
        }
        for name, fn in parts.items():
            times = await _times(fn, 20)
            out.append(Result(f"  of which: {name}, 30 days (p50)", statistics.median(times), "ms",
                              detail=f"p95 {_percentile(times, 0.95):.1f} ms, 20 runs"))
        return out


def dashboard_build(ctx: Context) -> list[Result]:
    """Server time of the dashboard (the service, then the whole page) on the demo workspace."""
    return asyncio.run(_time_dashboard(demo_data_dir(ctx), _label(ctx)))


def _message_rows(conn: sqlite3.Connection, n: int) -> list[tuple]:
    """`n` messages as live traffic writes them: customers writing, the team replying, spread over the last day."""
    conversations = [r[0] for r in conn.execute("SELECT id FROM conversations ORDER BY random() LIMIT 2000")]
    owner = conn.execute("SELECT author_id FROM messages WHERE author_id IS NOT NULL LIMIT 1").fetchone()
    rnd = random.Random(9)
    now = int(time.time())
    rows = []
    for i in range(n):
        incoming = rnd.random() < 0.5
        rows.append((rnd.choice(conversations), 1, "in" if incoming else "out", f"bench {i}",
                     "received" if incoming else "queued", "contact" if incoming else "agent",
                     None if incoming else owner[0], now - 86_400 + i * 86_400 // n))
    return rows


def counters_upkeep(ctx: Context) -> list[Result]:
    """A full recount of the counters (migration backfill, end of a demo load) and the triggers' share of writes."""
    data_dir = demo_data_dir(ctx)
    path = next((data_dir / "workspaces").glob("*/workspace.db"))
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        t0 = time.perf_counter()
        dashboard_counters.rebuild(conn)
        recount = time.perf_counter() - t0
        conn.execute("ROLLBACK")
        rows = _message_rows(conn, WRITES)
        sql = ("INSERT INTO messages (conversation_id, account_id, direction, body, status, source, author_id,"
               " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        spent = {}
        for with_counters in (True, False, True, False):
            conn.execute("BEGIN IMMEDIATE")
            if not with_counters:
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
                                            (dashboard_counters.TRIGGER_PREFIX + "%",)).fetchall():
                    conn.execute(f'DROP TRIGGER "{name}"')
            t0 = time.perf_counter()
            conn.executemany(sql, rows)
            messages_store.index_queued(conn)  # the search index, as the server's writer does before committing
            spent[with_counters] = min(spent.get(with_counters, 1e9), time.perf_counter() - t0)
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    messages_n = _sizes(ctx)[1]
    per_message = (spent[True] - spent[False]) / WRITES * 1e6
    return [
        Result(f"recount of every dashboard counter from {messages_n / 1e6:.1f}M messages", recount, "s",
               detail="what migration m014 does to an existing workspace, and `blazz demo` after its load"),
        Result(f"writing {WRITES:,} messages with the counters' triggers (best of 2)", spent[True] * 1000, "ms",
               detail=f"{spent[False] * 1000:.0f} ms without them: {per_message:.0f} µs more per message, "
                      "in one transaction (search indexing included in both)"),
    ]


DASHBOARD_BENCHMARKS = [dashboard_build, counters_upkeep]


def main(argv: list[str] | None = None) -> int:
    return run_suite(DASHBOARD_BENCHMARKS, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
