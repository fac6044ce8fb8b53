"""The sandbox engine: a simulated WhatsApp network inside the process.

It is the test double of the whole product and also powers `blazz demo` and the benchmarks. Its state (whether
the simulated phone is linked, its number, behaviour settings, everything the network accepted, inbound media)
lives in `<folder>/sandbox.db`, so it survives a restart of Blazz the way a real linked device does. Control
methods (`scan`, `inbound`, `configure` ...) play the owner's phone and the customers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import itertools
import json
import logging
import math
import random
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from blazz.whatsapp.events import (
    Connected,
    Disconnected,
    Event,
    Inbound,
    InboundMessage,
    LoggedOut,
    MediaRef,
    PairCode,
    QrCode,
    Receipt,
    ReceiptStatus,
    TemporaryBan,
)
from blazz.whatsapp.protocol import AccountSpec, Emit, EngineError, OutgoingMessage, SendError

log = logging.getLogger(__name__)

DB_NAME = "sandbox.db"
# Fast enough that tests and demos feel live; "read" only when configured, like a customer who never looks.
BEHAVIOUR_DEFAULTS: dict[str, Any] = {
    "receipt_delay_ms": 50,
    "read_delay_ms": None,
    "fail_rate": 0.0,
    "not_on_whatsapp": [],
    "auto_reply": None,  # a scripted customer answer to every message; "{text}" is replaced by what we sent
    "reply_delay_ms": 1000,
    "fail_connects": 0,  # the next N connection attempts fail, as a network outage would
}
QR_ROTATE_S = 20.0  # whatsmeow rotates QR codes every 20 s after the first one
PAIR_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # the alphabet of WhatsApp's 8-character linking codes
RECEIPT_BATCH = 1000  # ids per Receipt event when many messages come due at once
# Timers wake on a 10 ms grid: everything due within one tick goes out together (a few events per tick instead
# of one per message at thousands of sends per second); finer timing means nothing in a simulation.
TICK_S = 0.01

_SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA busy_timeout=5000;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (
    seq INTEGER PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, to_phone TEXT NOT NULL, kind TEXT NOT NULL,
    text TEXT NOT NULL, extra TEXT, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS delivered_to ON delivered (to_phone);
CREATE TABLE IF NOT EXISTS inbound_media (
    provider_id TEXT PRIMARY KEY, mime TEXT NOT NULL, filename TEXT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending_inbound (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activity (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, action TEXT NOT NULL, data TEXT NOT NULL);
"""
_INSERT_DELIVERED = (
    "INSERT OR IGNORE INTO delivered (provider_id, to_phone, kind, text, extra, at) VALUES (?, ?, ?, ?, ?, ?)"
)
_NOT_DIGIT = re.compile(r"[^0-9]")


class SandboxEngine:
    """A simulated linked device: QR login, sends with receipts, customers and failures on demand."""

    def __init__(self, spec: AccountSpec, emit: Emit):
        self.spec = spec
        self._emit = emit
        self._key = spec.key
        self._folder = Path(spec.folder)
        self._conn: sqlite3.Connection | None = None  # open only while started
        # stopped | connecting | qr | pairing | connected | disconnected | banned | logged_out
        self._phase = "stopped"
        self._tasks: set[asyncio.Task] = set()
        self._qr_task: asyncio.Task | None = None
        self._qr: QrCode | None = None
        self._pair_phone: str | None = None
        self._phone = ""
        self._ban_until = 0.0
        self._behaviour: dict[str, Any] = dict(BEHAVIOUR_DEFAULTS)
        self._blocked: frozenset[str] = frozenset()
        # Receipts and scripted replies share one heap and one task: a burst of sends costs heap pushes only.
        self._heap: list[tuple[float, int, str, Any]] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._alarm: asyncio.TimerHandle | None = None

    # -- lifecycle --

    async def start(self) -> None:
        """Show a QR code when not linked yet, otherwise come online at once (or report a running ban)."""
        if self._phase != "stopped":
            raise EngineError("already_started", "This sandbox session is already running.")
        self._conn = _open(self._folder)
        self._load(self._conn)
        self._wake = asyncio.Event()
        self._spawn(self._run_timers())
        if self._ban_until > time.time():
            self._phase = "banned"
            self._spawn(self._publish(TemporaryBan(self._key, self._ban_until, "Simulated temporary ban")))
        elif self._behaviour["fail_connects"] > 0:
            self._store_behaviour(self._conn, {"fail_connects": self._behaviour["fail_connects"] - 1})
            self._phase = "disconnected"
            self._spawn(self._publish(Disconnected(self._key, "Simulated connection failure", will_retry=False)))
        elif _meta(self._conn, "linked") == "1":
            self._phase = "connecting"
            self._spawn(self._come_online())
        else:
            self._phase = "qr"
            self._qr_task = self._spawn(self._rotate_qr())

    async def stop(self) -> None:
        """Stop every timer and close the database; the link and the logs stay for the next start."""
        self._phase = "stopped"
        self._qr = None
        self._pair_phone = None
        self._clear_timers()
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._wake = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def logout(self) -> None:
        """Unlink the simulated phone: the next start shows a QR code again."""
        with self._db() as db:
            _set_meta(db, "linked", "0")
        await self.stop()

    # -- sending --

    async def send(self, message: OutgoingMessage) -> str:
        """Accept a message into the delivered log (committed before returning) and schedule its receipts."""
        if self._phase != "connected":
            if self._phase == "banned":
                raise SendError("banned", "This number is temporarily banned by WhatsApp.", retry=True,
                                retry_after=max(0.0, self._ban_until - time.time()))
            raise SendError("not_connected", "The sandbox number is not connected.", retry=True)
        to = message.to
        if to in self._blocked:
            raise SendError("not_on_whatsapp", "This number is not on WhatsApp", retry=False)
        fail_rate = self._behaviour["fail_rate"]
        if fail_rate and random.random() < fail_rate:
            raise SendError("network", "Simulated network failure while sending.", retry=True)
        extra = None
        if message.media_path is not None or message.template is not None or message.reply_to:
            extra = json.dumps(_extra(message))
        provider_id = message.message_id or _new_id()
        assert self._conn is not None
        # Autocommit: this one INSERT is the transaction, durable against a crash once it returns (WAL).
        # OR IGNORE on the unique provider id makes a resend with the same message_id a no-op.
        fresh = self._conn.execute(
            _INSERT_DELIVERED, (provider_id, to, message.kind, message.text, extra, time.time())
        ).rowcount
        self._schedule_receipts(provider_id)
        if fresh and self._behaviour["auto_reply"]:
            delay = self._behaviour["reply_delay_ms"] / 1000
            self._push(delay, "reply", (to, message.text, provider_id))
        return provider_id

    async def check_numbers(self, phones: list[str]) -> dict[str, bool]:
        self._require_connected()
        return {phone: _e164(phone) not in self._blocked for phone in phones}

    async def download_media(self, ref: MediaRef) -> bytes:
        media_id = ref.data.get("sandbox_media")
        with self._db() as db:
            row = db.execute("SELECT data FROM inbound_media WHERE provider_id = ?", (media_id,)).fetchone()
        if row is None:
            raise EngineError("media_unavailable", "This media file is not available in the sandbox.")
        return bytes(row[0])

    async def mark_read(self, chat: str, provider_ids: list[str], sender: str | None = None) -> None:
        self._require_connected()
        self._record("mark_read", {"chat": chat, "provider_ids": list(provider_ids), "sender": sender})

    async def typing(self, to: str, on: bool) -> None:
        self._require_connected()
        self._record("typing", {"to": to, "on": on})

    async def request_pair_code(self, phone: str) -> str:
        """Switch from QR to an 8-character code; `scan()` or `confirm_pair()` plays the phone typing it."""
        if self._phase not in ("qr", "pairing"):
            raise EngineError("not_in_qr", "A pairing code can be requested only while a QR code is shown.")
        digits = _NOT_DIGIT.sub("", phone)
        if not 8 <= len(digits) <= 15 or digits.startswith("0"):
            raise EngineError("invalid_phone", "Enter the phone number with its country code, "
                                               "e.g. 6281234567890.")
        self._cancel_qr()
        self._phase = "pairing"
        self._pair_phone = "+" + digits
        code = "".join(secrets.choice(PAIR_ALPHABET) for _ in range(8))
        await self._publish(PairCode(self._key, code))
        return code

    # -- controls: the simulated phone and customers --

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def qr(self) -> QrCode | None:
        """The QR code currently shown, if the account waits for a scan."""
        return self._qr if self._phase == "qr" else None

    async def scan(self) -> None:
        """The owner's phone scans the current QR code (or confirms a requested pairing code)."""
        if self._phase == "pairing":
            await self.confirm_pair()
            return
        if self._phase != "qr":
            raise EngineError("not_in_qr", "There is no QR code to scan: the account is not waiting for one.")
        await self._link(self._phone)

    async def confirm_pair(self) -> None:
        """The owner typed the pairing code on the phone: the device links to the number it was asked for."""
        if self._phase != "pairing" or self._pair_phone is None:
            raise EngineError("not_pairing", "No pairing code is waiting to be confirmed.")
        await self._link(self._pair_phone)

    async def inbound(self, from_phone: str, text: str | None = None,
                      media: tuple[str, str | None, bytes] | None = None, provider_id: str | None = None, *,
                      name: str | None = None, quoted_id: str | None = None) -> str:
        """A customer writes to us; returns the provider id. The same id again is a redelivery, emitted again.

        `media` is (mime, filename, bytes). While the account is offline the message waits, as on WhatsApp's
        servers, and arrives on the next connect.
        """
        phone = _e164(from_phone)
        if not 8 <= len(phone) - 1 <= 15:
            raise EngineError("invalid_phone", f"{from_phone!r} is not a phone number with a country code.")
        if not text and media is None:
            raise EngineError("empty_message", "An inbound message needs text or media.")
        provider_id = provider_id or _new_id()
        payload: dict[str, Any] = {"id": provider_id, "from": phone, "text": text or "", "name": name,
                                   "quoted": quoted_id, "at": time.time(), "kind": "text", "media": None}
        with self._db() as db:
            if media is not None:
                mime, filename, data = media
                db.execute("INSERT OR REPLACE INTO inbound_media (provider_id, mime, filename, data) "
                           "VALUES (?, ?, ?, ?)", (provider_id, mime, filename, data))
                payload["kind"] = _kind_of(mime)
                payload["media"] = {"mime": mime, "filename": filename, "size": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}
            if self._phase != "connected":
                db.execute("INSERT INTO pending_inbound (payload) VALUES (?)", (json.dumps(payload),))
                return provider_id
        await self._publish(Inbound(self._key, _message_of(payload)))
        return provider_id

    async def configure(self, **changes: Any) -> dict[str, Any]:
        """Change the simulated network's behaviour; returns the behaviour now in force.

        Lasting settings: receipt_delay_ms, read_delay_ms (None or negative = never), fail_rate (0..1),
        not_on_whatsapp (phones), auto_reply, reply_delay_ms, fail_connects (the next N connects fail).
        One-shot actions: disconnect=True (the network drops the connection), ban_for_s=N (a temporary ban;
        0 lifts it), unlink=True (the phone removes the linked device).
        """
        disconnect = bool(changes.pop("disconnect", False))
        unlink = bool(changes.pop("unlink", False))
        ban_for_s = changes.pop("ban_for_s", None)
        unknown = set(changes) - set(BEHAVIOUR_DEFAULTS)
        if unknown:
            raise EngineError("invalid_setting", f"Unknown sandbox settings: {', '.join(sorted(unknown))}.")
        _validate(changes)
        with self._db() as db:
            self._store_behaviour(db, changes)
            if ban_for_s is not None:
                _set_meta(db, "ban_until", str(time.time() + float(ban_for_s) if float(ban_for_s) > 0 else 0))
            if unlink:
                _set_meta(db, "linked", "0")
            self._load(db)
        running = self._phase not in ("stopped", "logged_out")
        if unlink and running:
            self._go_offline("logged_out")
            await self._publish(LoggedOut(self._key, "The phone removed this linked device."))
        elif ban_for_s is not None and float(ban_for_s) > 0 and running:
            self._go_offline("banned")
            await self._publish(TemporaryBan(self._key, self._ban_until, "Simulated temporary ban"))
        elif disconnect and self._phase in ("connected", "qr", "pairing"):
            self._go_offline("disconnected")
            await self._publish(Disconnected(self._key, "Simulated network drop", will_retry=False))
        return self.behaviour()

    def behaviour(self) -> dict[str, Any]:
        with self._db() as db:
            self._load(db)
        return dict(self._behaviour)

    def delivered(self, to: str | None = None) -> list[dict[str, Any]]:
        """Everything the simulated network accepted from this account, oldest first; works while stopped."""
        with self._db() as db:
            return _delivered(db, to)

    @staticmethod
    def read_delivered(folder: Path, to: str | None = None) -> list[dict[str, Any]]:
        """The delivered log of the sandbox account stored in `folder`, without an engine."""
        if not (Path(folder) / DB_NAME).exists():
            return []
        conn = _open(Path(folder))
        try:
            return _delivered(conn, to)
        finally:
            conn.close()

    def activity(self, action: str | None = None) -> list[dict[str, Any]]:
        """What the account did besides sending (mark_read, typing), oldest first."""
        with self._db() as db:
            sql, args = "SELECT at, action, data FROM activity", ()
            if action is not None:
                sql, args = sql + " WHERE action = ?", (action,)
            rows = db.execute(sql + " ORDER BY seq", args).fetchall()
        return [{"at": at, "action": act, **json.loads(data)} for at, act, data in rows]

    # -- internals --

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The live connection while started, else a short-lived one: a stopped engine holds no file open."""
        if self._conn is not None:
            yield self._conn
            return
        conn = _open(self._folder)
        try:
            yield conn
        finally:
            conn.close()

    def _load(self, db: sqlite3.Connection) -> None:
        """Behaviour = defaults, then the account's settings, then what configure() stored."""
        merged = dict(BEHAVIOUR_DEFAULTS)
        merged.update({k: v for k, v in self.spec.settings.items() if k in BEHAVIOUR_DEFAULTS})
        merged.update(json.loads(_meta(db, "behaviour") or "{}"))
        self._behaviour = merged
        self._blocked = frozenset(_e164(p) for p in merged["not_on_whatsapp"] or ())
        self._ban_until = float(_meta(db, "ban_until") or 0)
        if _meta(db, "linked") is None:
            _set_meta(db, "linked", "1" if self.spec.settings.get("linked") else "0")
        phone = _meta(db, "phone")
        if phone is None:
            given = self.spec.settings.get("phone")
            phone = _e164(given) if given else "+1555" + "".join(random.choices("0123456789", k=7))
            _set_meta(db, "phone", phone)
        self._phone = phone

    def _store_behaviour(self, db: sqlite3.Connection, changes: dict[str, Any]) -> None:
        stored = json.loads(_meta(db, "behaviour") or "{}")
        stored.update(changes)
        _set_meta(db, "behaviour", json.dumps(stored))
        self._load(db)

    def _require_connected(self) -> None:
        if self._phase != "connected":
            raise EngineError("not_connected", "The sandbox number is not connected.")

    def _record(self, action: str, data: dict[str, Any]) -> None:
        with self._db() as db:
            db.execute("INSERT INTO activity (at, action, data) VALUES (?, ?, ?)",
                       (time.time(), action, json.dumps(data)))

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _publish(self, event: Event) -> None:
        """Hand an event up; a failure there is logged so timers and controls keep working."""
        try:
            await self._emit(event)
        except Exception:
            log.exception("sandbox event %s failed downstream (workspace=%s account=%s)",
                          type(event).__name__, *self._key)

    async def _rotate_qr(self) -> None:
        rotate = float(self.spec.settings.get("qr_rotate_s", QR_ROTATE_S))
        while self._phase == "qr":
            # The shape of whatsmeow's codes: ref,noise key,identity key,adv secret.
            parts = ["2@" + _b64(18)] + [_b64(32) for _ in range(3)]
            self._qr = QrCode(self._key, ",".join(parts), time.time() + rotate)
            await self._publish(self._qr)
            await asyncio.sleep(rotate)

    def _cancel_qr(self) -> None:
        if self._qr_task is not None and self._qr_task is not asyncio.current_task():
            self._qr_task.cancel()
        self._qr_task = None
        self._qr = None

    async def _link(self, phone: str) -> None:
        self._cancel_qr()
        self._pair_phone = None
        assert self._conn is not None
        _set_meta(self._conn, "linked", "1")
        _set_meta(self._conn, "phone", phone)
        self._phone = phone
        await self._come_online()

    async def _come_online(self) -> None:
        self._phase = "connected"
        digits = self._phone.lstrip("+")
        await self._publish(Connected(self._key, self._phone, jid=f"{digits}@s.whatsapp.net",
                                      push_name=self.spec.settings.get("name", "Sandbox")))
        # Messages that arrived while we were offline, oldest first; each row leaves only after its event.
        assert self._conn is not None
        waiting = self._conn.execute("SELECT seq, payload FROM pending_inbound ORDER BY seq").fetchall()
        for seq, payload in waiting:
            if self._phase != "connected":
                return
            await self._publish(Inbound(self._key, _message_of(json.loads(payload))))
            if self._conn is None:
                return
            self._conn.execute("DELETE FROM pending_inbound WHERE seq = ?", (seq,))

    def _go_offline(self, phase: str) -> None:
        self._phase = phase
        self._cancel_qr()
        self._clear_timers()

    # -- receipts and scripted replies --

    def _schedule_receipts(self, provider_id: str) -> None:
        delivered_ms = self._behaviour["receipt_delay_ms"]
        read_ms = self._behaviour["read_delay_ms"]
        if delivered_ms is not None and delivered_ms >= 0:
            self._push(delivered_ms / 1000, "delivered", provider_id)
        if read_ms is not None and read_ms >= 0:
            # A message is never read before it is delivered.
            self._push(max(read_ms, delivered_ms or 0) / 1000, "read", provider_id)

    def _push(self, delay: float, kind: str, payload: Any) -> None:
        if self._wake is None:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        item = (due, next(self._order), kind, payload)
        heapq.heappush(self._heap, item)
        if self._heap[0] is item:
            self._arm(loop, due)

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        assert self._wake is not None
        self._alarm = loop.call_at(math.ceil(due / TICK_S) * TICK_S, self._wake.set)

    def _clear_timers(self) -> None:
        self._heap.clear()
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None

    async def _run_timers(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        while True:
            await wake.wait()
            wake.clear()
            now = loop.time()
            due: list[tuple[float, int, str, Any]] = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap))
            self._alarm = None
            if self._heap:
                self._arm(loop, self._heap[0][0])
            await self._fire(due)

    async def _fire(self, due: list[tuple[float, int, str, Any]]) -> None:
        by_status: dict[ReceiptStatus, list[str]] = {"delivered": [], "read": []}
        replies = []
        for _, _, kind, payload in due:
            if kind == "reply":
                replies.append(payload)
            else:
                by_status[kind].append(payload)
        now = time.time()
        for status, ids in by_status.items():
            for i in range(0, len(ids), RECEIPT_BATCH):
                await self._publish(Receipt(self._key, tuple(ids[i:i + RECEIPT_BATCH]), status, now))
        template = self._behaviour["auto_reply"]
        for to, text, quoted in replies:
            if template and self._phase == "connected" and "@" not in to:
                await self.inbound(to, str(template).replace("{text}", text), quoted_id=quoted)


# -- module helpers --


def _open(folder: Path) -> sqlite3.Connection:
    folder.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: autocommit, so each statement commits by itself (one INSERT per send).
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    conn.executescript(_SCHEMA)
    return conn


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


def _delivered(db: sqlite3.Connection, to: str | None) -> list[dict[str, Any]]:
    sql, args = "SELECT provider_id, to_phone, kind, text, extra, at FROM delivered", ()
    if to is not None:
        sql, args = sql + " WHERE to_phone = ?", (to if "@" in to else _e164(to),)
    out = []
    for provider_id, to_phone, kind, text, extra, at in db.execute(sql + " ORDER BY seq", args):
        entry: dict[str, Any] = {"provider_id": provider_id, "to": to_phone, "kind": kind, "text": text,
                                 "at": at}
        if extra:
            entry.update(json.loads(extra))
        out.append(entry)
    return out


def _validate(changes: dict[str, Any]) -> None:
    rate = changes.get("fail_rate")
    if rate is not None and not (isinstance(rate, int | float) and 0 <= rate <= 1):
        raise EngineError("invalid_setting", "fail_rate must be a number between 0 and 1.")
    for name in ("receipt_delay_ms", "read_delay_ms", "reply_delay_ms"):
        value = changes.get(name)
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise EngineError("invalid_setting", f"{name} must be a number of milliseconds.")
    if "reply_delay_ms" in changes and changes["reply_delay_ms"] is None:
        raise EngineError("invalid_setting", "reply_delay_ms must be a number of milliseconds.")
    fail_connects = changes.get("fail_connects")
    if fail_connects is not None and not (isinstance(fail_connects, int) and fail_connects >= 0):
        raise EngineError("invalid_setting", "fail_connects must be a whole number of attempts.")
    phones = changes.get("not_on_whatsapp")
    if phones is not None and not (isinstance(phones, list | tuple)
                                   and all(isinstance(p, str) for p in phones)):
        raise EngineError("invalid_setting", "not_on_whatsapp must be a list of phone numbers.")


def _extra(message: OutgoingMessage) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if message.media_path is not None:
        path = Path(message.media_path)
        if not path.is_file():
            raise SendError("invalid_media", "The media file to send is missing.", retry=False)
        extra["media"] = {"mime": message.mime, "filename": message.filename or path.name,
                          "size": path.stat().st_size}
    if message.template is not None:
        t = message.template
        extra["template"] = {"name": t.name, "language": t.language, "params": list(t.body_params)}
    if message.reply_to:
        extra["reply_to"] = message.reply_to
    return extra


def _message_of(payload: dict[str, Any]) -> InboundMessage:
    media = payload.get("media")
    ref = None
    if media:
        ref = MediaRef(mime=media["mime"], filename=media.get("filename"), size=media.get("size"),
                       sha256=media.get("sha256"), data={"sandbox_media": payload["id"]})
    return InboundMessage(provider_id=payload["id"], chat=payload["from"], sender_phone=payload["from"],
                          timestamp=payload["at"], kind=payload["kind"], text=payload["text"],
                          sender_name=payload.get("name"), media=ref, quoted_id=payload.get("quoted"))


def _kind_of(mime: str) -> str:
    major = mime.split("/", 1)[0]
    if mime.startswith("audio/ogg"):
        return "voice"
    return {"image": "image", "video": "video", "audio": "audio"}.get(major, "document")


def _e164(phone: str) -> str:
    digits = _NOT_DIGIT.sub("", phone)
    if digits.startswith("00") and not phone.lstrip().startswith("+"):
        digits = digits[2:]  # 00 is the international call prefix in most countries
    return "+" + digits


def _new_id() -> str:
    # The shape of WhatsApp Web message ids: "3EB0" and upper-case hex.
    return "3EB0" + secrets.token_hex(8).upper()


def _b64(n: int) -> str:
    return base64.b64encode(secrets.token_bytes(n)).decode()
