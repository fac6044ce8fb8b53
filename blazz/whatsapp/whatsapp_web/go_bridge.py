"""Process-wide plumbing around neonize's Go library: where its calls run, which loop gets its events, and the
few signals that only show up in whatsmeow's log.

Everything here exists because of a trap in notes/neonize.md: the default executor starves (§A.3), the first
event loop wins for good (§A.10), Go maps without a mutex (§A.10), calls on a missing Go client crash the
process (§A.4), and a "client outdated" rejection of a stored session is only logged (§A.13, #194).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from neonize._binder import gocode
from neonize.aioze import events as neonize_events
from neonize.exc import NeonizeError
from neonize.utils import ffmpeg as neonize_ffmpeg
from neonize.utils.log import log as neonize_log

# whatsmeow's own words when WhatsApp refuses its protocol version for a stored session (it then dispatches
# ClientOutdated, an empty event we must not subscribe to: neonize #194 crashes on empty payloads).
CLIENT_OUTDATED_LOG = "Client outdated (405)"
NOT_RUNNING = "websocket not connected (the WhatsApp session is not running)"


class _DaemonThreads(Executor):
    """Runs every call on a fresh daemon thread. A pool's threads are joined at interpreter exit, and a Go dial
    that `Stop` cannot abort would hold the process open for up to a minute (notes/neonize.md §A.4)."""

    def __init__(self, name: str):
        self._name = name
        self._count = itertools.count(1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name=f"{self._name}-{next(self._count)}", daemon=True).start()
        return future


class GoCalls:
    """Stands in for neonize's FFI handle (`NewAClient._NewAClient__client`): runs each Go call on its own
    thread and refuses calls once the session is closing.

    Own threads: one Go call (`Neonize`) blocks a thread for the whole session, so sessions sharing the loop's
    default executor would starve each other and even `stop()`. Refusing after `close()`: several Go functions
    dereference a client that `Stop` has removed, which kills the process instead of raising.
    """

    def __init__(self, name: str):
        self._threads = _DaemonThreads(name)
        self._inflight: set[asyncio.Future] = set()
        self._session: asyncio.Future | None = None
        self.closed = False

    def __getattr__(self, name: str) -> Callable[..., asyncio.Future]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "Neonize":
            return self._run_session
        fn = getattr(gocode, name)

        def call(*args: Any) -> asyncio.Future:
            loop = asyncio.get_running_loop()
            if self.closed:
                failed = loop.create_future()
                failed.set_exception(NeonizeError(NOT_RUNNING))
                return failed
            future = loop.run_in_executor(self._threads, functools.partial(fn, *args))
            self._inflight.add(future)
            future.add_done_callback(self._inflight.discard)
            return future

        return call

    def _run_session(self, *args: Any) -> asyncio.Future:
        """Go `Neonize`, which returns only when the session ends. Its outcome lands in a future we own, so
        `abandon_session` can finish neonize's connect task while Go is still stuck in a dial: otherwise
        `asyncio.run()` would cancel that task at exit, and neonize then calls `Stop` on the loop's thread,
        which blocks until the dial times out."""
        loop = asyncio.get_running_loop()
        session = self._session = loop.create_future()

        def settle(outcome: Future) -> None:
            if session.done():
                return
            error = outcome.exception()
            if error is not None:
                session.set_exception(error)
            else:
                session.set_result(outcome.result())

        def report(outcome: Future) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for this session any more
                loop.call_soon_threadsafe(settle, outcome)

        self._threads.submit(gocode.Neonize, *args).add_done_callback(report)
        return session

    def abandon_session(self) -> None:
        """Let neonize's connect task end now, as if Go had returned; the Go call finishes on its own."""
        if self._session is not None and not self._session.done():
            self._session.set_result(b"")

    async def close(self, grace: float) -> None:
        """Refuse new calls, then give the ones under way `grace` seconds to return."""
        self.closed = True
        pending = [f for f in self._inflight if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=grace)

    def stop_go_client(self, uuid: bytes) -> asyncio.Future:
        """Go `Stop`: disconnect, end the session's event loop and forget the client. It blocks while a dial is
        under way (whatsmeow's Disconnect waits for it), so callers wait only briefly and let it finish alone."""
        return asyncio.get_running_loop().run_in_executor(self._threads, gocode.Stop, uuid)


def bind_event_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Point neonize's process-global dispatch loop at `loop`; False if another live loop owns it.

    neonize keeps the first loop it sees forever, so after a restart (or in tests, a new loop per test) events
    would go to a closed loop and vanish.
    """
    current = neonize_events.event_global_loop
    if current is loop:
        return True
    if current is not None and not current.is_closed() and current.is_running():
        return False
    neonize_events.event_global_loop = loop
    return True


def quiet_neonize_logging() -> None:
    """Ask Go for warnings and errors only: by default neonize asks for every debug line, each one crossing the
    FFI boundary, and the lines we act on (client outdated) are errors. Also skip neonize's warning that
    ffmpeg is missing: it concerns neonize's media helpers, which Blazz does not use."""
    if neonize_log.level == logging.NOTSET:
        neonize_log.setLevel(logging.WARNING)
    neonize_ffmpeg._ffmpeg_checked = True


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def lifecycle_gate(loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
    """One lock per loop that serialises session starts and stops: Go writes its client maps in `Neonize`
    and `Stop` without a mutex, and two writers at once abort the process."""
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Lock()
    return gate


class _OutdatedWatch(logging.Handler):
    """Tells every waiting session when whatsmeow logs that WhatsApp refused its version.

    The log line names no session, but the version is compiled into the one Go library, so it concerns
    every session in the process that is not connected.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.listeners: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if CLIENT_OUTDATED_LOG not in record.getMessage():
                return
            with self._lock:
                listeners = list(self.listeners)
            for listener in listeners:
                listener.client_outdated_logged()
        except Exception:  # a logging handler must never raise into the logging thread
            self.handleError(record)

    def add(self, listener: Any) -> None:
        with self._lock:
            self.listeners.add(listener)

    def discard(self, listener: Any) -> None:
        with self._lock:
            self.listeners.discard(listener)


_watch: _OutdatedWatch | None = None


def outdated_watch() -> _OutdatedWatch:
    """The process's watch on whatsmeow's client log, installed on first use."""
    global _watch
    if _watch is None:
        _watch = _OutdatedWatch()
        logging.getLogger("whatsmeow.Client").addHandler(_watch)
    return _watch

