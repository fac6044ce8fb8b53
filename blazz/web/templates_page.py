"""The templates pages: our message templates (variables, alternatives, footer, media header) with a live preview
for a chosen contact, and Meta's templates of each Cloud API number (sync, create and submit, map variables).

Everyone sees the templates (agents use them when replying); creating and changing them needs an admin.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import FromPath
from litestar.plugins.htmx import ClientRedirect
from litestar.response import File, Template

from blazz import accounts, cloud_templates, contacts, media, templates
from blazz.cloud_templates import NewCloudTemplate
from blazz.errors import DomainError, Invalid, NotFound
from blazz.store import media as media_store
from blazz.templates import TemplateInput
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.web.toasts import toast
from blazz.workspaces import Workspace, has_role

UPLOAD_LIMIT = media.MAX_UPLOAD + 1024 * 1024


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def input_from(form: Any) -> TemplateInput:
    return TemplateInput(name=form.get("name") or "", body=form.get("body") or "",
                         variants=(form.get("variant_2") or "", form.get("variant_3") or ""),
                         footer=form.get("footer") or "", media_id=_int(form.get("media_id")))


class TemplatesController(Controller):
    path = "/w/{slug:str}/templates"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    @get("/", **requires("agent"))
    async def index(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template:
        numbers = [v for v in await accounts.list_views(ws) if v.account.engine == "cloud_api"]
        cloud = {v.account.id: await cloud_templates.list_for(ws, v.account.id) for v in numbers}
        return page(request, "message_templates/index.html", ws=ws, rows=await templates.list_all(ws),
                    numbers=numbers, cloud=cloud, can_edit=has_role(me.role, "admin"),
                    unmapped=cloud_templates.unmapped)

    async def _form_context(self, ws: Workspace, t: Any = None, **extra: Any) -> dict[str, Any]:
        context = {"ws": ws, "t": t, "errors": {}, "form": {}, "variables": await templates.known_variables(ws),
                   "samples": (await contacts.list_contacts(ws, contacts.Filters(), limit=30)).contacts}
        context.update(extra)
        return context

    @get("/new", **requires("admin"))
    async def new(self, request: Request, ws: CurrentWorkspace) -> Template:
        return page(request, "message_templates/edit.html", **await self._form_context(ws))

    @post("/", status_code=200, **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template | ClientRedirect:
        form = await request.form()
        try:
            await templates.create(ws, input_from(form), created_by=request.user.id)
        except DomainError as exc:
            field = getattr(exc, "field", None) or next(iter(exc.details), "form")
            context = await self._form_context(ws, errors={field: exc.message}, form=form)
            return Template(template_name="message_templates/_form.html", context=context, status_code=exc.status)
        return ClientRedirect(f"/w/{ws.slug}/templates")

    @get("/{template_id:int}", **requires("admin"))
    async def edit(self, request: Request, ws: CurrentWorkspace, template_id: FromPath[int]) -> Template:
        t = await templates.get(ws, template_id)
        return page(request, "message_templates/edit.html", **await self._form_context(ws, t))

    @post("/{template_id:int}", status_code=200, **requires("admin"))
    async def update(self, request: Request, ws: CurrentWorkspace, template_id: FromPath[int]
                     ) -> Template | ClientRedirect:
        t = await templates.get(ws, template_id)
        form = await request.form()
        try:
            await templates.update(ws, template_id, input_from(form))
        except DomainError as exc:
            field = getattr(exc, "field", None) or next(iter(exc.details), "form")
            context = await self._form_context(ws, t, errors={field: exc.message}, form=form)
            return Template(template_name="message_templates/_form.html", context=context, status_code=exc.status)
        return ClientRedirect(f"/w/{ws.slug}/templates")

    @post("/{template_id:int}/delete", status_code=200, **requires("admin"))
    async def delete(self, ws: CurrentWorkspace, template_id: FromPath[int]) -> ClientRedirect:
        await templates.delete(ws, template_id)
        return ClientRedirect(f"/w/{ws.slug}/templates")

    @post("/preview", status_code=200, **requires("agent"))
    async def preview(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = await request.form()
        bodies = [form.get("body") or "", form.get("variant_2") or "", form.get("variant_3") or ""]
        shown = await templates.preview(ws, bodies, form.get("footer") or "", _int(form.get("contact_id")))
        return Template(template_name="message_templates/_preview.html", context={"ws": ws, "p": shown})

    # -- a media header ---------------------------------------------------------------------------------------

    @post("/upload", status_code=200, request_max_body_size=UPLOAD_LIMIT, **requires("admin"))
    async def upload(self, request: Request, ws: CurrentWorkspace) -> Template:
        field = request.query_params.get("field") or "media_id"
        upload = (await request.form()).get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise Invalid("file", "Choose a file to attach.")
            stored = await media.store_upload(ws, await upload.read(), upload.filename)
        except DomainError as exc:
            return Template(template_name="message_templates/_media.html", status_code=exc.status,
                            context={"ws": ws, "media_id": None, "field_name": field, "media_error": exc.message})
        return Template(template_name="message_templates/_media.html",
                        context={"ws": ws, "media_id": stored.id, "media_name": stored.filename, "field_name": field})

    @get("/media-picker", **requires("admin"))
    async def media_picker(self, request: Request, ws: CurrentWorkspace) -> Template:
        return Template(template_name="message_templates/_media.html",
                        context={"ws": ws, "media_id": None, "field_name": request.query_params.get("field")})

    @get("/media/{media_id:int}", **requires("agent"))
    async def media_file(self, ws: CurrentWorkspace, media_id: FromPath[int]) -> File:
        found = await media_store.get(ws.db, media_id)
        if found is None or found.status != "ready" or not found.sha256:
            raise NotFound("No such file.")
        return File(media.path_of(ws, found.sha256), media_type=found.mime, filename=found.filename or "file",
                    content_disposition_type="inline")

    # -- Meta's templates of Cloud API numbers ----------------------------------------------------------------

    @post("/cloud/{account_id:int}/sync", status_code=200, **requires("admin"))
    async def cloud_sync(self, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        result = await cloud_templates.sync(ws, account_id)
        headers = toast("Synced: %(added)s new, %(updated)s updated, %(removed)s removed on Meta's side.",
                        added=result.added, updated=result.updated, removed=result.removed)
        context = {"ws": ws, "v": await accounts.view(ws, account_id), "can_edit": True,
                   "rows": await cloud_templates.list_for(ws, account_id), "unmapped": cloud_templates.unmapped}
        return Template(template_name="message_templates/_cloud_card.html", context=context, headers=headers)

    @get("/cloud/{account_id:int}/new", **requires("admin"))
    async def cloud_new(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        number = await accounts.view(ws, account_id)
        return page(request, "message_templates/cloud_new.html", ws=ws, number=number, errors={}, form={},
                    variables=await templates.known_variables(ws), categories=cloud_templates.CATEGORIES)

    @post("/cloud/{account_id:int}/new", status_code=200, **requires("admin"))
    async def cloud_create(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]
                           ) -> Template | ClientRedirect:
        number = await accounts.view(ws, account_id)
        form = await request.form()
        data = NewCloudTemplate(name=form.get("name") or "", language=form.get("language") or "",
                                category=form.get("category") or "", body=form.get("body") or "",
                                header=form.get("header") or "", footer=form.get("footer") or "")
        try:
            await cloud_templates.create(ws, account_id, data)
        except Invalid as exc:
            return Template(template_name="message_templates/_cloud_form.html", status_code=422, context={
                "ws": ws, "number": number, "errors": {exc.field: exc.message}, "form": form,
                "variables": await templates.known_variables(ws), "categories": cloud_templates.CATEGORIES})
        return ClientRedirect(f"/w/{ws.slug}/templates")

    @get("/cloud/t/{cloud_id:int}", **requires("admin"))
    async def cloud_detail(self, request: Request, ws: CurrentWorkspace, cloud_id: FromPath[int]) -> Template:
        t = await cloud_templates.get(ws, cloud_id)
        return page(request, "message_templates/cloud.html", **await self._cloud_context(ws, t))

    async def _cloud_context(self, ws: Workspace, t: Any, **extra: Any) -> dict[str, Any]:
        context = {"ws": ws, "t": t, "params": cloud_templates.params_of(t), "body": cloud_templates.body_text(t),
                   "footer": cloud_templates.footer_text(t), "header_format": cloud_templates.header_format(t),
                   "errors": {}, "variables": await templates.known_variables(ws), "saved": False,
                   "sample": cloud_templates.text_for(t, templates.EXAMPLE)}
        context.update(extra)
        return context

    @post("/cloud/t/{cloud_id:int}", status_code=200, **requires("admin"))
    async def cloud_mapping(self, request: Request, ws: CurrentWorkspace, cloud_id: FromPath[int]) -> Template:
        t = await cloud_templates.get(ws, cloud_id)
        form = await request.form()
        mapping = {p.key: form.get(p.key) or "" for p in cloud_templates.params_of(t)}
        try:
            t = await cloud_templates.set_mapping(ws, cloud_id, mapping)
        except Invalid as exc:
            context = await self._cloud_context(ws, t, errors={exc.field: exc.message})
            return Template(template_name="message_templates/_cloud_mapping.html", context=context, status_code=422)
        return Template(template_name="message_templates/_cloud_mapping.html",
                        context=await self._cloud_context(ws, t, saved=True))
