"""WhatsApp numbers: adding them (per engine), connecting and keeping them alive, their state, the default number.

The session manager owns live sessions; this module keeps the workspace's records in step with it and tells open
browser tabs over the bus.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlparse

from blazz import outbox
from blazz.errors import Conflict, Invalid, NotFound
from blazz.store import accounts as accounts_store
from blazz.store import outbox as outbox_store
from blazz.store.accounts import Account
from blazz.whatsapp.events import StateChanged
from blazz.whatsapp.protocol import AccountSpec, Engine, EngineError
from blazz.whatsapp.session_manager import LIVE_STATES, AccountStatus
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

ENGINES = {
    "whatsapp_web": "WhatsApp Web (scan a QR code)",
    "cloud_api": "WhatsApp Cloud API (official, Meta)",
    "sandbox": "Sandbox (simulated, for trying Blazz)",
}
CLOUD_REQUIRED = ("phone_number_id", "waba_id", "access_token", "app_secret", "verify_token")
CLOUD_OPTIONAL = ("graph_base_url",)
CLOUD_LABELS = {"phone_number_id": "phone number ID", "waba_id": "WhatsApp Business Account ID",
                "access_token": "access token", "app_secret": "app secret", "verify_token": "verify token"}
SANDBOX_OPTIONAL = ("phone", "linked", "name", "qr_rotate_s")  # see blazz/whatsapp/sandbox.py
SECRET_SETTINGS = ("access_token", "app_secret", "verify_token")


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as the UI and the API show it: the record plus its live session status."""

    account: Account
    status: AccountStatus

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def phone(self) -> str | None:
        return self.status.phone or self.account.phone


def spec_for(ws: Workspace, account: Account) -> AccountSpec:
    folder = ws.folder / "whatsapp" / str(account.id)
    folder.mkdir(parents=True, exist_ok=True)
    return AccountSpec((ws.id, account.id), account.engine, dict(account.settings), folder)


def _clean_settings(engine: str, given: dict) -> dict:
    given = {k: (v.strip() if isinstance(v, str) else v) for k, v in (given or {}).items() if v not in (None, "")}
    if engine == "cloud_api":
        for key in CLOUD_REQUIRED:
            if not given.get(key):
                raise Invalid(key, f"Enter the {CLOUD_LABELS[key]} from Meta's WhatsApp Manager.")
        if not re.fullmatch(r"\d{5,30}", str(given["phone_number_id"])):
            raise Invalid("phone_number_id", "The phone number ID is the long number Meta shows, digits only.")
        if not re.fullmatch(r"\d{5,30}", str(given["waba_id"])):
            raise Invalid("waba_id", "The WhatsApp Business Account ID is digits only.")
        url = given.get("graph_base_url")
        if url and urlparse(url).scheme not in ("http", "https"):
            raise Invalid("graph_base_url", "The Graph API address must start with https:// (or http:// for tests).")
        allowed = CLOUD_REQUIRED + CLOUD_OPTIONAL
    elif engine == "sandbox":
        allowed = SANDBOX_OPTIONAL
    else:
        allowed = ()
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise Invalid(unknown[0], f"{unknown[0]} is not a setting of the {engine} engine.")
    return given


async def add(ws: Workspace, name: str, engine: str, settings: dict | None = None) -> Account:
    name = " ".join((name or "").split())
    if not name:
        raise Invalid("name", "Give the number a name your team will recognise, e.g. 'Shop front'.")
    if len(name) > 80:
        raise Invalid("name", "Use at most 80 characters for the name.")
    if engine not in ENGINES:
        raise Invalid("engine", f"Choose one of: {', '.join(ENGINES)}.")
    clean = _clean_settings(engine, settings or {})
    webhook_key = new_webhook_key(ws) if engine == "cloud_api" else None
    account_id = await accounts_store.insert(ws.db, name, engine, clean, webhook_key)
    account = await accounts_store.get(ws.db, account_id)
    ws.sessions.add_account(spec_for(ws, account))
    await publish_state(ws, account.id)
    return account


def new_webhook_key(ws: Workspace) -> str:
    """The secret path part of a Cloud API webhook URL. It starts with the workspace id so the receiver finds the
    account without an index over every workspace; the random rest is what makes it unguessable."""
    return f"{ws.id}.{secrets.token_urlsafe(18)}"


def webhook_workspace_id(key: str) -> int | None:
    """The workspace a webhook key belongs to, or None for a key of another shape."""
    head, dot, rest = (key or "").partition(".")
    return int(head) if dot and rest and head.isdigit() and len(head) < 12 else None


async def by_webhook_key(ws: Workspace, key: str) -> Account | None:
    """The Cloud API account a webhook key belongs to in this workspace (deleted numbers have none)."""
    account = await accounts_store.by_webhook_key(ws.db, key)
    return account if account is not None and account.engine == "cloud_api" else None


def engine_for(ws: Workspace, account: Account) -> Engine:
    """The account's engine, started or not: sandbox controls and Cloud API webhooks work on it either way."""
    key = (ws.id, account.id)
    engine = ws.sessions.engine(key)
    if engine is None:
        ws.sessions.add_account(spec_for(ws, account))
        engine = ws.sessions.engine(key)
    return engine


async def get(ws: Workspace, account_id: int) -> Account:
    account = await accounts_store.get(ws.db, account_id)
    if account is None:
        raise NotFound("No such WhatsApp number in this workspace.")
    return account


async def view(ws: Workspace, account_id: int) -> AccountView:
    account = await get(ws, account_id)
    return AccountView(account, _status(ws, account))


async def list_views(ws: Workspace) -> list[AccountView]:
    return [AccountView(a, _status(ws, a)) for a in await accounts_store.all_active(ws.db)]


def _status(ws: Workspace, account: Account) -> AccountStatus:
    status = ws.sessions.state((ws.id, account.id))
    if status.engine is None:  # the manager has not seen it since startup: show what was last recorded
        recorded = account.status if account.status in ("logged_out", "banned", "failed") else "stopped"
        return AccountStatus(key=(ws.id, account.id), engine=account.engine, state=recorded,
                             detail=account.status_detail if recorded != "stopped" else "", phone=account.phone)
    return status


async def connect(ws: Workspace, account_id: int) -> AccountView:
    account = await get(ws, account_id)
    try:
        await ws.sessions.start_account(spec_for(ws, account))
    except EngineError as exc:
        if exc.code == "already_connected":
            raise Conflict(exc.reason) from exc
        field = "access_token" if exc.code == "auth_failed" else "engine"
        await accounts_store.record_state(ws.db, account.id, "failed", exc.reason, None)
        await publish_state(ws, account.id)
        raise Invalid(field, exc.reason) from exc
    await accounts_store.set_keep_connected(ws.db, account.id, True)
    return await view(ws, account_id)


async def disconnect(ws: Workspace, account_id: int) -> AccountView:
    account = await get(ws, account_id)
    await ws.sessions.stop_account((ws.id, account.id))
    await accounts_store.set_keep_connected(ws.db, account.id, False)
    return await view(ws, account_id)


async def logout(ws: Workspace, account_id: int) -> AccountView:
    account = await get(ws, account_id)
    ws.sessions.add_account(spec_for(ws, account))
    await ws.sessions.logout((ws.id, account.id))
    await accounts_store.forget_link(ws.db, account.id)
    return await view(ws, account_id)


async def pair_code(ws: Workspace, account_id: int, phone: str) -> str:
    account = await get(ws, account_id)
    if account.engine != "whatsapp_web" and account.engine != "sandbox":
        raise Invalid("phone", "Linking by phone number is only for WhatsApp Web numbers.")
    ws.sessions.add_account(spec_for(ws, account))
    try:
        code = await ws.sessions.request_pair_code((ws.id, account.id), phone)
    except EngineError as exc:
        if exc.code == "already_connected":
            raise Conflict(exc.reason) from exc
        raise Invalid("phone", exc.reason) from exc
    await accounts_store.set_keep_connected(ws.db, account.id, True)
    return code


async def rename(ws: Workspace, account_id: int, name: str) -> Account:
    await get(ws, account_id)
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise Invalid("name", "Use 1-80 characters for the name.")
    await accounts_store.update_settings(ws.db, account_id, name=name)
    await publish_state(ws, account_id)
    return await get(ws, account_id)


async def update_settings(ws: Workspace, account_id: int, changes: dict) -> Account:
    """Change a Cloud API number's settings (e.g. a new access token); blank values keep what is stored."""
    account = await get(ws, account_id)
    if account.engine != "cloud_api":
        raise Invalid("engine", "Only Cloud API numbers have settings to change.")
    if ws.sessions.state((ws.id, account.id)).state in LIVE_STATES:
        raise Conflict("Disconnect this number first, then change its settings.")
    given = {k: v for k, v in (changes or {}).items() if v not in (None, "")}
    clean = _clean_settings(account.engine, {**account.settings, **given})
    await accounts_store.update_settings(ws.db, account.id, settings=clean)
    account = await get(ws, account_id)
    ws.sessions.add_account(spec_for(ws, account))
    await publish_state(ws, account.id)
    return account


async def make_default(ws: Workspace, account_id: int) -> None:
    await get(ws, account_id)
    before = await accounts_store.default(ws.db)
    await accounts_store.set_default(ws.db, account_id)
    await publish_state(ws, account_id)
    if before is not None and before.id != account_id:
        await publish_state(ws, before.id)  # its card loses the star in every open tab


async def delete(ws: Workspace, account_id: int) -> None:
    """Disconnect and remove the number; its conversations and messages stay readable."""
    account = await get(ws, account_id)
    await ws.sessions.remove((ws.id, account.id))
    await accounts_store.soft_delete(ws.db, account.id)
    # Nothing will ever send what was waiting for this number: say so on each message instead of leaving it queued.
    waiting = await outbox_store.pending_message_ids(ws.db, account.id)
    if waiting:
        await outbox.cancel(ws, waiting, "Not sent: this WhatsApp number was removed from Blazz.")
    ws.bus.publish(ws.id, "account.deleted", ws=ws, account_id=account.id)
    if account.is_default and (heir := await accounts_store.default(ws.db)) is not None:
        await publish_state(ws, heir.id)  # the default moved to another number


async def default_account(ws: Workspace) -> Account | None:
    return await accounts_store.default(ws.db)


async def restore(ws: Workspace) -> int:
    """At startup: know every account and reconnect those that were connected when Blazz stopped."""
    started = 0
    for account in await accounts_store.all_active(ws.db):
        spec = spec_for(ws, account)
        if not account.keep_connected:
            ws.sessions.add_account(spec)
            continue
        try:
            await ws.sessions.start_account(spec)
            started += 1
        except EngineError as exc:
            log.warning("could not restore workspace=%s account=%s: %s", ws.id, account.id, exc.reason)
            await accounts_store.record_state(ws.db, account.id, "failed", exc.reason, None)
    return started


async def on_state_changed(ws: Workspace, event: StateChanged) -> None:
    """Persist the session manager's state change and tell every open tab."""
    account_id = event.key[1]
    # Events are handled in their own tasks and may arrive out of order: store the manager's current view.
    status = ws.sessions.state(event.key)
    await accounts_store.record_state(ws.db, account_id, status.state, status.detail, status.phone)
    await publish_state(ws, account_id)


async def publish_state(ws: Workspace, account_id: int) -> None:
    """Send the account's current card to every open tab (state changes, QR rotations)."""
    account = await accounts_store.get(ws.db, account_id)
    if account is not None:
        ws.bus.publish(ws.id, "account.state", ws=ws, view=AccountView(account, _status(ws, account)))


def masked_settings(account: Account) -> dict:
    """Settings safe to show back: secrets reduced to their last 4 characters."""
    shown = {}
    for key, value in account.settings.items():
        shown[key] = f"••••{str(value)[-4:]}" if key in SECRET_SETTINGS and value else value
    return shown
