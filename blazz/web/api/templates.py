"""/api/v1/templates: message templates with variables (contract: shared/API.md).

Agent tokens read templates and render them for a contact (what a reply would say); creating, changing and deleting
them needs an admin token, as in the web pages.
"""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from blazz import templates
from blazz.errors import Invalid
from blazz.store.templates import Template
from blazz.templates import TemplateInput
from blazz.web.api.auth import ApiWorkspace, requires_api_role
from blazz.web.api.pagination import Page, check_limit, decode_cursor, paginate

ADMIN = requires_api_role("admin")


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


class TemplateOut(msgspec.Struct):
    id: int
    name: str
    body: str
    variants: list[str]  # alternatives to the body, rotated per recipient in campaigns
    footer: str
    media_id: int | None
    variables: list[str]  # every variable it uses, e.g. ["first_name", "city"]
    unknown_variables: list[str]  # of them, those no contact can have (a typo or a missing custom field)
    created_at: str
    updated_at: str


class NewTemplate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    body: str
    variants: list[str] = []
    footer: str = ""
    media_id: int | None = None


class TemplateChange(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    body: str | msgspec.UnsetType = msgspec.UNSET
    variants: list[str] | msgspec.UnsetType = msgspec.UNSET
    footer: str | msgspec.UnsetType = msgspec.UNSET
    media_id: int | msgspec.UnsetType | None = msgspec.UNSET


class RenderRequest(msgspec.Struct, forbid_unknown_fields=True):
    contact_id: int
    variant: int | None = None  # which text (0 = the body); by default it rotates by contact


class Rendered(msgspec.Struct):
    text: str
    media_id: int | None
    variant: int
    unknown_variables: list[str]


async def template_out(ws, t: Template) -> TemplateOut:
    known = await templates.known_variables(ws)
    texts = [*t.bodies, t.footer]
    return TemplateOut(id=t.id, name=t.name, body=t.body, variants=list(t.variants), footer=t.footer,
                       media_id=t.media_id, variables=templates.variables_in(texts),
                       unknown_variables=templates.unknown_in(texts, known), created_at=iso(t.created_at),
                       updated_at=iso(t.updated_at))


class TemplatesApi(Controller):
    path = "/templates"
    tags = ["templates"]

    @get("/", operation_id="listTemplates", summary="Message templates, A–Z")
    async def list_templates(self, ws: ApiWorkspace, limit: FromQuery[int | None] = None,
                             cursor: FromQuery[str | None] = None) -> Page[TemplateOut]:
        limit = check_limit(limit)
        after = decode_cursor(cursor)
        rows = sorted(await templates.list_all(ws), key=lambda t: (t.name.casefold(), t.id))
        if after is not None:
            if len(after) != 2 or not isinstance(after[0], str) or not isinstance(after[1], int):
                raise Invalid("cursor", "This cursor is not valid; start again without it.")
            rows = [t for t in rows if (t.name.casefold(), t.id) > (after[0], after[1])]
        page = paginate(rows[:limit + 1], limit, lambda t: (t.name.casefold(), t.id))
        return Page([await template_out(ws, t) for t in page.data], page.next_cursor)

    @post("/", operation_id="createTemplate", summary="Create a template (unknown variables are reported, not refused)",
          **ADMIN)
    async def create(self, ws: ApiWorkspace, data: JSONBody[NewTemplate]) -> TemplateOut:
        t = await templates.create(ws, TemplateInput(data.name, data.body, tuple(data.variants), data.footer,
                                                     data.media_id))
        return await template_out(ws, t)

    @get("/{template_id:int}", operation_id="getTemplate", summary="One template")
    async def get_template(self, ws: ApiWorkspace, template_id: FromPath[int]) -> TemplateOut:
        return await template_out(ws, await templates.get(ws, template_id))

    @patch("/{template_id:int}", operation_id="updateTemplate", summary="Change a template (only the keys given)",
           **ADMIN)
    async def update(self, ws: ApiWorkspace, template_id: FromPath[int],
                     data: JSONBody[TemplateChange]) -> TemplateOut:
        t = await templates.get(ws, template_id)
        given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        merged = TemplateInput(given.get("name", t.name), given.get("body", t.body),
                               tuple(given.get("variants", t.variants)), given.get("footer", t.footer),
                               given.get("media_id", t.media_id))
        return await template_out(ws, await templates.update(ws, template_id, merged))

    @delete("/{template_id:int}", operation_id="deleteTemplate", summary="Delete a template", **ADMIN)
    async def remove(self, ws: ApiWorkspace, template_id: FromPath[int]) -> None:
        await templates.delete(ws, template_id)

    @post("/{template_id:int}/render", operation_id="renderTemplate", status_code=200,
          summary="The template as one contact would get it")
    async def render(self, ws: ApiWorkspace, template_id: FromPath[int], data: JSONBody[RenderRequest]) -> Rendered:
        got = await templates.render_for(ws, template_id, data.contact_id, variant=data.variant)
        return Rendered(got.text, got.media_id, got.variant, got.unknown)
