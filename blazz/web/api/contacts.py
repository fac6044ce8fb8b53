"""/api/v1/contacts and /api/v1/groups: the customer list for other systems (contract: shared/API.md).

Agent tokens read, add and edit contacts; deleting, importing, exporting and managing groups need an admin token,
as in the web pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Stream

from blazz import contact_export, contact_groups, contact_import, contacts
from blazz.errors import Invalid
from blazz.store.contacts import Contact
from blazz.web.api.auth import ApiWorkspace, requires_api_role
from blazz.web.api.pagination import Page, check_limit
from blazz.workspaces import Workspace

UPLOAD_LIMIT = contact_import.MAX_FILE_BYTES + 1024 * 1024


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


class ContactOut(msgspec.Struct):
    id: int
    phone: str | None
    lid: str | None
    name: str
    first_name: str
    last_name: str
    email: str
    notes: str
    groups: list[str]
    fields: dict[str, Any]
    favourite: bool
    opted_out: bool
    opted_out_at: str | None
    opted_out_reason: str | None
    created_at: str
    updated_at: str


class NewContact(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    email: str = ""
    notes: str = ""
    groups: list[str] = []
    fields: dict[str, Any] = {}
    favourite: bool = False


class ContactChange(msgspec.Struct, forbid_unknown_fields=True):
    phone: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    first_name: str | msgspec.UnsetType = msgspec.UNSET
    last_name: str | msgspec.UnsetType = msgspec.UNSET
    email: str | msgspec.UnsetType = msgspec.UNSET
    notes: str | msgspec.UnsetType = msgspec.UNSET
    groups: list[str] | msgspec.UnsetType = msgspec.UNSET  # replaces the contact's groups (names)
    fields: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET  # merged; null clears one field
    favourite: bool | msgspec.UnsetType = msgspec.UNSET
    opted_out: bool | msgspec.UnsetType = msgspec.UNSET
    opted_out_reason: str | msgspec.UnsetType = msgspec.UNSET


class GroupOut(msgspec.Struct):
    id: int
    name: str
    color: str
    contacts: int
    created_at: str


class NewGroup(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    color: str | None = None


@dataclass
class ImportForm:
    """multipart/form-data: the CSV or .xlsx `file`, an optional `group` for everyone, and what to do with numbers
    already saved."""

    file: UploadFile
    group: str = ""
    on_duplicate: str = "skip"  # or "update"


class ImportError(msgspec.Struct):
    row: int
    message: str


class ImportResult(msgspec.Struct):
    id: int
    status: str
    total_rows: int
    created: int
    updated: int
    skipped: int
    errors: list[ImportError]
    error: str | None = None


async def _group_names(ws: Workspace) -> dict[int, str]:
    return {g.id: g.name for g in await contact_groups.groups(ws)}


def contact_out(c: Contact, group_ids: list[int], names: dict[int, str]) -> ContactOut:
    return ContactOut(
        id=c.id, phone=c.phone, lid=c.lid, name=c.name, first_name=c.first_name, last_name=c.last_name, email=c.email,
        notes=c.notes, groups=sorted((names[g] for g in group_ids if g in names), key=str.lower), fields=c.fields,
        favourite=c.favourite, opted_out=c.opted_out_at is not None, opted_out_at=iso(c.opted_out_at),
        opted_out_reason=c.opted_out_reason, created_at=iso(c.created_at), updated_at=iso(c.updated_at),
    )


async def _one(ws: Workspace, contact_id: int) -> ContactOut:
    contact = await contacts.get(ws, contact_id, include_deleted=False)
    return contact_out(contact, await contact_groups.group_ids_of(ws, contact_id), await _group_names(ws))


async def _filters(ws: Workspace, q: str | None, group: str | None, opted_out: bool | None) -> contacts.Filters:
    group_id = None
    if group:
        wanted = group.strip()
        found = next((g for g in await contact_groups.groups(ws)
                      if str(g.id) == wanted or g.name.casefold() == wanted.casefold()), None)
        if found is None:
            raise Invalid("group", "There is no group %(name)s.", name=wanted)
        group_id = found.id
    return contacts.Filters(q=q or "", group_id=group_id, opted_out=opted_out)


class ContactsApi(Controller):
    path = "/contacts"
    tags = ["contacts"]

    @get("/", operation_id="listContacts", summary="Contacts, A–Z; search by name, phone (any format) or email")
    async def list_contacts(self, ws: ApiWorkspace, q: FromQuery[str | None] = None,
                            group: FromQuery[str | None] = None, opted_out: FromQuery[bool | None] = None,
                            limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None
                            ) -> Page[ContactOut]:
        filters = await _filters(ws, q, group, opted_out)
        page = await contacts.list_contacts(ws, filters, cursor, check_limit(limit), with_total=False)
        names = await _group_names(ws)
        return Page([contact_out(c, page.group_ids.get(c.id, []), names) for c in page.contacts], page.next_cursor)

    @post("/", operation_id="createContact", summary="Add a contact (a number in the bin is restored)")
    async def create(self, ws: ApiWorkspace, data: JSONBody[NewContact]) -> ContactOut:
        body = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        if not body["name"] and ("first_name" in body or "last_name" in body):
            del body["name"]  # built from the first and last name
        contact, _ = await contacts.create(ws, body)
        return await _one(ws, contact.id)

    @get("/export", operation_id="exportContacts", summary="Contacts as CSV (UTF-8; ?bom=true for Excel)",
         media_type="text/csv", **requires_api_role("admin"))
    async def export(self, ws: ApiWorkspace, q: FromQuery[str | None] = None, group: FromQuery[str | None] = None,
                     opted_out: FromQuery[bool | None] = None, bom: FromQuery[bool] = False) -> Stream:
        filters = await _filters(ws, q, group, opted_out)
        return Stream(contact_export.export_csv(ws, filters, bom=bom), media_type="text/csv",
                      headers={"Content-Disposition": f'attachment; filename="{contact_export.export_filename(ws)}"'})

    @post("/import", operation_id="importContacts", summary="Import a CSV or .xlsx file and wait for the result",
          status_code=200, request_max_body_size=UPLOAD_LIMIT, **requires_api_role("admin"))
    async def import_file(self, ws: ApiWorkspace,
                          data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> ImportResult:
        if data.on_duplicate not in ("skip", "update"):
            raise Invalid("on_duplicate", "on_duplicate is skip or update.")
        job = await contact_import.import_now(ws, data.file.filename or "contacts.csv", await data.file.read(),
                                              policy=data.on_duplicate, group=data.group)
        errors = await contact_import.rejected_rows(ws, job.id)
        return ImportResult(job.id, job.status, job.total_rows, job.created, job.updated, job.skipped,
                            [ImportError(e.row, e.message) for e in errors], job.error)

    @get("/{contact_id:int}", operation_id="getContact", summary="One contact")
    async def get_contact(self, ws: ApiWorkspace, contact_id: FromPath[int]) -> ContactOut:
        return await _one(ws, contact_id)

    @patch("/{contact_id:int}", operation_id="updateContact", summary="Change some details of a contact")
    async def update(self, ws: ApiWorkspace, contact_id: FromPath[int], data: JSONBody[ContactChange]) -> ContactOut:
        await contacts.get(ws, contact_id, include_deleted=False)
        given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        opted_out, reason = given.pop("opted_out", None), given.pop("opted_out_reason", "")
        if given:
            await contacts.update(ws, contact_id, given)
        if opted_out is not None:
            await contacts.set_opted_out(ws, contact_id, opted_out, reason or contacts.THROUGH_API)
        return await _one(ws, contact_id)

    @delete("/{contact_id:int}", operation_id="deleteContact", summary="Move a contact to the bin (30 days)",
            **requires_api_role("admin"))
    async def remove(self, ws: ApiWorkspace, contact_id: FromPath[int]) -> None:
        await contacts.get(ws, contact_id, include_deleted=False)
        await contacts.delete(ws, [contact_id])


class GroupsApi(Controller):
    path = "/groups"
    tags = ["contacts"]

    @get("/", operation_id="listGroups", summary="Contact groups with how many contacts each holds")
    async def list_groups(self, ws: ApiWorkspace) -> list[GroupOut]:
        return [GroupOut(g.id, g.name, g.color, g.members, iso(g.created_at))
                for g in await contact_groups.groups(ws, with_counts=True)]

    @post("/", operation_id="createGroup", summary="Create a group", **requires_api_role("admin"))
    async def create(self, ws: ApiWorkspace, data: JSONBody[NewGroup]) -> GroupOut:
        group = await contact_groups.create_group(ws, data.name, data.color)
        return GroupOut(group.id, group.name, group.color, 0, iso(group.created_at))

    @delete("/{group_id:int}", operation_id="deleteGroup", summary="Delete a group; its contacts stay",
            **requires_api_role("admin"))
    async def remove(self, ws: ApiWorkspace, group_id: FromPath[int]) -> None:
        await contact_groups.delete_group(ws, group_id)
