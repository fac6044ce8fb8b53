"""The WhatsApp numbers page: add numbers, connect them (QR, pair code, Cloud API token) and watch them live.

Every card is one fragment (`accounts/_card.html`) whether it comes from a click, a reload or an SSE push; action
responses and SSE events carry it out of band, so a card updates in place in every open tab. Forms open in one
dialog on the page, outside the cards, so a QR rotation never wipes what someone is typing.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from blazz import accounts
from blazz.accounts import AccountView
from blazz.errors import Conflict, DomainError, Invalid
from blazz.i18n import N_
from blazz.web.context import CurrentWorkspace, page, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.web.toasts import toast
from blazz.whatsapp.protocol import EngineError
from blazz.workspaces import Workspace

CLOUD_FIELDS = ("phone_number_id", "waba_id", "access_token", "app_secret", "verify_token", "graph_base_url")
SECRET_FIELDS = ("access_token", "app_secret", "verify_token")


def base_url(request: Request) -> str:
    """Where this browser reaches Blazz; the start of the webhook URL Meta must call."""
    return str(request.base_url).rstrip("/")


def fragment(template: str, status_code: int = 200, headers: dict | None = None, **context: object) -> Template:
    return Template(template_name=template, context=context, status_code=status_code, headers=headers)


def _close_dialog(message: str, **params: Any) -> dict[str, str]:
    """Headers that close the page's dialog once the response is in, and say what happened (`message` is English
    with `%(name)s` placeholders, shown in the reader's language)."""
    return {**toast(message, **params), "HX-Trigger-After-Settle": "accounts:close-dialog"}


class AccountsController(Controller):
    path = "/w/{slug:str}/accounts"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    @get("/", **requires("admin"))
    async def index(self, request: Request, ws: CurrentWorkspace) -> Template:
        request.session["last_ws"] = ws.slug
        return page(request, "accounts/index.html", ws=ws, views=await accounts.list_views(ws),
                    base_url=base_url(request))

    @get("/list", **requires("admin"))
    async def list_fragment(self, request: Request, ws: CurrentWorkspace) -> Template:
        """Every card again: the page asks for it whenever its live stream (re)connects, so nothing is missed."""
        return fragment("accounts/_list.html", ws=ws, views=await accounts.list_views(ws), base_url=base_url(request))

    @get("/{account_id:int}/webhook", **requires("admin"))
    async def webhook_block(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        """A Cloud API card's webhook address, for a card that arrived over SSE (which leaves the key out)."""
        account = await accounts.get(ws, account_id)
        if account.engine != "cloud_api":
            raise Invalid("engine", "Only Cloud API numbers have a webhook address.")
        return fragment("accounts/_webhook.html", ws=ws, account=account, base_url=base_url(request))

    # -- adding a number and changing Cloud API settings (forms in the page's dialog) --------------------------

    @get("/new", **requires("admin"))
    async def new(self, ws: CurrentWorkspace) -> Template:
        return fragment("accounts/_add_form.html", ws=ws, form={"engine": "whatsapp_web"}, errors={},
                        engines=accounts.ENGINES)

    @post("/", **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template:
        form = {k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str)}
        engine = form.get("engine", "")
        settings = {k: form.get(k) for k in CLOUD_FIELDS} if engine == "cloud_api" else {}
        try:
            account = await accounts.add(ws, form.get("name", ""), engine, settings)
        except Invalid as exc:
            shown = {k: v for k, v in form.items() if k not in SECRET_FIELDS}
            return fragment("accounts/_add_form.html", 422, ws=ws, form=shown, errors={exc.field: exc.message},
                            engines=accounts.ENGINES)
        if engine == "cloud_api":
            # A Cloud API number has no QR to wait for: check Meta accepts the token now, while the owner is here.
            error = await _connect_quietly(ws, account.id)
            if error is not None:
                return await self._settings_form(request, ws, account.id, error, status_code=422, added=True)
        return await self._list_and_close(request, ws, _close_dialog(N_("%(name)s added."), name=account.name))

    @get("/{account_id:int}/settings", **requires("admin"))
    async def settings_form(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        return await self._settings_form(request, ws, account_id, None)

    @post("/{account_id:int}/settings", **requires("admin"))
    async def save_settings(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        form = {k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str)}
        try:
            account = await accounts.update_settings(ws, account_id, {k: form.get(k) for k in CLOUD_FIELDS})
        except Invalid as exc:
            return await self._settings_form(request, ws, account_id, exc, status_code=422, form=form)
        error = await _connect_quietly(ws, account.id)
        if error is not None:
            return await self._settings_form(request, ws, account_id, error, status_code=422)
        return await self._list_and_close(request, ws, _close_dialog(N_("%(name)s is connected."), name=account.name))

    async def _settings_form(self, request: Request, ws: Workspace, account_id: int, error: DomainError | None,
                             status_code: int = 200, form: dict | None = None, added: bool = False) -> Template:
        view = await accounts.view(ws, account_id)
        if view.account.engine != "cloud_api":
            raise Invalid("engine", "Only Cloud API numbers have settings to change.")
        shown = {k: v for k, v in (form or view.account.settings).items() if k not in SECRET_FIELDS}
        errors = {}
        if error is not None:  # beside its field when the form has one, else above the form
            field = error.field if isinstance(error, Invalid) and error.field in CLOUD_FIELDS else "form"
            errors = {field: error.message}
        return fragment("accounts/_settings_form.html", status_code, ws=ws, view=view, form=shown, errors=errors,
                        masked=accounts.masked_settings(view.account), added=added, views=await accounts.list_views(ws),
                        base_url=base_url(request))

    async def _list_and_close(self, request: Request, ws: Workspace, headers: dict[str, str]) -> Template:
        return fragment("accounts/_list.html", ws=ws, views=await accounts.list_views(ws), base_url=base_url(request),
                        oob=True, headers=headers)

    # -- lifecycle buttons on a card ----------------------------------------------------------------------------

    @post("/{account_id:int}/connect", **requires("admin"))
    async def connect(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        return self._card(request, ws, await accounts.connect(ws, account_id))

    @post("/{account_id:int}/disconnect", **requires("admin"))
    async def disconnect(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        return self._card(request, ws, await accounts.disconnect(ws, account_id))

    @post("/{account_id:int}/logout", **requires("admin"))
    async def logout(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        view = await accounts.logout(ws, account_id)
        return self._card(request, ws, view, toast("%(name)s is logged out.", name=view.account.name))

    @post("/{account_id:int}/default", **requires("admin"))
    async def make_default(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        await accounts.make_default(ws, account_id)
        view = await accounts.view(ws, account_id)
        return fragment("accounts/_list.html", ws=ws, views=await accounts.list_views(ws), base_url=base_url(request),
                        oob=True, headers=toast("New conversations now start from %(name)s.", name=view.account.name))

    @post("/{account_id:int}/delete", **requires("admin"))
    async def delete(self, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        account = await accounts.get(ws, account_id)
        await accounts.delete(ws, account_id)
        return fragment("accounts/_deleted.html", account_id=account_id,
                        headers=toast("%(name)s deleted. Its conversations stay in the inbox.", name=account.name))

    @post("/{account_id:int}/scan", **requires("admin"))
    async def simulate_scan(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        """The sandbox's simulated phone scans the QR (or confirms the pairing code), so demos need no phone."""
        account = await accounts.get(ws, account_id)
        if account.engine != "sandbox":
            raise Invalid("engine", "Only sandbox numbers can simulate a scan; scan the QR with your phone.")
        try:
            await accounts.engine_for(ws, account).scan()
        except EngineError as exc:
            message, params = accounts.engine_message(exc.reason)
            raise Conflict(message, **params) from exc
        return self._card(request, ws, await accounts.view(ws, account_id))

    # -- linking by phone number instead of QR ------------------------------------------------------------------

    @get("/{account_id:int}/pair", **requires("admin"))
    async def pair_form(self, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        view = await accounts.view(ws, account_id)
        return fragment("accounts/_pair_form.html", ws=ws, view=view, form={}, errors={})

    @post("/{account_id:int}/pair", **requires("admin"))
    async def pair(self, request: Request, ws: CurrentWorkspace, account_id: FromPath[int]) -> Template:
        phone = str((await request.form()).get("phone", "")).strip()
        try:
            code = await accounts.pair_code(ws, account_id, phone)
        except Invalid as exc:
            view = await accounts.view(ws, account_id)
            return fragment("accounts/_pair_form.html", 422, ws=ws, view=view, form={"phone": phone},
                            errors={"phone": exc.message})
        view = await accounts.view(ws, account_id)
        return fragment("accounts/_pair_code.html", ws=ws, view=view, code=code, phone=phone,
                        base_url=base_url(request))

    def _card(self, request: Request, ws: Workspace, view: AccountView, headers: dict | None = None) -> Template:
        return fragment("accounts/_card.html", ws=ws, view=view, base_url=base_url(request), headers=headers)


async def _connect_quietly(ws: Workspace, account_id: int) -> DomainError | None:
    """Connect; a refusal (wrong token, unknown phone number id) comes back as the error to show in the form."""
    try:
        await accounts.connect(ws, account_id)
    except (Invalid, Conflict) as exc:
        return exc
    return None
