"""/api/v1/sandbox/accounts/{id}: play the simulated network of a sandbox number (scan, customers, failures).

Only for numbers whose engine is `sandbox`; any other number is a 404 here, so a script cannot mistake a real
number for a simulated one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from blazz import accounts
from blazz.errors import Conflict, Invalid, NotFound
from blazz.web.api.accounts import AccountOut, account_out, iso
from blazz.web.api.auth import ApiWorkspace, requires_api_role
from blazz.web.api.pagination import Page, check_limit, decode_cursor, paginate
from blazz.whatsapp.protocol import EngineError
from blazz.workspaces import Workspace

Millis = Annotated[float, msgspec.Meta(ge=0, le=3_600_000)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class InboundMedia(msgspec.Struct, forbid_unknown_fields=True):
    mime: str
    base64: str
    filename: str | None = None


class InboundIn(msgspec.Struct, forbid_unknown_fields=True, rename={"from_": "from"}):
    from_: str
    text: str | None = None
    media: InboundMedia | None = None
    id: str | None = None  # the provider id; the same id twice is a redelivery
    name: str | None = None  # the customer's WhatsApp profile name


class InboundOut(msgspec.Struct):
    id: str


class Delivered(msgspec.Struct, omit_defaults=True):
    provider_id: str
    to: str
    kind: str
    text: str
    at: str
    media: dict | None = None
    template: dict | None = None
    reply_to: str | None = None


class Behaviour(msgspec.Struct, forbid_unknown_fields=True):
    """What the simulated network does; every key optional. `disconnect`, `ban_for_s` and `unlink` act once."""

    receipt_delay_ms: Millis | Unset | None = UNSET  # null: never report "delivered"
    read_delay_ms: Millis | Unset | None = UNSET  # null: customers never read
    fail_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] | Unset = UNSET
    not_on_whatsapp: list[str] | Unset = UNSET
    auto_reply: str | Unset | None = UNSET  # a scripted customer answer; "{text}" is what we sent
    reply_delay_ms: Millis | Unset = UNSET
    fail_connects: Annotated[int, msgspec.Meta(ge=0)] | Unset = UNSET
    disconnect: bool | Unset = UNSET
    ban_for_s: Annotated[float, msgspec.Meta(ge=0)] | Unset = UNSET  # 0 lifts a ban
    unlink: bool | Unset = UNSET


async def _sandbox(ws: Workspace, account_id: int) -> tuple[accounts.Account, Any]:
    account = await accounts.get(ws, account_id)
    if account.engine != "sandbox":
        raise NotFound("No sandbox number with this id in this workspace.")
    return account, accounts.engine_for(ws, account)


class SandboxApi(Controller):
    path = "/sandbox/accounts"
    tags = ["sandbox"]

    @post("/{account_id:int}/scan", operation_id="sandboxScan", summary="The simulated phone scans the QR code",
          status_code=200, **requires_api_role("admin"))
    async def scan(self, request: Request, ws: ApiWorkspace, account_id: FromPath[int]) -> AccountOut:
        _, engine = await _sandbox(ws, account_id)
        try:
            await engine.scan()
        except EngineError as exc:
            raise Conflict(exc.reason) from exc
        return account_out(await accounts.view(ws, account_id), str(request.base_url).rstrip("/"))

    @post("/{account_id:int}/inbound", operation_id="sandboxInbound", summary="A customer writes to this number",
          status_code=202, **requires_api_role("admin"))
    async def inbound(self, ws: ApiWorkspace, account_id: FromPath[int], data: JSONBody[InboundIn]) -> InboundOut:
        _, engine = await _sandbox(ws, account_id)
        media = None
        if data.media is not None:
            try:
                media = (data.media.mime, data.media.filename, base64.b64decode(data.media.base64, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise Invalid("media.base64", "media.base64 is not valid base64.") from exc
        try:
            provider_id = await engine.inbound(data.from_, data.text, media, data.id, name=data.name)
        except EngineError as exc:
            raise Invalid("from" if exc.code == "invalid_phone" else "text", exc.reason) from exc
        return InboundOut(provider_id)

    @get("/{account_id:int}/delivered", operation_id="sandboxDelivered",
         summary="What the simulated network accepted from this number, oldest first")
    async def delivered(self, ws: ApiWorkspace, account_id: FromPath[int], to: FromQuery[str | None] = None,
                        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None) -> Page[Delivered]:
        limit = check_limit(limit)
        after = decode_cursor(cursor)
        start = int(after[0]) if after else 0
        _, engine = await _sandbox(ws, account_id)
        rows = engine.delivered(to)[start: start + limit + 1]
        items = [(start + i + 1, _delivered(row)) for i, row in enumerate(rows)]
        page = paginate(items, limit, lambda item: (item[0],))
        return Page([d for _, d in page.data], page.next_cursor)

    @patch("/{account_id:int}", operation_id="sandboxConfigure", summary="Change how the simulated network behaves",
           **requires_api_role("admin"))
    async def configure(self, ws: ApiWorkspace, account_id: FromPath[int], data: JSONBody[Behaviour]) -> dict:
        _, engine = await _sandbox(ws, account_id)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not UNSET}
        try:
            behaviour = await engine.configure(**changes)
        except EngineError as exc:
            raise Invalid(next(iter(changes), "behaviour"), exc.reason) from exc
        return {"status": (await accounts.view(ws, account_id)).state, **behaviour}


def _delivered(row: dict) -> Delivered:
    return Delivered(provider_id=row["provider_id"], to=row["to"], kind=row["kind"], text=row["text"],
                     at=iso(row["at"]) or "", media=row.get("media"), template=row.get("template"),
                     reply_to=row.get("reply_to"))
