"""The inbox pages: the conversation list, a thread with its composer, the contact panel, and the small
fragments that live updates fetch (each tab asks for its own view, so visibility and filters stay per agent).

Live updates: the workspace's event stream carries ids only (templates `inbox/_event.html`); `assets/js/inbox.js`
fetches `/items`, `/{id}/lines` and `/{id}/header` for what its tab shows.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, Response, Template

from blazz import (
    canned_replies,
    contact_groups,
    contacts,
    custom_fields,
    inbox,
    inbox_assignment,
    outbox,
    search,
    templates,
    voice_messages,
    workspace_settings,
)
from blazz import media as media_service
from blazz.errors import Invalid, NotFound
from blazz.i18n import gettext as _
from blazz.store import accounts as accounts_store
from blazz.store import media as media_store
from blazz.store import workspaces as ws_store
from blazz.store.inbox_queries import ConversationRow
from blazz.web import inbox_view
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.workspaces import Workspace

UPLOAD_LIMIT = media_service.MAX_UPLOAD + 1024 * 1024  # the largest file WhatsApp takes plus the form around it
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "private, max-age=31536000, immutable"}  # content-addressed: never changes


def html(template: str, status_code: int = 200, headers: dict | None = None, **context: Any) -> Template:
    return Template(template_name=template, context=context, status_code=status_code, headers=headers)


def _ids(value: str | None, limit: int = 100) -> list[int]:
    return [int(v) for v in (value or "").split(",") if v.strip().isdigit() and len(v.strip()) < 19][:limit]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "untitled"


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


class InboxContext:
    """Everything an inbox template needs about the workspace and the person looking, read once per request."""

    def __init__(self, request: Request, ws: Workspace, role: str):
        self.request, self.ws, self.role = request, ws, role
        self.agent = inbox.Agent(request.user.id, request.user.display_name, role)

    async def load(self) -> InboxContext:
        rt = runtime_of(self.request)
        # Three small reads on two databases' reader pools, side by side rather than one after another.
        members, accounts, settings = await asyncio.gather(
            ws_store.members(rt.app_db, self.ws.id), accounts_store.all_active(self.ws.db),
            workspace_settings.load(self.ws.db))
        self.team = {m.user_id: (m.name or m.email.split("@")[0]) for m in members}
        self.accounts = {a.id: a for a in accounts}
        self.clock = inbox_view.Clock.named(settings.timezone)
        self.filters = inbox.filters_from(self.request.query_params)
        inbox_assignment.seen(self.ws, self.agent)
        return self

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"ws": self.ws, "me": self.agent, "team": self.team, "accounts": self.accounts, "clock": self.clock,
                "filters": self.filters, "h": inbox_view.HELPERS, **extra}

    def engine_of(self, conv: ConversationRow) -> str:
        account = self.accounts.get(conv.account_id)
        return account.engine if account else ""


async def _ctx(request: Request, ws: Workspace, role: str) -> InboxContext:
    return await InboxContext(request, ws, role).load()


async def thread_context(ic: InboxContext, conv: ConversationRow, *, around: int | None = None) -> dict[str, Any]:
    """The thread pane: header, a page of lines, the composer's state."""
    ws, agent = ic.ws, ic.agent
    thread = await inbox.thread(ws, agent, conv.id, around=around)
    others = await inbox.contact_conversations(ws, agent, conv.contact_id)
    senders = [ic.accounts[c.account_id] for c in others if c.account_id in ic.accounts]
    cloud = ic.engine_of(conv) == "cloud_api"
    return {"conv": conv, "thread": thread, "around": around, "senders": senders,
            "window_closed": inbox.window_closed(conv, ic.engine_of(conv)),
            "templates_offered": await inbox.template_choices(ws, agent, conv.id) if cloud else [],
            "ffmpeg": voice_messages.ffmpeg() is not None}


async def panel_context(ic: InboxContext, conv: ConversationRow) -> dict[str, Any]:
    contact = await contacts.get(ic.ws, conv.contact_id)
    groups = await contact_groups.groups(ic.ws)
    mine = set(await contact_groups.group_ids_of(ic.ws, contact.id))
    others = [c for c in await inbox.contact_conversations(ic.ws, ic.agent, contact.id) if c.id != conv.id]
    return {"conv": conv, "contact": contact, "contact_groups": [g for g in groups if g.id in mine],
            "past": others}


class InboxController(Controller):
    path = "/w/{slug:str}/inbox"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    # -- pages ------------------------------------------------------------------------------------------------

    async def _page(self, request: Request, ws: Workspace, role: str, conv_id: int | None) -> Template:
        ic = await _ctx(request, ws, role)
        request.session["last_ws"] = ws.slug
        extra: dict[str, Any] = {"groups": await contact_groups.groups(ws), "settings": await inbox.load_settings(ws)}
        query = request.query_params.get("q", "").strip()
        if query:
            extra["results"] = await search.search(ws, ic.agent, query)
        else:
            extra["page"] = await inbox.list_conversations(ws, ic.agent, ic.filters)
        if conv_id is not None:
            conv = await inbox.conversation(ws, ic.agent, conv_id)
            await inbox.mark_read(ws, ic.agent, conv.id)
            conv = await inbox.conversation(ws, ic.agent, conv_id)
            extra.update(await thread_context(ic, conv, around=_int(request.query_params.get("message"))))
            extra.update(await panel_context(ic, conv))
        return page(request, "inbox/index.html", **ic.context(active="inbox", title=_("Inbox"), **extra))

    @get("/", **requires("agent"))
    async def index(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        return await self._page(request, ws, me.role, None)

    @get("/{conversation_id:int}", **requires("agent"))
    async def show(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                   conversation_id: FromPath[int]) -> Template:
        """The whole page on a visit or reload; only the thread and the panel when a list item is clicked."""
        if not request.headers.get("hx-request") or request.headers.get("hx-history-restore-request"):
            return await self._page(request, ws, me.role, conversation_id)
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.conversation(ws, ic.agent, conversation_id)
        if await inbox.mark_read(ws, ic.agent, conv.id):
            conv = await inbox.conversation(ws, ic.agent, conversation_id)
        around = _int(request.query_params.get("message"))
        ctx = {**await thread_context(ic, conv, around=around), **await panel_context(ic, conv)}
        return html("inbox/_thread_and_panel.html", **ic.context(**ctx))

    # -- the list ---------------------------------------------------------------------------------------------

    @get("/list", **requires("agent"))
    async def list_page(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        """Conversation items: the first page after a filter change, or the next page as the list scrolls."""
        ic = await _ctx(request, ws, me.role)
        result = await inbox.list_conversations(ws, ic.agent, ic.filters, request.query_params.get("cursor"))
        return html("inbox/_items.html", **ic.context(page=result, active_id=_int(request.query_params.get("open"))))

    @get("/items", **requires("agent"))
    async def items(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        """The given conversations as this tab's list shows them (absent: they left its filter or its view)."""
        ic = await _ctx(request, ws, me.role)
        rows = await inbox.list_items(ws, ic.agent, ic.filters, _ids(request.query_params.get("ids")))
        return html("inbox/_items.html", **ic.context(page=inbox.ConversationPage(rows, None),
                                                     active_id=_int(request.query_params.get("open"))))

    @get("/search", **requires("agent"))
    async def search_results(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        ic = await _ctx(request, ws, me.role)
        query = request.query_params.get("q", "")
        if not query.strip():
            result = await inbox.list_conversations(ws, ic.agent, ic.filters)
            return html("inbox/_items.html", **ic.context(page=result, active_id=None))
        found = await search.search(ws, ic.agent, query, before=_int(request.query_params.get("before")))
        return html("inbox/_search.html", **ic.context(results=found))

    # -- a thread ---------------------------------------------------------------------------------------------

    @get("/{conversation_id:int}/messages", **requires("agent"))
    async def messages(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                       conversation_id: FromPath[int]) -> Template:
        """Older lines (`?before=`) as the thread scrolls up, or newer ones (`?after=`)."""
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.conversation(ws, ic.agent, conversation_id)
        params = request.query_params
        thread = await inbox.thread(ws, ic.agent, conv.id, before=_int(params.get("before")),
                                    after=_int(params.get("after")))
        return html("inbox/_lines.html", **ic.context(conv=conv, thread=thread, paged=True,
                                                     newer=params.get("after") is not None))

    @get("/{conversation_id:int}/lines", **requires("agent"))
    async def lines(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                    conversation_id: FromPath[int]) -> Template:
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.conversation(ws, ic.agent, conversation_id)
        thread = await inbox.lines(ws, ic.agent, conv.id, _ids(request.query_params.get("ids")))
        return html("inbox/_lines.html", **ic.context(conv=conv, thread=thread, paged=False))

    @get("/{conversation_id:int}/header", **requires("agent"))
    async def header(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                     conversation_id: FromPath[int]) -> Template:
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.conversation(ws, ic.agent, conversation_id)
        return html("inbox/_thread_header.html", **ic.context(conv=conv))

    @get("/{conversation_id:int}/panel", **requires("agent"))
    async def panel(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                    conversation_id: FromPath[int]) -> Template:
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.conversation(ws, ic.agent, conversation_id)
        return html("inbox/_panel.html", **ic.context(**await panel_context(ic, conv)))

    @get("/{conversation_id:int}/canned", **requires("agent"))
    async def canned(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                     conversation_id: FromPath[int]) -> Response:
        """Canned replies, then the workspace's message templates, with this conversation's contact filled in:
        the composer's `/` menu (a template's file header is left out: attach it by hand)."""
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.conversation(ws, ic.agent, conversation_id)
        contact = await contacts.get(ws, conv.contact_id)
        values = contacts.template_variables(contact, await custom_fields.fields(ws))
        values["agent_name"] = ic.agent.name
        body = [{"shortcut": r.shortcut, "title": r.title, "text": canned_replies.fill(r.body, values)}
                for r in await canned_replies.all_replies(ws)]
        body += [{"shortcut": "template-" + _slug(t.name), "title": _("Template: %(name)s", name=t.name),
                  "text": templates.compose(t.body, t.footer, values)} for t in await templates.list_all(ws)]
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    # -- actions ----------------------------------------------------------------------------------------------

    @post("/{conversation_id:int}/send", status_code=200, request_max_body_size=UPLOAD_LIMIT, **requires("agent"))
    async def send(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                   conversation_id: FromPath[int]) -> Template:
        """A reply (text and/or a file) or, with mode=note, an internal note; answers with the new line, queued."""
        ic = await _ctx(request, ws, me.role)
        form = await request.form()
        text = str(form.get("text") or "")
        if form.get("mode") == "note":
            line = await inbox.add_note(ws, ic.agent, conversation_id, text, ic.team)
        else:
            upload = form.get("file")
            media_id = None
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read()
                if not data:
                    raise Invalid("file", "The file is empty.")
                media_id = (await media_service.store_upload(ws, data, upload.filename)).id
            elif not text.strip():
                raise Invalid("text", "Write a message or attach a file first.")
            line = await inbox.reply(ws, ic.agent, conversation_id, text=text, media_id=media_id,
                                     reply_to=_int(form.get("reply_to")), account_id=_int(form.get("account_id")))
        conv = await inbox.conversation(ws, ic.agent, line.conversation_id)
        thread = await inbox.lines(ws, ic.agent, conv.id, [line.id])
        headers = {"X-Inbox-Conversation": str(conv.id)}
        return html("inbox/_lines.html", headers=headers, **ic.context(conv=conv, thread=thread, paged=False))

    @get("/{conversation_id:int}/template", **requires("agent"))
    async def template_fields(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                              conversation_id: FromPath[int]) -> Template:
        """One approved Meta template filled in for this conversation's contact (the composer's choice changed)."""
        ic = await _ctx(request, ws, me.role)
        wanted = _int(request.query_params.get("template_id"))
        choice = next((c for c in await inbox.template_choices(ws, ic.agent, conversation_id) if c.id == wanted), None)
        if choice is None:
            raise NotFound("No such approved template for this conversation's number.")
        return html("inbox/_template_fields.html", **ic.context(choice=choice))

    @post("/{conversation_id:int}/template", status_code=200, **requires("agent"))
    async def send_template(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                            conversation_id: FromPath[int]) -> Template:
        """An approved Meta template into a Cloud API conversation; answers with the new line, queued."""
        ic = await _ctx(request, ws, me.role)
        form = await request.form()
        template_id = _int(form.get("template_id"))
        if template_id is None:
            raise Invalid("template_id", "Choose a template to send.")
        params = {str(k)[len("params."):]: str(v or "") for k, v in form.items() if str(k).startswith("params.")}
        line = await inbox.send_template(ws, ic.agent, conversation_id, template_id, params)
        conv = await inbox.conversation(ws, ic.agent, line.conversation_id)
        thread = await inbox.lines(ws, ic.agent, conv.id, [line.id])
        return html("inbox/_lines.html", **ic.context(conv=conv, thread=thread, paged=False))

    @post("/{conversation_id:int}/voice", status_code=200, request_max_body_size=UPLOAD_LIMIT, **requires("agent"))
    async def voice(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                    conversation_id: FromPath[int]) -> Template:
        """A voice message recorded in the browser; answers with the new line, queued."""
        ic = await _ctx(request, ws, me.role)
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("file", "Attach the recording as `file`.")
        line = await voice_messages.send_voice(ws, ic.agent, conversation_id, await upload.read())
        conv = await inbox.conversation(ws, ic.agent, line.conversation_id)
        thread = await inbox.lines(ws, ic.agent, conv.id, [line.id])
        return html("inbox/_lines.html", **ic.context(conv=conv, thread=thread, paged=False))

    @post("/{conversation_id:int}/assign", status_code=200, **requires("agent"))
    async def assign(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                     conversation_id: FromPath[int]) -> Template:
        ic = await _ctx(request, ws, me.role)
        choice = str((await request.form()).get("assignee") or "")
        assignee = ic.agent.user_id if choice == "me" else _int(choice)
        if choice not in ("", "me") and assignee is None:
            raise Invalid("assignee", "Choose a member of this workspace.")
        conv = await inbox.assign(ws, ic.agent, conversation_id, assignee, ic.team)
        if not await _still_visible(ws, ic.agent, conv.id):
            return html("inbox/_gone.html", **ic.context(conv=conv))
        return html("inbox/_thread_header.html", **ic.context(conv=conv))

    @post("/{conversation_id:int}/status", status_code=200, **requires("agent"))
    async def status(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                     conversation_id: FromPath[int]) -> Template:
        ic = await _ctx(request, ws, me.role)
        conv = await inbox.set_status(ws, ic.agent, conversation_id, str((await request.form()).get("status") or ""))
        return html("inbox/_thread_header.html", **ic.context(conv=conv))

    @post("/{conversation_id:int}/read", status_code=204, **requires("agent"))
    async def read(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                   conversation_id: FromPath[int]) -> None:
        ic = await _ctx(request, ws, me.role)
        await inbox.mark_read(ws, ic.agent, conversation_id)

    @post("/messages/{message_id:int}/retry", status_code=200, **requires("agent"))
    async def retry(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                    message_id: FromPath[int]) -> Template:
        ic = await _ctx(request, ws, me.role)
        found = await inbox.q.messages_by_ids(ws.db, [message_id])
        if message_id not in found:
            raise NotFound("No such message.")
        conv = await inbox.conversation(ws, ic.agent, found[message_id].conversation_id)
        await outbox.retry(ws, message_id)
        thread = await inbox.lines(ws, ic.agent, conv.id, [message_id])
        return html("inbox/_lines.html", **ic.context(conv=conv, thread=thread, paged=False))

    @post("/presence", status_code=204, **requires("agent"))
    async def presence(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> None:
        """An open inbox tab says it is still there (auto-assignment counts only people who are)."""
        inbox_assignment.seen(ws, inbox.Agent(request.user.id, request.user.display_name, me.role))

    # -- files ------------------------------------------------------------------------------------------------

    @get("/media/{media_id:int}", **requires("agent"))
    async def media(self, request: Request, ws: CurrentWorkspace, me: CurrentMember, media_id: FromPath[int]) -> File:
        """A file shown in a thread. Served only to someone who may see a conversation showing it; anything a
        browser could run is a download, never a page of ours."""
        agent = inbox.Agent(request.user.id, request.user.display_name, me.role)
        found = await media_store.get(ws.db, media_id)
        if found is None or found.status != "ready" or not found.sha256:
            raise NotFoundException("No such file")
        shown = await ws.db.execute_fn(lambda conn: media_store.messages_of(conn, media_id))
        limit = await inbox.limited_to(ws, agent)
        if limit is not None:
            visible = False
            for _, conversation_id in shown[:20]:
                try:
                    await inbox.conversation(ws, agent, conversation_id)
                except NotFound:
                    continue
                visible = True
                break
            if not visible:
                raise NotFoundException("No such file")
        elif not shown:
            raise NotFoundException("No such file")
        path = media_service.path_of(ws, found.sha256)
        if not path.exists():
            raise NotFoundException("The file is missing from this workspace's media folder")
        inline = found.mime in inbox_view.INLINE_TYPES and request.query_params.get("download") != "1"
        return File(path=path, media_type=found.mime if inline else "application/octet-stream",
                    filename=found.filename or f"file-{media_id}", headers=MEDIA_HEADERS,
                    content_disposition_type="inline" if inline else "attachment")


async def _still_visible(ws: Workspace, agent: inbox.Agent, conversation_id: int) -> bool:
    try:
        await inbox.conversation(ws, agent, conversation_id)
    except NotFound:
        return False
    return True

