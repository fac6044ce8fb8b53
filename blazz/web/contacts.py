"""The contacts pages: the searchable list with bulk actions, one contact's page with inline editing, merging,
groups and custom fields, and CSV/Excel import with live progress (bus events; the progress card also polls
every 2 s so it finishes even without a live stream) and export.

Agents see, add and edit contacts; deleting, merging, importing, exporting and defining groups and fields need
an admin: the customer list is the business's most valuable data.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import FromPath
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Response, Stream, Template

from blazz import (
    contact_export,
    contact_groups,
    contact_import,
    contact_merge,
    contacts,
    custom_fields,
    phones,
    workspace_settings,
)
from blazz.errors import Conflict, Forbidden, Invalid
from blazz.i18n import N_, ngettext
from blazz.store.custom_fields import TYPES as FIELD_TYPES
from blazz.web.context import CurrentMember, CurrentWorkspace, page, provide_membership, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.web.toasts import toast
from blazz.workspaces import Workspace, has_role

UPLOAD_LIMIT = contact_import.MAX_FILE_BYTES + 1024 * 1024  # the file plus the form around it
FILTER_KEYS = ("q", "group", "field", "value", "status", "sort", "view")
# How each custom field type is named on the page (English; templates show them through `_()`). "Numeric", not
# "Number": other pages say "Number" for a WhatsApp number, and a catalog holds one translation per English text.
FIELD_TYPE_LABELS = {"text": N_("Text"), "number": N_("Numeric"), "date": N_("Date"), "select": N_("Choice"),
                     "checkbox": N_("Yes / no"), "email": N_("Email"), "url": N_("Web address")}


def html(template: str, status_code: int = 200, headers: dict | None = None, **context: Any) -> Template:
    return Template(template_name=template, context=context, status_code=status_code, headers=headers)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def filters_from(params: Any) -> contacts.Filters:
    """The list's filters from query or form parameters (unknown or malformed values are ignored)."""
    status = params.get("status") or ""
    return contacts.Filters(
        q=(params.get("q") or "")[:200], group_id=_int(params.get("group")),
        field_key=params.get("field") or None, field_value=params.get("value") or None,
        opted_out=True if status == "opted_out" else False if status == "subscribed" else None,
        favourite=status == "favourite", deleted=params.get("view") == "deleted", sort=params.get("sort") or "name",
    )


def filter_args(params: Any) -> dict[str, str]:
    return {k: params.get(k) for k in FILTER_KEYS if params.get(k)}


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items() if k != "_csrf_token"}


class ContactsController(Controller):
    path = "/w/{slug:str}/contacts"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    # -- the list ---------------------------------------------------------------------------------------------

    async def _list_context(self, request: Request, ws: Workspace) -> dict[str, Any]:
        params = request.query_params
        filters = filters_from(params)
        try:
            result = await contacts.list_contacts(ws, filters, params.get("cursor"))
        except Invalid as exc:
            result, filters = await contacts.list_contacts(ws, contacts.Filters()), contacts.Filters()
            request.state.filter_error = exc.message
        groups, specs = await asyncio.gather(contact_groups.groups(ws), custom_fields.fields(ws))
        return {
            "ws": ws, "result": result, "filters": filters, "args": filter_args(params),
            "groups": groups, "group_by_id": {g.id: g for g in groups}, "specs": specs,
            "query": urlencode(filter_args(params)), "phones": phones, "display_name": contacts.display_name,
            "filter_error": request.state.get("filter_error"), "membership": request.state.get("membership"),
            "restore_days": contacts.RESTORE_DAYS,
        }

    @get("/", **requires("agent"))
    async def index(self, request: Request, ws: CurrentWorkspace) -> Template:
        request.session["last_ws"] = ws.slug
        ctx = await self._list_context(request, ws)
        if request.headers.get("hx-request") and request.query_params.get("cursor"):
            return html("contacts/_rows.html", **ctx, request=request)
        if request.headers.get("hx-target") == "contact-results":
            return html("contacts/_results.html", **ctx, request=request)
        return page(request, "contacts/index.html", **ctx)

    @post("/bulk", status_code=200, **requires("agent"))
    async def bulk(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Response:
        form = await request.form()
        action = form.get("action", "")
        ids = [i for i in (_int(v) for v in form.getall("ids", [])) if i]
        everything = form.get("all") == "1"
        if action in ("delete", "restore") and not has_role(me.role, "admin"):
            raise Forbidden("Deleting and restoring contacts needs the admin role.")
        chosen = await contacts.selection(ws, None if everything else ids, filters_from(form) if everything else None)
        if not chosen:
            raise Invalid("ids", "Tick at least one contact first.")
        group_id = _int(form.get("group_id"))
        changed = {"contacts:changed": True}
        if action == "add_group":
            if group_id is None:
                raise Invalid("group_id", "Choose a group.")
            await contact_groups.add_to_group(ws, chosen, group_id)
            group = (await contact_groups.get_group(ws, group_id)).name
            headers = toast("Added %(count)s to %(group)s.", count=len(chosen), group=group, events=changed)
        elif action == "remove_group":
            if group_id is None:
                raise Invalid("group_id", "Choose a group.")
            await contact_groups.remove_from_group(ws, chosen, group_id)
            group = (await contact_groups.get_group(ws, group_id)).name
            headers = toast("Removed %(count)s from %(group)s.", count=len(chosen), group=group, events=changed)
        elif action == "delete":
            done = await contacts.delete(ws, chosen)
            headers = toast("Moved %(count)s to the bin. They can be restored for %(days)s days.", count=done,
                            days=contacts.RESTORE_DAYS, events=changed)
        elif action == "restore":
            done = await contacts.restore(ws, chosen)
            # Already in the reader's language: toast() finds no catalog entry for it and shows it as it is.
            headers = toast(ngettext("Restored %(num)s contact.", "Restored %(num)s contacts.", done), events=changed)
        else:
            raise Invalid("action", "Choose what to do with the selected contacts.")
        return Response(b"", status_code=204, headers=headers)

    @post("/export", status_code=200, **requires("admin"))
    async def export_selected(self, request: Request, ws: CurrentWorkspace) -> Stream:
        form = await request.form()
        ids = None if form.get("all") == "1" else [i for i in (_int(v) for v in form.getall("ids", [])) if i]
        return self._csv(ws, filters_from(form), ids, form.get("bom") == "1")

    @get("/export", **requires("admin"))
    async def export_all(self, request: Request, ws: CurrentWorkspace) -> Stream:
        params = request.query_params
        return self._csv(ws, filters_from(params), None, params.get("bom") == "1")

    def _csv(self, ws: Workspace, filters: contacts.Filters, ids: list[int] | None, bom: bool) -> Stream:
        name = contact_export.export_filename(ws)
        return Stream(contact_export.export_csv(ws, filters, ids, bom=bom), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # -- adding -----------------------------------------------------------------------------------------------

    @get("/new", **requires("agent"))
    async def new(self, request: Request, ws: CurrentWorkspace) -> Template:
        settings = await workspace_settings.load(ws.db)
        return page(request, "contacts/new.html", ws=ws, form={}, errors={}, groups=await contact_groups.groups(ws),
                    specs=await custom_fields.fields(ws), region=settings.default_region, phones=phones)

    @post("/new", status_code=200, **requires("agent"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template | ClientRedirect | Redirect:
        form = await request.form()
        data = {k: form.get(k, "") for k in ("phone", "name", "email", "notes")}
        data["fields"] = {s.key: form.get(f"field:{s.key}", "") for s in await custom_fields.fields(ws)}
        data["groups"] = [g for g in form.getall("groups", []) if g]
        try:
            contact, restored = await contacts.create(ws, data)
        except (Invalid, Conflict) as exc:
            errors = {exc.field if isinstance(exc, Invalid) else "phone": exc.message}
            existing = exc.details.get("contact_id") if isinstance(exc, Conflict) else None
            settings = await workspace_settings.load(ws.db)
            return page(request, "contacts/new.html", 422, ws=ws, form=form, errors=errors, existing=existing,
                        groups=await contact_groups.groups(ws), specs=await custom_fields.fields(ws),
                        region=settings.default_region, phones=phones)
        target = f"/w/{ws.slug}/contacts/{contact.id}" + ("?restored=1" if restored else "")
        return ClientRedirect(target) if request.headers.get("hx-request") else Redirect(target)

    # -- one contact ------------------------------------------------------------------------------------------

    async def _contact_context(self, ws: Workspace, contact_id: int) -> dict[str, Any]:
        """What every part of a contact's page needs (the membership comes from the request in templates)."""
        contact = await contacts.get(ws, contact_id)
        groups = await contact_groups.groups(ws)
        mine = await contact_groups.group_ids_of(ws, contact.id)
        return {"ws": ws, "c": contact, "groups": groups, "member_of": [g for g in groups if g.id in mine],
                "specs": await custom_fields.fields(ws), "phones": phones, "display_name": contacts.display_name,
                "opt_out_reason": contacts.opt_out_reason, "restore_days": contacts.RESTORE_DAYS, "errors": {},
                "form": {}}

    @get("/{contact_id:int}", **requires("agent"))
    async def show(self, request: Request, ws: CurrentWorkspace, contact_id: FromPath[int]) -> Template:
        ctx = await self._contact_context(ws, contact_id)
        ctx["conversations"] = await contacts.conversations(ws, contact_id)
        ctx["duplicates"] = await contacts.possible_duplicates(ws, ctx["c"]) if not ctx["c"].deleted_at else []
        ctx["restored"] = request.query_params.get("restored") == "1"
        return page(request, "contacts/contact.html", **ctx)

    @get("/{contact_id:int}/{section:str}/edit", **requires("agent"))
    async def edit(self, ws: CurrentWorkspace, contact_id: FromPath[int], section: FromPath[str]) -> Template:
        ctx = await self._contact_context(ws, contact_id)
        return html(f"contacts/_{_section(section)}.html", **ctx, editing=True)

    @get("/{contact_id:int}/{section:str}", **requires("agent"))
    async def view_section(self, ws: CurrentWorkspace, contact_id: FromPath[int], section: FromPath[str]) -> Template:
        ctx = await self._contact_context(ws, contact_id)
        return html(f"contacts/_{_section(section)}.html", **ctx, editing=False)

    @post("/{contact_id:int}/{section:str}", status_code=200, **requires("agent"))
    async def save(self, request: Request, ws: CurrentWorkspace, contact_id: FromPath[int],
                   section: FromPath[str]) -> Template:
        section = _section(section)
        form = await request.form()
        if section == "details":
            data = {k: form.get(k, "") for k in ("name", "phone", "email")}
        elif section == "fields":
            data = {"fields": {s.key: form.get(f"field:{s.key}", "") for s in await custom_fields.fields(ws)}}
        else:
            data = {"notes": form.get("notes", "")}
        try:
            await contacts.update(ws, contact_id, data)
        except (Invalid, Conflict) as exc:
            ctx = await self._contact_context(ws, contact_id)
            field = exc.field if isinstance(exc, Invalid) else "phone"
            return html(f"contacts/_{section}.html", 422, **{**ctx, "errors": {field: exc.message},
                                                            "form": dict(form)}, editing=True)
        ctx = await self._contact_context(ws, contact_id)
        headers = toast("Saved.", events={"contact:renamed": True} if section == "details" else None)
        return html(f"contacts/_{section}.html", headers=headers, **ctx, editing=False)

    @post("/{contact_id:int}/favourite", status_code=200, **requires("agent"))
    async def favourite(self, request: Request, ws: CurrentWorkspace, contact_id: FromPath[int]) -> Template:
        form = await request.form()
        contact = await contacts.set_favourite(ws, contact_id, form.get("on") == "1")
        return html("contacts/_favourite.html", ws=ws, c=contact)

    @post("/{contact_id:int}/opt-out", status_code=200, **requires("agent"))
    async def opt_out(self, request: Request, ws: CurrentWorkspace, contact_id: FromPath[int]) -> Template:
        form = await request.form()
        on = form.get("opted_out") == "1"
        await contacts.set_opted_out(ws, contact_id, on, form.get("reason", ""))
        ctx = await self._contact_context(ws, contact_id)
        headers = toast("Opted out: campaigns will skip this contact.") if on else toast("Opted back in.")
        return html("contacts/_optout.html", headers=headers, **ctx)

    @post("/{contact_id:int}/groups/add", status_code=200, **requires("agent"))
    async def join_group(self, request: Request, ws: CurrentWorkspace, me: CurrentMember,
                         contact_id: FromPath[int]) -> Template:
        form = await request.form()
        group_id = _int(form.get("group_id"))
        name = (form.get("new_group") or "").strip()
        if group_id is None and name:
            if not has_role(me.role, "admin"):
                raise Forbidden("Creating groups needs the admin role; ask an admin, or pick an existing group.")
            group_id = (await contact_groups.create_group(ws, name)).id
        if group_id is None:
            raise Invalid("group_id", "Choose a group.")
        await contact_groups.add_to_group(ws, [contact_id], group_id)
        return html("contacts/_groups.html", **await self._contact_context(ws, contact_id))

    @post("/{contact_id:int}/groups/{group_id:int}/remove", status_code=200, **requires("agent"))
    async def leave_group(self, ws: CurrentWorkspace, contact_id: FromPath[int], group_id: FromPath[int]
                          ) -> Template:
        await contact_groups.remove_from_group(ws, [contact_id], group_id)
        return html("contacts/_groups.html", **await self._contact_context(ws, contact_id))

    @post("/{contact_id:int}/delete", status_code=200, **requires("admin"))
    async def delete(self, ws: CurrentWorkspace, contact_id: FromPath[int]) -> ClientRedirect:
        await contacts.delete(ws, [contact_id])
        return ClientRedirect(f"/w/{ws.slug}/contacts/{contact_id}")

    @post("/{contact_id:int}/restore", status_code=200, **requires("admin"))
    async def restore(self, ws: CurrentWorkspace, contact_id: FromPath[int]) -> ClientRedirect:
        await contacts.restore(ws, [contact_id])
        return ClientRedirect(f"/w/{ws.slug}/contacts/{contact_id}")

    # -- merging ----------------------------------------------------------------------------------------------

    @get("/{contact_id:int}/merge", **requires("admin"))
    async def merge_page(self, request: Request, ws: CurrentWorkspace, contact_id: FromPath[int]) -> Template:
        params = request.query_params
        ctx = await self._contact_context(ws, contact_id)
        other, preview, candidates = _int(params.get("other")), None, []
        if other:
            choose = {k: params.get(k) for k in ("name", "phone", "email") if params.get(k)}
            preview = await contact_merge.merge_preview(ws, contact_id, other, choose)
        else:
            q = params.get("q") or ""
            found = await contacts.list_contacts(ws, contacts.Filters(q=q), limit=8, with_total=False) if q else None
            candidates = [c for c in (found.contacts if found else []) if c.id != contact_id]
            if not q:
                candidates = await contacts.possible_duplicates(ws, ctx["c"])
        template = "contacts/_merge_candidates.html" if request.headers.get("hx-request") and not other \
            else "contacts/merge.html"
        return page(request, template, **ctx, preview=preview, candidates=candidates, q=params.get("q") or "")

    @post("/{contact_id:int}/merge", status_code=200, **requires("admin"))
    async def merge(self, request: Request, ws: CurrentWorkspace, contact_id: FromPath[int]) -> ClientRedirect:
        form = await request.form()
        other = _int(form.get("other"))
        if other is None:
            raise Invalid("other", "Choose the contact to merge.")
        choose = {k: form.get(k) for k in ("name", "phone", "email") if form.get(k)}
        await contact_merge.merge(ws, contact_id, other, choose)
        return ClientRedirect(f"/w/{ws.slug}/contacts/{contact_id}")


def _section(name: str) -> str:
    if name not in ("details", "fields", "notes"):
        raise Invalid("section", "No such part of a contact.")
    return name


class ContactSetupController(Controller):
    """Groups and custom fields, and importing."""

    path = "/w/{slug:str}/contacts"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    # -- groups and custom fields -----------------------------------------------------------------------------

    async def _setup_context(self, ws: Workspace, **extra: Any) -> dict[str, Any]:
        return {"ws": ws, "groups": await contact_groups.groups(ws, with_counts=True),
                "specs": await custom_fields.fields(ws), "colors": contact_groups.GROUP_COLORS,
                "field_types": FIELD_TYPES, "type_labels": FIELD_TYPE_LABELS, "errors": {}, "form": {}, **extra}

    @get("/setup", **requires("admin"))
    async def setup(self, request: Request, ws: CurrentWorkspace) -> Template:
        return page(request, "contacts/setup.html", **await self._setup_context(ws))

    @post("/groups", status_code=200, **requires("admin"))
    async def create_group(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = await _form(request)
        try:
            group = await contact_groups.create_group(ws, form.get("name", ""), form.get("color") or None)
        except (Invalid, Conflict) as exc:
            return html("contacts/_setup_groups.html", 422,
                        **await self._setup_context(ws, errors={"group": exc.message}, form=form))
        return html("contacts/_setup_groups.html", headers=toast("Group %(name)s created.", name=group.name),
                    **await self._setup_context(ws))

    @post("/groups/{group_id:int}", status_code=200, **requires("admin"))
    async def update_group(self, request: Request, ws: CurrentWorkspace, group_id: FromPath[int]) -> Template:
        form = await _form(request)
        try:
            await contact_groups.update_group(ws, group_id, form.get("name", ""), form.get("color", ""))
        except (Invalid, Conflict) as exc:
            return html("contacts/_setup_groups.html", 422,
                        **await self._setup_context(ws, errors={f"group-{group_id}": exc.message}))
        return html("contacts/_setup_groups.html", headers=toast("Group saved."), **await self._setup_context(ws))

    @post("/groups/{group_id:int}/delete", status_code=200, **requires("admin"))
    async def delete_group(self, ws: CurrentWorkspace, group_id: FromPath[int]) -> Template:
        await contact_groups.delete_group(ws, group_id)
        return html("contacts/_setup_groups.html", headers=toast("Group deleted; its contacts stay."),
                    **await self._setup_context(ws))

    @post("/fields", status_code=200, **requires("admin"))
    async def create_field(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = await _form(request)
        try:
            spec = await custom_fields.create_field(ws, form.get("label", ""), form.get("type", ""),
                                                    form.get("options", ""), form.get("key") or None)
        except (Invalid, Conflict) as exc:
            return html("contacts/_setup_fields.html", 422,
                        **await self._setup_context(ws, errors={"field": exc.message}, form=form))
        return html("contacts/_setup_fields.html", headers=toast("Field %(name)s added.", name=spec.label),
                    **await self._setup_context(ws))

    @post("/fields/{field_id:int}", status_code=200, **requires("admin"))
    async def update_field(self, request: Request, ws: CurrentWorkspace, field_id: FromPath[int]) -> Template:
        form = await _form(request)
        try:
            await custom_fields.update_field(ws, field_id, form.get("label", ""), form.get("options", ""))
        except Invalid as exc:
            return html("contacts/_setup_fields.html", 422,
                        **await self._setup_context(ws, errors={f"field-{field_id}": exc.message}))
        return html("contacts/_setup_fields.html", headers=toast("Field saved."), **await self._setup_context(ws))

    @post("/fields/{field_id:int}/delete", status_code=200, **requires("admin"))
    async def delete_field(self, ws: CurrentWorkspace, field_id: FromPath[int]) -> Template:
        await custom_fields.delete_field(ws, field_id)
        return html("contacts/_setup_fields.html", headers=toast("Field deleted."), **await self._setup_context(ws))

    # -- import -----------------------------------------------------------------------------------------------

    @get("/import", **requires("admin"))
    async def import_page(self, request: Request, ws: CurrentWorkspace) -> Template:
        return page(request, "contacts/import.html", ws=ws, errors={}, jobs=await contact_import.recent_jobs(ws),
                    aliases=contact_import.ALIASES)

    @post("/import", status_code=200, **requires("admin"), request_max_body_size=UPLOAD_LIMIT)
    async def upload(self, request: Request, ws: CurrentWorkspace, me: CurrentMember) -> Template | Redirect:
        form = await request.form()
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise Invalid("file", "Choose a CSV or Excel file to upload.")
            data = await upload.read()
            job, _ = await contact_import.upload(ws, upload.filename, data, me.user_id)
        except Invalid as exc:
            return page(request, "contacts/import.html", 422, ws=ws, errors={"file": exc.message},
                        jobs=await contact_import.recent_jobs(ws), aliases=contact_import.ALIASES)
        return Redirect(f"/w/{ws.slug}/contacts/import/{job.id}")

    async def _job_context(self, ws: Workspace, job_id: int) -> dict[str, Any]:
        job = await contact_import.get_job(ws, job_id)
        ctx: dict[str, Any] = {"ws": ws, "job": job, "errors": {}, "form": {}}
        if job.status == "mapping":
            settings = await workspace_settings.load(ws.db)
            ctx.update(inspection=await contact_import.inspection_of(ws, job), specs=await custom_fields.fields(ws),
                       groups=await contact_groups.groups(ws), regions=phones.regions(), targets=contact_import.TARGETS,
                       target_labels=contact_import.TARGET_LABELS,
                       region=settings.default_region or "")
        elif job.status in ("done", "failed"):
            ctx["rejected"] = await contact_import.rejected_rows(ws, job_id, 50)
            ctx["reasons"] = await contact_import.rejection_reasons(ws, job_id)
        return ctx

    @get("/import/{job_id:int}", **requires("admin"))
    async def import_job(self, request: Request, ws: CurrentWorkspace, job_id: FromPath[int]) -> Template:
        ctx = await self._job_context(ws, job_id)
        if request.headers.get("hx-request") and ctx["job"].status != "mapping":
            return html("contacts/_import_progress.html", **ctx)
        return page(request, "contacts/import_job.html", **ctx)

    @post("/import/{job_id:int}", status_code=200, **requires("admin"))
    async def start_import(self, request: Request, ws: CurrentWorkspace, job_id: FromPath[int]
                           ) -> Template | Redirect:
        form = await request.form()
        job = await contact_import.get_job(ws, job_id)
        mapping = [form.get(f"col{i}", "") for i in range(len(job.options.get("headers", [])))]
        try:
            await contact_import.start(ws, job_id, mapping,
                                       policy=form.get("policy", "skip"), group_id=_int(form.get("group_id")),
                                       new_group=form.get("new_group", ""), region=form.get("region") or None)
        except (Invalid, Conflict) as exc:
            ctx = await self._job_context(ws, job_id)
            ctx.update(errors={exc.field if isinstance(exc, Invalid) else "group": exc.message}, form=dict(form),
                       mapping=mapping)
            return page(request, "contacts/import_job.html", 422, **ctx)
        return Redirect(f"/w/{ws.slug}/contacts/import/{job_id}")

    @post("/import/{job_id:int}/cancel", status_code=200, **requires("admin"))
    async def cancel_import(self, ws: CurrentWorkspace, job_id: FromPath[int]) -> Redirect:
        await contact_import.cancel(ws, job_id)
        return Redirect(f"/w/{ws.slug}/contacts/import")

    @get("/import/{job_id:int}/rejected.csv", **requires("admin"))
    async def rejected_csv(self, ws: CurrentWorkspace, job_id: FromPath[int]) -> Response:
        body = await contact_import.rejected_csv(ws, job_id)
        return Response(body.encode(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="rejected-rows-import-{job_id}.csv"'})
