"""Helpers for WhatsApp layer tests: an event recorder, sandbox account specs in a temp dir, a fast manager."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from blazz.whatsapp.events import Event
from blazz.whatsapp.protocol import AccountSpec
from blazz.whatsapp.session_manager import SessionManager

E = TypeVar("E")


class Recorder:
    """An `emit` that keeps every event and lets a test wait for the one it expects."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]

    async def wait_for(self, cls: type[E], where: Callable[[E], bool] = lambda e: True, within: float = 5.0,
                       after: int = 0) -> E:
        """The first event of `cls` matching `where` among events[after:], waiting up to `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events[after:]:
                if isinstance(event, cls) and where(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [type(e).__name__ for e in self.events[after:]]
                raise AssertionError(f"no {cls.__name__} within {within} s; saw {seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


async def until(check: Callable[[], Any], within: float = 5.0, interval: float = 0.01) -> Any:
    """Poll `check` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sandbox_spec(tmp_path: Path) -> Callable[..., AccountSpec]:
    """Build the spec of a sandbox account whose folder lives in this test's temp dir."""

    def make(account_id: int = 1, workspace_id: int = 1, **settings: Any) -> AccountSpec:
        folder = tmp_path / "workspaces" / str(workspace_id) / "whatsapp" / str(account_id)
        return AccountSpec((workspace_id, account_id), "sandbox", settings, folder)

    return make


@pytest.fixture
async def manager(recorder: Recorder) -> AsyncIterator[SessionManager]:
    """A session manager with timers short enough for tests, closed afterwards."""
    m = SessionManager(recorder, backoff_base=0.05, backoff_cap=0.2, qr_timeout=30.0, connect_timeout=5.0,
                       stop_timeout=2.0)
    yield m
    await m.close()
