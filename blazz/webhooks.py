"""Outgoing webhooks: subscriptions to events, signed JSON deliveries, the delivery log, test events and redelivery.

Features call `await emit(ws, "contact.created", {...})` (or `emit_in(conn, ws, ...)` inside their own write
transaction): the event and one delivery per matching subscription are stored first, then the worker in
`blazz.webhook_delivery` posts them, retrying with exponential backoff for 24 hours.

Each request carries `Blazz-Event-Id`, `Blazz-Event`, `Blazz-Timestamp` (Unix seconds) and
`Blazz-Signature: v1=<hex>`, the HMAC-SHA256 of `"<timestamp>.<raw body>"` keyed with the subscription's secret.
Receivers recompute it over the bytes they received (see `verify`), reject stale timestamps, and dedupe on the
event id (a delivery may arrive twice: after a crash, or when the owner redelivers it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import sqlite3
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from blazz import audit
from blazz.errors import Conflict, Invalid, NotFound
from blazz.i18n import N_
from blazz.store import audit as audit_store
from blazz.store import contacts as contacts_store
from blazz.store import groups as groups_store
from blazz.store import webhooks as store
from blazz.store.contacts import Contact
from blazz.store.database import Database
from blazz.store.webhooks import Attempt, Delivery, Webhook
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

EVENTS = (
    "message.received", "message.sent", "message.status",
    "contact.created", "contact.updated",
    "conversation.assigned", "conversation.resolved",
    "campaign.completed",
)
TEST_EVENT = "webhook.test"  # sent only by "Send test event", to one subscription
PAUSED_BEFORE_SENDING = N_("The webhook was turned off before this was sent.")  # stored as the delivery's error
SECRET_PREFIX = "whsec_"
MAX_URL = 2000
MAX_WEBHOOKS = 50  # per workspace; each event is stored once per subscription
SIGNATURE_TOLERANCE_S = 300  # what `verify` accepts as clock skew and delay (Stripe uses the same five minutes)
RESOLVE_TIMEOUT_S = 5
_CACHE_S = 30.0  # subscriptions changed by another process are seen within this

# Cloud metadata services answer on these: never a webhook target, whatever the owner allows.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, Oracle...
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
))


class UnsafeTarget(Exception):
    """The URL's host resolves to an address webhooks may not reach (or does not resolve). `str()` says why in
    English (the delivery log); `msgid` and `params` let a form say it in the reader's language."""

    def __init__(self, message: str, **params: Any):
        self.msgid, self.params = message, params
        super().__init__(message % params)


# Why an address is refused: in the delivery log (stored in English, read back translated by
# `webhook_delivery.in_words`) and, as whole sentences, in the form.
_METADATA = N_("%(ip)s is a cloud metadata address")
_NOT_HOST = N_("%(ip)s is not a host address")
_PRIVATE = N_("%(ip)s is a private, loopback or link-local address; allow LAN targets for this webhook to use it")
_UNRESOLVED = N_("%(host)s could not be resolved")
REFUSAL_REASONS = (_METADATA, _NOT_HOST, _PRIVATE, _UNRESOLVED)
# The form's sentences, whole, so translators see the sentence rather than a fragment.
_REFUSED = {
    _METADATA: N_("Webhooks cannot be sent there: %(ip)s is a cloud metadata address."),
    _NOT_HOST: N_("Webhooks cannot be sent there: %(ip)s is not a host address."),
    _PRIVATE: N_("Webhooks cannot be sent there: %(ip)s is a private, loopback or link-local address; allow LAN "
                 "targets for this webhook to use it."),
    _UNRESOLVED: N_("Webhooks cannot be sent there: %(host)s could not be resolved."),
}


# -- URLs and addresses ------------------------------------------------------------------------------------------


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> UnsafeTarget | None:
    """Why webhooks may not post to this address, or None when they may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return UnsafeTarget(_METADATA, ip=str(ip))
    if ip.is_unspecified or ip.is_multicast:
        return UnsafeTarget(_NOT_HOST, ip=str(ip))
    if ip.is_global or allow_private:
        return None
    return UnsafeTarget(_PRIVATE, ip=str(ip))


def clean_url(url: Any) -> tuple[str, str, int]:
    """The URL (http or https only, no credentials), its host and port; raises Invalid naming `url`."""
    text = str(url or "").strip()
    if not text:
        raise Invalid("url", "Enter the URL that should receive the events.")
    if len(text) > MAX_URL or any(ord(c) < 33 for c in text):
        raise Invalid("url", "Use a URL of at most %(max)s characters without spaces.", max=MAX_URL)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise Invalid("url", "This is not a valid URL.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid("url", "Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        raise Invalid("url", "The URL needs a host name, e.g. https://shop.example/hooks/blazz.")
    if parts.username is not None or parts.password is not None:
        raise Invalid("url", "Leave credentials out of the URL; check the signature header instead.")
    return text, parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80)


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (an IP literal resolves to itself)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    return list(dict.fromkeys(info[4][0] for info in infos))


Resolver = Callable[[str, int], Any]


async def safe_addresses(host: str, port: int, allow_private: bool, resolve: Resolver = resolve_host) -> list[str]:
    """The host's addresses when every one of them is allowed; raises UnsafeTarget otherwise.

    Checking all of them (not just the first) matters: a name with one public and one private address could
    otherwise be aimed at the private one.
    """
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise UnsafeTarget(_UNRESOLVED, host=host) from exc
    if not addresses:
        raise UnsafeTarget(_UNRESOLVED, host=host)
    for address in addresses:
        problem = address_problem(ipaddress.ip_address(address.split("%")[0]), allow_private)
        if problem:
            raise problem
    return addresses


async def check_url(url: Any, allow_private: bool, resolve: Resolver = resolve_host) -> str:
    """A URL fit to receive webhooks: http(s), resolvable, and only to allowed addresses."""
    text, host, port = clean_url(url)
    try:
        await safe_addresses(host, port, allow_private, resolve)
    except UnsafeTarget as exc:
        raise Invalid("url", _REFUSED[exc.msgid], **exc.params) from exc
    return text


# -- signatures --------------------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Blazz-Signature` value: `v1=` + hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with the secret."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
           tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver does: recompute the signature over the raw body and compare in constant time."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now or time.time()) - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in (signature or "").split(","))


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# -- subscriptions -----------------------------------------------------------------------------------------------


def clean_events(events: Any) -> list[str]:
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list | tuple) or not events:
        raise Invalid("events", "Choose at least one event.")
    unknown = [str(e) for e in events if e not in EVENTS]
    if unknown:
        raise Invalid("events", "Unknown event %(event)s; choose from: %(events)s.", event=repr(unknown[0]),
                      events=", ".join(EVENTS))
    return [e for e in EVENTS if e in events]


def clean_description(value: Any) -> str:
    text = " ".join(str(value or "").split())
    if len(text) > 200:
        raise Invalid("description", "Keep the description under 200 characters.")
    return text


async def create(ws: Workspace, actor: audit.Actor, url: Any, events: Any, allow_private: bool = False,
                 description: Any = "", resolve: Resolver = resolve_host) -> tuple[Webhook, str]:
    """A new subscription and its signing secret (shown once; only this call returns it)."""
    events = clean_events(events)
    description = clean_description(description)
    url = await check_url(url, bool(allow_private), resolve)
    secret = new_secret()

    def write(conn: sqlite3.Connection) -> int:
        if conn.execute("SELECT count(*) FROM webhooks").fetchone()[0] >= MAX_WEBHOOKS:
            raise Conflict("A workspace can have at most %(max)s webhooks; delete one first.", max=MAX_WEBHOOKS)
        hook_id = store.insert(conn, url, description, events, secret, bool(allow_private), int(time.time()))
        audit_insert(conn, actor, "webhook.created", url, events=events, allow_private=bool(allow_private))
        return hook_id

    hook_id = await ws.db.execute_write_fn(write)
    _forget(ws.db)
    return await get(ws, hook_id), secret


async def get(ws: Workspace, webhook_id: int) -> Webhook:
    hook = await store.get(ws.db, webhook_id)
    if hook is None:
        raise NotFound("That webhook does not exist.")
    return hook


async def list_page(ws: Workspace, after_id: int | None, limit: int) -> list[Webhook]:
    return await store.page(ws.db, after_id, limit)


async def update(ws: Workspace, actor: audit.Actor, webhook_id: int, **changes: Any) -> Webhook:
    """Change url, events, description, allow_private and/or active (False pauses, True turns it back on)."""
    current = await get(ws, webhook_id)
    values: dict[str, Any] = {}
    if "events" in changes:
        values["events"] = clean_events(changes["events"])
    if "description" in changes:
        values["description"] = clean_description(changes["description"])
    if "allow_private" in changes:
        values["allow_private"] = bool(changes["allow_private"])
    if "url" in changes or "allow_private" in changes:
        values["url"] = await check_url(changes.get("url", current.url),
                                        values.get("allow_private", current.allow_private))
    active = changes.get("active")
    now = int(time.time())

    def write(conn: sqlite3.Connection) -> None:
        if store.get_sync(conn, webhook_id) is None:
            raise NotFound("That webhook does not exist.")
        store.update(conn, webhook_id, values, now)
        if values:
            audit_insert(conn, actor, "webhook.updated", current.url, fields=sorted(values))
        if active is True and current.status != "active":
            store.set_status(conn, webhook_id, "active", None, now)
            audit_insert(conn, actor, "webhook.enabled", current.url)
        elif active is False and current.status == "active":
            store.set_status(conn, webhook_id, "paused", None, now)
            store.fail_pending(conn, webhook_id, PAUSED_BEFORE_SENDING)
            audit_insert(conn, actor, "webhook.paused", current.url)

    await ws.db.execute_write_fn(write)
    _forget(ws.db)
    return await get(ws, webhook_id)


async def delete(ws: Workspace, actor: audit.Actor, webhook_id: int) -> None:
    def write(conn: sqlite3.Connection) -> None:
        hook = store.get_sync(conn, webhook_id)
        if hook is None:
            raise NotFound("That webhook does not exist.")
        store.delete(conn, webhook_id)
        audit_insert(conn, actor, "webhook.deleted", hook.url)

    await ws.db.execute_write_fn(write)
    _forget(ws.db)


async def deliveries(ws: Workspace, webhook_id: int, before_id: int | None = None, limit: int = 50,
                     status: str | None = None) -> list[Delivery]:
    await get(ws, webhook_id)
    if status is not None and status not in ("pending", "sending", "delivered", "failed"):
        raise Invalid("status", "Choose pending, sending, delivered or failed.")
    return await store.deliveries(ws.db, webhook_id, before_id, limit, status)


async def delivery_detail(ws: Workspace, webhook_id: int, delivery_id: int) -> tuple[Delivery, str, list[Attempt]]:
    """One delivery of this subscription with the body it sent and each attempt."""
    found = await store.delivery(ws.db, delivery_id)
    if found is None or found.webhook_id != webhook_id:
        raise NotFound("That delivery does not exist.")
    return found, await store.event_body(ws.db, delivery_id) or "", await store.attempts(ws.db, delivery_id)


async def redeliver(ws: Workspace, actor: audit.Actor, webhook_id: int, delivery_id: int) -> Delivery:
    """Send the same event (same event id) again, now, as a new delivery in the log."""
    hook = await get(ws, webhook_id)
    if hook.status != "active":
        raise Conflict("Turn the webhook on before redelivering.")
    found = await store.delivery(ws.db, delivery_id)
    if found is None or found.webhook_id != webhook_id:
        raise NotFound("That delivery does not exist.")

    def write(conn: sqlite3.Connection) -> int:
        new_id = store.redeliver(conn, delivery_id, time.time())
        audit_insert(conn, actor, "webhook.redelivered", hook.url, delivery=delivery_id, event=found.event_uid)
        return new_id

    new_id = await ws.db.execute_write_fn(write)
    _wake(ws)
    return await store.delivery(ws.db, new_id)


async def send_test(ws: Workspace, actor: audit.Actor, webhook_id: int) -> Delivery:
    """Queue a `webhook.test` event for this subscription only."""
    hook = await get(ws, webhook_id)
    if hook.status != "active":
        raise Conflict("Turn the webhook on before sending a test event.")
    payload = {"webhook_id": hook.id, "message": "This is a test event from Blazz. Your endpoint works."}
    uid, body, now = _envelope(ws, TEST_EVENT, payload)

    def write(conn: sqlite3.Connection) -> int:
        event_id = store.insert_event(conn, uid, TEST_EVENT, body, [hook.id], now)
        audit_insert(conn, actor, "webhook.test_sent", hook.url)
        return conn.execute("SELECT id FROM webhook_deliveries WHERE event_id = ?", (event_id,)).fetchone()[0]

    delivery_id = await ws.db.execute_write_fn(write)
    _wake(ws)
    return await store.delivery(ws.db, delivery_id)


def audit_insert(conn: sqlite3.Connection, actor: audit.Actor, action: str, target: str, **details: Any) -> None:
    audit_store.insert(conn, actor.user_id, actor.label, action, target, details)


# -- emitting events ---------------------------------------------------------------------------------------------


def _envelope(ws: Workspace, event: str, payload: dict) -> tuple[str, str, float]:
    now = time.time()
    uid = "evt_" + uuid.uuid4().hex
    envelope = {
        "id": uid, "type": event, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "workspace": {"id": ws.id, "slug": ws.slug}, "data": payload,
    }
    return uid, msgspec.json.encode(envelope).decode(), now


def emit_in(conn: sqlite3.Connection, ws: Workspace, event: str, payload: dict) -> int:
    """Inside the caller's write transaction: store the event for every subscription to it (the event exists
    exactly when the change does). Returns how many deliveries were queued; call `wake(ws)` after the commit."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    hook_ids = store.matching_subscriptions(conn, event)
    if not hook_ids:
        return 0
    uid, body, now = _envelope(ws, event, payload)
    store.insert_event(conn, uid, event, body, hook_ids, now)
    return len(hook_ids)


async def emit(ws: Workspace, event: str, payload: dict) -> int:
    """Store the event for every active subscription to it and wake the worker; cheap when nobody subscribes.

    `payload` is plain JSON data (dataclasses and msgspec structs are encoded too); it becomes the `data` of the
    event. Returns how many deliveries were queued.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    if not any(event in events for _, events in await _subscriptions(ws.db)):
        return 0
    queued = await ws.db.execute_write_fn(lambda conn: emit_in(conn, ws, event, payload))
    if queued:
        _wake(ws)
    return queued


def wake(ws: Workspace) -> None:
    """Tell the worker that deliveries of this workspace are due (after `emit_in`'s transaction committed)."""
    _wake(ws)


async def subscribed(ws: Workspace, event: str) -> bool:
    """Whether an active subscription wants `event` (cached: usually no query), so callers skip building payloads."""
    return any(event in events for _, events in await _subscriptions(ws.db))


async def contact_event(ws: Workspace, event: str, contact: Contact, **extra: Any) -> int:
    """`contact.created` / `contact.updated` with the contact as the API shows it. Called after the change
    committed, so a failure here is logged rather than failing the change that already happened."""
    try:
        if not any(event in events for _, events in await _subscriptions(ws.db)):
            return 0
        names = {g.id: g.name for g in await groups_store.list_all(ws.db)}
        group_ids = (await contacts_store.group_ids_of(ws.db, [contact.id])).get(contact.id, [])
        data = contact_data(contact, [names[g] for g in group_ids if g in names])
        return await emit(ws, event, {"contact": data, **extra})
    except Exception:
        log.exception("could not queue %s for contact %s (workspace=%s)", event, contact.id, ws.slug)
        return 0


def contact_data(c: Contact, groups: list[str]) -> dict[str, Any]:
    return {
        "id": c.id, "phone": c.phone, "name": c.name, "first_name": c.first_name, "last_name": c.last_name,
        "email": c.email, "groups": sorted(groups, key=str.lower), "fields": c.fields,
        "opted_out": c.opted_out_at is not None, "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at),
    }


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


# Active subscriptions per open database, so that emitting with no subscriber costs no query.
_cache: weakref.WeakKeyDictionary[Database, tuple[float, list]] = weakref.WeakKeyDictionary()


async def _subscriptions(db: Database) -> list[tuple[int, tuple[str, ...]]]:
    cached = _cache.get(db)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    subs = await store.active_subscriptions(db)
    _cache[db] = (time.monotonic() + _CACHE_S, subs)
    return subs


def _forget(db: Database) -> None:
    _cache.pop(db, None)


# The running delivery worker of each runtime, found through the workspace's bus (one per runtime).
_wakers: weakref.WeakKeyDictionary[Any, Callable[[int], None]] = weakref.WeakKeyDictionary()


def register_waker(bus: Any, wake_fn: Callable[[int], None] | None) -> None:
    if wake_fn is None:
        _wakers.pop(bus, None)
    else:
        _wakers[bus] = wake_fn


def _wake(ws: Workspace) -> None:
    fn = _wakers.get(ws.bus) if ws.bus is not None else None
    if fn is not None:
        fn(ws.id)


def forget_subscriptions(db: Database) -> None:
    """Drop the cached subscriptions of a database (the worker disabled one)."""
    _forget(db)


@dataclass(frozen=True, slots=True)
class EventInfo:
    name: str
    description: str


# Descriptions are English (the API lists them as they are); the Settings page shows them translated.
EVENT_INFO = (
    EventInfo("message.received", N_("A customer wrote to one of your numbers")),
    EventInfo("message.sent", N_("A message left through WhatsApp")),
    EventInfo("message.status", N_("A sent message was delivered, read or failed")),
    EventInfo("contact.created", N_("A contact was added")),
    EventInfo("contact.updated", N_("A contact's details or opt-out changed")),
    EventInfo("conversation.assigned", N_("A conversation was given to a teammate")),
    EventInfo("conversation.resolved", N_("A conversation was marked resolved")),
    EventInfo("campaign.completed", N_("A campaign finished sending")),
)
