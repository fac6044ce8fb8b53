"""Meta's webhook for Cloud API numbers: `GET/POST /webhooks/cloud/{key}`.

GET answers Meta's subscribe handshake with the number's verify token. POST accepts a delivery only when its
`X-Hub-Signature-256` is the HMAC of the raw body with the number's app secret; anything else is a 403 and nothing
is handled. The key names the workspace and the number (see `accounts.new_webhook_key`), so no login is involved.
"""

from __future__ import annotations

import asyncio
import json
import logging

from litestar import MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException, ValidationException
from litestar.params import FromPath

from blazz import accounts
from blazz.store import workspaces as ws_store
from blazz.store.accounts import Account
from blazz.web.context import runtime_of
from blazz.whatsapp.cloud_api import verify_challenge, verify_signature
from blazz.whatsapp.cloud_api_webhook import SIGNATURE_HEADER
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

# Meta retries a delivery that is not answered 200 within a few seconds; what takes longer finishes in the background.
ANSWER_WITHIN_S = 4.0
_handling: set[asyncio.Task] = set()  # deliveries still being handled after their answer (kept from the GC)

_PUBLIC = {"exclude_from_auth": True, "exclude_from_csrf": True, "include_in_schema": False}


async def _account(request: Request, key: str) -> tuple[Workspace, Account]:
    workspace_id = accounts.webhook_workspace_id(key)
    rt = runtime_of(request)
    row = await ws_store.by_id(rt.app_db, workspace_id) if workspace_id is not None else None
    if row is not None:
        ws = await rt.workspace(row)
        account = await accounts.by_webhook_key(ws, key)
        if account is not None:
            return ws, account
    raise NotFoundException("No WhatsApp number has this webhook address.")


@get("/webhooks/cloud/{key:str}", **_PUBLIC)
async def cloud_verify(request: Request, key: FromPath[str]) -> Response:
    """Meta's subscribe handshake: echo `hub.challenge` when the verify token matches."""
    _, account = await _account(request, key)
    challenge = verify_challenge(request.query_params, str(account.settings.get("verify_token") or ""))
    if challenge is None:
        raise PermissionDeniedException("The verify token does not match the one set for this number in Blazz.")
    return Response(challenge, media_type=MediaType.TEXT)


@post("/webhooks/cloud/{key:str}", status_code=200, **_PUBLIC)
async def cloud_receive(request: Request, key: FromPath[str]) -> Response:
    """A signed delivery of messages and statuses: handed to the number's engine, answered 200 quickly."""
    ws, account = await _account(request, key)
    raw = await request.body()
    secret = str(account.settings.get("app_secret") or "")
    if not verify_signature(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        log.warning("cloud webhook with a bad or missing signature refused (workspace=%s account=%s)",
                    ws.id, account.id)
        raise PermissionDeniedException("The request signature does not match this number's app secret.")
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ValidationException("The body is not a JSON object.")
    # Meta calls one URL per app: numbers of the same app (same secret) each take the changes addressed to them.
    engines = [accounts.engine_for(ws, v.account) for v in await accounts.list_views(ws)
               if v.account.engine == "cloud_api" and v.account.settings.get("app_secret") == secret]
    task = asyncio.ensure_future(_hand_over(engines, payload))
    _handling.add(task)
    task.add_done_callback(_finished)
    await asyncio.wait({task}, timeout=ANSWER_WITHIN_S)
    return Response("", media_type=MediaType.TEXT)


async def _hand_over(engines: list, payload: dict) -> None:
    for engine in engines:
        await engine.handle_webhook(payload)


def _finished(task: asyncio.Task) -> None:
    _handling.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("handling a cloud webhook delivery failed", exc_info=task.exception())
