"""Inbox benchmarks on a demo workspace of 100k contacts, 50k conversations and 1M messages: server time of the
conversation list, of a thread page and of search, and how fast an inbound message reaches 50 open tabs.

    python bench/bench_inbox.py            # full sizes
    python bench/bench_inbox.py --quick    # 20k contacts, 200k messages (recorded as quick)

List, thread and search are timed through the real app in this process (litestar's test client, logged in, no
network). Server time is taken inside the app's ASGI call, from the request entering it to the last byte of the
response leaving it (middleware, session, queries and template rendering included); the client's round trip
(test client and its thread hop added) is given beside it. The fan-out runs a real
`blazz serve` on the same data, opens 50 event streams (one per browser tab) and times each inbound message from the
moment the sandbox customer sends it until each stream has its `message.new` event. Results are appended to
bench/RESULTS.md in bench/run.py's format.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402

from bench.run import Context, Result, finish, log, machine, run_each, start_server, stop_server  # noqa: E402
from blazz.config import Settings  # noqa: E402
from blazz.web.app import create_app  # noqa: E402

LIST_P95_MS = 15  # issue #5: first page of the conversation list, and a thread page
SEARCH_P95_MS = 20  # issue #5: full-text search
FANOUT_P99_MS = 50  # issue #5: an inbound message reaches 50 connected SSE clients
TABS = 50
EMAIL, PASSWORD = "owner@shop.test", "measure twice cut once"
REPEAT = 100


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def make_demo(ctx: Context, data_dir: Path, contacts_n: int, messages_n: int) -> str:
    env = {**os.environ, "BLAZZ_DATA_DIR": str(data_dir)}
    subprocess.run(ctx.blazz("admin", "create-user", "--email", EMAIL, "--password", PASSWORD, "--name", "Bench"),
                   check=True, capture_output=True, env=env)
    done = subprocess.run(ctx.blazz("demo", "--contacts", str(contacts_n), "--messages", str(messages_n),
                                    "--owner", EMAIL), check=True, capture_output=True, text=True, env=env)
    return done.stdout.strip().splitlines()[-1]


def _facts(data_dir: Path) -> dict:
    """Ids the cases need, read straight from the workspace file."""
    path = next((data_dir / "workspaces").glob("*/workspace.db"))
    conn = sqlite3.connect(path)
    try:
        busiest, lines = conn.execute("SELECT conversation_id, count(*) n FROM messages GROUP BY 1"
                                      " ORDER BY n DESC LIMIT 1").fetchone()
        middle = conn.execute("SELECT id FROM messages WHERE conversation_id = ? ORDER BY id LIMIT 1 OFFSET ?",
                              (busiest, lines // 2)).fetchone()[0]
        group, members = conn.execute("SELECT group_id, count(*) n FROM contact_groups GROUP BY 1"
                                      " ORDER BY n DESC LIMIT 1").fetchone()
        counts = dict(conn.execute("SELECT status, count(*) FROM conversations GROUP BY 1").fetchall())
        total = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        conn.close()
    return {"busiest": busiest, "lines": lines, "middle": middle, "group": group, "members": members,
            "counts": counts, "messages": total}


async def _login(client: AsyncTestClient) -> None:
    await client.get("/login")
    r = await client.post("/login", data={"email": EMAIL, "password": PASSWORD},
                          headers={"x-csrftoken": client.cookies.get("blazz_csrf", "")})
    assert r.status_code in (200, 302), r.text[:200]


class ServerTimer:
    """Wraps the ASGI app and records, per HTTP request, the time from entering the app to its last body byte."""

    def __init__(self, app) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()

        async def timed(message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times.append((time.perf_counter() - started) * 1000)

        await self.app(scope, receive, timed)


async def _time(client: AsyncTestClient, timer: ServerTimer, url: str, headers: dict
                ) -> tuple[list[float], list[float], int]:
    for _ in range(5):  # warm the caches the way a second visitor would find them
        await client.get(url, headers=headers)
    timer.times.clear()
    trips, size = [], 0
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        r = await client.get(url, headers=headers)
        trips.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        size = len(r.content)
    assert len(timer.times) == REPEAT, len(timer.times)
    return list(timer.times), trips, size


async def _time_pages(data_dir: Path, slug: str, facts: dict, label: str) -> list[Result]:
    timer = ServerTimer(create_app(Settings(data_dir=data_dir, start_whatsapp=False)))
    htmx = {"hx-request": "true"}
    base = f"/w/{slug}/inbox"
    async with AsyncTestClient(app=timer, base_url="http://bench.local") as client:
        await _login(client)
        first = (await client.get(f"{base}/list?status=all", headers=htmx)).text
        cursor = first.split("cursor=", 1)[1].split("&", 1)[0]
        cases = [
            ("conversation list, first page (open), as you open the inbox", f"{base}/list", LIST_P95_MS),
            ("conversation list, first page (every status)", f"{base}/list?status=all", LIST_P95_MS),
            ("conversation list, unassigned", f"{base}/list?view=unassigned", LIST_P95_MS),
            (f"conversation list, one contact group ({facts['members']:,} contacts)",
             f"{base}/list?status=all&group={facts['group']}", LIST_P95_MS),
            ("conversation list, next page (cursor)", f"{base}/list?status=all&cursor={cursor}", LIST_P95_MS),
            (f"thread page, newest 50 of the busiest conversation ({facts['lines']:,} messages)",
             f"{base}/{facts['busiest']}/messages", LIST_P95_MS),
            ("thread page, 50 older ones from its middle (scrolling up)",
             f"{base}/{facts['busiest']}/messages?before={facts['middle']}", LIST_P95_MS),
            ("search messages and contacts: a common word, 'kak'", f"{base}/search?q=kak", SEARCH_P95_MS),
            ("search messages and contacts: two words, 'kopi arabika'", f"{base}/search?q=kopi+arabika",
             SEARCH_P95_MS),
            ("search messages and contacts: a word being typed, 'ongk'", f"{base}/search?q=ongk", SEARCH_P95_MS),
            ("search messages and contacts: an order number, 'INV4'", f"{base}/search?q=INV4", SEARCH_P95_MS),
        ]
        out = []
        for name, url, target in cases:
            times, trips, size = await _time(client, timer, url, htmx)
            out.append(Result(f"{name} on {label}, server time (p95)", _percentile(times, 0.95), "ms", target,
                              detail=f"p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms, "
                                     f"{REPEAT} requests, {size // 1024} KB; round trip through the test client "
                                     f"p95 {_percentile(trips, 0.95):.1f} ms"))
        return out


def inbox_pages(ctx: Context, data_dir: Path, slug: str, facts: dict, label: str) -> list[Result]:
    return asyncio.run(_time_pages(data_dir, slug, facts, label))


# -- fan-out --------------------------------------------------------------------------------------------------------


async def _fanout(url: str, slug: str, token: str, messages: int) -> tuple[list[float], int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
        await browser.get("/login")
        await browser.post("/login", data={"email": EMAIL, "password": PASSWORD},
                           headers={"x-csrftoken": browser.cookies.get("blazz_csrf", "")})
        cookies = dict(browser.cookies)
    arrived: dict[str, list[float]] = {}
    ready = asyncio.Event()
    connected = 0
    limits = httpx.Limits(max_connections=TABS + 5)

    async def tab(client: httpx.AsyncClient) -> None:
        nonlocal connected
        async with client.stream("GET", f"/w/{slug}/events", cookies=cookies) as stream:
            name = None
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:") and name == "hello":
                    connected += 1
                    if connected == TABS:
                        ready.set()
                elif line.startswith("data:") and name == "message.new":
                    stamp = time.perf_counter()
                    marker = line.split('"message_id": ', 1)[1].split(",", 1)[0]
                    arrived.setdefault(marker, []).append(stamp)

    async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as streams, \
            httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as api:
        tasks = [asyncio.create_task(tab(streams)) for _ in range(TABS)]
        await asyncio.wait_for(ready.wait(), 30)
        latencies: list[float] = []
        for i in range(messages):
            sent = time.perf_counter()
            r = await api.post("/api/v1/sandbox/accounts/1/inbound",
                               json={"from": f"+62812990{i:05d}", "text": f"Halo, pesanan nomor {i}"})
            assert r.status_code < 300, r.text
            deadline = time.perf_counter() + 5
            while time.perf_counter() < deadline:
                done = [k for k, v in arrived.items() if len(v) == TABS]
                if done:
                    latencies += [(t - sent) * 1000 for t in arrived.pop(done[0])]
                    break
                await asyncio.sleep(0.001)
            else:
                raise AssertionError(f"message {i} did not reach all {TABS} streams within 5 s")
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, messages


def sse_fanout(ctx: Context, data_dir: Path, slug: str, label: str) -> list[Result]:
    """A real server on the demo data: the sandbox number reconnects at start, 50 tabs listen."""
    env = {**os.environ, "BLAZZ_DATA_DIR": str(data_dir)}
    token = subprocess.run(ctx.blazz("admin", "create-token", "--workspace", slug, "--name", "bench", "--role",
                                     "admin"), check=True, capture_output=True, text=True, env=env).stdout.strip()
    proc, url, _ = start_server(ctx, data_dir)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            r = httpx.get(f"{url}/api/v1/accounts/1", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if r.json().get("status") == "connected":
                break
            time.sleep(0.2)
        gc.disable()  # the 50 listening tabs share this process: its collector must not pause them mid-measure
        try:
            latencies, n = asyncio.run(_fanout(url, slug, token, 40 if ctx.quick else 100))
        finally:
            gc.enable()
    finally:
        stop_server(proc)
    return [Result(f"inbound message to {TABS} open event streams on {label}, end to end (p99)",
                   _percentile(latencies, 0.99), "ms", FANOUT_P99_MS,
                   detail=f"p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms; {n} messages "
                          f"× {TABS} streams, from the sandbox customer's send to each stream's event")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data sizes")
    parser.add_argument("--data-dir", type=Path, help="reuse a data dir made by an earlier run (kept, not deleted)")
    parser.add_argument("--only", choices=["pages", "fanout"], action="append")
    args = parser.parse_args(argv)
    facts_machine = machine()
    ctx = Context(quick=args.quick)
    contacts_n, messages_n = (20_000, 200_000) if args.quick else (100_000, 1_000_000)
    data_dir = args.data_dir or ctx.folder("inbox") / "data"
    if args.data_dir is None or not (data_dir / "workspaces").exists():
        started = time.perf_counter()
        slug = make_demo(ctx, data_dir, contacts_n, messages_n)
        log(f"demo workspace of {contacts_n:,} contacts and {messages_n:,} messages in "
            f"{time.perf_counter() - started:.1f} s")
    else:
        slug = "demo-shop"
    facts = _facts(data_dir)
    label = (f"{contacts_n // 1000}k contacts, {sum(facts['counts'].values()) // 1000}k conversations, "
             f"{facts['messages'] / 1e6:.1f}M messages")
    benchmarks = [("pages", lambda: inbox_pages(ctx, data_dir, slug, facts, label)),
                  ("fanout", lambda: sse_fanout(ctx, data_dir, slug, label))]
    results, failures = run_each([(n, b) for n, b in benchmarks if not args.only or n in args.only])
    return finish(ctx, results, failures, facts_machine)


if __name__ == "__main__":
    sys.exit(main())
