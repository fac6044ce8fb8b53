"""One session's event stream: everything neonize and Go report, turned into Blazz events, in arrival order.

neonize dispatches each event as its own coroutine and drops any exception a handler raises. Here every handler
only queues what arrived; one consumer task translates and emits, and logs any failure with the account key.
The stream also keeps what the engine needs to know about the session: connected or not, the linked number,
the LID ↔ phone pairs learnt so far, and recent messages to quote in replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from neonize.aioze.client import NewAClient
from neonize.aioze.events import (
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamErrorEv,
    TemporaryBanEv,
)
from neonize.exc import NeonizeError
from neonize.proto.Neonize_pb2 import JID, PairStatus
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

from blazz.whatsapp.events import (
    AccountKey,
    Connected,
    Disconnected,
    HistoryBatch,
    Inbound,
    InboundMessage,
    LoggedOut,
    PairCode,
    QrCode,
    TemporaryBan,
)
from blazz.whatsapp.protocol import Emit
from blazz.whatsapp.whatsapp_web import inbound, reasons

log = logging.getLogger(__name__)

# whatsmeow's QR channel: the first code is valid for 60 s, every later one for 20 s.
FIRST_QR_TTL_S, NEXT_QR_TTL_S = 60.0, 20.0
HISTORY_CHUNK = 500  # messages per HistoryBatch: a first sync can carry tens of thousands
RECENT_MAX = 500  # messages kept to quote in replies (WhatsApp shows a quote from the copy the reply carries)
UNKNOWN_BAN_S = 3600.0  # whatsmeow reports 0 when WhatsApp names no end: look again in an hour
DRAIN_S = 1.5
# Go subscribes only to the events that have a handler. Never add StreamReplacedEv, KeepAliveRestoredEv or
# ClientOutdatedEv: their payload is empty and neonize's Go side panics on empty payloads (#194).
SUBSCRIBED = {
    PairStatusEv: "pair", ConnectedEv: "connected", KeepAliveTimeoutEv: "keepalive", LoggedOutEv: "logged_out",
    TemporaryBanEv: "ban", ConnectFailureEv: "connect_failure", StreamErrorEv: "stream_error",
    DisconnectedEv: "disconnected", HistorySyncEv: "history", MessageEv: "message", ReceiptEv: "receipt",
}
# Lifecycle news from a session being stopped is stale; messages and receipts are still worth keeping.
LIFECYCLE_KINDS = frozenset({
    "qr", "login", "pair", "pair_code", "connected", "logged_out", "ban", "connect_failure", "disconnected",
    "session_failed", "session_ended", "silent_drop", "outdated",
})
_END = object()


class SessionEvents:
    """The ordered event stream of one neonize client, and what it tells about the session."""

    def __init__(self, key: AccountKey, emit: Emit):
        self.key = key
        self._emit = emit
        self.client: NewAClient | None = None
        self.connected = False
        self.pairing = False  # a pair code is being typed: QR rotations are not shown
        self.stopping = False
        self.own: inbound.Addr | None = None  # the linked number's JID
        self.socket_up = asyncio.Event()  # set at the first QR: the websocket is open, PairPhone can work
        self.alive = asyncio.Event()  # set at the first sign of life from Go
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._consumer: asyncio.Task | None = None
        self._qr_count = 0
        self._lids: dict[str, str] = {}  # LID user → E.164
        self._recent: OrderedDict[str, tuple[str | None, Message]] = OrderedDict()
        self._handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            "qr": self._on_qr_code, "login": self._on_login_status, "pair": self._on_pair_status,
            "pair_code": self._on_pair_code, "connected": self._on_connected, "keepalive": self._on_keepalive,
            "logged_out": self._on_logged_out, "ban": self._on_ban, "connect_failure": self._on_connect_failure,
            "stream_error": self._on_stream_error, "disconnected": self._on_disconnected,
            "history": self._on_history, "message": self._on_message, "receipt": self._on_receipt,
            "session_failed": self._on_session_failed, "session_ended": self._on_session_ended,
            "silent_drop": self._on_silent_drop, "outdated": self._on_outdated,
        }

    @property
    def own_phone(self) -> str | None:
        return inbound.phone_of(self.own)

    def attach(self, client: NewAClient, loop: asyncio.AbstractEventLoop) -> None:
        """Register every handler on `client` (before it connects: Go subscribes to those only) and start emitting."""
        self.client, self._loop = client, loop
        client.event.qr(self._on_qr)
        client._NewAClient__onLoginStatus = self._on_login_callback  # neonize's own is a no-op in async
        for event_type, kind in SUBSCRIBED.items():
            client.event(event_type)(self._handler(kind))
        workspace, account = self.key
        self._consumer = loop.create_task(self._consume(), name=f"whatsapp-web-events-{workspace}-{account}")

    # -- arrival: from neonize's dispatch (loop thread) and from Go's threads --------------------------------------

    def _handler(self, kind: str) -> Callable[[NewAClient, Any], Awaitable[None]]:
        async def handler(_client: NewAClient, event: Any) -> None:
            self.enqueue(kind, event)

        return handler

    async def _on_qr(self, _client: NewAClient, data: bytes) -> None:
        self.socket_up.set()
        self.enqueue("qr", data.decode("utf-8", "replace"))

    def _on_login_callback(self, _uuid: int, status: int) -> None:
        """Go calls this on its own thread with a C string: "success", "timeout", "err-client-outdated", …"""
        try:
            self.post("login", ctypes.string_at(status).decode("utf-8", "replace") if status else "")
        except Exception:
            log.exception("whatsapp_web workspace=%s account=%s: login status lost", *self.key)

    def client_outdated_logged(self) -> None:
        """From go_bridge's log watch (another thread): whatsmeow logged that WhatsApp refused its version."""
        self.post("outdated", None)

    def post(self, kind: str, item: Any) -> None:
        """`enqueue` from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(self.enqueue, kind, item)

    def enqueue(self, kind: str, item: Any) -> None:
        self.alive.set()
        self._queue.put_nowait((kind, item))

    def session_done(self, task: asyncio.Task) -> None:
        """Done-callback of neonize's connect task: Go's `Neonize` returned, with an error or after `Stop`."""
        failure = None if task.cancelled() else task.exception()
        if not self.stopping:
            self.enqueue("session_failed" if failure is not None else "session_ended", failure)

    # -- the consumer ----------------------------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            entry = await self._queue.get()
            if entry is _END:
                return
            kind, item = entry
            if self.stopping and kind in LIFECYCLE_KINDS:
                continue
            try:
                await self._handlers[kind](item)
            except Exception:
                log.exception("whatsapp_web workspace=%s account=%s: handling %s event failed", *self.key, kind)

    async def drain(self) -> None:
        """Let what already arrived through (messages WhatsApp will not send again), then end the consumer."""
        self._queue.put_nowait(_END)
        consumer = self._consumer
        if consumer is None or consumer is asyncio.current_task():
            return  # stop() called from inside our own emit: the consumer ends after this event
        try:
            await asyncio.wait_for(asyncio.shield(consumer), DRAIN_S)
        except TimeoutError:
            consumer.cancel()

    async def watch_health(self, interval: float) -> None:
        """Catch a socket that died without an event we may subscribe to (a replaced stream, a reconnect
        whatsmeow gave up on): two failed checks in a row while we believe we are connected."""
        misses = 0
        while True:
            await asyncio.sleep(interval)
            if not self.connected or self.stopping or self.client is None:
                misses = 0
                continue
            try:
                alive = bool(await self.client.is_connected)  # a property returning a coroutine
            except NeonizeError:
                continue
            misses = 0 if alive else misses + 1
            if misses >= 2:
                misses, self.connected = 0, False
                self.enqueue("silent_drop", None)

    # -- replies ----------------------------------------------------------------------------------------------

    def remember(self, provider_id: str, participant: str | None, message: Message) -> None:
        """Keep a message (without its own quote) to quote it if a reply to it is sent."""
        quoted = Message()
        quoted.CopyFrom(inbound.unwrap(message))
        quoted.ClearField("messageContextInfo")
        for field, value in quoted.ListFields():
            if field.message_type is not None and "contextInfo" in field.message_type.fields_by_name:
                value.ClearField("contextInfo")
        self._recent[provider_id] = (participant, quoted)
        self._recent.move_to_end(provider_id)
        while len(self._recent) > RECENT_MAX:
            self._recent.popitem(last=False)

    def quote(self, provider_id: str) -> tuple[str | None, Message | None]:
        """Who wrote a recent message and its content; (None, None) for one this session has not seen."""
        return self._recent.get(provider_id, (None, None))

    # -- what each event means -----------------------------------------------------------------------------------

    async def _on_qr_code(self, code: str) -> None:
        if self.pairing:
            return  # the owner is typing a pair code; a new QR would switch the screen back
        ttl = FIRST_QR_TTL_S if self._qr_count == 0 else NEXT_QR_TTL_S
        self._qr_count += 1
        await self._emit(QrCode(self.key, code, time.time() + ttl))

    async def _on_login_status(self, status: str) -> None:
        if status == "success":
            log.info("whatsapp_web workspace=%s account=%s: phone linked", *self.key)
        elif status == "err-client-outdated":
            await self._emit(LoggedOut(self.key, reasons.CLIENT_OUTDATED))
        elif status == "timeout" and self.pairing:
            await self._emit(Disconnected(self.key, "The pair code was not entered in time.", will_retry=False))
        elif status:
            reason = reasons.LOGIN_STATUS_REASONS.get(status, f"Linking the phone failed ({status}).")
            await self._emit(Disconnected(self.key, reason, will_retry=False))

    async def _on_pair_code(self, code: str) -> None:
        await self._emit(PairCode(self.key, code))

    async def _on_pair_status(self, event: PairStatus) -> None:
        if event.Status == PairStatus.SUCCESS:
            self.own = inbound.addr_of(event.ID) or self.own
            log.info("whatsapp_web workspace=%s account=%s: paired on %s", *self.key, event.Platform or "a phone")
        else:
            reason = f"Linking the phone failed ({event.Error or 'no reason given'})."
            await self._emit(Disconnected(self.key, reason, will_retry=False))

    async def _on_connected(self, _event: Any) -> None:
        me = self.client.me if self.client is not None else None  # pushed by Go; never call get_me() (§A.4)
        self.own = (inbound.addr_of(me.JID) if me is not None and me.HasField("JID") else None) or self.own
        self.connected, self.pairing, self._qr_count = True, False, 0
        push_name = (me.PushName or None) if me is not None else None
        jid = str(self.own) if self.own else None
        await self._emit(Connected(self.key, self.own_phone, jid=jid, push_name=push_name))

    async def _on_disconnected(self, _event: Any) -> None:
        self.connected = False  # whatsmeow reconnects by itself after an unexpected drop
        await self._emit(Disconnected(self.key, reasons.CONNECTION_LOST, will_retry=True))

    async def _on_logged_out(self, event: Any) -> None:
        self.connected = False
        await self._emit(LoggedOut(self.key, reasons.logout_reason(event.Reason)))

    async def _on_ban(self, event: Any) -> None:
        self.connected = False
        expires = time.time() + (event.Expire if event.Expire > 0 else UNKNOWN_BAN_S)
        await self._emit(TemporaryBan(self.key, expires, reasons.ban_reason(event.Code)))

    async def _on_connect_failure(self, event: Any) -> None:
        reason = reasons.logout_reason(event.Reason)
        if event.Reason in reasons.FINAL_REASONS:
            self.connected = False
            await self._emit(LoggedOut(self.key, reason))
        elif event.Reason in reasons.TRANSIENT_REASONS:
            await self._emit(Disconnected(self.key, f"{reason} Reconnecting.", will_retry=True))
        else:
            self.connected = False
            detail = f"{reason} ({event.Message})" if event.Message else reason
            await self._emit(Disconnected(self.key, detail, will_retry=False))

    async def _on_outdated(self, _item: None) -> None:
        if not self.connected:
            await self._emit(LoggedOut(self.key, reasons.CLIENT_OUTDATED))

    async def _on_session_failed(self, failure: BaseException) -> None:
        self.connected = False
        await self._emit(Disconnected(self.key, reasons.connect_error_reason(str(failure)), will_retry=False))

    async def _on_session_ended(self, _item: None) -> None:
        self.connected = False
        await self._emit(Disconnected(self.key, "The WhatsApp session ended.", will_retry=False))

    async def _on_silent_drop(self, _item: None) -> None:
        await self._emit(Disconnected(self.key, reasons.SILENT_DROP, will_retry=False))

    async def _on_keepalive(self, event: Any) -> None:
        log.info("whatsapp_web workspace=%s account=%s: keep-alive missed (%s in a row)", *self.key,
                 event.ErrorCount)

    async def _on_stream_error(self, event: Any) -> None:
        log.warning("whatsapp_web workspace=%s account=%s: stream error %s", *self.key, event.Code or "?")

    async def _on_message(self, event: Any) -> None:
        message = inbound.from_message_event(event, self._lids, self.own_phone)
        if message is None:
            return
        message = await self._resolve_lid(message)
        participant = (f"{message.sender_phone[1:]}@{inbound.USER_SERVER}" if message.sender_phone
                       else message.sender_lid)
        self.remember(message.provider_id, participant, event.Message)
        await self._emit(Inbound(self.key, message))

    async def _resolve_lid(self, message: InboundMessage) -> InboundMessage:
        """Ask whatsmeow's LID table for the phone of a LID-only sender. Only while connected: the Go call
        dereferences the logged-in device store and crashes the process when there is none."""
        if message.sender_phone or not message.sender_lid or not self.connected or self.client is None:
            return message
        lid_user = message.sender_lid.partition("@")[0]
        try:
            found = await self.client.get_pn_from_lid(JID(User=lid_user, Server=inbound.LID_SERVER, Device=0,
                                                          RawAgent=0, Integrator=0, IsEmpty=False))
        except NeonizeError as exc:
            log.debug("whatsapp_web workspace=%s account=%s: no phone for a LID: %s", *self.key, exc)
            return message
        phone = inbound.phone_of(inbound.addr_of(found))
        if phone is None:
            return message
        self._lids[lid_user] = phone
        chat = phone if message.chat == message.sender_lid else message.chat
        return dataclasses.replace(message, sender_phone=phone, chat=chat)

    async def _on_receipt(self, event: Any) -> None:
        receipt = inbound.from_receipt_event(self.key, event)
        if receipt is not None:
            await self._emit(receipt)

    async def _on_history(self, event: Any) -> None:
        lids, own_phone = dict(self._lids), self.own_phone
        # Off the loop: a first sync is large, and mapping it would hold every other session's events back.
        messages = await asyncio.to_thread(lambda: list(inbound.from_history(event.Data, lids, own_phone)))
        self._lids.update(lids)
        for start in range(0, len(messages), HISTORY_CHUNK):
            await self._emit(HistoryBatch(self.key, tuple(messages[start:start + HISTORY_CHUNK])))
