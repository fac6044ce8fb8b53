"""The webhook delivery worker: posts due deliveries, retries with exponential backoff for 24 hours, and disables a
subscription that keeps failing (the owner is told by the audit log and a toast).

One per runtime. It keeps, per workspace, when something is next due; `emit` wakes it, and every `SCAN_EVERY_S`
it looks at every workspace again (rows written by another process, clocks that jumped). Delivery is at least once:
the address is checked again right before each attempt, and the connection goes to that checked address, so a
DNS answer that changes after the check (rebinding) cannot steer a request to a private host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from typing import TYPE_CHECKING

import httpx

from blazz import __version__, audit, i18n, webhooks
from blazz.errors import Invalid
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.store import webhooks as store
from blazz.store import workspaces as ws_store
from blazz.store.webhooks import Claimed
from blazz.workspaces import Workspace

if TYPE_CHECKING:
    from blazz.runtime import Runtime

log = logging.getLogger(__name__)

# Stripe and GitHub retry for days with growing gaps; 15 s doubling to an hour gives ~30 attempts in 24 h.
RETRY_BASE_S = 15.0
RETRY_CAP_S = 3600.0
GIVE_UP_AFTER_S = 24 * 3600.0
# Disabled when it has failed every attempt for a day, and often enough that it is not one unlucky event.
DISABLE_AFTER_S = 24 * 3600.0
DISABLE_MIN_FAILURES = 20
TIMEOUT_S = 10.0
MAX_IN_FLIGHT = 16
PER_WEBHOOK = 2  # concurrent requests to one receiver
SCAN_EVERY_S = 30.0
PRUNE_EVERY_S = 3600.0
KEEP_S = 30 * 24 * 3600.0  # the delivery log keeps a month
RESPONSE_EXCERPT = 1000  # bytes of the receiver's answer kept in the log

WORKER = audit.Actor(None, "Webhook delivery")

# What the delivery log and a turned-off webhook say. Stored in English (the API returns them as they are);
# `in_words` reads them back in the reader's language for the Settings page.
REFUSED = N_("Refused: %(reason)s.")
NO_ANSWER = N_("No answer within %(seconds)s s.")
NO_CONNECTION = N_("Could not connect: %(error)s.")
HTTP_ERROR = N_("The receiver answered HTTP %(status)s.")
TURNED_OFF = N_("Turned off after %(count)s failed attempts in a row since %(since)s. Last: %(error)s")
GAVE_UP = N_("The webhook was turned off after failing for too long.")
# The toast that tells open tabs (each reads it in its own language: see blazz/web/events.py).
TURNED_OFF_TOAST = N_("The webhook to %(url)s kept failing and was turned off. Check it in Settings → Webhooks.")
STORED = (REFUSED, NO_ANSWER, NO_CONNECTION, HTTP_ERROR, TURNED_OFF, GAVE_UP, webhooks.PAUSED_BEFORE_SENDING,
          *webhooks.REFUSAL_REASONS)
_STORED_FIRST = i18n.most_specific_first(STORED)


def in_words(text: str | None) -> str:
    """A stored delivery error or turn-off reason in the current language (as it is when it is not one of ours)."""
    if not text:
        return ""
    found = i18n.recognise(text, _STORED_FIRST)
    if found:
        message, values = found
        return _(message, **{k: in_words(v) for k, v in values.items()})
    return _(text)  # a service's own message (an Invalid URL...), or anything else unchanged


class WebhookDelivery:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        # Tunables (tests shorten them).
        self.retry_base_s = RETRY_BASE_S
        self.retry_cap_s = RETRY_CAP_S
        self.give_up_after_s = GIVE_UP_AFTER_S
        self.disable_after_s = DISABLE_AFTER_S
        self.disable_min_failures = DISABLE_MIN_FAILURES
        self.timeout_s = TIMEOUT_S
        self.resolve: webhooks.Resolver = webhooks.resolve_host
        self._due: dict[int, float] = {}  # workspace id -> when its next delivery is due
        self._workspaces: dict[int, Workspace] = {}
        self._inflight: dict[asyncio.Task, tuple[int, int]] = {}  # task -> (workspace id, webhook id)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        # No proxies from the environment (the checked address must be the one we reach) and no pooled
        # connections (each TLS session is made for its own host name).
        self._client = httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": f"Blazz-Webhooks/{__version__}"},
        )
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._workspaces.clear()  # their databases belong to this start
        now = time.time()
        for row in await ws_store.all_workspaces(self.runtime.app_db):
            ws = await self._workspace(row.id)
            released = await ws.db.execute_write_fn(lambda conn: store.release_claims(conn, now))
            if released:
                log.info("webhooks: %s interrupted deliveries of workspace %s will be sent again", released, row.slug)
            self._due[row.id] = 0.0
        webhooks.register_waker(self.runtime.bus, self.notify)
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        webhooks.register_waker(self.runtime.bus, None)
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._inflight.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def notify(self, workspace_id: int) -> None:
        """Something of this workspace is due now (callable from any thread)."""
        self._due[workspace_id] = 0.0
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    # -- the loop --------------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        last_scan = last_prune = time.monotonic()
        while True:
            self._wake.clear()
            try:
                wait = await self._dispatch()
                if time.monotonic() - last_scan >= SCAN_EVERY_S:
                    last_scan = time.monotonic()
                    for row in await ws_store.all_workspaces(self.runtime.app_db):
                        self._due[row.id] = min(self._due.get(row.id, 0.0), time.time())
                    wait = 0
                if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery loop failed; trying again shortly")
                wait = 5.0
            if wait > 0:
                # Not asyncio.wait_for: on Python 3.11 a stop() that cancels this task just as a wake-up arrives
                # is swallowed by wait_for, and stop() then waits for the loop forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _dispatch(self) -> float:
        """Start the due deliveries there is room for; return how long until the next one is due."""
        now = time.time()
        wait = SCAN_EVERY_S
        for ws_id, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due > now:
                wait = min(wait, due - now)
                continue
            free = MAX_IN_FLIGHT - len(self._inflight)
            if free <= 0:
                break  # a finishing delivery wakes the loop
            ws = await self._workspace(ws_id)
            if ws is None:
                self._due.pop(ws_id, None)
                continue
            busy: dict[int, int] = {}
            for w, hook in self._inflight.values():
                if w == ws_id:
                    busy[hook] = busy.get(hook, 0) + 1

            def take(conn: sqlite3.Connection, free=free, busy=busy) -> tuple[list[Claimed], float | None]:
                return store.claim(conn, now, free, busy, PER_WEBHOOK), store.next_due(conn)

            claimed, next_at = await ws.db.execute_write_fn(take)
            for c in claimed:
                task = asyncio.create_task(self._deliver(ws, c), name=f"webhook-delivery-{ws_id}-{c.id}")
                self._inflight[task] = (ws_id, c.webhook_id)
                task.add_done_callback(self._finished)
            if next_at is None:
                self._due.pop(ws_id, None)
            else:
                self._due[ws_id] = next_at
                if next_at > now:
                    wait = min(wait, next_at - now)
        return max(wait, 0.0)

    def _finished(self, task: asyncio.Task) -> None:
        ws_id, _ = self._inflight.pop(task, (None, None))
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())
        if ws_id is not None:
            self._due[ws_id] = min(self._due.get(ws_id, 0.0), time.time())
            if self._wake is not None:
                self._wake.set()

    async def _workspace(self, workspace_id: int) -> Workspace | None:
        ws = self._workspaces.get(workspace_id)
        if ws is None:
            row = await ws_store.by_id(self.runtime.app_db, workspace_id)
            if row is None:
                return None
            ws = self._workspaces[workspace_id] = await self.runtime.workspace(row)
        return ws

    async def _prune(self) -> None:
        before = time.time() - KEEP_S
        for row in await ws_store.all_workspaces(self.runtime.app_db):
            ws = await self._workspace(row.id)
            if ws is not None:
                await ws.db.execute_write_fn(lambda conn: store.prune(conn, before))

    # -- one delivery ----------------------------------------------------------------------------------------------

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: doubling, capped, with ±20 % jitter."""
        delay = min(self.retry_cap_s, self.retry_base_s * 2 ** max(attempts - 1, 0))
        return delay * random.uniform(0.8, 1.2)

    async def _deliver(self, ws: Workspace, c: Claimed) -> None:
        started = time.time()
        status: int | None = None
        excerpt: str | None = None
        error: str | None = None
        try:
            status, excerpt = await self._post(c)
        except webhooks.UnsafeTarget as exc:
            error = REFUSED % {"reason": exc}
        except Invalid as exc:
            error = exc.message
        except httpx.TimeoutException:
            error = NO_ANSWER % {"seconds": f"{self.timeout_s:g}"}
        except httpx.HTTPError as exc:
            error = NO_CONNECTION % {"error": exc or type(exc).__name__}
        ok = status is not None and 200 <= status < 300
        if status is not None and not ok:
            error = HTTP_ERROR % {"status": status}
        duration_ms = int((time.time() - started) * 1000)
        await self._record(ws, c, started, status, excerpt, error, duration_ms, ok)

    async def _post(self, c: Claimed) -> tuple[int, str]:
        _, host, port = webhooks.clean_url(c.url)
        addresses = await webhooks.safe_addresses(host, port, c.allow_private, self.resolve)
        url = httpx.URL(c.url)
        raw = c.body.encode()
        timestamp = int(time.time())
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "Blazz-Event": c.event_type,
            "Blazz-Event-Id": c.event_uid,
            "Blazz-Delivery-Id": str(c.id),
            "Blazz-Timestamp": str(timestamp),
            "Blazz-Signature": webhooks.sign(c.secret, timestamp, raw),
        }
        # TLS is checked against the host name while the connection goes to the address checked above.
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        last_error: httpx.HTTPError | None = None
        for address in addresses:
            pinned = url.copy_with(host=address.split("%")[0])
            try:
                async with self._client.stream("POST", pinned, content=raw, headers=headers,
                                               extensions=extensions) as response:
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= RESPONSE_EXCERPT:
                            break
                    return response.status_code, body[:RESPONSE_EXCERPT].decode("utf-8", "replace")
            except httpx.ConnectError as exc:
                last_error = exc  # the next address of the same host may answer
        raise last_error or httpx.ConnectError("no address to connect to")

    async def _record(self, ws: Workspace, c: Claimed, at: float, status: int | None, excerpt: str | None,
                      error: str | None, duration_ms: int, ok: bool) -> None:
        if ok:
            outcome, next_at = "delivered", None
        else:
            next_at = time.time() + self.backoff(c.attempts)
            outcome = "failed" if next_at - c.created_at > self.give_up_after_s else "pending"
            if outcome == "failed":
                next_at = None

        def write(conn: sqlite3.Connection) -> str | None:
            if not store.delivery_exists(conn, c.id):
                return None  # the webhook was deleted meanwhile
            store.record_attempt(conn, c.id, at, status, excerpt, error, duration_ms, next_at, outcome)
            hook = store.record_result(conn, c.webhook_id, at, status, ok)
            if (ok or hook is None or hook.status != "active" or hook.failure_streak < self.disable_min_failures
                    or hook.failing_since is None or at - hook.failing_since < self.disable_after_s):
                return None
            reason = TURNED_OFF % {"count": hook.failure_streak, "error": error,
                                   "since": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(hook.failing_since))}
            store.set_status(conn, hook.id, "disabled", reason, int(at))
            store.fail_pending(conn, hook.id, GAVE_UP)
            webhooks.audit_insert(conn, WORKER, "webhook.disabled", hook.url, failures=hook.failure_streak,
                                  last_error=error)
            return hook.url

        disabled_url = await ws.db.execute_write_fn(write)
        if disabled_url:
            webhooks.forget_subscriptions(ws.db)
            log.warning("webhook %s of workspace %s disabled after a long failure streak", c.webhook_id, ws.slug)
            if ws.bus is not None:
                ws.bus.publish(ws.id, "toast", level="error", message=TURNED_OFF_TOAST, params={"url": disabled_url})
