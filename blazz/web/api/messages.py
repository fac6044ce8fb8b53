"""/api/v1/messages and /api/v1/media: send a text, a stored file or a template to a phone or contact, follow its
status, and upload files to send (contract: shared/API.md).

A template by name is one of Meta's when the sending number is a Cloud API number with a synced template of that
name (and `language`, if given): it goes as that template, the only message Meta delivers outside the 24-hour
window. Otherwise it is one of our own templates, filled in and sent as a text."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, JSONBody

from blazz import cloud_templates, outbox, phones, templates, workspace_settings
from blazz import media as media_service
from blazz.errors import Invalid, NotFound
from blazz.store import accounts as accounts_store
from blazz.store import contacts as contacts_store
from blazz.store import messages as messages_store
from blazz.store.messages import Message
from blazz.web.api.auth import ApiWorkspace
from blazz.workspaces import Workspace

UPLOAD_LIMIT = media_service.MAX_UPLOAD + 1024 * 1024
MAX_KEY = 200


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    variables: dict[str, str] = {}  # our variables by name; for a Meta template also parameters ("body.2")
    language: str | None = None  # a Meta template's language (Cloud API numbers), when it exists in several


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    to: str | int | None = None  # a phone in any common format, or a contact id
    contact_id: int | None = None
    account_id: int | None = None
    text: str | None = None
    media_id: int | None = None
    template: TemplateIn | None = None
    reply_to: int | None = None


class Queued(msgspec.Struct):
    id: int
    status: str
    conversation_id: int


class MessageOut(msgspec.Struct):
    id: int
    conversation_id: int
    account_id: int
    direction: str  # in | out
    kind: str  # text, image, video, audio, voice, document, ..., note (internal), event (assignment/status)
    text: str
    media_id: int | None
    status: str  # received | queued | sending | sent | delivered | read | failed | note
    error: str | None
    reply_to: int | None
    source: str
    author_id: int | None
    sender_phone: str | None  # group chats: the member who wrote
    sender_name: str | None
    created_at: str
    sent_at: str | None
    delivered_at: str | None
    read_at: str | None


class MediaOut(msgspec.Struct):
    id: int
    mime: str
    size: int
    filename: str | None


@dataclass
class MediaForm:
    """multipart/form-data with the `file` to keep for sending."""

    file: UploadFile


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id, conversation_id=m.conversation_id, account_id=m.account_id, direction=m.direction, kind=m.kind,
        text=m.body, media_id=m.media_id, status=m.status, error=m.error, reply_to=m.quoted_id, source=m.source,
        author_id=m.author_id, sender_phone=m.sender_phone, sender_name=m.sender_name, created_at=iso(m.created_at),
        sent_at=iso(m.sent_at), delivered_at=iso(m.delivered_at), read_at=iso(m.read_at),
    )


async def _template_text(ws: Workspace, call: TemplateIn, to: int | str) -> tuple[str, int | None]:
    """One of our message templates filled for the recipient (given variables win over the contact's own)."""
    wanted = call.name.strip().casefold()
    found = next((t for t in await templates.list_all(ws) if t.name.casefold() == wanted), None)
    if found is None:
        raise Invalid("template", "There is no template named %(name)s.", name=call.name)
    values: dict[str, str] = {}
    if isinstance(to, int):
        values = await templates.contact_values(ws, to)
    else:
        region = None if to.strip().startswith("+") else (await workspace_settings.load(ws.db)).default_region
        try:
            contact = await contacts_store.by_phone(ws.db, phones.normalise(to, region))
        except Invalid:
            contact = None  # the send itself names the bad number
        if contact is not None and contact.deleted_at is None:
            values = await templates.contact_values(ws, contact.id)
        else:  # nobody has this number yet: every variable is empty (fallbacks apply) but its phone
            values = {name: "" for name in await templates.known_variables(ws)} | {"phone": to}
    values.update({k: str(v) for k, v in call.variables.items()})
    return templates.compose(found.body, found.footer, values), found.media_id


async def _meta_template(ws: Workspace, call: TemplateIn, account_id: int | None) -> int | None:
    """The Meta template a Cloud API number sends for this name (and language), by its id; None when the sending
    number is not a Cloud API number or has no Meta template of that name (our own templates are used then)."""
    sender = await (accounts_store.get(ws.db, account_id) if account_id is not None else accounts_store.default(ws.db))
    language = (call.language or "").strip()
    if sender is None or sender.engine != "cloud_api":
        if language:
            raise Invalid("template.language", "Only Cloud API numbers have Meta templates with a language.")
        return None
    wanted = call.name.strip().casefold()
    named = [t for t in await cloud_templates.list_for(ws, sender.id) if t.name.casefold() == wanted]
    if language:
        named = [t for t in named if t.language.casefold() == language.casefold()]
        if not named:
            raise Invalid("template.language", "%(number)s has no Meta template named %(name)s in %(language)s.",
                          number=sender.name, name=call.name, language=language)
    if len(named) > 1:
        approved = [t for t in named if t.status == "APPROVED"]
        named = approved if approved else named
    if len(named) > 1:
        raise Invalid("template.language", "The Meta template %(name)s exists in %(languages)s; say which with "
                                           "\"language\".", name=call.name,
                      languages=", ".join(t.language for t in named))
    return named[0].id if named else None


class MessagesApi(Controller):
    path = "/messages"
    tags = ["messages"]

    @post("/", operation_id="sendMessage", status_code=202,
          summary="Queue a text, a file or a template for a phone or contact (Idempotency-Key honoured)",
          responses={200: ResponseSpec(data_container=Queued,
                                       description="The same Idempotency-Key and body again: the first message")})
    async def send(self, request: Request, ws: ApiWorkspace, data: JSONBody[MessageIn]) -> Response[Queued]:
        to: int | str | None = data.contact_id if data.contact_id is not None else data.to
        if to is None or to == "":
            raise Invalid("to", "Say who to send to: a phone number with its country code, or a contact id.")
        key = (request.headers.get("idempotency-key") or "").strip() or None
        if key is not None and len(key) > MAX_KEY:
            raise Invalid("Idempotency-Key", "Use at most %(max)s characters for the Idempotency-Key.", max=MAX_KEY)
        text, media_id = data.text or "", data.media_id
        meta_template = None
        if data.template is not None:
            if data.text or data.media_id is not None:
                raise Invalid("template", "Send either a template or a text and/or file, not both.")
            meta_template = await _meta_template(ws, data.template, data.account_id)
            if meta_template is None:
                text, media_id = await _template_text(ws, data.template, to)
        seen = await ws.db.execute_fn(lambda conn: messages_store.by_idempotency_key(conn, f"key:{key}")) \
            if key else None
        common: dict[str, Any] = {"to": to, "account_id": data.account_id, "source": "api", "reply_to": data.reply_to,
                                  "idempotency_key": key}
        if meta_template is not None:
            if data.reply_to is not None:
                raise Invalid("reply_to", "A Meta template cannot quote a message; leave reply_to out.")
            message = await outbox.send_template(ws, template_id=meta_template, values=data.template.variables,
                                                 **{k: v for k, v in common.items() if k != "reply_to"})
        elif media_id is not None:
            message = await outbox.send_media(ws, media_id=media_id, caption=text, **common)
        else:
            message = await outbox.send_text(ws, text=text, **common)
        return Response(Queued(message.id, message.status, message.conversation_id),
                        status_code=200 if seen is not None else 202)

    @get("/{message_id:int}", operation_id="getMessage", summary="One message with its delivery status and times")
    async def get_message(self, ws: ApiWorkspace, message_id: FromPath[int]) -> MessageOut:
        message = await messages_store.get(ws.db, message_id)
        if message is None:
            raise NotFound("No such message in this workspace.")
        return message_out(message)


class MediaApi(Controller):
    path = "/media"
    tags = ["messages"]

    @post("/", operation_id="uploadMedia", status_code=201, request_max_body_size=UPLOAD_LIMIT,
          summary="Keep a file to send (checked against WhatsApp's types and size limits)")
    async def upload(self, ws: ApiWorkspace,
                     data: Annotated[MediaForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> MediaOut:
        if not isinstance(data.file, UploadFile):
            raise Invalid("file", "Attach the file as `file`.")
        content = await data.file.read()
        if not content:
            raise Invalid("file", "The file is empty.")
        stored = await media_service.store_upload(ws, content, data.file.filename)
        return MediaOut(stored.id, stored.mime, stored.size or len(content), stored.filename)
