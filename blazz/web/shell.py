"""The workspace shell: its home and the sections later features fill in, each saying what it will hold."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from blazz.web.context import CurrentWorkspace, page, provide_workspace
from blazz.web.guards import member_guard, requires

# Sections owned by later features; until a feature lands its page says what it will hold (no fake data).
SECTIONS: dict[str, tuple[str, str]] = {}


class ShellController(Controller):
    path = "/w/{slug:str}"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    @get("/")
    async def home(self, slug: FromPath[str]) -> Redirect:
        return Redirect(f"/w/{slug}/inbox")

    @get("/{section:str}", **requires("agent"))
    async def section(self, request: Request, ws: CurrentWorkspace, section: FromPath[str]) -> Template:
        if section not in SECTIONS:
            raise NotFoundException("No such page")
        request.session["last_ws"] = ws.slug
        title, blurb = SECTIONS[section]
        return page(request, "shell/section.html", ws=ws, section=section, title=title, blurb=blurb)
