"""The outbox: how every outgoing message enters the pipeline. Services call these; delivery workers send.

Each send writes the `messages` row (status `queued`) and its outbox entry in one transaction, then returns at
once; the account's delivery worker (`blazz.delivery`) sends it. Lanes: `urgent` (agent replies, API sends) before
`normal` (automation) before `campaign`; only the campaign lane is paced.

Who a send goes to: `conversation_id` (its number is the conversation's), or `to` with an optional `account_id`.
`to` is a contact id (int) or a phone number (str), read with the workspace's phone region ("0812…" works when
the region is ID; "+62 812…" always). A phone nobody has yet becomes a new contact. Without `account_id` the
workspace's default number sends.

Idempotency: a caller's `idempotency_key` (the API's Idempotency-Key) returns the first message when the same
key comes again with the same content, and raises `Conflict` with other content. Campaign messages are unique per
(campaign, contact): `enqueue_many` skips a contact that campaign already queued.

Meta templates (`send_template`, or `CampaignItem.template`): kind `template`, the text the customer reads as the
body and the template call in the message's `meta`. A Cloud API number sends the call; a number on another engine
(sandbox, WhatsApp Web) has no Meta templates and sends the body as a plain text instead (`blazz.delivery.worker`).

Bus events: "message.new" {message_id, conversation_id, direction}, "message.status" {message_ids,
conversation_ids, status}, "conversation.updated" {conversation_ids}.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from blazz import media as media_service
from blazz import phones, workspace_settings
from blazz.errors import Conflict, DomainError, Invalid, NotFound
from blazz.i18n import N_
from blazz.store import accounts as accounts_store
from blazz.store import contacts as contacts_store
from blazz.store import conversations as conversations_store
from blazz.store import identities
from blazz.store import media as media_store
from blazz.store import messages as messages_store
from blazz.store import outbox as outbox_store
from blazz.store import templates as templates_store
from blazz.store.database import Database
from blazz.store.messages import Message
from blazz.whatsapp.protocol import TemplateCall
from blazz.workspaces import Workspace

T = TypeVar("T")
Lane = Literal["urgent", "normal", "campaign"]
# The lane each source goes to unless the caller says otherwise.
SOURCE_LANES: dict[str, Lane] = {"agent": "urgent", "api": "urgent", "automation": "normal", "system": "normal",
                                 "campaign": "campaign"}
MAX_TEXT = 4096  # WhatsApp's longest text message (Cloud API text.body limit); captions share it here
ENQUEUE_CHUNK = 1000  # campaign recipients per transaction: short writes, so agent replies never wait long
CANCELLED = N_("Cancelled before it was sent.")  # stored in English; pages translate it when they show it


class OptedOut(DomainError):
    """The contact asked not to be messaged (replied STOP or was marked by hand)."""

    code = "opted_out"
    status = 409


@dataclass(frozen=True, slots=True)
class CampaignItem:
    contact_id: int
    text: str = ""  # with `template`: the template as this contact reads it (kept in the thread)
    media_id: int | None = None  # with `template`: the file of a media header
    account_id: int | None = None  # None: the workspace's default number
    template: TemplateCall | None = None  # a Meta template (Cloud API numbers; other engines send `text`)


# -- Meta templates in a message's meta ----------------------------------------------------------------------------


def template_meta(call: TemplateCall, cloud_template_id: int | None = None) -> dict[str, Any]:
    """The `meta` of a template message: the call as JSON, so the worker can send it again after a restart."""
    data: dict[str, Any] = {"name": call.name, "language": call.language, "body_params": list(call.body_params)}
    if call.header_media_id:
        data["header_media_id"] = call.header_media_id
    if call.extra:
        data["extra"] = dict(call.extra)
    if cloud_template_id is not None:
        data["cloud_template_id"] = cloud_template_id
    return {"template": data}


def template_of(meta: Mapping[str, Any] | None) -> TemplateCall | None:
    """The template call stored by `template_meta` (None when the message is not a template)."""
    data = (meta or {}).get("template")
    if not isinstance(data, dict) or not data.get("name") or not data.get("language"):
        return None
    return TemplateCall(str(data["name"]), str(data["language"]), tuple(str(p) for p in data.get("body_params") or ()),
                        header_media_id=data.get("header_media_id"), extra=dict(data.get("extra") or {}))


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    queued: list[tuple[int, int]]  # (contact id, message id)
    skipped: list[tuple[int, str]]  # (contact id, why)


# -- group commit -------------------------------------------------------------------------------------------------


class _GroupCommit:
    """Single sends arriving together share one transaction, each in its own savepoint: one commit (and one trip
    to the writer thread) for many API calls, while a send that fails (opted out, bad reply_to) fails alone."""

    def __init__(self, db: Database):
        self.db = db
        self.waiting: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = []
        self.flushing = False

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((fn, future))
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    results = await self.db.execute_write_fn(lambda conn, b=batch: _each(conn, b))
                except BaseException as exc:  # the transaction itself failed: every send in it did
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), (value, error) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(value)
        finally:
            self.flushing = False


def _each(conn: sqlite3.Connection, batch: list[tuple[Callable, asyncio.Future]]) -> list[tuple[Any, Exception | None]]:
    results: list[tuple[Any, Exception | None]] = []
    for fn, _ in batch:
        conn.execute("SAVEPOINT send")
        try:
            value = fn(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO send")
            conn.execute("RELEASE send")
            results.append((None, exc))
        else:
            conn.execute("RELEASE send")
            results.append((value, None))
    return results


_groups: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()


def _group(db: Database) -> _GroupCommit:
    group = _groups.get(db)
    if group is None:
        group = _groups[db] = _GroupCommit(db)
    return group


# -- waking the delivery workers ------------------------------------------------------------------------------------


class DeliveryService(Protocol):
    """What services need of the running delivery workers (`blazz.delivery.Delivery`)."""

    def wake(self, workspace_id: int, account_id: int, *, campaign: bool = False, reload: bool = False) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    def in_flight(self, key: tuple[int, int]) -> dict[str, int]: ...


# The runtime attaches its delivery service to its session manager; services reach it through their workspace.
_services: weakref.WeakKeyDictionary[object, DeliveryService] = weakref.WeakKeyDictionary()


def attach(sessions: object, service: DeliveryService) -> None:
    _services[sessions] = service


def delivery_of(ws: Workspace) -> DeliveryService | None:
    """The process's delivery service, or None where none runs (a script, a test of services alone)."""
    return _services.get(ws.sessions) if ws.sessions is not None else None


def wake(ws: Workspace, account_id: int, *, campaign: bool = False, reload: bool = False) -> None:
    """Tell the account's worker that something is due now (or, with `reload`, that its settings changed)."""
    service = delivery_of(ws)
    if service is not None:
        service.wake(ws.id, account_id, campaign=campaign, reload=reload)


def new_provider_id() -> str:
    """A WhatsApp-shaped message id ("3EB0" + upper-case hex, as WhatsApp Web makes them), chosen before sending."""
    return new_provider_ids(1)[0]


def new_provider_ids(n: int) -> list[str]:
    """n such ids from one read of the system's randomness (a campaign queues hundreds per transaction)."""
    raw = secrets.token_bytes(10 * n).hex().upper()
    return ["3EB0" + raw[i:i + 20] for i in range(0, 20 * n, 20)]


# -- single sends ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """Who to send to, as the caller said it; resolved inside the send's transaction."""

    conversation_id: int | None = None
    contact_id: int | None = None
    phone: str | None = None  # E.164
    account_id: int | None = None


async def _target(ws: Workspace, conversation_id: int | None, to: int | str | None,
                  account_id: int | None) -> _Target:
    """Check the shape of the target; the workspace region is read only for a number typed without "+"."""
    if conversation_id is not None:
        return _Target(conversation_id=conversation_id, account_id=account_id)
    if to is None or to == "" or isinstance(to, bool):
        raise Invalid("to", "Say who to send to: a phone number with its country code, or a contact id.")
    if isinstance(to, int):
        return _Target(contact_id=to, account_id=account_id)
    text = str(to).strip()
    region = None if text.startswith("+") else (await workspace_settings.load(ws.db)).default_region
    try:
        phone = phones.normalise(text, region)
    except Invalid as exc:
        raise Invalid("to", exc.message) from None
    return _Target(phone=phone, account_id=account_id)


def _open_conversation(conn: sqlite3.Connection, target: _Target, now: int) -> tuple[int, int]:
    """(conversation id, account id) for the target, opening the conversation (and the contact) if new."""
    if target.conversation_id is not None:
        conv = conversations_store.get_sync(conn, target.conversation_id)
        if conv is None:
            raise NotFound("No such conversation in this workspace.")
        if target.account_id is not None and target.account_id != conv.account_id:
            raise Invalid("account_id", "This conversation is with another of your numbers; send from that one.")
        if outbox_store.sending_account(conn, conv.account_id) is None:
            raise NotFound("The WhatsApp number of this conversation was deleted.")
        return conv.id, conv.account_id
    account_id = outbox_store.sending_account(conn, target.account_id)
    if account_id is None:
        if target.account_id is not None:
            raise NotFound("No such WhatsApp number in this workspace.")
        raise Invalid("account_id", "Add a WhatsApp number first: there is none to send from.")
    if target.phone is not None:
        contact_id = identities.resolve(conn, phone=target.phone, lid=None, name=None, now=now)
    else:
        found = conversations_store.contact_recipient(conn, target.contact_id)
        if found is None or found.deleted_at is not None:
            raise NotFound("No such contact in this workspace.")
        contact_id = target.contact_id
    return conversations_store.open_for(conn, contact_id, account_id, now), account_id


def _refuse_opted_out(conn: sqlite3.Connection, conversation_id: int) -> None:
    rec = conversations_store.recipient(conn, conversation_id)
    if rec is None:
        raise NotFound("No such conversation in this workspace.")
    if rec.opted_out_at is not None:
        raise OptedOut("This contact opted out of WhatsApp messages from you, so Blazz will not message them. If "
                       "they asked to hear from you again, clear the opt-out on their contact page first.")
    if rec.address is None:
        raise Invalid("to", "This contact has no WhatsApp number to send to.")


async def _queue_one(ws: Workspace, *, target: _Target, kind: str, text: str, media_id: int | None, source: str,
                     author_id: int | None, reply_to: int | None, idempotency_key: str | None,
                     lane: Lane | None, meta: dict[str, Any] | None = None,
                     only_from: int | None = None) -> Message:
    """Write the message and its outbox entry; `only_from` refuses any sending number but that one (a Meta
    template belongs to one Cloud API number)."""
    lane = lane or SOURCE_LANES.get(source, "urgent")
    if lane not in outbox_store.LANES:
        raise Invalid("lane", "The lane is one of urgent, normal, campaign.")
    key = f"key:{idempotency_key}" if idempotency_key else None
    now = time.time()

    def write(conn: sqlite3.Connection) -> tuple[Message, bool]:
        if key is not None:
            first = messages_store.by_idempotency_key(conn, key)
            if first is not None:
                if (first.body, first.media_id, first.meta) != (text, media_id, meta or {}) or (
                        target.conversation_id is not None and first.conversation_id != target.conversation_id):
                    raise Conflict("This Idempotency-Key was already used for a different message.",
                                   details={"message_id": first.id})
                return first, False
        conversation_id, account_id = _open_conversation(conn, target, int(now))
        if only_from is not None and account_id != only_from:
            raise Invalid("template_id", "This template belongs to another of your WhatsApp numbers; send it from "
                                         "that number, or choose one of this number's templates.")
        _refuse_opted_out(conn, conversation_id)
        if reply_to is not None and not messages_store.in_conversation_sync(conn, reply_to, conversation_id):
            raise Invalid("reply_to", "The message to reply to is not in this conversation.")
        message_id = messages_store.insert_outgoing(
            conn, conversation_id=conversation_id, account_id=account_id, kind=kind, body=text,
            media_id=media_id, source=source, author_id=author_id, quoted_id=reply_to, campaign_id=None,
            idempotency_key=key, now=int(now), meta=meta)
        outbox_store.insert(conn, message_id, account_id, outbox_store.LANES[lane], new_provider_id(), now)
        if lane != "campaign":  # a campaign message shows in the conversation list once it goes out
            conversations_store.bump(conn, conversation_id, message_id=message_id, at=int(now),
                                     preview_text=conversations_store.preview(kind, text))
        return messages_store.get_sync(conn, message_id), True

    message, fresh = await _group(ws.db).run(write)
    if fresh:
        wake(ws, message.account_id, campaign=lane == "campaign")
        if ws.bus is not None:
            ws.bus.publish(ws.id, "message.new", message_id=message.id, conversation_id=message.conversation_id,
                           direction="out")
            ws.bus.publish(ws.id, "conversation.updated", conversation_ids=[message.conversation_id])
    return message


def _clean_text(text: str | None, *, required: bool) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise Invalid("text", "Write a message first.")
    if len(text) > MAX_TEXT:
        raise Invalid("text", "WhatsApp messages can be at most %(max)s characters; this one has %(count)s.",
                      max=MAX_TEXT, count=len(text))
    return text


async def send_text(ws: Workspace, *, text: str, conversation_id: int | None = None, to: int | str | None = None,
                    account_id: int | None = None, source: str = "agent", author_id: int | None = None,
                    reply_to: int | None = None, idempotency_key: str | None = None,
                    lane: Lane | None = None) -> Message:
    """Queue a text message and return it (status `queued`). Lane: urgent for agents and the API, normal for
    automation, campaign for campaigns (or `lane`). Idempotent by `idempotency_key`. Raises OptedOut (409) for a
    contact who opted out, Invalid (422) for bad input, NotFound for an unknown conversation, contact or number."""
    body = _clean_text(text, required=True)
    target = await _target(ws, conversation_id, to, account_id)
    return await _queue_one(ws, target=target, kind="text", text=body, media_id=None, source=source,
                            author_id=author_id, reply_to=reply_to, idempotency_key=idempotency_key, lane=lane)


async def send_media(ws: Workspace, *, media_id: int, caption: str = "", conversation_id: int | None = None,
                     to: int | str | None = None, account_id: int | None = None, source: str = "agent",
                     author_id: int | None = None, reply_to: int | None = None, idempotency_key: str | None = None,
                     lane: Lane | None = None, voice: bool = False) -> Message:
    """Queue a stored file (see `blazz.media.store_upload`) with an optional caption; lanes and idempotency as
    `send_text`. A file WhatsApp would refuse is refused here, before anything is queued (413 / 422).
    `voice=True` sends an audio file as a voice note (played in the chat, not shown as a file)."""
    media = await media_store.get(ws.db, media_id)
    if media is None:
        raise NotFound("No such file; upload it first.")
    media_service.sendable(media)
    caption = _clean_text(caption, required=False)
    target = await _target(ws, conversation_id, to, account_id)
    kind = media_service.kind_of(media.mime)
    if voice:
        if kind != "audio":
            raise Invalid("media_id", "Only an audio recording can go out as a voice note.")
        kind = "voice"
    return await _queue_one(ws, target=target, kind=kind, text=caption,
                            media_id=media.id, source=source, author_id=author_id, reply_to=reply_to,
                            idempotency_key=idempotency_key, lane=lane)


async def send_template(ws: Workspace, *, template_id: int, conversation_id: int | None = None,
                        to: int | str | None = None, account_id: int | None = None,
                        values: Mapping[str, str] | None = None, source: str = "agent", author_id: int | None = None,
                        idempotency_key: str | None = None, lane: Lane | None = None) -> Message:
    """Queue one of Meta's approved templates (a synced Cloud API template, by its id here), the only message a
    Cloud API number may send outside the 24-hour window. It goes from the template's own number: a conversation
    (or `account_id`) of another number is refused. Parameters are filled from the contact's details through the
    template's mapping; `values` overrides them: a variable by name ("first_name"), or a parameter's literal text
    by its key ("body.2", "header.1"), e.g. for one without a mapping. Stored as kind `template` with the text the
    customer reads as its body and the call in `meta` (see `template_meta`). Lanes and idempotency as
    `send_text`; raises NotFound for an unknown template, Invalid for one Meta has not approved, of another
    number, or with a parameter left empty."""
    from blazz import cloud_templates, templates  # both import this module: read at call time

    t = await templates_store.cloud_get(ws.db, template_id) if isinstance(template_id, int) else None
    if t is None or t.removed_at is not None:
        raise NotFound("No such Cloud API template; sync the number's templates and choose again.")
    if t.status != "APPROVED":
        raise Invalid("template_id", "Meta has not approved the template %(name)s (it is %(status)s); only an "
                                     "approved template can be sent.", name=t.name, status=t.status.lower())
    if cloud_templates.header_format(t) not in (None, "TEXT"):
        raise Invalid("template_id", "The template %(name)s starts with a file (a media header), which Blazz cannot "
                                     "send from here; choose a template without one.", name=t.name)
    sender = await accounts_store.get(ws.db, t.account_id)
    if sender is None or sender.engine != "cloud_api":
        raise NotFound("The WhatsApp number of this template was deleted.")
    if conversation_id is None and account_id is None:
        account_id = t.account_id  # to a contact or phone: from the template's own number
    elif account_id is not None and account_id != t.account_id:
        raise Invalid("template_id", "This template belongs to another of your WhatsApp numbers; send it from "
                                     "that number, or choose one of this number's templates.")
    target = await _target(ws, conversation_id, to, account_id)
    variables = {k: str(v) for k, v in (values or {}).items() if "." not in k}
    given = cloud_templates.check_given(t, {k: v for k, v in (values or {}).items() if "." in k})
    contact_id = await _contact_of(ws, target)
    if contact_id is not None:
        filled = await templates.contact_values(ws, contact_id)
    else:  # a number nobody has yet: every variable is empty (fallbacks apply) but its phone
        filled = {name: "" for name in await templates.known_variables(ws)} | {"phone": target.phone or ""}
    filled.update(variables)
    call = cloud_templates.call_for(t, filled, given)
    text = cloud_templates.text_for(t, filled, given, header=True)
    if len(text) > MAX_TEXT:
        raise Invalid("values", "With these values the template is longer than WhatsApp allows (%(max)s "
                                "characters).", max=MAX_TEXT)
    return await _queue_one(ws, target=target, kind="template", text=text, media_id=None, source=source,
                            author_id=author_id, reply_to=None, idempotency_key=idempotency_key, lane=lane,
                            meta=template_meta(call, t.id), only_from=t.account_id)


async def _contact_of(ws: Workspace, target: _Target) -> int | None:
    """The contact a send will reach, when there already is one (its details fill a template)."""
    if target.conversation_id is not None:
        conv = await conversations_store.get(ws.db, target.conversation_id)
        if conv is None:
            raise NotFound("No such conversation in this workspace.")
        return conv.contact_id
    if target.contact_id is not None:
        return target.contact_id
    found = await contacts_store.by_phone(ws.db, target.phone) if target.phone else None
    return found.id if found is not None and found.deleted_at is None else None


async def retry(ws: Workspace, message_id: int) -> Message:
    """Queue a failed message again with a fresh set of attempts (urgent lane keeps its place: same lane as before)."""
    message = await messages_store.get(ws.db, message_id)
    if message is None or message.direction != "out":
        raise NotFound("No such outgoing message.")
    if message.status != "failed":
        raise Conflict("Only a message that failed can be sent again.")
    now = time.time()

    def write(conn: sqlite3.Connection) -> Message | None:
        _refuse_opted_out(conn, message.conversation_id)
        # As queued (read in the same transaction: the worker woken below may be sending it before a later read).
        return messages_store.get_sync(conn, message_id) if outbox_store.requeue(conn, message_id, now) else None

    queued = await ws.db.execute_write_fn(write)
    if queued is None:
        raise Conflict("This message cannot be sent again.")
    wake(ws, message.account_id, campaign=message.source == "campaign")
    publish_status(ws, [(message_id, message.conversation_id)], "queued")
    return queued


async def cancel(ws: Workspace, message_ids: Sequence[int], reason: str = CANCELLED) -> int:
    """Withdraw queued messages that no worker has picked up yet (e.g. a cancelled campaign); they end `failed`
    with `reason`. Messages already going out are not stopped. Returns how many were withdrawn."""
    now = time.time()
    done = await ws.db.execute_write_fn(lambda conn: outbox_store.cancel(conn, list(message_ids), reason, now))
    if done:
        shown = await messages_store.by_ids(ws.db, done)
        publish_status(ws, [(m.id, m.conversation_id) for m in shown], "failed")
    return len(done)


# -- campaigns ------------------------------------------------------------------------------------------------------


async def enqueue_many(ws: Workspace, items: Iterable[CampaignItem], *, campaign_id: int,
                       lane: Lane = "campaign") -> EnqueueResult:
    """Queue one message per contact for a campaign, in short transactions. Idempotent per (campaign, contact):
    a contact already queued by this campaign is skipped, as are opted-out, deleted and unknown contacts."""
    if lane not in outbox_store.LANES:
        raise Invalid("lane", "The lane is one of urgent, normal, campaign.")
    default = await accounts_store.default(ws.db)
    known_accounts = {a.id for a in await accounts_store.all_active(ws.db)}
    media_kinds: dict[int, str] = {}
    queued: list[tuple[int, int]] = []
    skipped: list[tuple[int, str]] = []
    batch = list(items)
    for item in batch:
        if item.media_id is not None and item.media_id not in media_kinds:
            media = await media_store.get(ws.db, item.media_id)
            if media is None:
                raise NotFound("No such file; upload it first.")
            media_service.sendable(media)
            media_kinds[item.media_id] = media_service.kind_of(media.mime)
    def write(conn: sqlite3.Connection, part: list[CampaignItem]) -> tuple[EnqueueResult, set[int]]:
        now = time.time()
        done, senders = EnqueueResult([], []), set()
        provider_ids = iter(new_provider_ids(len(part)))
        for item in part:
            why, account_id = _refusal(conn, item, campaign_id, default.id if default else None, known_accounts)
            if why is not None:
                done.skipped.append((item.contact_id, why))
                continue
            conversation_id = conversations_store.open_for(conn, item.contact_id, account_id, int(now))
            if item.template is not None:
                kind, meta = "template", template_meta(item.template)
            else:
                kind, meta = (media_kinds[item.media_id] if item.media_id is not None else "text"), None
            message_id = messages_store.insert_outgoing(
                conn, conversation_id=conversation_id, account_id=account_id, kind=kind, body=item.text.strip(),
                media_id=item.media_id, source="campaign", author_id=None, quoted_id=None, campaign_id=campaign_id,
                idempotency_key=_campaign_key(campaign_id, item.contact_id), now=int(now), meta=meta)
            outbox_store.insert(conn, message_id, account_id, outbox_store.LANES[lane], next(provider_ids), now)
            done.queued.append((item.contact_id, message_id))
            senders.add(account_id)
        return done, senders

    for start in range(0, len(batch), ENQUEUE_CHUNK):
        chunk = batch[start:start + ENQUEUE_CHUNK]
        done, senders = await ws.db.execute_write_fn(lambda conn, part=chunk: write(conn, part))
        queued += done.queued
        skipped += done.skipped
        for account_id in senders:
            wake(ws, account_id, campaign=lane == "campaign")
    return EnqueueResult(queued, skipped)


def _campaign_key(campaign_id: int, contact_id: int) -> str:
    return f"campaign:{campaign_id}:{contact_id}"


def _refusal(conn: sqlite3.Connection, item: CampaignItem, campaign_id: int, default: int | None,
             known_accounts: set[int]) -> tuple[str | None, int]:
    """Why this campaign message cannot be queued (None: it can), and the number it goes out from."""
    text = (item.text or "").strip()
    if not text and item.media_id is None and item.template is None:
        return N_("The message is empty."), 0
    if len(text) > MAX_TEXT:  # MAX_TEXT written out: a stored reason is one whole catalog sentence
        return N_("The message is longer than WhatsApp allows (4,096 characters)."), 0
    account_id = item.account_id if item.account_id is not None else default
    if account_id is None or account_id not in known_accounts:
        return N_("No WhatsApp number to send from."), 0
    if messages_store.key_taken(conn, _campaign_key(campaign_id, item.contact_id)):
        return N_("Already queued for this campaign."), 0
    contact = conversations_store.contact_recipient(conn, item.contact_id)
    if contact is None or contact.deleted_at is not None:
        return N_("The contact no longer exists."), 0
    if contact.opted_out_at is not None:
        return N_("The contact opted out."), 0
    if contact.address is None:
        return N_("The contact has no WhatsApp number."), 0
    return None, account_id


def publish_status(ws: Workspace, shown: Sequence[tuple[int, int]], status: str) -> None:
    """Tell open tabs that these (message id, conversation id) moved to `status`."""
    if shown and ws.bus is not None:
        ws.bus.publish(ws.id, "message.status", message_ids=[m for m, _ in shown],
                       conversation_ids=sorted({c for _, c in shown}), status=status)
