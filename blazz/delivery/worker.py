"""One account's delivery worker: takes due outbox entries, calls the engine, records what happened.

Two loops share the account: the priority loop (urgent, then normal) and the campaign loop. They never wait for
each other, so however long a campaign is paced or however many thousands are queued behind it, an agent's reply
goes out as soon as it is written. Each loop claims a batch in one transaction (entries → `sending`), sends, and
records every result in one transaction; a crash between the two leaves `sending` entries that the next worker
settles first (`recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from blazz import cloud_templates, media, message_webhooks, outbox, pacing
from blazz.i18n import N_
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as campaigns_store
from blazz.store import conversations as conversations_store
from blazz.store import messages as messages_store
from blazz.store import outbox as outbox_store
from blazz.store.outbox import LANES, Entry
from blazz.whatsapp.protocol import OutgoingMessage, SendError
from blazz.workspaces import Workspace

if TYPE_CHECKING:
    from blazz.delivery import Delivery

log = logging.getLogger(__name__)

PRIORITY_LANES = (LANES["urgent"], LANES["normal"])
CAMPAIGN_LANES = (LANES["campaign"],)
# Entries per claim. Measured with the sandbox (bench/bench_pipeline.py): 200 drained no faster than 50 but kept
# an agent's reply waiting behind each batch's transactions (p99 ~90 ms vs ~35 ms); 25 lost a third of the rate.
BATCH = 50
SEND_CONCURRENCY = 8  # sends in flight at once, to different chats (one chat's messages always go in order)
IDLE_S = 30.0  # longest sleep without a wake: the wall clock is re-read at least this often
STALE_S = 600.0  # a claim this old with no send in flight was orphaned (its result could not be recorded)
OFFLINE_RETRY_S = 1.0  # the engine said "not connected" while the manager said connected: look again shortly
# Reasons a message failed are stored in English (this runs outside any request); marked for the catalog, the
# thread shows them in the reader's language (blazz.web.inbox_view.failure).
RECOVERED_UNKNOWN = N_("Blazz stopped while sending this message, so it may or may not have reached the customer. "
                       "Check the chat on the phone before sending it again.")
GAVE_UP = N_("%(reason)s (gave up after %(count)s attempts)")
NOT_SENT = N_("Not sent.")
OPTED_OUT = N_("Not sent: the contact opted out of messages.")
NO_ADDRESS = N_("Not sent: this contact has no WhatsApp number.")
NO_TEMPLATE = N_("Not sent: the template to send was not stored with this message.")
NO_FILE = N_("Not sent: the file to send is not available.")


@dataclass(frozen=True, slots=True)
class Outcome:
    entry: Entry
    provider_id: str | None = None  # set when sent
    error: SendError | None = None
    skipped: str | None = None  # refused without calling the engine (final)
    released: bool = False  # not attempted (stopping): back to pending, the try does not count


class AccountWorker:
    def __init__(self, delivery: Delivery, ws: Workspace, account_id: int, previous: asyncio.Task | None):
        self.delivery = delivery
        self.ws = ws
        self.account_id = account_id
        self.key = (ws.id, account_id)
        self.stopping = False
        self.halted = asyncio.Event()  # set by stop(): cuts short a wait that no other wake should end
        self.wake_priority = asyncio.Event()
        self.wake_campaign = asyncio.Event()
        # Clear while urgent or normal work waits: an unpaced campaign holds its next batch until it is gone.
        self.priority_idle = asyncio.Event()
        self.priority_idle.set()
        self.reload = True
        self.settings = pacing.PacingSettings()
        self.breaker = pacing.Breaker(self.settings)
        self.tz: dt.tzinfo = dt.UTC
        self.linked_at: float | None = None
        self.task = asyncio.get_running_loop().create_task(self._run(previous), name=f"delivery:{ws.id}:{account_id}")

    def wake(self, *, campaign: bool, reload: bool = False) -> None:
        self.reload = self.reload or reload
        if campaign:
            self.wake_campaign.set()
        else:
            self.priority_idle.clear()
            self.wake_priority.set()

    async def settle_stale(self) -> None:
        """Entries claimed more than STALE_S ago and not in an engine call: settle them as after a crash."""
        if not self.stopping and self.task is not None and not self.task.done():
            await self._recover(claimed_before=time.time() - STALE_S)

    def stop(self) -> None:
        """Finish the batch in hand (entries not yet attempted go back to the queue), then end."""
        self.stopping = True
        self.halted.set()
        self.wake_priority.set()
        self.wake_campaign.set()
        self.priority_idle.set()

    # -- the loops -----------------------------------------------------------------------------------------------

    async def _run(self, previous: asyncio.Task | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # the last worker of this account must be done before we settle its work
        if self.stopping:
            return
        await self._recover()
        await asyncio.gather(self._priority_loop(), self._campaign_loop())

    async def _recover(self, claimed_before: float | None = None) -> None:
        """Settle entries left `sending`: all of them at start, or (from the heartbeat) those claimed long ago
        that no send holds any more, e.g. after a transaction that recorded results failed."""
        resend = self.delivery.honours_message_id(self.key)
        flying = list(self.delivery.in_flight(self.key))
        ids = await self.ws.db.execute_write_fn(lambda conn: outbox_store.recover(
            conn, self.account_id, resend=resend, reason=RECOVERED_UNKNOWN, now=time.time(),
            claimed_before=claimed_before, keep=flying))
        if ids and resend:
            self.wake(campaign=False)
            self.wake(campaign=True)
        if ids:
            log.warning("settled %d message(s) whose send was never recorded (workspace=%s account=%s): %s",
                        len(ids), *self.key, "resent with their own ids" if resend else "marked failed")
            if not resend:
                shown = await messages_store.by_ids(self.ws.db, ids)
                outbox.publish_status(self.ws, [(m.id, m.conversation_id) for m in shown], "failed")

    async def _priority_loop(self) -> None:
        while not self.stopping:
            self.wake_priority.clear()
            try:
                sent = await self._drain(PRIORITY_LANES)
            except Exception:  # a failed transaction must not end the account's deliveries
                log.exception("priority lane failed (workspace=%s account=%s); trying again", *self.key)
                self.priority_idle.set()
                await self._sleep(self.wake_priority, time.time() + OFFLINE_RETRY_S)
                continue
            if not sent:
                if not self.wake_priority.is_set():  # nothing due and nothing new: campaigns may go on
                    self.priority_idle.set()
                await self._sleep(self.wake_priority, await self._next_due(PRIORITY_LANES))

    async def _campaign_loop(self) -> None:
        while not self.stopping:
            self.wake_campaign.clear()
            try:
                await self._campaign_step()
            except Exception:
                log.exception("campaign lane failed (workspace=%s account=%s); trying again", *self.key)
                await self._sleep(self.wake_campaign, time.time() + OFFLINE_RETRY_S)

    async def _campaign_step(self) -> None:
        if self.reload:
            await self._load_settings()
        now = time.time()
        state = await outbox_store.pacing_state_of(self.ws.db, self.account_id)
        if state.paused_reason is not None and state.paused_until is not None and now >= state.paused_until:
            state = replace(state, paused_reason=None, paused_until=None)
            await self.ws.db.execute_write_fn(lambda conn: outbox_store.save_pacing_state(conn, state, now))
            log.info("campaign lane of workspace=%s account=%s resumes after its pause", *self.key)
        own = await self.ws.db.execute_fn(lambda conn: campaigns_store.own_pacing(conn, self.account_id))
        if own:
            await self._campaign_step_per_campaign(state, own, now)
            return
        verdict = pacing.decide(self.settings, state, now=now, tz=self.tz, linked_at=self.linked_at)
        if not verdict.go:
            await self._sleep(self.wake_campaign, verdict.retry_at)
            return
        if not self.settings.enabled:  # unpaced: as fast as the engine takes them, until paused or reloaded
            if not await self._drain(CAMPAIGN_LANES, campaign=True):
                await self._sleep(self.wake_campaign, await self._next_due(CAMPAIGN_LANES))
            return
        entries = await self._claim(CAMPAIGN_LANES, 1)
        if not entries:
            await self._sleep(self.wake_campaign, await self._next_due(CAMPAIGN_LANES))
            return
        await self._type(entries[0])
        outcomes = await self._send_all(entries)
        await self._record(outcomes)
        attempted = [o for o in outcomes if not o.released and not _offline(o)]
        if attempted:
            after = pacing.after_send(self.settings, state, now=time.time(), tz=self.tz, count=len(attempted))
            await self.ws.db.execute_write_fn(
                lambda conn: outbox_store.save_pacing_state(conn, _keep_pause(conn, after), time.time()))
        await self._watch(attempted)

    async def _campaign_step_per_campaign(self, state: outbox_store.PacingState, own: dict[int, dict],
                                          now: float) -> None:
        """One turn of the campaign lane while some campaigns of this number have their own pacing: each of them,
        and the number's other campaigns together, keep their own gaps and long pauses, caps and window, so none
        waits for another's gap. The number's daily count, a pause of its lane and its breaker cover them all."""
        gaps = await self.ws.db.execute_fn(lambda conn: campaigns_store.gap_states(conn, list(own)))
        paces: dict[int | None, tuple[pacing.PacingSettings, outbox_store.PacingState]] = {None: (self.settings, state)}
        for campaign_id, override in own.items():
            paces[campaign_id] = (pacing.effective(self.settings, override), pacing.with_gaps(state, gaps[campaign_id]))
        verdicts = {key: pacing.decide(s, st, now=now, tz=self.tz, linked_at=self.linked_at)
                    for key, (s, st) in paces.items()}
        ready = [key for key, v in verdicts.items() if v.go]
        waits = [v.retry_at for v in verdicts.values() if not v.go and v.retry_at is not None]
        if None in ready:  # the number's campaigns may go: all but the held campaigns with their own pacing
            narrow: dict[str, list[int]] = {"skip_campaigns": [k for k in own if k not in ready]}
        else:
            narrow = {"only_campaigns": [k for k in ready if k is not None]}
        entries = []
        if ready:
            entries = await self.ws.db.execute_write_fn(lambda conn: outbox_store.claim(
                conn, self.account_id, CAMPAIGN_LANES, 1, time.time(), **narrow))
        if not entries:
            due = await self.ws.db.execute_fn(lambda conn: outbox_store.next_due_at(
                conn, self.account_id, CAMPAIGN_LANES, **narrow)) if ready else None
            times = [t for t in (due, *waits) if t is not None]
            await self._sleep(self.wake_campaign, min(times) if times else None)
            return
        key = entries[0].campaign_id if entries[0].campaign_id in own else None
        settings, group_state = paces[key]
        if pacing.unpaced(settings):  # no gaps: a batch of this campaign (or of the number's) at once
            room = BATCH - 1
            cap = pacing.cap_today(settings, self.linked_at, now)
            if cap is not None:
                sent = group_state.sent_today if group_state.day == pacing.local_day(now, self.tz) else 0
                room = min(room, cap - sent - 1)
            if room > 0:
                same = {"only_campaigns": [key]} if key is not None else {"skip_campaigns": list(own)}
                entries += await self.ws.db.execute_write_fn(lambda conn: outbox_store.claim(
                    conn, self.account_id, CAMPAIGN_LANES, room, time.time(), **same))
            if not self.priority_idle.is_set():
                await self.priority_idle.wait()  # an agent's reply (or an automation) goes first
        else:
            await self._type(entries[0], settings)
        outcomes = await self._send_all(entries)
        await self._record(outcomes)
        attempted = [o for o in outcomes if not o.released and not _offline(o)]
        if attempted:
            after = pacing.after_send(settings, group_state, now=time.time(), tz=self.tz, count=len(attempted))

            def save(conn: sqlite3.Connection) -> None:
                at = time.time()
                if key is None:
                    outbox_store.save_pacing_state(conn, _keep_pause(conn, after), at)
                    return
                number = outbox_store.pacing_state(conn, self.account_id)  # its own gaps stay as they are
                outbox_store.save_pacing_state(conn, replace(number, day=after.day, sent_today=after.sent_today), at)
                campaigns_store.save_gap_state(conn, key, campaigns_store.GapState(after.since_pause,
                                                                                   after.next_send_at), at)

            await self.ws.db.execute_write_fn(save)
        await self._watch(attempted)

    async def _drain(self, lanes: tuple[int, ...], *, campaign: bool = False) -> bool:
        """Send every due entry of these lanes, batch after batch, as a pipeline: the transaction recording one
        batch also claims the batch after next, so the database works while the engine sends. Stops early when
        the lane is paused, its settings change, or the worker stops. Returns whether anything was claimed."""
        current = await self._claim(lanes, BATCH)
        if not current:
            return False
        ahead: asyncio.Future[list[Entry]] = asyncio.get_running_loop().create_future()
        if len(current) == BATCH:  # a full batch: more is likely waiting
            ahead = asyncio.ensure_future(self._claim(lanes, BATCH))
        else:
            ahead.set_result([])
        while current:
            if campaign and not self.priority_idle.is_set():
                await self.priority_idle.wait()  # an agent's reply (or an automation) goes first
            outcomes = await self._send_all(current)
            if any(_offline(o) for o in outcomes) and self.delivery.sessions.state(self.key).state != "connected":
                self.delivery.stop_worker(self.key)  # gone offline (or removed) without telling us: wait for it
            following = await ahead
            go_on = bool(following) and not self.stopping and not (campaign and self.reload)
            ahead = asyncio.ensure_future(self._record(outcomes, claim=lanes if go_on else None))
            if campaign and await self._watch([o for o in outcomes if not o.released and not _offline(o)]):
                go_on = False
            current = following
            if not go_on and current:
                # Claimed but not to be sent now: back to the queue untouched.
                await self._record([Outcome(e, released=True) for e in current])
                current = []
        leftover = await ahead
        if leftover:
            await self._record([Outcome(e, released=True) for e in leftover])
        return True

    async def _load_settings(self) -> None:
        self.reload = False
        account = await accounts_store.get(self.ws.db, self.account_id)
        if account is None:
            self.stopping = True
            return
        settings = pacing.settings_of(account)
        if settings != self.settings:
            self.breaker = pacing.Breaker(settings)
        self.settings = settings
        self.linked_at = account.linked_at
        self.tz = await pacing.timezone_of(self.ws)

    async def _watch(self, outcomes: Sequence[Outcome]) -> bool:
        """Feed the circuit breaker; a ban or rate limit trips it at once. True when it paused the lane."""
        for o in outcomes:
            if o.error is not None and o.error.code in ("banned", "rate_limited"):
                until = time.time() + o.error.retry_after if o.error.retry_after else None
                await pacing.pause(self.ws, self.account_id, f"Campaigns paused: WhatsApp limited this number "
                                                             f"({o.error.reason})", until)
                return True
            if o.skipped is not None:
                continue  # refused by us (opted out, no number): says nothing about the number's health
            tripped = self.breaker.record(o.error is None, o.error.reason if o.error is not None else "")
            if tripped:
                log.warning("campaign lane of workspace=%s account=%s paused: %s", *self.key, tripped)
                await pacing.pause(self.ws, self.account_id, tripped, time.time() + self.settings.breaker_cooldown_s)
                return True
        return False

    async def _type(self, entry: Entry, settings: pacing.PacingSettings | None = None) -> None:
        """Show "typing…" for a moment before a paced campaign message, as a person would (`settings`: a campaign's
        own pacing, else the number's)."""
        seconds = pacing.typing_seconds(settings or self.settings, entry.text)
        if seconds <= 0 or entry.to is None or entry.opted_out:
            return
        try:
            await self.delivery.sessions.typing(self.key, entry.to, True)
        except Exception as exc:  # presence is a courtesy: never let it hold a message back
            log.debug("typing presence failed (workspace=%s account=%s): %s", *self.key, exc)
            return
        await self._sleep(self.halted, time.time() + seconds)
        with contextlib.suppress(Exception):
            await self.delivery.sessions.typing(self.key, entry.to, False)

    # -- claiming and sleeping -----------------------------------------------------------------------------------

    async def _claim(self, lanes: tuple[int, ...], limit: int) -> list[Entry]:
        now = time.time()
        return await self.ws.db.execute_write_fn(
            lambda conn: outbox_store.claim(conn, self.account_id, lanes, limit, now))

    async def _next_due(self, lanes: tuple[int, ...]) -> float | None:
        return await self.ws.db.execute_fn(lambda conn: outbox_store.next_due_at(conn, self.account_id, lanes))

    async def _sleep(self, event: asyncio.Event, until: float | None) -> None:
        timeout = IDLE_S if until is None else min(max(until - time.time(), 0.0), IDLE_S)
        if self.stopping:
            return
        with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancel that meets a wake
            async with asyncio.timeout(timeout):
                await event.wait()

    # -- sending and recording -----------------------------------------------------------------------------------

    async def _send_all(self, entries: list[Entry]) -> list[Outcome]:
        chains: dict[str | None, list[Entry]] = {}
        for entry in entries:
            chains.setdefault(entry.to, []).append(entry)
        results: dict[int, Outcome] = {}
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def chain(items: list[Entry]) -> None:
            for entry in items:
                async with gate:
                    results[entry.id] = await self._send_one(entry)

        if len(chains) == 1:
            await chain(entries)
        else:
            await asyncio.gather(*(chain(items) for items in chains.values()))
        return [results[e.id] for e in entries]

    async def _send_one(self, entry: Entry) -> Outcome:
        if self.stopping:
            return Outcome(entry, released=True)
        if entry.opted_out:
            return Outcome(entry, skipped=OPTED_OUT)
        if entry.to is None:
            return Outcome(entry, skipped=NO_ADDRESS)
        message = self._outgoing(entry)
        if message is None:
            return Outcome(entry, skipped=NO_TEMPLATE)
        if entry.media_sha256 is not None or entry.media_status is not None:
            if entry.media_status != "ready" or not entry.media_sha256:
                return Outcome(entry, skipped=NO_FILE)
            path = media.path_of(self.ws, entry.media_sha256)
            message = replace(message, media_path=path, mime=entry.media_mime, filename=entry.media_filename)
        flying = self.delivery.in_flight(self.key)
        flying[entry.provider_msg_id] = entry.message_id
        try:
            provider_id = await self.delivery.sessions.send(self.key, message)
        except SendError as exc:
            flying.pop(entry.provider_msg_id, None)
            return Outcome(entry, error=_template_error(exc) if message.kind == "template" else exc)
        except Exception as exc:  # the manager wraps engine failures; this is a last line of defence
            flying.pop(entry.provider_msg_id, None)
            log.exception("send crashed (workspace=%s account=%s message=%s)", *self.key, entry.message_id)
            return Outcome(entry, error=SendError("unknown", f"Sending failed unexpectedly: {exc}", retry=True))
        flying[provider_id] = entry.message_id
        return Outcome(entry, provider_id=provider_id)

    def _outgoing(self, entry: Entry) -> OutgoingMessage | None:
        """The engine's message for an entry. A Meta template goes as the template call from a Cloud API number;
        other engines have no Meta templates (WhatsApp Web refuses them), so there it goes as the text it reads
        as. None: a template entry without its call (nothing sensible to send)."""
        message = OutgoingMessage(to=entry.to or "", kind=entry.kind, text=entry.text,  # type: ignore[arg-type]
                                  reply_to=entry.reply_to, message_id=entry.provider_msg_id)
        if entry.kind != "template":
            return message
        call = outbox.template_of(entry.meta)
        if call is None:
            return None
        if self.delivery.sessions.state(self.key).engine != "cloud_api":
            kind = media.kind_of(entry.media_mime) if entry.media_sha256 and entry.media_mime else "text"
            return replace(message, kind=kind)  # type: ignore[arg-type]
        return replace(message, template=call)

    async def _record(self, outcomes: list[Outcome], claim: tuple[int, ...] | None = None) -> list[Entry]:
        """Record what happened to each entry in one transaction; with `claim`, the same transaction then claims
        the next batch of those lanes and returns it."""
        delays = self.delivery.retry_delays
        sent: list[tuple[int, int]] = []
        failed: list[tuple[int, int]] = []
        queued: list[tuple[int, int]] = []

        def write(conn: sqlite3.Connection) -> list[Entry]:
            now = time.time()
            done_ids = []
            for o in outcomes:
                e = o.entry
                shown = (e.message_id, e.conversation_id)
                if o.provider_id is not None:
                    messages_store.mark_sent(conn, e.message_id, self.account_id, o.provider_id, int(now))
                    done_ids.append(e.id)
                    if e.lane == LANES["campaign"]:
                        conversations_store.bump(conn, e.conversation_id, message_id=e.message_id, at=int(now),
                                                 preview_text=conversations_store.preview(e.kind, e.text))
                    sent.append(shown)
                elif o.released or _offline(o):
                    outbox_store.reschedule(conn, e.id, now + (0 if o.released else OFFLINE_RETRY_S), None, now,
                                            count_attempt=False)
                    messages_store.mark_queued(conn, e.message_id, None)
                elif o.error is not None and o.error.code in ("banned", "rate_limited") and e.lane == LANES["campaign"]:
                    # The number is limited, not the message: wait it out without using up the message's attempts.
                    wait = max(o.error.retry_after or 0.0, delays[0] if delays else 0.0)
                    outbox_store.reschedule(conn, e.id, now + wait, o.error.reason, now, count_attempt=False)
                    messages_store.mark_queued(conn, e.message_id, o.error.reason)
                    queued.append(shown)
                elif o.error is not None and o.error.retry and e.attempts <= len(delays):
                    wait = max(delays[e.attempts - 1], o.error.retry_after or 0.0)
                    outbox_store.reschedule(conn, e.id, now + wait, o.error.reason, now)
                    messages_store.mark_queued(conn, e.message_id, o.error.reason)
                    queued.append(shown)
                else:
                    reason = o.skipped or _final_reason(o.error, e.attempts)
                    outbox_store.fail(conn, e.id, reason, now)
                    messages_store.mark_failed(conn, [e.message_id], reason)
                    failed.append(shown)
            outbox_store.sent(conn, done_ids)
            return outbox_store.claim(conn, self.account_id, claim, BATCH, now) if claim else []

        following = await self.ws.db.execute_write_fn(write)
        for o in outcomes:
            if o.error is not None and not _offline(o):
                log.info("send failed (workspace=%s account=%s message=%s attempt=%d): %s %s", *self.key,
                         o.entry.message_id, o.entry.attempts, o.error.code, o.error.reason)
        await self.delivery.landed(self.ws, self.key, [o for o in outcomes if o.provider_id is not None])
        outbox.publish_status(self.ws, sent, "sent")
        outbox.publish_status(self.ws, failed, "failed")
        outbox.publish_status(self.ws, queued, "queued")
        await message_webhooks.sent(self.ws, sent)
        await message_webhooks.status(self.ws, failed, "failed")
        return following


def _offline(outcome: Outcome) -> bool:
    return outcome.error is not None and outcome.error.code == "not_connected"


def _template_error(error: SendError) -> SendError:
    """Meta's template errors (132000 parameter mismatch...) in words a shop owner can act on."""
    if error.code != "template_mismatch":
        return error
    return SendError(error.code, cloud_templates.explain(error.reason) or error.reason, retry=error.retry,
                     retry_after=error.retry_after)


def _final_reason(error: SendError | None, attempts: int) -> str:
    if error is None:
        return NOT_SENT
    if error.retry:
        return GAVE_UP % {"reason": error.reason, "count": attempts}
    return error.reason


def _keep_pause(conn: sqlite3.Connection, state: outbox_store.PacingState) -> outbox_store.PacingState:
    """Counters from the lane, pause and owner activity as stored now (set meanwhile by others)."""
    current = outbox_store.pacing_state(conn, state.account_id)
    return replace(state, paused_reason=current.paused_reason, paused_until=current.paused_until,
                   owner_active_at=current.owner_active_at)
