"""The message and conversation events of outgoing webhooks: `message.received`, `message.sent`,
`message.status`, `conversation.assigned` and `conversation.resolved`.

Callers emit after they recorded the change: ingest (its hook, for new live messages), the delivery worker (sent
and failed sends), receipts (delivered, read, failed) and the inbox (assignment, resolving). All events of one call
are stored in one transaction; nothing is read or written when no webhook subscribes to the event. A failure here
is logged and never undoes or delays the change itself.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from blazz import webhooks
from blazz.store import contacts as contacts_store
from blazz.store import conversations as conversations_store
from blazz.store import messages as messages_store
from blazz.store.contacts import Contact
from blazz.store.inbox_queries import ConversationRow
from blazz.store.messages import Message
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


def message_data(m: Message, contact: Contact | None) -> dict[str, Any]:
    """A message as webhook receivers see it, with the contact of its conversation."""
    return {
        "message": {
            "id": m.id, "conversation_id": m.conversation_id, "account_id": m.account_id,
            "direction": m.direction, "kind": m.kind, "text": m.body, "media_id": m.media_id, "status": m.status,
            "source": m.source, "error": m.error, "reply_to": m.quoted_id, "campaign_id": m.campaign_id,
            "sender": {"phone": m.sender_phone, "name": m.sender_name} if m.sender_phone or m.sender_name else None,
            "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at), "delivered_at": _iso(m.delivered_at),
            "read_at": _iso(m.read_at),
        },
        "contact": None if contact is None else {
            "id": contact.id, "phone": contact.phone, "name": contact.name, "is_group": contact.kind == "group",
        },
    }


async def on_messages(ws: Workspace, messages: list[Message]) -> None:
    """Ingest hook: customers' messages are `message.received`; those typed on the phone itself `message.sent`."""
    await _emit(ws, "message.received", [m.id for m in messages if m.direction == "in"])
    await _emit(ws, "message.sent", [m.id for m in messages if m.direction == "out"])


async def sent(ws: Workspace, shown: Sequence[tuple[int, int]]) -> None:
    """The delivery worker recorded these (message id, conversation id) as sent."""
    await _emit(ws, "message.sent", [message_id for message_id, _ in shown])


async def status(ws: Workspace, shown: Sequence[tuple[int, int]], new_status: str) -> None:
    """These sent messages moved to delivered, read or failed."""
    if new_status in ("delivered", "read", "failed"):
        await _emit(ws, "message.status", [message_id for message_id, _ in shown], status=new_status)


async def _emit(ws: Workspace, event: str, message_ids: list[int], **extra: Any) -> None:
    if not message_ids:
        return
    try:
        if not await webhooks.subscribed(ws, event):
            return
        payloads = await ws.db.execute_fn(lambda conn: _payloads(conn, message_ids))
        if extra:
            payloads = [{**p, **extra} for p in payloads]
        queued = await ws.db.execute_write_fn(
            lambda conn: sum(webhooks.emit_in(conn, ws, event, p) for p in payloads))
        if queued:
            webhooks.wake(ws)
    except Exception:
        log.exception("could not queue %s for %d message(s) (workspace=%s)", event, len(message_ids), ws.slug)


def _payloads(conn: sqlite3.Connection, message_ids: list[int]) -> list[dict[str, Any]]:
    out = []
    contacts: dict[int, Contact | None] = {}
    for message_id in message_ids:
        m = messages_store.get_sync(conn, message_id)
        if m is None:
            continue
        if m.conversation_id not in contacts:
            conversation = conversations_store.get_sync(conn, m.conversation_id)
            contacts[m.conversation_id] = (contacts_store.get_sync(conn, conversation.contact_id)
                                           if conversation is not None else None)
        out.append(message_data(m, contacts[m.conversation_id]))
    return out


def conversation_data(c: ConversationRow) -> dict[str, Any]:
    return {
        "id": c.id, "status": c.status, "assignee_id": c.assignee_id, "account_id": c.account_id,
        "contact": {"id": c.contact_id, "phone": c.contact_phone, "name": c.contact_name, "is_group": c.is_group},
        "last_message_at": _iso(c.last_message_at), "resolved_at": _iso(c.resolved_at),
        "created_at": _iso(c.created_at),
    }


async def conversation_event(ws: Workspace, event: str, conversation: ConversationRow, by_user_id: int | None,
                             by_name: str, **extra: Any) -> None:
    """`conversation.assigned` or `conversation.resolved`, with who did it (a member, an API token, Blazz)."""
    try:
        if await webhooks.subscribed(ws, event):
            await webhooks.emit(ws, event, {"conversation": conversation_data(conversation),
                                            "by": {"user_id": by_user_id, "name": by_name}, **extra})
    except Exception:
        log.exception("could not queue %s for conversation %s (workspace=%s)", event, conversation.id, ws.slug)
