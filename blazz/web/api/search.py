"""/api/v1/search: full text over message bodies (newest first) and contacts (contract: shared/API.md)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery

from blazz import contact_groups, search
from blazz.web.api.auth import ApiIdentity, ApiWorkspace
from blazz.web.api.contacts import ContactOut, contact_out
from blazz.web.api.conversations import agent_of
from blazz.web.api.messages import MessageOut, message_out
from blazz.web.api.pagination import check_limit


class SearchOut(msgspec.Struct):
    messages: list[MessageOut]  # newest first
    contacts: list[ContactOut]


class SearchApi(Controller):
    path = "/search"
    tags = ["conversations"]

    @get("/", operation_id="search", summary="Messages whose text has every word (newest first), and contacts")
    async def search(self, ws: ApiWorkspace, identity: ApiIdentity, q: FromQuery[str] = "",
                     limit: FromQuery[int | None] = None) -> SearchOut:
        found = await search.search(ws, agent_of(identity), q, limit=min(check_limit(limit), 100))
        names = {g.id: g.name for g in await contact_groups.groups(ws)}
        out = []
        for c in found.contacts:
            out.append(contact_out(c, await contact_groups.group_ids_of(ws, c.id), names))
        return SearchOut([message_out(hit.message) for hit in found.messages], out)
