"""The campaign scheduler: one runner task per campaign that is scheduled or sending, kept alive by the heartbeat.

State lives only in our tables. The heartbeat tick (every 15 s, `Runtime.tick_jobs`) lists the active campaigns of
every workspace and makes sure each has a runner; a runner repeats `campaign_feed.step` (which re-reads the
campaign and the wall clock each time) until the campaign needs nothing more. After a restart or a laptop's sleep
the first tick picks everything up again; nothing is remembered in memory that the tables do not also say.

Also here: replies. A contact who writes back within 72 h of a campaign message marks that recipient replied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from typing import TYPE_CHECKING

from blazz import campaign_feed, i18n, ingest
from blazz.store import campaigns as store
from blazz.store import workspaces as ws_store
from blazz.store.messages import Message
from blazz.workspaces import Workspace

if TYPE_CHECKING:
    from blazz.runtime import Runtime

log = logging.getLogger(__name__)

REPLY_WINDOW_S = 72 * 3600  # issue #7: replied = the contact answers within 72 h
RECENT_FINISH_S = 72 * 3600  # finished campaigns still get delivered/read/replied updates pushed for this long
ERROR_RETRY_S = 5.0

Key = tuple[int, int]  # (workspace id, campaign id)


class CampaignScheduler:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._runners: dict[Key, asyncio.Task] = {}
        self._wakers: dict[Key, asyncio.Event] = {}
        self._shown: dict[Key, tuple] = {}  # last progress pushed per finished campaign, to push only changes
        self._tasks: set[asyncio.Task] = set()
        self.closing = False
        _schedulers[runtime.sessions] = self

    def start(self) -> None:
        """Look at every campaign now rather than at the first heartbeat (15 s after a restart)."""
        self._spawn(self.tick())

    async def tick(self) -> None:
        """Every heartbeat: a runner for each active campaign, a nudge for the sleeping ones, news of finished ones."""
        if self.closing:
            return
        now = time.time()
        for row in await ws_store.all_workspaces(self.runtime.app_db):
            ws = await self.runtime.workspace(row)
            for campaign_id, status, scheduled_at in await store.active(ws.db):
                # Sending or due: look now. Scheduled for later: its runner already sleeps at most 15 s at a time.
                self.ensure(ws, campaign_id, wake=status == "running" or (scheduled_at or 0) <= now)
            await self._push_finished(ws)

    def ensure(self, ws: Workspace, campaign_id: int, *, wake: bool = True) -> None:
        """Run the campaign's runner (or, with `wake`, wake it if it runs)."""
        key = (ws.id, campaign_id)
        if self.closing:
            return
        runner = self._runners.get(key)
        if runner is not None and not runner.done():
            if wake:
                self._wakers[key].set()
            return
        self._wakers[key] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(ws, campaign_id),
                                                      name=f"campaign:{ws.id}:{campaign_id}")
        self._runners[key] = task
        task.add_done_callback(lambda t, k=key: self._ended(k, t))

    def _ended(self, key: Key, task: asyncio.Task) -> None:
        if self._runners.get(key) is task:
            del self._runners[key]
            self._wakers.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign runner crashed (workspace=%s campaign=%s)", *key, exc_info=task.exception())

    def running(self, ws_id: int, campaign_id: int) -> bool:
        runner = self._runners.get((ws_id, campaign_id))
        return runner is not None and not runner.done()

    async def _run(self, ws: Workspace, campaign_id: int) -> None:
        key = (ws.id, campaign_id)
        waker = self._wakers[key]
        last_push = 0.0
        # A runner started by someone's launch inherits their request's language; what it stores is English.
        i18n.activate(None)
        while not self.closing:
            waker.clear()
            try:
                result = await campaign_feed.step(ws, campaign_id)
            except Exception:
                log.exception("campaign step failed (workspace=%s campaign=%s); trying again", *key)
                result = campaign_feed.Step(False, ERROR_RETRY_S)
            now = time.monotonic()
            if result.done:
                campaign_feed.publish(ws, campaign_id)
                return
            if now - last_push >= campaign_feed.PROGRESS_EVERY_S:
                campaign_feed.publish(ws, campaign_id)
                last_push = now
            if result.sleep > 0:
                with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancel
                    async with asyncio.timeout(result.sleep):
                        await waker.wait()

    async def _push_finished(self, ws: Workspace) -> None:
        """Receipts and replies keep arriving after a campaign finished: push its numbers when they changed."""
        since = time.time() - RECENT_FINISH_S
        for campaign_id in await store.finished_since(ws.db, since):
            counts = await store.counts(ws.db, campaign_id)
            shown = (counts.by_status, counts.replied)
            key = (ws.id, campaign_id)
            if self._shown.get(key) != shown:
                if key in self._shown:
                    campaign_feed.publish(ws, campaign_id)
                self._shown[key] = shown

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop every runner; the tables hold everything, so the next start carries on where this one stopped."""
        self.closing = True
        tasks = [*self._runners.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)


# The runtime's scheduler, reached by services through their workspace (as the outbox reaches its workers).
_schedulers: weakref.WeakKeyDictionary[object, CampaignScheduler] = weakref.WeakKeyDictionary()


def scheduler_of(ws: Workspace) -> CampaignScheduler | None:
    return _schedulers.get(ws.sessions) if ws.sessions is not None else None


def wake(ws: Workspace, campaign_id: int) -> None:
    """A campaign was launched, resumed or changed: its runner looks at it now (no-op without a runtime)."""
    scheduler = scheduler_of(ws)
    if scheduler is not None:
        scheduler.ensure(ws, campaign_id)


# -- replies --------------------------------------------------------------------------------------------------------


@ingest.on_message
async def mark_replies(ws: Workspace, messages: list[Message]) -> None:
    """A customer's message marks as replied the campaign messages they got in the 72 h before it."""
    inbound = [m for m in messages if m.direction == "in" and m.source == "contact"]
    since = min((m.created_at for m in inbound), default=0) - REPLY_WINDOW_S
    if not inbound or not await store.had_campaign_messages(ws.db, {m.conversation_id for m in inbound}, since):
        return

    def write(conn: sqlite3.Connection) -> set[int]:
        touched: set[int] = set()
        for m in inbound:
            touched.update(store.mark_replied(conn, m.conversation_id, m.created_at - REPLY_WINDOW_S, m.created_at))
        return touched

    for campaign_id in sorted(await ws.db.execute_write_fn(write)):
        campaign_feed.publish(ws, campaign_id)
