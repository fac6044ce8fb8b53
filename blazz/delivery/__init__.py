"""Delivery: the outbox's workers (one per connected account) and the receipts that move sent messages forward.

The runtime builds one `Delivery` and routes session events to it: an account that becomes `connected` gets a
worker, any other state stops it (nothing is attempted while a number is offline; its queue waits and resumes on
reconnect). Receipts move messages `sent → delivered → read`, never backwards; a receipt that arrives while its
message is still being recorded as sent waits for that record instead of being lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from blazz import media, message_webhooks, outbox, pacing
from blazz.delivery.worker import AccountWorker, Outcome
from blazz.store import messages as messages_store
from blazz.store import workspaces as ws_store
from blazz.whatsapp.engines import engine_class
from blazz.whatsapp.events import AccountKey, Receipt, StateChanged, TemporaryBan
from blazz.workspaces import Workspace

if TYPE_CHECKING:
    from blazz.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (30.0, 60.0, 120.0)  # issue #4 and DESIGN §5: retry after 30 s, 60 s, 120 s, then fail
STOP_TIMEOUT_S = 5.0  # a worker finishes the send in hand; whatever is left unrecorded is settled on next start
# Engines that send under the message id we choose, so a resend after a crash is the same message (the sandbox's
# network dedupes by id). An engine class may say so itself with `accepts_message_id`.
HONOURS_MESSAGE_ID = frozenset({"sandbox"})
_RANK = {"delivered": 1, "read": 2, "failed": 0}


class Delivery:
    def __init__(self, runtime: Runtime, *, retry_delays: Sequence[float] = RETRY_DELAYS_S):
        self.runtime = runtime
        self.sessions = runtime.sessions
        self.retry_delays = tuple(retry_delays)
        self._workers: dict[AccountKey, AccountWorker] = {}
        self._last: dict[AccountKey, asyncio.Task] = {}
        # provider id → message id of sends whose result is not recorded yet, per account
        self._flying: dict[AccountKey, dict[str, int]] = {}
        # receipts that arrived for those, applied once the send is recorded: provider id → (status, at, error)
        self._early: dict[AccountKey, dict[str, tuple[str, float, str | None]]] = {}
        self._tasks: set[asyncio.Task] = set()
        self.closing = False
        outbox.attach(self.sessions, self)

    # -- workers -------------------------------------------------------------------------------------------------

    def start_worker(self, ws: Workspace, account_id: int) -> None:
        key = (ws.id, account_id)
        current = self._workers.get(key)
        if self.closing or (current is not None and not current.stopping):
            return
        worker = AccountWorker(self, ws, account_id, self._last.get(key))
        self._workers[key] = worker
        self._last[key] = worker.task
        worker.task.add_done_callback(lambda task, w=worker: self._ended(w, task))
        log.info("delivery worker started (workspace=%s account=%s)", *key)

    def stop_worker(self, key: AccountKey) -> None:
        worker = self._workers.pop(key, None)
        if worker is not None:
            worker.stop()
            log.info("delivery worker stopping (workspace=%s account=%s)", *key)

    def _ended(self, worker: AccountWorker, task: asyncio.Task) -> None:
        if self._workers.get(worker.key) is worker:
            del self._workers[worker.key]
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery worker crashed (workspace=%s account=%s)", *worker.key, exc_info=task.exception())

    def worker(self, key: AccountKey) -> AccountWorker | None:
        return self._workers.get(key)

    def wake(self, workspace_id: int, account_id: int, *, campaign: bool = False, reload: bool = False) -> None:
        worker = self._workers.get((workspace_id, account_id))
        if worker is not None:
            worker.wake(campaign=campaign, reload=reload)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run background work (a media download) that the shutdown cancels."""
        if self.closing:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery background task failed", exc_info=task.exception())

    def honours_message_id(self, key: AccountKey) -> bool:
        """Whether the account's engine sends under our pre-generated id (then a resend is not a duplicate)."""
        name = self.sessions.state(key).engine
        if name is None:
            return False
        return bool(getattr(engine_class(name), "accepts_message_id", name in HONOURS_MESSAGE_ID))

    def in_flight(self, key: AccountKey) -> dict[str, int]:
        return self._flying.setdefault(key, {})

    async def stop(self) -> None:
        """Stop every worker (each finishes the send in hand and records it) and background task."""
        self.closing = True
        for key in list(self._workers):
            self.stop_worker(key)
        pending = [t for t in self._last.values() if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_TIMEOUT_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)

    # -- session events ------------------------------------------------------------------------------------------

    async def on_state(self, ws: Workspace, event: StateChanged) -> None:
        """A worker while the account is connected, none otherwise. Events of one account may reach us out of
        order (each is routed in its own task), so the session manager's state now decides, not the event's."""
        if self.sessions.state(event.key).state == "connected":
            self.start_worker(ws, event.key[1])
        else:
            self.stop_worker(event.key)

    async def on_ban(self, ws: Workspace, event: TemporaryBan) -> None:
        """A temporary ban holds the campaign lane until the owner resumes it, with the reason and the end."""
        if event.expires_at and event.expires_at < float("inf"):
            tz = await pacing.timezone_of(ws)
            until = dt.datetime.fromtimestamp(event.expires_at, tz).strftime("%d %b %H:%M")
            when = f" until {until}"
        else:
            when = ""
        await pacing.pause(ws, event.key[1], f"Campaigns paused: WhatsApp temporarily banned this number{when} "
                                             f"({event.reason}). Resume them when you are ready.", None)

    async def on_receipt(self, ws: Workspace, event: Receipt) -> None:
        """Move messages forward; ids still being recorded as sent wait for it; unknown ids are logged and dropped."""
        status = "read" if event.status == "played" else event.status
        flying = self._flying.get(event.key, {})
        now_known: list[str] = []
        for provider_id in event.provider_ids:
            if provider_id in flying:
                early = self._early.setdefault(event.key, {})
                seen = early.get(provider_id)
                if seen is None or _RANK[status] > _RANK[seen[0]]:
                    early[provider_id] = (status, event.timestamp, event.error)
            else:
                now_known.append(provider_id)
        if now_known:
            await self._apply(ws, event.key, now_known, status, event.timestamp, event.error)

    async def _apply(self, ws: Workspace, key: AccountKey, provider_ids: list[str], status: str, at: float,
                     error: str | None) -> None:
        result = await ws.db.execute_write_fn(
            lambda conn: messages_store.apply_receipt(conn, key[1], provider_ids, status, int(at), error))
        if result.unknown:
            log.info("ignored %s receipt for %d unknown message id(s) (workspace=%s account=%s): %s", status,
                     len(result.unknown), *key, ", ".join(result.unknown[:5]))
        outbox.publish_status(ws, result.changed, status)
        await message_webhooks.status(ws, result.changed, status)

    async def landed(self, ws: Workspace, key: AccountKey, sent: list[Outcome]) -> None:
        """A worker recorded these sends: forget them as in flight and apply receipts that came meanwhile."""
        flying = self._flying.get(key, {})
        early = self._early.get(key, {})
        waiting: dict[tuple[str, float, str | None], list[str]] = {}
        for o in sent:
            flying.pop(o.entry.provider_msg_id, None)
            flying.pop(o.provider_id or "", None)
            for provider_id in {o.entry.provider_msg_id, o.provider_id}:
                receipt = early.pop(provider_id or "", None)
                if receipt is not None:
                    waiting.setdefault(receipt, []).append(o.provider_id or provider_id)
        for (status, at, error), ids in waiting.items():
            await self._apply(ws, key, ids, status, at, error)

    # -- the heartbeat -------------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Every heartbeat: downloads whose retry is due, and a nudge so sleeping workers re-read the wall clock
        (a laptop that slept for an hour must not wait out a timer that stood still meanwhile)."""
        for worker in list(self._workers.values()):
            worker.wake(campaign=False)
            worker.wake(campaign=True)
            try:
                await worker.settle_stale()
            except Exception:
                log.exception("settling stale sends failed (workspace=%s account=%s)", *worker.key)
        started = time.monotonic()
        for row in await ws_store.all_workspaces(self.runtime.app_db):
            ws = await self.runtime.workspace(row)
            got = await media.download_due(ws)
            if got:
                log.info("downloaded %d media file(s) for workspace %s", got, row.slug)
        log.debug("delivery tick took %.3f s", time.monotonic() - started)
