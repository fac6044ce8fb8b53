"""The WhatsApp Web engine: one linked device per account, run in-process by neonize (whatsmeow in Go).

How the traps of notes/neonize.md are met:
- one session store per account (`<folder>/whatsapp.db`), a fresh uuid per connection, `new_device` when the
  store holds no login yet;
- every handler is registered before `connect()` and only queues the event; one consumer maps and emits in
  order and logs failures with the account key (`session_events`);
- no handlers for StreamReplaced, KeepAliveRestored or ClientOutdated (empty payloads crash Go, #194): a
  replaced or silently dead stream is caught by a health check, an outdated client by the login status,
  LoggedOut / ConnectFailure reasons and whatsmeow's log line;
- `get_me()` is never called (`client.me` arrives by itself); `is_connected` is awaited;
- Go calls run on their own threads and stop before `Stop`; the event loop binding is reset (`go_bridge`).

neonize 0.5.2 cannot send with a message id of our choosing: its Go `SendMessage` builds the whatsmeow request
itself and never sets `SendRequestExtra.ID`. `send()` therefore ignores `OutgoingMessage.message_id` and
returns the id WhatsApp used (`accepts_message_id` says so to the outbox).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import phonenumbers
from neonize._binder import ProxySettings
from neonize.aioze.client import NewAClient
from neonize.exc import NeonizeError
from neonize.proto.Neonize_pb2 import JID
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ClientName, ClientType, MediaType, ReceiptType

from blazz.whatsapp.events import MediaRef
from blazz.whatsapp.protocol import AccountSpec, Emit, EngineError, OutgoingMessage, SendError
from blazz.whatsapp.whatsapp_web import go_bridge, inbound, outbound
from blazz.whatsapp.whatsapp_web.session_events import SessionEvents

log = logging.getLogger(__name__)

SESSION_FILE = "whatsapp.db"
DEVICE_PROPS = DeviceProps(os="Blazz", platformType=DeviceProps.CHROME)  # the name the phone lists
START_SETTLE_S = 2.0  # how long start() waits for Go to register the client before letting the next start in
# The manager gives stop() 5 s. Go's Stop is instant unless a dial is under way, which it cannot abort: then
# stop() moves on and the dial ends by itself (≤60 s) on its daemon thread.
STOP_WAIT_S = 1.0
CALL_DRAIN_S = 1.5
LOGOUT_S = 3.0
PAIR_WAIT_S = 20.0
CHECK_CHUNK = 50  # numbers per usync query
DOWNLOAD_MEDIA_TYPES = {
    "image": MediaType.MediaImage, "video": MediaType.MediaVideo, "audio": MediaType.MediaAudio,
    "document": MediaType.MediaDocument,
}


class WhatsAppWebEngine:
    """One WhatsApp number linked as a companion device (QR or pair code) through neonize."""

    accepts_message_id = False  # see the module docstring
    health_interval = 30.0  # seconds between checks that a "connected" socket still is

    def __init__(self, spec: AccountSpec, emit: Emit):
        self.spec = spec
        self._db = Path(spec.folder) / SESSION_FILE
        self._events = SessionEvents(spec.key, emit)
        self._client: NewAClient | None = None
        self._calls: go_bridge.GoCalls | None = None
        self._session: asyncio.Task | None = None  # neonize's connect task: Go's Neonize() runs for the session
        self._health: asyncio.Task | None = None
        self._resumed = False  # the store held a login when we started

    @property
    def _key(self) -> tuple[int, int]:
        return self.spec.key

    @property
    def _stopping(self) -> bool:
        return self._events.stopping

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin connecting: QrCode events for a new login, Connected for a stored one, Disconnected on failure."""
        if self._client is not None:
            return
        loop = asyncio.get_running_loop()
        if not go_bridge.bind_event_loop(loop):
            raise EngineError("unsupported", "WhatsApp Web sessions already run on another event loop of this "
                                             "process; Blazz runs them all on one loop.")
        proxy = self._proxy()
        try:
            self._db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineError("storage", f"Cannot create this account's WhatsApp session folder ({exc}).") from exc
        self._resumed = await asyncio.to_thread(has_stored_login, self._db)
        go_bridge.quiet_neonize_logging()
        workspace, account = self._key
        self._calls = go_bridge.GoCalls(f"wa-{workspace}-{account}")
        client = NewAClient(sqlite_name(self._db), props=DEVICE_PROPS, new_device=not self._resumed,
                            uuid=f"blazz-{workspace}-{account}-{uuid.uuid4().hex[:12]}")
        client._NewAClient__client = self._calls  # our threads, see go_bridge.GoCalls
        self._events.attach(client, loop)
        self._client = client
        go_bridge.outdated_watch().add(self._events)
        async with go_bridge.lifecycle_gate(loop):
            self._session = await client.connect(proxy)
            self._session.add_done_callback(self._events.session_done)
            deadline = loop.time() + START_SETTLE_S
            while not (self._events.alive.is_set() or self._session.done() or client.me is not None):
                if loop.time() >= deadline:
                    break
                await asyncio.sleep(0.02)
        self._health = loop.create_task(self._events.watch_health(self.health_interval),
                                        name=f"whatsapp-web-health-{workspace}-{account}")

    async def stop(self) -> None:
        """Disconnect and end the Go session; the login stays in the store for the next start."""
        if self._client is None or self._stopping:
            return
        self._events.stopping = True
        self._events.connected = False
        go_bridge.outdated_watch().discard(self._events)
        if self._health is not None:
            self._health.cancel()
        calls, client = self._calls, self._client
        assert calls is not None
        async with go_bridge.lifecycle_gate(asyncio.get_running_loop()):
            await calls.close(CALL_DRAIN_S)
            stopped = calls.stop_go_client(client.uuid)
            # neonize calls Stop again from a finalizer at interpreter exit, where a dial under way would block
            # the exit until it times out; ours is already issued.
            if finalizer := getattr(client, "_stop_finalizer", None):
                finalizer.detach()
            done, _ = await asyncio.wait({stopped, *([self._session] if self._session else [])},
                                         timeout=STOP_WAIT_S, return_when=asyncio.ALL_COMPLETED)
            if stopped not in done:
                log.info("whatsapp_web workspace=%s account=%s: a dial is under way; it ends by itself", *self._key)
        if self._session is not None and not self._session.done():
            calls.abandon_session()
            await asyncio.wait({self._session}, timeout=STOP_WAIT_S)
        await self._events.drain()

    async def logout(self) -> None:
        """Unlink this device at WhatsApp when possible, then forget the login here (even if WhatsApp can't be told)."""
        problem: Exception | None = None
        if self._client is not None and not self._stopping and (self._events.connected or self._resumed):
            try:
                await asyncio.wait_for(self._client.logout(), LOGOUT_S)
            except (NeonizeError, TimeoutError) as exc:
                problem = exc
        await self.stop()
        try:
            await asyncio.to_thread(forget_session, self._db)
        except OSError as exc:
            raise EngineError("storage", f"Could not delete this account's WhatsApp session file ({exc}).") from exc
        if problem is not None:
            raise EngineError("network", "Blazz forgot this login, but could not tell WhatsApp "
                                         f"({str(problem) or 'no answer'}); remove the device on the phone under "
                                         "Linked devices.")

    # -- sending -----------------------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> str:
        """Send text or media; returns the WhatsApp message id (see the module docstring about `message_id`)."""
        client = self._client
        if client is None or self._stopping:
            raise SendError("not_connected", "WhatsApp is not connected right now; the message will be retried.",
                            retry=True)
        if message.kind == "template":
            raise SendError("template_mismatch", "Templates are for Cloud API numbers; WhatsApp Web sends plain "
                                                 "messages.", retry=False)
        to = outbound.jid_for(message.to)
        context = self._reply_context(message.reply_to, to) if message.reply_to else None
        if message.kind == "text":
            payload = outbound.text_message(message.text, context)
        else:
            payload = await self._media_payload(client, message, context)
        try:
            response = await client.send_message(to, payload)
        except NeonizeError as exc:
            raise outbound.send_error(exc) from exc
        own = self._events.own
        self._events.remember(response.ID, str(own) if own else None, payload)
        return response.ID

    async def _media_payload(self, client: NewAClient, message: OutgoingMessage,
                             context: ContextInfo | None) -> Message:
        kind = message.kind
        if kind not in outbound.MEDIA_TYPES:
            raise SendError("invalid_media", f"WhatsApp Web cannot send a {kind!r} message.", retry=False)
        if message.media_path is None:
            raise SendError("invalid_media", "The message has no file attached.", retry=False)
        try:
            data = await asyncio.to_thread(Path(message.media_path).read_bytes)
        except OSError as exc:
            raise SendError("invalid_media", f"The file to send cannot be read ({exc}).", retry=False) from exc
        if not data:
            raise SendError("invalid_media", "The file to send is empty.", retry=False)
        mime = message.mime or outbound.DEFAULT_MIME[kind]
        if kind == "voice":
            mime = outbound.voice_mime(mime)
        try:
            upload = await client.upload(data, outbound.MEDIA_TYPES[kind])
        except NeonizeError as exc:
            raise outbound.send_error(exc) from exc
        thumbnail = await asyncio.to_thread(outbound.image_thumbnail, data) if kind == "image" else None
        seconds = outbound.ogg_opus_seconds(data) if kind in ("voice", "audio") else None
        filename = message.filename or Path(message.media_path).name
        return outbound.media_message(kind, upload, mime=mime, caption=message.text, filename=filename,
                                      context=context, thumbnail=thumbnail, seconds=seconds)

    def _reply_context(self, stanza_id: str, to: JID) -> ContextInfo:
        participant, quoted = self._events.quote(stanza_id)
        if participant is None and to.Server != inbound.GROUP_SERVER:
            participant = outbound.jid_text(to)  # in a 1:1 chat the quoted message is most often the customer's
        return outbound.reply_context(stanza_id, participant, quoted)

    async def check_numbers(self, phones: list[str]) -> dict[str, bool]:
        """Ask WhatsApp which numbers have an account (whatsmeow wants "+<country><number>")."""
        client = self._live_client()
        result = {phone: False for phone in phones}
        queries: dict[str, str] = {}
        for phone in phones:
            digits = re.sub(r"\D", "", phone)
            if 7 <= len(digits) <= 15:
                queries[f"+{digits}"] = phone
        batch = list(queries)
        for start in range(0, len(batch), CHECK_CHUNK):
            try:
                answers = await client.is_on_whatsapp(*batch[start:start + CHECK_CHUNK])
            except NeonizeError as exc:
                raise _call_error(exc, "Could not ask WhatsApp which numbers it knows") from exc
            for answer in answers:
                phone = queries.get(answer.Query) or queries.get(f"+{answer.JID.User}")
                if phone is not None:
                    result[phone] = bool(answer.IsIn)
        return result

    async def download_media(self, ref: MediaRef) -> bytes:
        """Fetch and decrypt an inbound file from WhatsApp's media servers using the keys kept in `ref.data`."""
        try:
            data = ref.data
            media_type = DOWNLOAD_MEDIA_TYPES[data["media_type"]]
            direct_path = str(data["direct_path"])
            enc_sha, sha = _b64(data["file_enc_sha256"]), _b64(data["file_sha256"])
            media_key, length = _b64(data["media_key"]), int(data["file_length"])
        except (KeyError, ValueError, TypeError) as exc:
            raise EngineError("media_unavailable", "This media reference lacks what WhatsApp needs to download "
                                                   "the file.") from exc
        client = self._live_client()
        try:
            return await client.download_media_with_path(direct_path, enc_sha, sha, media_key, length, media_type,
                                                         media_type.to_mms())
        except NeonizeError as exc:
            text = str(exc)
            if "404" in text or "410" in text:
                raise EngineError("media_unavailable", "WhatsApp no longer has this file (media expires after "
                                                       "some weeks).") from exc
            raise _call_error(exc, "Downloading the file from WhatsApp failed") from exc

    async def mark_read(self, chat: str, provider_ids: list[str], sender: str | None = None) -> None:
        """Blue ticks for the sender; a failure is logged, never raised (it only affects the ticks)."""
        if not provider_ids or self._client is None or self._stopping:
            return
        try:
            chat_jid = outbound.jid_for(chat)
            sender_jid = outbound.jid_for(sender) if sender else chat_jid
            await self._client.mark_read(*provider_ids, chat=chat_jid, sender=sender_jid, receipt=ReceiptType.READ)
        except (NeonizeError, SendError) as exc:
            log.info("whatsapp_web workspace=%s account=%s: mark read failed: %s", *self._key, exc)

    async def typing(self, to: str, on: bool) -> None:
        """Show or clear "typing…" in the customer's chat; failures are logged, never raised."""
        if self._client is None or self._stopping:
            return
        state = ChatPresence.CHAT_PRESENCE_COMPOSING if on else ChatPresence.CHAT_PRESENCE_PAUSED
        try:
            await self._client.send_chat_presence(outbound.jid_for(to), state,
                                                  ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT)
        except (NeonizeError, SendError) as exc:
            log.info("whatsapp_web workspace=%s account=%s: typing indicator failed: %s", *self._key, exc)

    async def request_pair_code(self, phone: str) -> str:
        """Link by typing a code on the phone instead of scanning; needs the QR step's open websocket."""
        digits = re.sub(r"[\s\-().+]", "", phone)
        if not _possible_phone(digits):
            raise EngineError("invalid_phone", f"{phone!r} is not a phone number in international format: country "
                                               "code first, e.g. 62 812 3456 7890.")
        if self._client is None or self._stopping:
            raise EngineError("not_ready", "Start the WhatsApp connection first, then ask for a pair code.")
        if self._events.connected or self._resumed:
            raise EngineError("already_connected", "This WhatsApp number is already linked; log out first to "
                                                   "link another phone.")
        try:
            async with asyncio.timeout(PAIR_WAIT_S):
                await self._events.socket_up.wait()
        except TimeoutError:
            raise EngineError("not_ready", "WhatsApp has not answered yet; try again in a moment.") from None
        client_name = ClientName.WINDOWS if sys.platform == "win32" else ClientName.LINUX
        try:
            code = await self._client.PairPhone(digits, True, client_name, ClientType.CHROME)
        except NeonizeError as exc:
            raise EngineError("pair_failed", f"WhatsApp did not give a pair code ({exc}).") from exc
        self._events.pairing = True
        self._events.enqueue("pair_code", code)
        return code

    # -- helpers -----------------------------------------------------------------------------------------------

    def _proxy(self) -> ProxySettings | None:
        address = (self.spec.settings or {}).get("proxy")
        if not address:
            return None
        if not isinstance(address, str) or "://" not in address:
            raise EngineError("invalid_settings", "The proxy must be a URL such as socks5://host:1080.")
        return ProxySettings(proxy_address=address)

    def _live_client(self) -> NewAClient:
        if self._client is None or self._stopping:
            raise EngineError("not_connected", "WhatsApp is not connected right now.")
        return self._client


def _call_error(exc: Exception, what: str) -> EngineError:
    if outbound.is_not_connected(exc):
        return EngineError("not_connected", f"{what}: WhatsApp is not connected right now.")
    return EngineError("network", f"{what} ({exc}).")


def _b64(value: Any) -> bytes:
    return base64.b64decode(str(value), validate=True)


def _possible_phone(digits: str) -> bool:
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(f"+{digits}"))
    except phonenumbers.NumberParseException:
        return False


def sqlite_name(path: Path) -> str:
    """The `name` neonize hands to Go as `file:<name>?_foreign_keys=on`: escape what a SQLite URI reserves."""
    text = str(path.resolve())
    return text.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def has_stored_login(path: Path) -> bool:
    """Whether whatsmeow's store in `path` holds a linked device (then we resume it instead of pairing anew)."""
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM whatsmeow_device").fetchone()
    except sqlite3.Error:
        return False
    return count > 0


def forget_session(path: Path) -> None:
    """Delete the session store and SQLite's side files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

