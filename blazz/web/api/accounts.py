"""/api/v1/accounts: WhatsApp numbers, their live status and lifecycle (contract: shared/API.md)."""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from blazz import accounts, pacing
from blazz.accounts import SECRET_SETTINGS, AccountView
from blazz.errors import Conflict, Invalid
from blazz.web.api.auth import ApiWorkspace, requires_api_role
from blazz.web.api.pacing import PacingIn, as_api_error, pacing_changes, pacing_out
from blazz.web.api.pagination import Page, check_limit, decode_cursor, paginate


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


class NewAccount(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    engine: str
    phone_number_id: str | None = None
    waba_id: str | None = None
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    graph_base_url: str | None = None
    phone: str | None = None  # sandbox: the simulated number's own phone


class CloudSettingsChange(msgspec.Struct, forbid_unknown_fields=True):
    phone_number_id: str | None = None
    waba_id: str | None = None
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    graph_base_url: str | None = None


class AccountChange(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    is_default: bool | msgspec.UnsetType = msgspec.UNSET
    pacing: PacingIn | msgspec.UnsetType | None = msgspec.UNSET  # null: back to the engine's defaults
    settings: CloudSettingsChange | msgspec.UnsetType = msgspec.UNSET  # cloud_api only, while not connected


class AccountOut(msgspec.Struct, omit_defaults=True):
    id: int
    name: str
    engine: str
    status: str
    status_detail: str
    phone: str | None
    is_default: bool
    last_error: str | None
    reconnects: int
    retry_at: str | None
    last_event_at: str | None
    linked_at: str | None
    created_at: str
    pacing: dict  # the campaign lane's pacing (shared/API.md "Pacing object")
    settings: dict  # engine settings without secrets
    webhook_url: str | None = None  # cloud_api: the callback URL to paste into Meta


class QrOut(msgspec.Struct):
    status: str
    qr: str
    expires_at: str | None


class PairCodeIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: str


class PairCodeOut(msgspec.Struct):
    code: str
    status: str


def account_out(view: AccountView, base_url: str) -> AccountOut:
    a, s = view.account, view.status
    webhook = f"{base_url}/webhooks/cloud/{a.webhook_key}" if a.engine == "cloud_api" and a.webhook_key else None
    return AccountOut(
        id=a.id, name=a.name, engine=a.engine, status=s.state, status_detail=s.detail, phone=view.phone,
        is_default=a.is_default, last_error=s.last_error or (a.status_detail if a.status == "failed" else None),
        reconnects=s.reconnects, retry_at=iso(s.retry_at), last_event_at=iso(s.last_event_at),
        linked_at=iso(a.linked_at), created_at=iso(a.created_at), pacing=pacing_out(pacing.settings_of(a)),
        settings={k: v for k, v in a.settings.items() if k not in SECRET_SETTINGS}, webhook_url=webhook,
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


class AccountsApi(Controller):
    path = "/accounts"
    tags = ["accounts"]

    @get("/", operation_id="listAccounts", summary="WhatsApp numbers with their live status")
    async def list_accounts(self, request: Request, ws: ApiWorkspace, limit: FromQuery[int | None] = None,
                            cursor: FromQuery[str | None] = None) -> Page[AccountOut]:
        limit = check_limit(limit)
        after = decode_cursor(cursor)
        start = int(after[0]) if after else 0
        views = [v for v in await accounts.list_views(ws) if v.account.id > start][: limit + 1]
        return paginate([account_out(v, _base(request)) for v in views], limit, lambda a: (a.id,))

    @post("/", operation_id="createAccount", summary="Add a WhatsApp number", **requires_api_role("admin"))
    async def create(self, request: Request, ws: ApiWorkspace, data: JSONBody[NewAccount]) -> AccountOut:
        settings = {k: v for k, v in msgspec.structs.asdict(data).items()
                    if k not in ("name", "engine") and v is not None}
        account = await accounts.add(ws, data.name, data.engine, settings)
        return account_out(await accounts.view(ws, account.id), _base(request))

    @get("/{account_id:int}", operation_id="getAccount", summary="One WhatsApp number")
    async def get_account(self, request: Request, ws: ApiWorkspace, account_id: FromPath[int]) -> AccountOut:
        return account_out(await accounts.view(ws, account_id), _base(request))

    @patch("/{account_id:int}", operation_id="updateAccount", summary="Rename, make default, pacing, settings",
           **requires_api_role("admin"))
    async def update(self, request: Request, ws: ApiWorkspace, account_id: FromPath[int],
                     data: JSONBody[AccountChange]) -> AccountOut:
        account = await accounts.get(ws, account_id)
        if data.is_default is False:
            raise Invalid("is_default", "A workspace always has a default number: make another one the default.")
        if data.pacing is not msgspec.UNSET:
            changes = (pacing.defaults_for(account.engine).as_dict() if data.pacing is None
                       else pacing_changes(data.pacing))
            try:
                await pacing.update(ws, account_id, **changes)
            except Invalid as exc:
                raise as_api_error(exc) from exc
        if data.name is not msgspec.UNSET:
            await accounts.rename(ws, account_id, data.name)
        if data.settings is not msgspec.UNSET:
            await accounts.update_settings(ws, account_id, msgspec.structs.asdict(data.settings))
        if data.is_default is True:
            await accounts.make_default(ws, account_id)
        return account_out(await accounts.view(ws, account_id), _base(request))

    @delete("/{account_id:int}", operation_id="deleteAccount", summary="Delete a number; its history stays",
            **requires_api_role("admin"))
    async def remove(self, ws: ApiWorkspace, account_id: FromPath[int]) -> None:
        await accounts.delete(ws, account_id)

    @post("/{account_id:int}/connect", operation_id="connectAccount", summary="Connect (QR, token check, resume)",
          status_code=200, **requires_api_role("admin"))
    async def connect(self, request: Request, ws: ApiWorkspace, account_id: FromPath[int]) -> AccountOut:
        return account_out(await accounts.connect(ws, account_id), _base(request))

    @post("/{account_id:int}/disconnect", operation_id="disconnectAccount", summary="Disconnect, keep the login",
          status_code=200, **requires_api_role("admin"))
    async def disconnect(self, request: Request, ws: ApiWorkspace, account_id: FromPath[int]) -> AccountOut:
        return account_out(await accounts.disconnect(ws, account_id), _base(request))

    @post("/{account_id:int}/logout", operation_id="logoutAccount", summary="Unlink the device",
          status_code=200, **requires_api_role("admin"))
    async def logout(self, request: Request, ws: ApiWorkspace, account_id: FromPath[int]) -> AccountOut:
        return account_out(await accounts.logout(ws, account_id), _base(request))

    @get("/{account_id:int}/qr", operation_id="getAccountQr", summary="The QR code to scan, as text")
    async def qr(self, ws: ApiWorkspace, account_id: FromPath[int]) -> QrOut:
        status = (await accounts.view(ws, account_id)).status
        if status.state != "qr" or not status.qr:
            raise Conflict("There is no QR code to scan: this number is %(state)s. Connect it first.",
                           details={"status": status.state}, state=status.state.replace("_", " "))
        return QrOut(status.state, status.qr, iso(status.qr_expires_at))

    @post("/{account_id:int}/pair-code", operation_id="requestPairCode", summary="Link by phone number instead",
          status_code=200, **requires_api_role("admin"))
    async def pair_code(self, ws: ApiWorkspace, account_id: FromPath[int], data: JSONBody[PairCodeIn]) -> PairCodeOut:
        code = await accounts.pair_code(ws, account_id, data.phone)
        return PairCodeOut(code, (await accounts.view(ws, account_id)).state)
