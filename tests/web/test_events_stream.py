"""The SSE stream: authenticated, scoped to one workspace, carrying named HTML fragments — over a real server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from blazz.bus import Bus
from blazz.config import Settings
from blazz.web.app import create_app


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    settings = Settings(data_dir=tmp_path / "data", start_whatsapp=False)
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive(), "server must stop even with streams open"


async def logged_in(base: str, setup: bool, email: str, workspace: str | None = None) -> httpx.AsyncClient:
    c = httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=10)
    await c.get("/login")
    token = c.cookies["blazz_csrf"]
    if setup:
        await c.post("/setup", data={"email": email, "password": "a long password", "workspace": "Shop A"},
                     headers={"x-csrftoken": token})
    else:
        await c.post("/login", data={"email": email, "password": "a long password"}, headers={"x-csrftoken": token})
    if workspace:
        await c.post("/workspaces/new", data={"name": workspace}, headers={"x-csrftoken": c.cookies["blazz_csrf"]})
    return c


async def read_events(lines, want: int, within_s: float) -> list[tuple[str, str]]:
    """Read up to `want` events from an SSE line iterator within `within_s` seconds."""
    events, name = [], None
    try:
        async with asyncio.timeout(within_s):
            async for line in lines:
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and name:
                    events.append((name, line.split(":", 1)[1].strip()))
                    if len(events) >= want:
                        break
    except TimeoutError:
        pass
    return events


async def test_event_for_workspace_a_reaches_a_and_never_b(live_server):
    base, app = live_server
    owner = await logged_in(base, True, "owner@shop.test", workspace="Shop B")
    rt = app.state.runtime
    ws_a = await rt.workspace_by_slug("shop-a")
    ws_b = await rt.workspace_by_slug("shop-b")
    async with owner.stream("GET", "/w/shop-a/events") as stream_a, owner.stream("GET", "/w/shop-b/events") as stream_b:
        assert stream_a.status_code == 200 and stream_a.headers["content-type"].startswith("text/event-stream")
        lines_a, lines_b = stream_a.aiter_lines(), stream_b.aiter_lines()
        assert (await read_events(lines_a, 1, 5))[0][0] == "hello"
        assert (await read_events(lines_b, 1, 5))[0][0] == "hello"
        for _ in range(50):  # wait until both subscriptions are registered on the bus
            if rt.bus.subscribers(ws_a.id) and rt.bus.subscribers(ws_b.id):
                break
            await asyncio.sleep(0.05)

        async def publish():  # the bus belongs to the server's event loop, which runs in another thread here
            rt.bus.publish(ws_a.id, "toast", message="<b>Order #12</b> paid", level="info")

        asyncio.run_coroutine_threadsafe(publish(), rt.loop).result(5)
        got_a = await read_events(lines_a, 1, 5)
        got_b = await read_events(lines_b, 1, 1.5)
    assert got_a and got_a[0][0] == "toast"
    assert "&lt;b&gt;Order #12&lt;/b&gt; paid" in got_a[0][1], "fragment text is escaped"
    assert got_b == [], "workspace B never sees workspace A's events"
    await owner.aclose()


async def test_events_need_login(live_server):
    base, _ = live_server
    async with httpx.AsyncClient(base_url=base) as anon:
        r = await anon.get("/w/shop-a/events")
        assert r.status_code == 302 and r.headers["location"].startswith("/login")


def test_bus_delivers_only_to_its_workspace_and_drops_oldest_when_full():
    async def scenario():
        bus = Bus()
        with bus.subscribe(1) as a, bus.subscribe(2) as b:
            bus.publish(1, "x", n=1)
            assert (await a.next(0.1)).data == {"n": 1}
            assert await b.next(0.05) is None
            for i in range(600):
                bus.publish(1, "x", n=i)
            assert a.dropped == 100 and a.queue.qsize() == 500
            bus.close()
            with pytest.raises(StopAsyncIteration):
                while True:
                    await a.next(0.1)
        assert bus.subscribers(1) == 0

    asyncio.run(scenario())
