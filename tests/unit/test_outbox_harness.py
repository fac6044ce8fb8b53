"""A running Blazz runtime with a workspace and a connected sandbox number, for the delivery pipeline's tests.

Shared by test_outbox*, test_ingest*, test_pacing and the crash test's driver; it holds no tests itself. Everything
is real: the runtime, SQLite files in a temp dir, the session manager and the sandbox engine. Only the retry
delays are shortened (30/60/120 s would make a test wait minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blazz import accounts, pacing
from blazz.config import Settings
from blazz.runtime import Runtime
from blazz.store import users as users_store
from blazz.store import workspaces as ws_store
from blazz.whatsapp.sandbox import SandboxEngine
from blazz.workspaces import Workspace

SHOP_PHONE = "+6281100000001"
FAST_RETRIES = (0.05, 0.1, 0.2)


def customer(n: int) -> str:
    """A valid Indonesian mobile number, distinct per n."""
    return f"+62812{n:08d}"


@dataclass
class Harness:
    rt: Runtime
    ws: Workspace
    account_id: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.ws.id, self.account_id)

    @property
    def engine(self) -> SandboxEngine:
        engine = self.rt.sessions.engine(self.key)
        assert isinstance(engine, SandboxEngine)
        return engine

    def delivered(self, to: str | None = None) -> list[dict[str, Any]]:
        return self.engine.delivered(to)

    async def add_number(self, name: str, phone: str, *, pacing_off: bool = True) -> int:
        account = await accounts.add(self.ws, name, "sandbox", {"phone": phone})
        if pacing_off:
            await pacing.update(self.ws, account.id, enabled=False)
        return account.id

    async def connect(self, account_id: int | None = None) -> None:
        account_id = self.account_id if account_id is None else account_id
        key = (self.ws.id, account_id)
        await accounts.connect(self.ws, account_id)
        engine = self.rt.sessions.engine(key)
        if engine.phase == "qr":
            await engine.scan()
        await until(lambda: self.rt.sessions.state(key).state == "connected")
        await until(lambda: self.rt.delivery.worker(key) is not None)

    async def disconnect(self, account_id: int | None = None) -> None:
        account_id = self.account_id if account_id is None else account_id
        await accounts.disconnect(self.ws, account_id)
        await until(lambda: self.rt.delivery.worker((self.ws.id, account_id)) is None)

    async def status(self, message_id: int) -> str:
        return await self.ws.db.fetchval("SELECT status FROM messages WHERE id = ?", (message_id,))

    async def until_status(self, message_id: int, *statuses: str, within: float = 10.0) -> str:
        deadline = time.monotonic() + within
        while True:
            status = await self.status(message_id)
            if status in statuses:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"message {message_id} is {status}, not {statuses} after {within} s")
            await asyncio.sleep(0.01)


async def until(check: Callable[[], Any], within: float = 10.0, interval: float = 0.01) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)


async def make_workspace(rt: Runtime, name: str = "Toko Sinar") -> Workspace:
    def write(conn: sqlite3.Connection) -> int:
        user_id = conn.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchone()
        owner = user_id[0] if user_id else users_store.insert(conn, "owner@shop.test", "Sari", "x")
        return ws_store.insert(conn, name.lower().replace(" ", "-"), name, owner)

    workspace_id = await rt.app_db.execute_write_fn(write)
    return await rt.workspace(await ws_store.by_id(rt.app_db, workspace_id))


@contextlib.asynccontextmanager
async def running(data_dir: Path, *, connect: bool = True, pacing_off: bool = True,
                  retry_delays: tuple[float, ...] = FAST_RETRIES) -> AsyncIterator[Harness]:
    """Start a runtime on `data_dir` with one sandbox number (connected unless asked otherwise), stop it after."""
    rt = Runtime(Settings(data_dir=Path(data_dir), start_whatsapp=True))
    rt.delivery.retry_delays = retry_delays
    await rt.start()
    try:
        rows = await ws_store.all_workspaces(rt.app_db)
        ws = await rt.workspace(rows[0]) if rows else await make_workspace(rt)
        existing = await accounts.list_views(ws)
        if existing:
            account_id = existing[0].account.id
        else:
            account = await accounts.add(ws, "Shop front", "sandbox", {"phone": SHOP_PHONE})
            account_id = account.id
            if pacing_off:
                await pacing.update(ws, account_id, enabled=False)
        h = Harness(rt, ws, account_id)
        if existing and existing[0].account.keep_connected:  # restored at startup: wait for it
            await until(lambda: rt.sessions.state(h.key).state == "connected")
            await until(lambda: rt.delivery.worker(h.key) is not None)
        elif connect:
            await h.connect()
        yield h
    finally:
        await rt.stop()
