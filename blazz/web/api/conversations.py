"""/api/v1/conversations: the inbox for other systems (contract: shared/API.md).

A token acts for the workspace, not for a person: it sees every conversation, and changes it makes show in the
thread as done by "API (<token name>)".
"""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, patch
from litestar.params import FromPath, FromQuery, JSONBody

from blazz import inbox
from blazz.api_tokens import TokenIdentity
from blazz.errors import Invalid
from blazz.store import workspaces as ws_store
from blazz.store.inbox_queries import ConversationRow
from blazz.web.api.auth import ApiIdentity, ApiWorkspace
from blazz.web.api.messages import MessageOut, iso, message_out
from blazz.web.api.pagination import Page, check_limit
from blazz.web.context import runtime_of
from blazz.workspaces import Workspace

STATUSES = ("open", "pending", "resolved")


class ConversationOut(msgspec.Struct):
    id: int
    contact_id: int
    contact_name: str
    phone: str | None
    is_group: bool
    account_id: int
    status: str  # open | pending | resolved
    assignee_id: int | None
    unread: int
    last_message_id: int | None
    last_message_at: str
    last_message_preview: str
    last_inbound_at: str | None
    created_at: str
    resolved_at: str | None


class ConversationChange(msgspec.Struct, forbid_unknown_fields=True):
    status: str | msgspec.UnsetType = msgspec.UNSET
    assignee_id: int | msgspec.UnsetType | None = msgspec.UNSET  # null unassigns


class MessagesPage(msgspec.Struct):
    data: list[MessageOut]  # newest first
    next_cursor: str | None  # pass as ?before= for older messages


def conversation_out(c: ConversationRow) -> ConversationOut:
    return ConversationOut(
        id=c.id, contact_id=c.contact_id, contact_name=c.contact_name, phone=c.contact_phone, is_group=c.is_group,
        account_id=c.account_id, status=c.status, assignee_id=c.assignee_id, unread=c.unread,
        last_message_id=c.last_message_id, last_message_at=iso(c.last_message_at),
        last_message_preview=c.last_preview, last_inbound_at=iso(c.last_inbound_at), created_at=iso(c.created_at),
        resolved_at=iso(c.resolved_at),
    )


def agent_of(identity: TokenIdentity) -> inbox.Agent:
    return inbox.Agent(None, f"API ({identity.token.name})", identity.token.role)


async def _team(request: Request, ws: Workspace) -> dict[int, str]:
    members = await ws_store.members(runtime_of(request).app_db, ws.id)
    return {m.user_id: m.name or m.email.split("@")[0] for m in members}


class ConversationsApi(Controller):
    path = "/conversations"
    tags = ["conversations"]

    @get("/", operation_id="listConversations", summary="Conversations, newest activity first")
    async def list_conversations(self, ws: ApiWorkspace, identity: ApiIdentity, status: FromQuery[str | None] = None,
                                 assignee: FromQuery[str | None] = None, account_id: FromQuery[int | None] = None,
                                 limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None
                                 ) -> Page[ConversationOut]:
        """`?assignee=` is a member's user id, or `none` for the unassigned ones."""
        if status is not None and status not in STATUSES:
            raise Invalid("status", "status is open, pending or resolved.")
        assignee_id, view = None, "all"
        if assignee is not None:
            if assignee == "none":
                view = "unassigned"
            elif assignee.isdigit() and len(assignee) < 19:
                assignee_id = int(assignee)
            else:
                raise Invalid("assignee", "assignee is a member's user id, or none.")
        filters = inbox.Filters(view=view, status=status or "all", account_id=account_id, assignee_id=assignee_id)
        page = await inbox.list_conversations(ws, agent_of(identity), filters, cursor, check_limit(limit))
        return Page([conversation_out(c) for c in page.items], page.next_cursor)

    @get("/{conversation_id:int}", operation_id="getConversation", summary="One conversation")
    async def get_conversation(self, ws: ApiWorkspace, identity: ApiIdentity,
                               conversation_id: FromPath[int]) -> ConversationOut:
        return conversation_out(await inbox.conversation(ws, agent_of(identity), conversation_id))

    @get("/{conversation_id:int}/messages", operation_id="listConversationMessages",
         summary="A conversation's messages, newest first; ?before=<message id> pages back")
    async def messages(self, ws: ApiWorkspace, identity: ApiIdentity, conversation_id: FromPath[int],
                       before: FromQuery[int | None] = None, limit: FromQuery[int | None] = None) -> MessagesPage:
        thread = await inbox.thread(ws, agent_of(identity), conversation_id, before=before, limit=check_limit(limit))
        lines = list(reversed(thread.messages))
        return MessagesPage([message_out(m) for m in lines],
                            str(lines[-1].id) if thread.has_older and lines else None)

    @patch("/{conversation_id:int}", operation_id="updateConversation",
           summary="Change the status (open, pending, resolved) or the assignee (a member's user id, or null)")
    async def update(self, request: Request, ws: ApiWorkspace, identity: ApiIdentity,
                     conversation_id: FromPath[int], data: JSONBody[ConversationChange]) -> ConversationOut:
        agent = agent_of(identity)
        await inbox.conversation(ws, agent, conversation_id)
        if data.status is not msgspec.UNSET:
            if data.status not in STATUSES:
                raise Invalid("status", "status is open, pending or resolved.")
            await inbox.set_status(ws, agent, conversation_id, data.status)
        if data.assignee_id is not msgspec.UNSET:
            await inbox.assign(ws, agent, conversation_id, data.assignee_id, await _team(request, ws))
        return conversation_out(await inbox.conversation(ws, agent, conversation_id))
