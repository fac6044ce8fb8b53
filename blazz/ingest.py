"""Inbound: every message WhatsApp brings in, stored exactly once, in the right thread, then handed on.

For each message, in one transaction per batch: dedupe by (account, provider id) on a unique index; resolve the
sender to one contact by phone or LID (merging the two when an event shows they are one person); one conversation
per (contact, account); a media placeholder whose download runs after the commit (retried later if it fails);
unread and last activity; an opt-out word opts the contact out and withdraws their queued campaign messages.
After the commit: hooks (auto-replies, webhooks), then the bus.

Messages the owner typed on the phone itself (or another linked device) arrive with `from_me`: they join the thread
as outgoing messages with source "phone" ("sent from phone"), and briefly hold the campaign lane (pacing).
History sync arrives in batches and is stored the same way, without unread counts, opt-outs or hooks.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from blazz import media, outbox, phones, workspace_settings
from blazz.contacts import is_opt_out_text
from blazz.store import accounts as accounts_store
from blazz.store import contacts as contacts_store
from blazz.store import conversations as conversations_store
from blazz.store import identities
from blazz.store import media as media_store
from blazz.store import messages as messages_store
from blazz.store import outbox as outbox_store
from blazz.store.messages import InboundRow, Message
from blazz.whatsapp.events import HistoryBatch, Inbound, InboundMessage
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

HISTORY_CHUNK = 500  # history messages per transaction: thousands a second without holding the writer for long
OPT_OUT_CANCELLED = "Not sent: the contact opted out."

# Later features (auto-replies, webhooks) register here; each gets the live messages just stored, in order.
Hook = Callable[[Workspace, list[Message]], Awaitable[None]]
hooks: list[Hook] = []


def on_message(hook: Hook) -> Hook:
    """Register a hook for newly stored live messages (usable as a decorator); failures are logged, not raised."""
    hooks.append(hook)
    return hook


@dataclass(slots=True)
class IngestResult:
    stored: list[int] = field(default_factory=list)  # message ids, in arrival order
    duplicates: int = 0
    skipped: int = 0  # groups of a number set to ignore them, senders without any address
    conversations: set[int] = field(default_factory=set)
    opted_out: list[int] = field(default_factory=list)  # contact ids opted out by this batch
    cancelled: list[tuple[int, int]] = field(default_factory=list)  # (message, conversation) withdrawn by opt-outs
    media: list[int] = field(default_factory=list)  # media ids waiting for their download


async def on_inbound(ws: Workspace, event: Inbound) -> None:
    await ingest(ws, event.key[1], [event.message], live=True)


async def on_history(ws: Workspace, event: HistoryBatch) -> None:
    messages = list(event.messages)
    for start in range(0, len(messages), HISTORY_CHUNK):
        await ingest(ws, event.key[1], messages[start:start + HISTORY_CHUNK], live=False)


def _who(m: InboundMessage) -> tuple[str | None, str | None]:
    """(phone, LID) of the other person of a 1:1 chat; for the owner's own messages that is the chat itself."""
    chat_phone = m.chat if m.chat.startswith("+") else None
    chat_lid = m.chat if m.chat.endswith("@lid") else None
    if m.from_me:
        phone, lid = chat_phone, chat_lid
    else:
        phone, lid = m.sender_phone or chat_phone, m.sender_lid or chat_lid
    return (phone if phones.is_e164(phone) else None), lid


def _meta(m: InboundMessage) -> dict | None:
    meta: dict = {}
    if m.location is not None:
        lat, lng, name = m.location
        meta["location"] = {"lat": lat, "lng": lng, "name": name}
    if m.vcard:
        meta["vcard"] = m.vcard
    return meta or None


async def ingest(ws: Workspace, account_id: int, messages: Sequence[InboundMessage], *,
                 live: bool = True) -> IngestResult:
    """Store a batch of inbound messages of one account exactly once; see the module docstring for the steps."""
    account = await accounts_store.get(ws.db, account_id)
    if account is None:
        log.warning("inbound for unknown or deleted account dropped (workspace=%s account=%s)", ws.id, account_id)
        return IngestResult(skipped=len(messages))
    words = (await workspace_settings.load(ws.db)).opt_out_words if live else ()
    service = outbox.delivery_of(ws)
    # Our own sends still being recorded: an engine echoing one back must not make it a second message.
    ours = set(service.in_flight((ws.id, account_id))) if service is not None else set()
    result = IngestResult()
    arrived = time.time()

    def write(conn: sqlite3.Connection) -> None:
        for m in messages:
            if m.is_group and account.ignore_groups:
                result.skipped += 1
                continue
            if m.from_me and m.provider_id in ours:
                result.duplicates += 1
                continue
            at = int(m.timestamp) if m.timestamp and m.timestamp > 0 else int(arrived)
            if m.is_group:
                contact_id = identities.resolve_group(conn, m.chat, m.group_name, at)
            else:
                phone, lid = _who(m)
                if phone is None and lid is None:
                    log.warning("inbound message without a usable sender dropped (workspace=%s account=%s id=%s)",
                                ws.id, account_id, m.provider_id)
                    result.skipped += 1
                    continue
                name = None if m.from_me else m.sender_name
                contact_id = identities.resolve(conn, phone=phone, lid=lid, name=name, now=at)
            conversation_id = conversations_store.open_for(conn, contact_id, account_id, at)
            quoted = messages_store.id_by_provider(conn, account_id, m.quoted_id) if m.quoted_id else None
            mine = m.from_me
            message_id = messages_store.insert_inbound(conn, InboundRow(
                conversation_id=conversation_id, account_id=account_id, direction="out" if mine else "in",
                kind=m.kind, body=m.text or "", provider_id=m.provider_id, source="phone" if mine else "contact",
                status="sent" if mine else "received", created_at=at, quoted_id=quoted,
                sender_phone=m.sender_phone if m.is_group else None, sender_name=m.sender_name if m.is_group else None,
                meta=_meta(m)))
            if message_id is None:
                result.duplicates += 1
                continue
            result.stored.append(message_id)
            result.conversations.add(conversation_id)
            if m.media is not None:
                media_id = media_store.insert_pending(conn, account_id=account_id, mime=m.media.mime,
                                                      filename=m.media.filename, size=m.media.size,
                                                      remote=media.remote_of(m.media), now=arrived)
                messages_store.set_media(conn, message_id, media_id)
                result.media.append(media_id)
            conversations_store.bump(
                conn, conversation_id, message_id=message_id, at=at,
                preview_text=conversations_store.preview(m.kind, m.text),
                unread=int(live and not mine), inbound_at=None if mine else at, reopen=live and not mine)
            if live and mine:
                outbox_store.note_owner_activity(conn, account_id, arrived)
            if live and not mine and not m.is_group and is_opt_out_text(m.text, words):
                _opt_out(conn, contact_id, m.text, int(arrived), result)

    await ws.db.execute_write_fn(write)
    if result.duplicates:
        log.debug("%d duplicate inbound message(s) ignored (workspace=%s account=%s)", result.duplicates, ws.id,
                  account_id)
    await _after(ws, account_id, result, live=live, owner_active=live and any(m.from_me for m in messages))
    return result


def _opt_out(conn: sqlite3.Connection, contact_id: int, text: str, now: int, result: IngestResult) -> None:
    contact = contacts_store.get_sync(conn, contact_id)
    if contact is None or contact.opted_out_at is not None:
        return
    contacts_store.set_opt_out(conn, contact_id, now, f"Replied {' '.join(text.split())[:40]}", now)
    result.opted_out.append(contact_id)
    waiting = outbox_store.pending_for_contact(conn, contact_id, (outbox_store.LANES["campaign"],))
    for message_id in outbox_store.cancel(conn, waiting, OPT_OUT_CANCELLED, now):
        result.cancelled.append((message_id, messages_store.conversation_of(conn, message_id)))


async def _after(ws: Workspace, account_id: int, result: IngestResult, *, live: bool, owner_active: bool) -> None:
    """After the commit: start downloads, run hooks, tell open tabs."""
    service = outbox.delivery_of(ws)
    if result.media and service is not None:
        if live:
            for media_id in result.media:
                service.spawn(media.download(ws, media_id))
        else:
            service.spawn(media.download_due(ws))
    if owner_active:
        outbox.wake(ws, account_id, campaign=True, reload=True)
    stored = await messages_store.by_ids(ws.db, result.stored) if live and result.stored else []
    for hook in list(hooks) if stored else []:
        try:
            await hook(ws, stored)
        except Exception:
            log.exception("inbound hook %s failed (workspace=%s account=%s)", getattr(hook, "__qualname__", hook),
                          ws.id, account_id)
    if ws.bus is None:
        return
    for message in stored:
        ws.bus.publish(ws.id, "message.new", message_id=message.id, conversation_id=message.conversation_id,
                       direction=message.direction)
    if result.conversations:
        ws.bus.publish(ws.id, "conversation.updated", conversation_ids=sorted(result.conversations))
    for contact_id in result.opted_out:
        ws.bus.publish(ws.id, "contact.opted_out", contact_id=contact_id)
    outbox.publish_status(ws, result.cancelled, "failed")
