"""One Server-Sent Events stream per browser tab, scoped to one workspace, carrying named HTML fragments."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from litestar import Controller, Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.template import TemplateEngineProtocol

from blazz import i18n
from blazz.bus import BusEvent
from blazz.web.context import membership_of, runtime_of
from blazz.web.guards import member_guard

KEEPALIVE_S = 20  # below common proxy idle timeouts, so a quiet stream is not cut

# event name -> template of the fragment it becomes; features register theirs here.
FRAGMENTS: dict[str, str] = {
    "toast": "_toast.html",
    "contact_import": "contacts/_import_event.html",
    "account.state": "accounts/_card.html",
    "account.deleted": "accounts/_deleted.html",
    "campaign.progress": "campaigns/_progress_event.html",  # ids only: each tab fetches the fresh numbers
    # The inbox: ids only; each tab fetches the lines and list items it may see (assets/js/inbox.js).
    **dict.fromkeys(("message.new", "message.status", "message.media", "conversation.updated", "inbox.line",
                     "inbox.mention"), "inbox/_event.html"),
}


def render_event(engine: TemplateEngineProtocol, event: BusEvent) -> str:
    """Render once per event and language (each stream renders in its tab's language), however many tabs receive
    it."""
    key = "html:" + i18n.current()
    html = event.rendered.get(key)
    if html is None:
        template = FRAGMENTS.get(event.name)
        data = toast_in_words(event.data) if event.name == "toast" else event.data
        html = engine.get_template(template).render(**data) if template else ""
        event.rendered[key] = html
    return html


def toast_in_words(data: dict) -> dict:
    """A toast a service pushed (no request, so no reader) as an English catalog id with `params`, in this stream's
    language; the params named in `sentences` are catalog sentences too (a campaign's reason, say)."""
    sentences = data.get("sentences", ())
    params = {k: i18n.gettext(v) if k in sentences else v for k, v in (data.get("params") or {}).items()}
    return {**data, "message": i18n.gettext(data.get("message", ""), **params)}


class EventsController(Controller):
    path = "/w/{slug:str}/events"
    guards = [member_guard]
    include_in_schema = False

    @get("/")
    async def stream(self, request: Request) -> ServerSentEvent:
        rt = runtime_of(request)
        workspace_id = membership_of(request).workspace.id
        engine = request.app.template_engine
        return ServerSentEvent(_stream(rt.bus.subscribe, workspace_id, lambda e: render_event(engine, e)))


async def _stream(
    subscribe, workspace_id: int, render: Callable[[BusEvent], str]
) -> AsyncGenerator[ServerSentEventMessage, None]:
    with subscribe(workspace_id) as sub:
        yield ServerSentEventMessage(event="hello", data="connected", retry=3000)
        while True:
            try:
                event = await sub.next(KEEPALIVE_S)
            except StopAsyncIteration:
                return
            if event is None:
                yield ServerSentEventMessage(comment="keepalive")
                continue
            html = render(event)
            # SSE data cannot hold bare newlines; htmx joins multi-line data back, but one line is simplest.
            yield ServerSentEventMessage(event=event.name, data=html.replace("\n", " "), id=str(event.id))
