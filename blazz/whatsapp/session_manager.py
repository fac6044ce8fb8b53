"""The session manager: every WhatsApp account's lifecycle, across all workspaces of the process.

It creates engines, follows their events to keep each account's state (stopped → starting → qr|pairing →
connected → disconnected → failed|logged_out|banned), reconnects with backoff, stops unscanned QR sessions,
resumes after temporary bans, and forwards every event (plus `StateChanged`) to the runtime's `emit`.
Engine rules it relies on are in `blazz.whatsapp.engines`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blazz.whatsapp.backoff import Backoff, WallTimer
from blazz.whatsapp.engines import RETRYABLE_START_CODES, create_engine
from blazz.whatsapp.events import (
    AccountKey,
    AccountState,
    Connected,
    Disconnected,
    Event,
    LoggedOut,
    MediaRef,
    PairCode,
    QrCode,
    StateChanged,
    TemporaryBan,
)
from blazz.whatsapp.protocol import AccountSpec, Emit, Engine, EngineError, OutgoingMessage, SendError

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

log = logging.getLogger(__name__)

EngineFactory = Callable[[AccountSpec, Emit], Engine]

QR_TIMEOUT_S = 180.0  # whatsmeow's QR codes run out after ~160 s; WAHA stops unscanned sessions likewise
CONNECT_TIMEOUT_S = 90.0  # a dial into a silent network takes ~60 s to fail in whatsmeow (notes/neonize.md §A.4)
STOP_TIMEOUT_S = 5.0
STABLE_AFTER_S = 60.0  # a connection that lasted this long resets the backoff; flapping ones keep backing off
PAIR_WAIT_S = 30.0  # how long a pair-code request waits for the connection to reach the QR step
# States in which the account holds (or is building) a connection: a start is refused, a stop has work to do.
LIVE_STATES = frozenset({"starting", "qr", "pairing", "connected", "disconnected"})
_LIFECYCLE = (QrCode, PairCode, Connected, Disconnected, LoggedOut, TemporaryBan)
_PHONE_NOISE = re.compile(r"[\s\-().]")


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """A snapshot of one account's session, for the UI, the API and /health."""

    key: AccountKey
    engine: str | None
    state: AccountState
    detail: str = ""
    phone: str | None = None
    since: float | None = None  # when the current state began
    last_event_at: float | None = None
    reconnects: int = 0  # reconnections since the owner last connected it (ours and the engine's own)
    retry_at: float | None = None  # the next attempt (failed) or the end of a temporary ban (banned)
    qr: str | None = None
    qr_expires_at: float | None = None
    pair_code: str | None = None
    last_error: str | None = None


@dataclass(eq=False)
class _Account:
    spec: AccountSpec
    backoff: Backoff
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: AccountState = "stopped"
    detail: str = ""
    since: float = field(default_factory=time.time)
    phone: str | None = None
    last_event_at: float | None = None
    reconnects: int = 0  # reconnections since the owner last connected it (ours and the engine's own)
    retry_at: float | None = None  # the next attempt (failed) or the end of a temporary ban (banned)
    qr: str | None = None
    qr_expires_at: float | None = None
    pair_code: str | None = None
    last_error: str | None = None
    engine: Engine | None = None  # the current engine, live or not (sandbox controls work on a stopped one)
    token: object = None  # identifies the current engine's emit; events from older engines carry another
    live: bool = False  # the current engine is started and its lifecycle events count
    used: bool = False  # the current engine was started once; the next attempt needs a new one
    wanted: bool = False  # the owner wants it connected: retries and ban resumes apply
    epoch: int = 0  # bumped by every owner action, so a timer set before it knows it is stale
    connected_at: float | None = None
    ever_connected: bool = False
    qr_deadline: float | None = None  # counted from the first QR since the owner's start, across retries
    timer: WallTimer | None = None  # retry or ban resume
    qr_timer: WallTimer | None = None
    watchdog: WallTimer | None = None
    folder_lock: _FolderLock | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class SessionManager:
    """Owns the lifecycle of every account's WhatsApp session; forwards engine events and StateChanged to `emit`."""

    def __init__(self, emit: Emit, *, backoff_base: float = 2.0, backoff_cap: float = 300.0,
                 qr_timeout: float = QR_TIMEOUT_S, connect_timeout: float = CONNECT_TIMEOUT_S,
                 stop_timeout: float = STOP_TIMEOUT_S, stable_after: float = STABLE_AFTER_S,
                 engine_factory: EngineFactory = create_engine):
        self._emit = emit
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._qr_timeout = qr_timeout
        self._connect_timeout = connect_timeout
        self._stop_timeout = stop_timeout
        self._stable_after = stable_after
        self._factory = engine_factory
        self._accounts: dict[AccountKey, _Account] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self._executor: ThreadPoolExecutor | None = None
        self._executor_size = 0
        self._old_executors: list[ThreadPoolExecutor] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def add_account(self, spec: AccountSpec) -> AccountStatus:
        """Know an account without connecting it (its state, sandbox controls); updates the spec if known."""
        acct = self._accounts.get(spec.key)
        if acct is None:
            acct = self._accounts[spec.key] = _Account(spec, Backoff(self._backoff_base, self._backoff_cap))
        else:
            acct.spec = spec
            if not acct.live and not acct.used:
                acct.engine = None  # built again with the new settings when needed
        return _status(acct)

    async def start_account(self, spec: AccountSpec) -> AccountStatus:
        """Connect an account. Raises EngineError("already_connected") if it is live, or the engine's own
        EngineError for a failure that retrying cannot fix (bad credentials); other failures are retried."""
        self._check_open()
        return await self._to_the_end(self._start_account(spec))

    async def stop_account(self, key: AccountKey) -> AccountStatus:
        """Disconnect and stay disconnected (the login is kept); cancels pending retries."""
        return await self._to_the_end(self._stop_account(key))

    async def logout(self, key: AccountKey) -> AccountStatus:
        """Unlink the device (a new QR scan is needed afterwards), whether or not it is connected now."""
        return await self._to_the_end(self._logout(key))

    async def remove(self, key: AccountKey, *, logout: bool = False) -> None:
        """Stop (optionally log out) and forget an account, e.g. when it is deleted."""
        await self._to_the_end(self._remove(key, logout))

    async def _start_account(self, spec: AccountSpec) -> AccountStatus:
        if spec.key not in self._accounts:
            self.add_account(spec)
        acct = self._accounts[spec.key]
        async with acct.lock:
            if acct.live:
                raise EngineError("already_connected", "This WhatsApp number is already connected or connecting.")
            self.add_account(spec)
            if acct.folder_lock is None:
                acct.folder_lock = _FolderLock.acquire(spec.folder)
            acct.epoch += 1
            self._cancel_timers(acct)
            acct.wanted = True
            acct.backoff.reset()
            acct.reconnects = 0
            acct.ever_connected = False
            acct.qr_deadline = None
            await self._start_engine(acct, by_owner=True)
        return _status(acct)

    async def _stop_account(self, key: AccountKey) -> AccountStatus:
        acct = self._accounts.get(key)
        if acct is None:
            return self.state(key)
        async with acct.lock:
            # logged_out and a permanent ban say more than "stopped" would
            final = acct.state == "logged_out" or (acct.state == "banned" and acct.retry_at is None)
            await self._stand_down(acct)
            if not final:
                await self._set_state(acct, "stopped")
        return _status(acct)

    async def _logout(self, key: AccountKey) -> AccountStatus:
        acct = self._get(key)
        async with acct.lock:
            engine = acct.engine if acct.live or (acct.engine is not None and not acct.used) else None
            was_live = acct.live
            await self._stand_down(acct, stop=False)
            if engine is None:
                engine = self._new_engine(acct)
            acct.used = True
            detail = "Logged out"
            try:
                await asyncio.wait_for(engine.logout(), self._stop_timeout)
            except Exception as exc:
                log.warning("logout of workspace=%s account=%s failed: %s", *key, exc)
                detail = f"Logged out here; the phone may still list this device ({_reason(exc)})"
                acct.last_error = _reason(exc)
            if was_live:
                await self._stop_engine(engine, key)
            acct.phone = None
            await self._set_state(acct, "logged_out", detail)
        return _status(acct)

    async def _remove(self, key: AccountKey, logout: bool) -> None:
        acct = self._accounts.get(key)
        if acct is None:
            return
        if logout:
            await self._logout(key)
        async with acct.lock:
            await self._stand_down(acct)
            self._accounts.pop(key, None)

    async def close(self) -> None:
        """Stop every session within ~5 s. No StateChanged is emitted, so persisted states still say which
        accounts were live and the next startup can restore them."""
        self._closing = True
        pending = set(self._tasks)  # retries return at once now; background stops get to finish
        for acct in self._accounts.values():
            self._cancel_timers(acct)
            acct.epoch += 1
            if acct.live and acct.engine is not None:
                acct.live = False
                pending.add(asyncio.ensure_future(self._stop_engine(acct.engine, acct.spec.key)))
        if pending:
            _, late = await asyncio.wait(pending, timeout=self._stop_timeout)
            for task in late:  # an engine that ignores stop() must not hold the whole process hostage
                task.cancel()
        for acct in self._accounts.values():
            _release(acct)
        for executor in [*self._old_executors, *([self._executor] if self._executor else [])]:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- reading -----------------------------------------------------------------------------------

    def state(self, key: AccountKey) -> AccountStatus:
        """The account's status; an account the manager does not know is `stopped`."""
        acct = self._accounts.get(key)
        return _status(acct) if acct else AccountStatus(key=key, engine=None, state="stopped")

    def states(self) -> dict[AccountKey, AccountStatus]:
        return {key: _status(acct) for key, acct in self._accounts.items()}

    def health(self) -> dict:
        """Counts per state; `degraded` when an account the owner wants connected is failed or banned."""
        counts: dict[str, int] = {}
        for acct in self._accounts.values():
            counts[acct.state] = counts.get(acct.state, 0) + 1
        troubled = any(a.wanted and a.state in ("failed", "banned") for a in self._accounts.values())
        return {
            "status": "closed" if self._closing else ("degraded" if troubled else "ok"),
            "accounts": len(self._accounts),
            "states": counts,
            "executor_workers": self._executor_size or None,
        }

    def engine(self, key: AccountKey) -> Engine | None:
        """The account's current engine (live or not, e.g. for sandbox controls); None for an unknown account."""
        acct = self._accounts.get(key)
        if acct is None:
            return None
        return acct.engine if acct.engine is not None else self._new_engine(acct)

    # -- using a connected session -----------------------------------------------------------------

    async def send(self, key: AccountKey, message: OutgoingMessage) -> str:
        """Send through the account's engine; SendError("not_connected") unless it is connected."""
        acct = self._accounts.get(key)
        if acct is None or acct.state != "connected" or not acct.live or acct.engine is None:
            raise SendError("not_connected", "This WhatsApp number is not connected right now.", retry=True)
        try:
            return await acct.engine.send(message)
        except SendError:
            raise
        except Exception as exc:
            log.exception("send failed in the engine (workspace=%s account=%s)", *key)
            raise SendError("unknown", f"The WhatsApp engine failed to send: {_reason(exc)}", retry=True) from exc

    async def check_numbers(self, key: AccountKey, phones: list[str]) -> dict[str, bool]:
        return await self._connected(key).check_numbers(phones)

    async def download_media(self, key: AccountKey, ref: MediaRef) -> bytes:
        return await self._connected(key).download_media(ref)

    async def mark_read(self, key: AccountKey, chat: str, provider_ids: list[str], sender: str | None = None) -> None:
        await self._connected(key).mark_read(chat, provider_ids, sender)

    async def typing(self, key: AccountKey, to: str, on: bool) -> None:
        await self._connected(key).typing(to, on)

    async def request_pair_code(self, key: AccountKey, phone: str) -> str:
        """Link by an 8-character code instead of a QR scan; starts the account first if it is not live."""
        digits = pair_phone_digits(phone)
        acct = self._get(key)
        if acct.state == "connected":
            raise EngineError("already_connected", "This WhatsApp number is already connected.")
        if not acct.live:
            await self.start_account(acct.spec)
        await self._wait_state(acct, lambda: acct.state != "starting", PAIR_WAIT_S)
        if acct.state == "connected":
            raise EngineError("already_connected", "This WhatsApp number is already connected.")
        if acct.state not in ("qr", "pairing") or acct.engine is None:
            raise EngineError("not_ready", "The connection did not reach the QR step in time; try again.")
        code = await acct.engine.request_pair_code(digits)
        acct.pair_code = code
        if acct.state == "qr":
            await self._set_state(acct, "pairing")
        return code

    # -- internals: starting and stopping ----------------------------------------------------------

    def _new_engine(self, acct: _Account) -> Engine:
        token = object()
        acct.engine = self._factory(acct.spec, self._engine_emit(acct, token))
        acct.token = token
        acct.live = acct.used = False
        return acct.engine

    async def _start_engine(self, acct: _Account, *, by_owner: bool) -> None:
        """One connection attempt; the caller holds the account's lock."""
        key = acct.spec.key
        await self._set_state(acct, "starting")
        if self._closing:  # close() began while the state change was being recorded
            return
        engine = acct.engine if acct.engine is not None and not acct.used else None
        try:
            engine = engine or self._new_engine(acct)
        except EngineError as exc:  # e.g. an unknown engine name: nothing to retry
            await self._fail(acct, exc.reason, retry=False)
            raise
        acct.used = acct.live = True
        if acct.spec.engine == "whatsapp_web":
            self._size_executor()
        token = acct.token
        acct.watchdog = WallTimer(time.time() + self._connect_timeout, lambda: self._spawn(
            self._connect_timed_out(acct, token)))
        try:
            await asyncio.wait_for(engine.start(), self._connect_timeout)
        except EngineError as exc:
            retry = exc.code in RETRYABLE_START_CODES
            log.warning("start of workspace=%s account=%s failed (%s): %s", *key, exc.code, exc.reason)
            await self._abandon(acct, engine, exc.reason, retry=retry)
            if by_owner and not retry:
                raise
        except Exception as exc:
            log.exception("start of workspace=%s account=%s failed", *key)
            await self._abandon(acct, engine, f"Could not start the connection: {_reason(exc)}", retry=True)

    async def _abandon(self, acct: _Account, engine: Engine, reason: str, *, retry: bool) -> None:
        """Drop an engine whose start failed, unless one of its events (or the watchdog) already did."""
        if acct.engine is engine and acct.live:
            acct.live = False
            await self._stop_engine(engine, acct.spec.key)
            await self._fail(acct, reason, retry=retry)

    async def _stop_engine(self, engine: Engine, key: AccountKey) -> None:
        try:
            await asyncio.wait_for(engine.stop(), self._stop_timeout)
        except Exception:
            log.exception("stopping the engine of workspace=%s account=%s failed", *key)

    async def _stand_down(self, acct: _Account, *, stop: bool = True) -> None:
        """The owner's stop: no more retries or resumes, the engine stopped, the folder lock released."""
        acct.epoch += 1
        acct.wanted = False
        self._cancel_timers(acct)
        engine, was_live = acct.engine, acct.live
        acct.live = False
        if stop and was_live and engine is not None:
            await self._stop_engine(engine, acct.spec.key)
        acct.retry_at = None
        acct.qr = acct.qr_expires_at = acct.pair_code = None
        _release(acct)

    async def _fail(self, acct: _Account, reason: str, *, retry: bool) -> None:
        """State `failed`; with `retry` (and the owner still wanting it) a new attempt after a backoff delay."""
        acct.last_error = reason
        acct.live = False
        self._cancel_timers(acct, "watchdog")
        if acct.connected_at is not None and time.time() - acct.connected_at >= self._stable_after:
            acct.backoff.reset()
        acct.connected_at = None
        if not (retry and acct.wanted and not self._closing):
            acct.wanted = False
            _release(acct)
            await self._set_state(acct, "failed", reason)
            return
        retry_at = time.time() + acct.backoff.next()
        self._schedule(acct, retry_at)
        await self._set_state(acct, "failed", reason, retry_at=retry_at)

    def _schedule(self, acct: _Account, when: float) -> None:
        """A new attempt at `when` (wall clock), unless the owner acts before."""
        epoch = acct.epoch
        if acct.timer is not None:
            acct.timer.cancel()
        acct.timer = WallTimer(when, lambda: self._spawn(self._retry(acct, epoch)))

    async def _retry(self, acct: _Account, epoch: int) -> None:
        async with acct.lock:
            if acct.epoch != epoch or not acct.wanted or acct.live or self._closing:
                return
            acct.timer = None
            acct.reconnects += 1
            log.info("reconnecting workspace=%s account=%s (attempt %d)", *acct.spec.key, acct.backoff.attempts)
            await self._start_engine(acct, by_owner=False)

    # -- internals: engine events ------------------------------------------------------------------

    def _engine_emit(self, acct: _Account, token: object) -> Emit:
        async def emit(event: Event) -> None:
            # In a task of our own: an engine's stop() cancels its tasks, often one that is emitting right then
            # (our reaction to a ban is what stops it), and that must not cut the runtime's handler short.
            task = self._spawn(self._take(acct, token, event))
            if task is None:  # closing: no new tasks, data events still go out
                await self._take(acct, token, event)
            else:
                await asyncio.shield(task)

        return emit

    async def _take(self, acct: _Account, token: object, event: Event) -> None:
        try:
            acct.last_event_at = time.time()
            if isinstance(event, _LIFECYCLE):
                if not (acct.token is token and acct.live) or self._closing:
                    log.debug("ignored %s from a stopped engine (workspace=%s account=%s)",
                              type(event).__name__, *acct.spec.key)
                    return
                await self._on_lifecycle(acct, event)
        except Exception:
            log.exception("handling %s failed (workspace=%s account=%s)", type(event).__name__, *acct.spec.key)
        await self._forward(event)

    async def _on_lifecycle(self, acct: _Account, event: Event) -> None:
        key = acct.spec.key
        if isinstance(event, QrCode):
            acct.qr, acct.qr_expires_at = event.code, event.expires_at
            self._arm_qr_timer(acct)
            if acct.state != "pairing":
                await self._set_state(acct, "qr")
        elif isinstance(event, PairCode):
            acct.pair_code = event.code
            self._arm_qr_timer(acct)
            await self._set_state(acct, "pairing")
        elif isinstance(event, Connected):
            self._cancel_timers(acct, "qr_timer", "watchdog")
            if acct.ever_connected and acct.state == "disconnected":
                acct.reconnects += 1  # the engine reconnected by itself
            acct.ever_connected = True
            acct.qr_deadline = None
            acct.connected_at = time.time()
            acct.phone = event.phone or acct.phone
            acct.qr = acct.qr_expires_at = acct.pair_code = None
            acct.retry_at = None
            await self._set_state(acct, "connected")
        elif isinstance(event, Disconnected):
            if event.will_retry:
                await self._set_state(acct, "disconnected", event.reason)
            else:
                log.info("connection of workspace=%s account=%s lost: %s", *key, event.reason)
                self._detach(acct)
                await self._fail(acct, event.reason, retry=True)
        elif isinstance(event, LoggedOut):
            self._detach(acct)
            acct.wanted = False
            self._cancel_timers(acct)
            _release(acct)
            acct.last_error = event.reason
            await self._set_state(acct, "logged_out", event.reason)
        elif isinstance(event, TemporaryBan):
            self._detach(acct)
            acct.last_error = event.reason
            if not math.isfinite(event.expires_at) or event.expires_at <= 0:  # permanent: nothing to resume
                acct.wanted = False
                self._cancel_timers(acct)
                _release(acct)
                await self._set_state(acct, "banned", event.reason)
            else:
                resume_at = max(event.expires_at, time.time())
                self._schedule(acct, resume_at)
                await self._set_state(acct, "banned", event.reason, retry_at=resume_at)

    def _detach(self, acct: _Account) -> None:
        """The current engine's connection is over: ignore its lifecycle events and stop it in the background."""
        engine = acct.engine
        acct.live = False
        self._cancel_timers(acct, "qr_timer", "watchdog")
        acct.qr = acct.qr_expires_at = acct.pair_code = None
        if engine is not None:
            # Not inline: this runs inside the engine's own emit, and its stop() may cancel the emitting task.
            self._spawn(self._stop_engine(engine, acct.spec.key))

    def _arm_qr_timer(self, acct: _Account) -> None:
        # One deadline for the whole wait: an engine whose QR login ends unscanned reports a disconnect, and the
        # retry's fresh QR code must not start the clock again.
        if acct.qr_timer is None:
            token = acct.token
            acct.qr_deadline = acct.qr_deadline or time.time() + self._qr_timeout
            acct.qr_timer = WallTimer(acct.qr_deadline, lambda: self._spawn(self._qr_expired(acct, token)))

    async def _qr_expired(self, acct: _Account, token: object) -> None:
        async with acct.lock:
            if acct.token is not token or not acct.live or acct.state not in ("qr", "pairing"):
                return
            log.info("QR code of workspace=%s account=%s not scanned in time; stopping", *acct.spec.key)
            await self._stand_down(acct)
            await self._set_state(acct, "stopped", "QR code not scanned in time")

    async def _connect_timed_out(self, acct: _Account, token: object) -> None:
        if acct.token is token and acct.live and acct.state == "starting":
            self._detach(acct)
            await self._fail(acct, "Connecting took too long", retry=True)

    # -- internals: plumbing -----------------------------------------------------------------------

    async def _set_state(self, acct: _Account, state: AccountState, detail: str = "", *,
                         retry_at: float | None = None) -> None:
        before = (acct.state, acct.detail, acct.retry_at)
        if state != acct.state:
            acct.since = time.time()
        acct.state, acct.detail, acct.retry_at = state, detail, retry_at
        if state not in ("qr", "pairing"):
            acct.qr = acct.qr_expires_at = acct.pair_code = None
        if (state, detail, retry_at) == before:
            return
        acct.changed.set()
        acct.changed = asyncio.Event()
        if not self._closing:
            await self._forward(StateChanged(acct.spec.key, state, detail, retry_at))

    async def _forward(self, event: Event) -> None:
        try:
            await self._emit(event)
        except Exception:
            key = getattr(event, "key", ("?", "?"))
            log.exception("downstream handler failed on %s (workspace=%s account=%s)", type(event).__name__, *key)

    async def _wait_state(self, acct: _Account, done: Callable[[], bool], within: float) -> None:
        deadline = time.monotonic() + within
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):  # not wait_for: on 3.11 it can swallow a cancel
                    await acct.changed.wait()
            except TimeoutError:
                return

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task | None:
        if self._closing:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # also marks it retrieved when the caller went away
        if exc is not None and not isinstance(exc, EngineError | SendError):
            log.error("session manager task failed", exc_info=exc)

    async def _to_the_end(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run an owner's lifecycle action to completion even if the caller (a web request) is cancelled."""
        task = self._spawn(coro) if not self._closing else None
        return await (asyncio.shield(task) if task is not None else coro)

    def _cancel_timers(self, acct: _Account, *names: str) -> None:
        for name in names or ("timer", "qr_timer", "watchdog"):
            timer = getattr(acct, name)
            if timer is not None:
                timer.cancel()
                setattr(acct, name, None)

    def _size_executor(self) -> None:
        """Each neonize session holds a default-executor thread for its life (notes/neonize.md §A.3): 2·N + 16."""
        sessions = sum(1 for a in self._accounts.values() if a.spec.engine == "whatsapp_web" and a.live)
        needed = 2 * sessions + 16
        if self._executor_size >= needed:
            return
        size = -(-needed // 8) * 8  # grow in steps of 8, not one executor per account
        if self._executor is not None:
            self._old_executors.append(self._executor)  # its threads may still run sessions: never shut down early
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="blazz-wa")
        self._executor_size = size
        asyncio.get_running_loop().set_default_executor(self._executor)
        log.info("default executor sized to %d threads for %d WhatsApp Web sessions", size, sessions)

    def _get(self, key: AccountKey) -> _Account:
        acct = self._accounts.get(key)
        if acct is None:
            raise EngineError("unknown_account", "This WhatsApp account is not known to the session manager.")
        return acct

    def _connected(self, key: AccountKey) -> Engine:
        acct = self._accounts.get(key)
        if acct is None or acct.state != "connected" or not acct.live or acct.engine is None:
            raise EngineError("not_connected", "This WhatsApp number is not connected right now.")
        return acct.engine

    def _check_open(self) -> None:
        if self._closing:
            raise EngineError("closed", "Blazz is shutting down.")


def pair_phone_digits(phone: str) -> str:
    """The digits WhatsApp wants for a pairing code (country code first, no "+"), or EngineError("invalid_phone")."""
    import phonenumbers  # only needed here; keeps importing the manager light

    digits = _PHONE_NOISE.sub("", phone or "")
    digits = digits[1:] if digits.startswith("+") else digits[2:] if digits.startswith("00") else digits
    valid = re.fullmatch(r"[1-9][0-9]{6,14}", digits) is not None
    if valid:
        try:
            valid = phonenumbers.is_possible_number(phonenumbers.parse("+" + digits))
        except phonenumbers.NumberParseException:
            valid = False
    if not valid:
        raise EngineError("invalid_phone", f"{phone!r} is not a phone number with its country code; enter it "
                                           "like +62 812 3456 7890 (no leading 0).")
    return digits


def _status(acct: _Account) -> AccountStatus:
    in_qr = acct.state in ("qr", "pairing")
    return AccountStatus(
        key=acct.spec.key, engine=acct.spec.engine, state=acct.state, detail=acct.detail, phone=acct.phone,
        since=acct.since, last_event_at=acct.last_event_at, reconnects=acct.reconnects, retry_at=acct.retry_at,
        qr=acct.qr if in_qr else None, qr_expires_at=acct.qr_expires_at if in_qr else None,
        pair_code=acct.pair_code if acct.state == "pairing" else None, last_error=acct.last_error,
    )


def _release(acct: _Account) -> None:
    if acct.folder_lock is not None:
        acct.folder_lock.release()
        acct.folder_lock = None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


class _FolderLock:
    """An OS lock on `<folder>/session.lock`: one live connection per number, even across two Blazz processes
    on the same data folder (a second connection with the same keys kicks the first: StreamReplaced)."""

    def __init__(self, handle: Any):
        self._handle = handle

    @classmethod
    def acquire(cls, folder: Path) -> _FolderLock:
        Path(folder).mkdir(parents=True, exist_ok=True)
        handle = open(Path(folder) / "session.lock", "a+b")  # noqa: SIM115 - held open for the session's life
        try:
            _lock_file(handle)
        except OSError:
            handle.close()
            raise EngineError("already_connected", "This WhatsApp number is already connected by another Blazz "
                                                   "process using the same data folder.") from None
        return cls(handle)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            _unlock_file(self._handle)
        self._handle.close()


def _lock_file(handle: Any) -> None:
    """Take the lock without waiting; OSError if another process (or another manager) holds it."""
    if sys.platform == "win32":
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock_file(handle: Any) -> None:
    if sys.platform == "win32":
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
