"""The team inbox: who sees which conversation, thread pages, replies, assignment, status, notes, reads.

Visibility: owners and admins see every conversation; agents too, unless the workspace limits them to the ones
assigned to them and the unassigned ones (then any other is "not found", by URL or API alike).

Thread lines that never go to WhatsApp live with the messages (so a thread is one ordered page): internal notes
(kind `note`, with @mentions of teammates) and events (kind `event`: assignment and status changes).

Bus events published here: "conversation.updated" {conversation_ids} after assignment, status and read changes,
"inbox.line" {message_id, conversation_id} for a new note or event line, and "inbox.mention" {conversation_id,
message_id, user_ids, by} when a note mentions teammates.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blazz import cloud_templates, message_webhooks, outbox, templates
from blazz.errors import Invalid, NotFound
from blazz.i18n import N_
from blazz.store import accounts as accounts_store
from blazz.store import inbox_queries as q
from blazz.store import ws_settings
from blazz.store.inbox_queries import ConversationRow, ListQuery
from blazz.store.media import Media
from blazz.store.messages import Message
from blazz.whatsapp.protocol import EngineError
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

PAGE = 50  # conversations per list page and messages per thread page: one screen and a bit
MAX_PAGE = 200
WINDOW_S = 24 * 3600  # the Cloud API accepts free-form messages this long after the customer's last one
RECEIPTS_MAX = 100  # read receipts sent for one opening of a thread (WhatsApp marks earlier ones read anyway)
MAX_NOTE = 4096
SETTINGS = {"agents_assigned_only": "inbox.agents_assigned_only", "auto_assign": "inbox.auto_assign"}
VIEWS = ("all", "mine", "unassigned")
STATUS_FILTERS = ("open", "pending", "resolved", "all")
# Event lines: the English text is stored (the API reads it); the meta keeps which sentence and the names, so the
# thread shows the line in the reader's language (blazz.web.inbox_view.event_text).
EVENT_LINES = {
    "took": N_("%(by)s took this conversation"),
    "assigned": N_("%(by)s assigned this conversation to %(name)s"),
    "unassigned": N_("%(by)s unassigned %(name)s"),
    "auto": N_("Assigned to %(name)s automatically"),
    "open": N_("%(by)s reopened this conversation"),
    "pending": N_("%(by)s marked as pending this conversation"),
    "resolved": N_("%(by)s resolved this conversation"),
    "customer_reopened": N_("Reopened: the customer wrote again"),
}
FORMER_MEMBER = "a former member"


def event_meta(line: str, **meta: Any) -> tuple[str, dict[str, Any]]:
    """The English text of an event line and its meta (which sentence, with the names filled in)."""
    names = {"by": meta.get("by_name") or FORMER_MEMBER, "name": meta.get("name") or FORMER_MEMBER}
    return EVENT_LINES[line] % names, {**meta, "line": line}


@dataclass(frozen=True, slots=True)
class Agent:
    """Who acts in the inbox: a member (user id, display name, role) or an API token / the system (no user id)."""

    user_id: int | None
    name: str
    role: str  # owner | admin | agent

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")


@dataclass(frozen=True, slots=True)
class InboxSettings:
    agents_assigned_only: bool = False  # agents see only their conversations and the unassigned ones
    auto_assign: bool = False  # a new conversation goes to the online agent with the fewest open ones


async def load_settings(ws: Workspace) -> InboxSettings:
    stored = await ws_settings.get_all(ws.db)
    return InboxSettings(**{name: bool(stored.get(key, False)) for name, key in SETTINGS.items()})


async def update_settings(ws: Workspace, **changes: bool) -> InboxSettings:
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise Invalid(sorted(unknown)[0], "There is no inbox setting with that name.")
    await ws_settings.put_many(ws.db, {SETTINGS[k]: bool(v) for k, v in changes.items()})
    return await load_settings(ws)


async def set_ignore_groups(ws: Workspace, account_id: int, ignore: bool) -> None:
    """Whether WhatsApp group chats of this number are left out of the inbox (from the next message on)."""
    if await accounts_store.get(ws.db, account_id) is None:
        raise NotFound("No such WhatsApp number in this workspace.")
    await accounts_store.update_settings(ws.db, account_id, ignore_groups=ignore)


async def limited_to(ws: Workspace, agent: Agent) -> int | None:
    """The user id whose own and unassigned conversations are all this agent may see; None: everything."""
    if agent.user_id is None or agent.is_admin:
        return None
    return agent.user_id if (await load_settings(ws)).agents_assigned_only else None


def _visible(conv: ConversationRow, limit: int | None) -> bool:
    return limit is None or conv.assignee_id in (None, limit)


# -- the list -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    view: str = "all"  # all | mine | unassigned
    status: str = "open"  # open | pending | resolved | all
    account_id: int | None = None
    group_id: int | None = None
    assignee_id: int | None = None  # one person's conversations (the API's ?assignee=)

    def query(self, agent: Agent, limit: int | None) -> ListQuery:
        assignee = self.assignee_id
        if assignee is None and self.view == "mine":
            assignee = agent.user_id if agent.user_id is not None else 0
        return ListQuery(status=None if self.status == "all" else self.status, assignee_id=assignee,
                         unassigned=self.view == "unassigned", visible_to=limit, account_id=self.account_id,
                         group_id=self.group_id)


def filters_from(params: Mapping[str, str]) -> Filters:
    """Filters from query or form values; unknown values fall back to the defaults."""
    def number(key: str) -> int | None:
        value = (params.get(key) or "").strip()
        return int(value) if value.isdigit() and len(value) < 19 else None

    view = params.get("view") or "all"
    status = params.get("status") or "open"
    return Filters(view=view if view in VIEWS else "all", status=status if status in STATUS_FILTERS else "open",
                   account_id=number("account"), group_id=number("group"))


@dataclass(frozen=True, slots=True)
class ConversationPage:
    items: list[ConversationRow]
    next_cursor: str | None


def encode_cursor(row: ConversationRow) -> str:
    return f"{row.last_message_at}.{row.last_message_id}"


def decode_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    at, _, message_id = cursor.partition(".")
    if not (at.isdigit() and message_id.isdigit() and len(at) < 19 and len(message_id) < 19):
        raise Invalid("cursor", "This cursor is not valid; start again without it.")
    return int(at), int(message_id)


async def list_conversations(ws: Workspace, agent: Agent, filters: Filters, cursor: str | None = None,
                             limit: int = PAGE) -> ConversationPage:
    """A page of the conversation list, newest activity first."""
    limit = max(1, min(limit, MAX_PAGE))
    query = filters.query(agent, await limited_to(ws, agent))
    rows = await q.conversation_page(ws.db, query, decode_cursor(cursor), limit + 1)
    if len(rows) > limit:
        return ConversationPage(rows[:limit], encode_cursor(rows[limit - 1]))
    return ConversationPage(rows, None)


async def list_items(ws: Workspace, agent: Agent, filters: Filters, ids: Sequence[int]) -> list[ConversationRow]:
    """Those of `ids` that this agent's list with these filters shows (for live updates of an open list)."""
    return await q.conversations_matching(ws.db, filters.query(agent, await limited_to(ws, agent)), ids)


async def conversation(ws: Workspace, agent: Agent, conversation_id: int) -> ConversationRow:
    """One conversation, if this agent may see it (NotFound otherwise, whether it exists or not)."""
    conv = await q.conversation(ws.db, conversation_id)
    if conv is None or not _visible(conv, await limited_to(ws, agent)):
        raise NotFound("No such conversation, or it is assigned to someone else.")
    return conv


async def contact_conversations(ws: Workspace, agent: Agent, contact_id: int) -> list[ConversationRow]:
    limit = await limited_to(ws, agent)
    return [c for c in await q.conversations_of_contact(ws.db, contact_id) if _visible(c, limit)]


def window_closed(conv: ConversationRow, engine: str, now: float | None = None) -> bool:
    """Cloud API numbers may send free text only within 24 h of the customer's last message (templates after)."""
    if engine != "cloud_api":
        return False
    return conv.last_inbound_at is None or (now or time.time()) - conv.last_inbound_at > WINDOW_S


# -- threads --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ThreadPage:
    """Thread lines oldest first, with what they show: quoted messages and media files, by id."""

    messages: list[Message]
    quoted: dict[int, Message] = field(default_factory=dict)
    media: dict[int, Media] = field(default_factory=dict)
    has_older: bool = False
    has_newer: bool = False


async def _with_context(ws: Workspace, messages: list[Message]) -> ThreadPage:
    quoted = await q.messages_by_ids(ws.db, [m.quoted_id for m in messages if m.quoted_id])
    media = await q.media_by_ids(ws.db, [m.media_id for m in [*messages, *quoted.values()] if m.media_id])
    return ThreadPage(messages, quoted, media)


async def thread(ws: Workspace, agent: Agent, conversation_id: int, *, before: int | None = None,
                 after: int | None = None, around: int | None = None, limit: int = PAGE) -> ThreadPage:
    """A page of a thread: the newest lines, older ones `before` a message id, newer ones `after` one, or the
    lines `around` one message (a search result)."""
    await conversation(ws, agent, conversation_id)
    limit = max(1, min(limit, MAX_PAGE))
    if around is not None:
        older = await q.thread_page(ws.db, conversation_id, before=around + 1, limit=limit // 2 + 1)
        newer = await q.thread_page(ws.db, conversation_id, after=around, limit=limit // 2 + 1)
        page = await _with_context(ws, older[-(limit // 2):] + newer[:limit // 2])
        page.has_older, page.has_newer = len(older) > limit // 2, len(newer) > limit // 2
        return page
    if after is not None:
        rows = await q.thread_page(ws.db, conversation_id, after=after, limit=limit + 1)
        page = await _with_context(ws, rows[:limit])
        page.has_newer = len(rows) > limit
        return page
    rows = await q.thread_page(ws.db, conversation_id, before=before, limit=limit + 1)
    page = await _with_context(ws, rows[-limit:])
    page.has_older = len(rows) > limit
    return page


async def lines(ws: Workspace, agent: Agent, conversation_id: int, message_ids: Sequence[int]) -> ThreadPage:
    """Some lines of one thread by id (a live update re-renders just those)."""
    await conversation(ws, agent, conversation_id)
    found = await q.messages_by_ids(ws.db, message_ids)
    return await _with_context(ws, sorted((m for m in found.values() if m.conversation_id == conversation_id),
                                          key=lambda m: m.id))


# -- replies --------------------------------------------------------------------------------------------------------


async def reply(ws: Workspace, agent: Agent, conversation_id: int, *, text: str = "", media_id: int | None = None,
                reply_to: int | None = None, account_id: int | None = None, voice: bool = False) -> Message:
    """Queue an agent's reply (text, or a stored file with an optional caption). With another `account_id` it
    goes to the same contact from that number, in that number's conversation with them."""
    conv = await conversation(ws, agent, conversation_id)
    target = {"conversation_id": conversation_id}
    if account_id is not None and account_id != conv.account_id:
        if reply_to is not None:
            raise Invalid("reply_to", "A quoted message belongs to its own number's conversation.")
        target = {"to": conv.contact_id, "account_id": account_id}
    sender = await accounts_store.get(ws.db, account_id or conv.account_id)
    if sender is None:
        raise NotFound("No such WhatsApp number in this workspace.")
    if sender.id == conv.account_id and window_closed(conv, sender.engine):
        raise Invalid("text", "More than 24 hours passed since this customer last wrote, so WhatsApp only accepts an "
                              "approved template message on this Cloud API number.")
    common = {"source": "agent", "author_id": agent.user_id, "reply_to": reply_to, **target}
    if media_id is not None:
        return await outbox.send_media(ws, media_id=media_id, caption=text, voice=voice, **common)
    return await outbox.send_text(ws, text=text, **common)


# -- Meta templates (Cloud API numbers) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    """An approved Meta template the composer offers, filled in for the conversation's contact."""

    id: int
    name: str
    language: str
    category: str
    preview: str  # what the customer would read; {{n}} where a value still has to be typed
    inputs: list[cloud_templates.Param]  # parameters nothing fills for this contact


async def template_choices(ws: Workspace, agent: Agent, conversation_id: int) -> list[TemplateChoice]:
    """The approved templates of the conversation's number (none unless it is a Cloud API number)."""
    conv = await conversation(ws, agent, conversation_id)
    account = await accounts_store.get(ws.db, conv.account_id)
    if account is None or account.engine != "cloud_api":
        return []
    rows = [t for t in await cloud_templates.list_for(ws, conv.account_id)
            if t.status == "APPROVED" and cloud_templates.header_format(t) in (None, "TEXT")]  # no file to attach
    if not rows:
        return []
    try:
        values = await templates.contact_values(ws, conv.contact_id)
    except NotFound:  # a contact in the bin: nothing of theirs to fill in
        values = {}
    return [TemplateChoice(t.id, t.name, t.language, t.category, cloud_templates.text_for(t, values, header=True),
                           cloud_templates.open_params(t, values)) for t in rows]


async def send_template(ws: Workspace, agent: Agent, conversation_id: int, template_id: int,
                        params: Mapping[str, str] | None = None) -> Message:
    """Queue an approved Meta template into a conversation (the only message its Cloud API number may send once
    the 24-hour window closed). `params` are texts typed for parameters, by key ("body.2")."""
    await conversation(ws, agent, conversation_id)
    given = {key: str(value) for key, value in (params or {}).items()}
    if any("." not in key for key in given):
        raise Invalid("params", "Give each value by its parameter, e.g. body.2.")
    return await outbox.send_template(ws, template_id=template_id, conversation_id=conversation_id, values=given,
                                      source="agent", author_id=agent.user_id)


# -- notes and events -----------------------------------------------------------------------------------------------


def mentioned(text: str, team: Mapping[int, str]) -> list[int]:
    """Teammates named as `@Name` in a note (longest names first, so "@Ana Maria" is not also "@Ana")."""
    found: list[int] = []
    rest = text.casefold()
    for user_id, name in sorted(team.items(), key=lambda kv: -len(kv[1])):
        tag = "@" + " ".join(name.split()).casefold()
        if name.strip() and re.search(re.escape(tag) + r"(?![\w])", rest):
            found.append(user_id)
            rest = rest.replace(tag, " ")
    return sorted(found)


async def add_line(ws: Workspace, conversation_id: int, kind: str, body: str, author_id: int | None, meta: dict,
                   change: Callable[[sqlite3.Connection, int], None] | None = None) -> int:
    """Store a note or event line (with `change(conn, now)` in the same transaction) and tell open tabs."""
    now = int(time.time())

    def write(conn: sqlite3.Connection) -> int:
        if change is not None:
            change(conn, now)
        return q.insert_line(conn, conversation_id=conversation_id, kind=kind, body=body, author_id=author_id,
                             meta=meta, now=now)

    message_id = await ws.db.execute_write_fn(write)
    if ws.bus is not None:
        ws.bus.publish(ws.id, "inbox.line", message_id=message_id, conversation_id=conversation_id)
        if change is not None:
            ws.bus.publish(ws.id, "conversation.updated", conversation_ids=[conversation_id])
    return message_id


async def add_note(ws: Workspace, agent: Agent, conversation_id: int, text: str, team: Mapping[int, str]) -> Message:
    """An internal note in the thread, never sent to WhatsApp; mentioned teammates are told (bus "inbox.mention")."""
    await conversation(ws, agent, conversation_id)
    body = (text or "").replace("\r\n", "\n").strip()
    if not body:
        raise Invalid("text", "Write the note first.")
    if len(body) > MAX_NOTE:
        raise Invalid("text", "A note can be at most %(max)s characters.", max=MAX_NOTE)
    mentions = [u for u in mentioned(body, team) if u != agent.user_id]
    message_id = await add_line(ws, conversation_id, "note", body, agent.user_id,
                                {"mentions": mentions} if mentions else {})
    if mentions and ws.bus is not None:
        ws.bus.publish(ws.id, "inbox.mention", conversation_id=conversation_id, message_id=message_id,
                       user_ids=mentions, by=agent.name)
    return (await q.messages_by_ids(ws.db, [message_id]))[message_id]


async def assign(ws: Workspace, agent: Agent, conversation_id: int, assignee_id: int | None,
                 team: Mapping[int, str]) -> ConversationRow:
    """Give the conversation to a teammate (or to nobody); the thread shows who did it."""
    conv = await conversation(ws, agent, conversation_id)
    if assignee_id is not None and assignee_id not in team:
        raise Invalid("assignee_id", "Choose a member of this workspace.")
    if conv.assignee_id == assignee_id:
        return conv
    if assignee_id is None:
        line, name = "unassigned", team.get(conv.assignee_id)  # None: they left the team
    else:
        line, name = ("took" if assignee_id == agent.user_id else "assigned"), team[assignee_id]
    body, meta = event_meta(line, event="assigned", assignee_id=assignee_id, by=agent.user_id, by_name=agent.name,
                            name=name)
    await add_line(ws, conversation_id, "event", body, agent.user_id, meta,
                   lambda conn, now: q.set_assignee(conn, conversation_id, assignee_id))
    updated = await q.conversation(ws.db, conversation_id)
    await message_webhooks.conversation_event(ws, "conversation.assigned", updated, agent.user_id, agent.name,
                                              previous_assignee_id=conv.assignee_id)
    return updated


async def set_status(ws: Workspace, agent: Agent, conversation_id: int, status: str) -> ConversationRow:
    """Open, pending or resolved; a resolved conversation reopens by itself when the customer writes again."""
    if status not in q.STATUSES:
        raise Invalid("status", "The status is open, pending or resolved.")
    conv = await conversation(ws, agent, conversation_id)
    if conv.status == status:
        return conv
    body, meta = event_meta(status, event="status", status=status, by=agent.user_id, by_name=agent.name)
    await add_line(ws, conversation_id, "event", body, agent.user_id, meta,
                   lambda conn, now: q.set_status(conn, conversation_id, status, now))
    updated = await q.conversation(ws.db, conversation_id)
    if status == "resolved":
        await message_webhooks.conversation_event(ws, "conversation.resolved", updated, agent.user_id, agent.name)
    return updated


# -- reading --------------------------------------------------------------------------------------------------------


async def mark_read(ws: Workspace, agent: Agent, conversation_id: int) -> int:
    """Clear the unread counter and, where the engine supports it, send read receipts for what was unread.
    Returns how many messages were unread (0 when another agent's tab got there first)."""
    conv = await conversation(ws, agent, conversation_id)
    unread = await ws.db.execute_write_fn(lambda conn: q.take_unread(conn, conversation_id))
    if not unread:
        return 0
    if ws.bus is not None:
        ws.bus.publish(ws.id, "conversation.updated", conversation_ids=[conversation_id])
    if ws.sessions is not None:
        spawn(ws, _send_receipts(ws, conv, min(unread, RECEIPTS_MAX)))
    return unread


async def _send_receipts(ws: Workspace, conv: ConversationRow, count: int) -> None:
    chat = conv.contact_jid or conv.contact_phone or conv.contact_lid
    if chat is None:
        return
    received = await q.latest_inbound(ws.db, conv.id, count)
    by_sender: dict[str | None, list[str]] = {}
    for provider_id, sender in received:  # in a group, each receipt names the member who wrote
        by_sender.setdefault(sender if conv.is_group else None, []).append(provider_id)
    for sender, ids in by_sender.items():
        try:
            await ws.sessions.mark_read((ws.id, conv.account_id), chat, ids, sender)
        except (EngineError, KeyError) as exc:  # offline or removed number: the blue ticks just don't appear
            log.info("read receipt not sent (workspace=%s account=%s conversation=%s): %s", ws.id, conv.account_id,
                     conv.id, getattr(exc, "reason", exc))


_tasks: set[asyncio.Task] = set()


def spawn(ws: Workspace, coro: Coroutine[Any, Any, Any]) -> None:
    """Background work for this workspace: the delivery service's tasks (cancelled at shutdown) when it runs."""
    service = outbox.delivery_of(ws)
    if service is not None:
        service.spawn(coro)
        return
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_done)


def _done(task: asyncio.Task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("inbox background task failed", exc_info=task.exception())
