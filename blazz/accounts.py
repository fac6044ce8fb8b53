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

from blazz import i18n, outbox
from blazz.errors import Conflict, Invalid, NotFound
from blazz.i18n import N_
from blazz.i18n import gettext as _
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
CLOUD_MISSING = {
    "phone_number_id": N_("Enter the phone number ID from Meta's WhatsApp Manager."),
    "waba_id": N_("Enter the WhatsApp Business Account ID from Meta's WhatsApp Manager."),
    "access_token": N_("Enter the access token from Meta's WhatsApp Manager."),
    "app_secret": N_("Enter the app secret from Meta's WhatsApp Manager."),
    "verify_token": N_("Enter the verify token from Meta's WhatsApp Manager."),
}
SANDBOX_OPTIONAL = ("phone", "linked", "name", "qr_rotate_s")  # see blazz/whatsapp/sandbox.py
SECRET_SETTINGS = ("access_token", "app_secret", "verify_token")
# Stored as the failure of the messages a deleted number still had to send (catalog id: translated when shown).
NUMBER_REMOVED = N_("Not sent: this WhatsApp number was removed from Blazz.")


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

    @property
    def detail(self) -> str:
        """What the engine says about the state, in the reader's language."""
        return engine_text(self.status.detail)

    @property
    def last_error(self) -> str:
        return engine_text(self.status.last_error)


def spec_for(ws: Workspace, account: Account) -> AccountSpec:
    folder = ws.folder / "whatsapp" / str(account.id)
    folder.mkdir(parents=True, exist_ok=True)
    return AccountSpec((ws.id, account.id), account.engine, dict(account.settings), folder)


def _clean_settings(engine: str, given: dict) -> dict:
    given = {k: (v.strip() if isinstance(v, str) else v) for k, v in (given or {}).items() if v not in (None, "")}
    if engine == "cloud_api":
        for key in CLOUD_REQUIRED:
            if not given.get(key):
                raise Invalid(key, CLOUD_MISSING[key])
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
        raise Invalid(unknown[0], "%(name)s is not a setting of the %(engine)s engine.", name=unknown[0], engine=engine)
    return given


async def add(ws: Workspace, name: str, engine: str, settings: dict | None = None) -> Account:
    name = " ".join((name or "").split())
    if not name:
        raise Invalid("name", "Give the number a name your team will recognise, e.g. 'Shop front'.")
    if len(name) > 80:
        raise Invalid("name", "Use at most 80 characters for the name.")
    if engine not in ENGINES:
        raise Invalid("engine", "Choose one of: %(engines)s.", engines=", ".join(ENGINES))
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
        message, params = engine_message(exc.reason)
        if exc.code == "already_connected":
            raise Conflict(message, **params) from exc
        field = "access_token" if exc.code == "auth_failed" else "engine"
        await accounts_store.record_state(ws.db, account.id, "failed", exc.reason, None)
        await publish_state(ws, account.id)
        raise Invalid(field, message, **params) from exc
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
        message, params = engine_message(exc.reason)
        if exc.code == "already_connected":
            raise Conflict(message, **params) from exc
        raise Invalid("phone", message, **params) from exc
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
        await outbox.cancel(ws, waiting, NUMBER_REMOVED)
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


# -- what the engines say, in the reader's language -----------------------------------------------------------------
# blazz/whatsapp speaks English and imports nothing of ours, so its sentences about a number (state details, reasons
# for refusing) are translated here, when shown: each is listed as a catalog id, with %(name)s where the engine puts
# a detail of its own (a Go error, Meta's words, a phone number), which is itself translated when it is a known one.

ENGINE_TEXTS = (
    # blazz/whatsapp/session_manager.py
    N_("This WhatsApp number is already connected or connecting."),
    N_("This WhatsApp number is already connected."),
    N_("This WhatsApp number is already connected by another Blazz process using the same data folder."),
    N_("This WhatsApp number is not connected right now."),
    N_("This WhatsApp account is not known to the session manager."),
    N_("The connection did not reach the QR step in time; try again."),
    N_("Could not start the connection: %(error)s"),
    N_("Logged out"),
    N_("Logged out here; the phone may still list this device (%(error)s)"),
    N_("QR code not scanned in time"),
    N_("Connecting took too long"),
    N_("Blazz is shutting down."),
    N_("%(phone)s is not a phone number with its country code; enter it like +62 812 3456 7890 (no leading 0)."),
    # blazz/whatsapp/engines.py
    N_("There is no WhatsApp engine called %(name)s (known: %(known)s)."),
    # blazz/whatsapp/whatsapp_web/reasons.py
    N_("WhatsApp rejected this version of Blazz's WhatsApp library; update Blazz"),
    N_("Nobody scanned the QR code in time."),
    N_("The connection to WhatsApp dropped; reconnecting."),
    N_("WhatsApp closed the connection without saying why; this happens when the same session is opened somewhere "
       "else. Reconnecting."),
    N_("The phone unlinked this device (WhatsApp → Linked devices). Link it again with a new QR code."),
    N_("The WhatsApp account on the phone is gone (the app was reinstalled, the number changed or the account was "
       "deleted). Link the phone again."),
    N_("WhatsApp ended this session without giving a reason. Link the phone again."),
    N_("WhatsApp rejected how Blazz identifies itself; update Blazz."),
    N_("WhatsApp temporarily banned this number."),
    N_("WhatsApp refused the connection."),
    N_("WhatsApp's servers had an internal error."),
    N_("WhatsApp's servers are unavailable right now."),
    N_("WhatsApp refused the connection for this kind of client."),
    N_("WhatsApp temporarily banned this number for messaging too many people who had not saved it."),
    N_("WhatsApp temporarily banned this number because too many people blocked it."),
    N_("WhatsApp temporarily banned this number for creating too many groups."),
    N_("WhatsApp temporarily banned this number for sending the same message to too many people."),
    N_("WhatsApp temporarily banned this number for sending too many broadcast-list messages."),
    N_("The phone that scanned the code cannot link devices; update WhatsApp on the phone and scan again."),
    N_("Linking stopped in an unexpected state; try again."),
    N_("Linking the phone failed; try again."),
    N_("WhatsApp ended this session. Link the phone again."),
    N_("Could not reach WhatsApp through the configured proxy (%(error)s)."),
    N_("Could not reach WhatsApp: the address web.whatsapp.com could not be looked up. Check this computer's "
       "internet connection."),
    N_("Could not reach WhatsApp: this computer has no route to the internet."),
    N_("WhatsApp refused the connection; check the internet connection or the firewall."),
    N_("WhatsApp did not answer in time; check the internet connection."),
    N_("Could not open this account's WhatsApp session file (%(error)s)."),
    N_("Could not connect to WhatsApp (%(error)s)."),
    # blazz/whatsapp/whatsapp_web/session_events.py
    N_("The pair code was not entered in time."),
    N_("Linking the phone failed (%(error)s)."),
    N_("%(reason)s Reconnecting."),
    N_("%(reason)s (%(detail)s)"),
    N_("The WhatsApp session ended."),
    # blazz/whatsapp/whatsapp_web/engine.py
    N_("WhatsApp Web sessions already run on another event loop of this process; Blazz runs them all on one loop."),
    N_("Cannot create this account's WhatsApp session folder (%(error)s)."),
    N_("Could not delete this account's WhatsApp session file (%(error)s)."),
    N_("Blazz forgot this login, but could not tell WhatsApp (%(error)s); remove the device on the phone under "
       "Linked devices."),
    N_("%(phone)s is not a phone number in international format: country code first, e.g. 62 812 3456 7890."),
    N_("Start the WhatsApp connection first, then ask for a pair code."),
    N_("This WhatsApp number is already linked; log out first to link another phone."),
    N_("WhatsApp has not answered yet; try again in a moment."),
    N_("WhatsApp did not give a pair code (%(error)s)."),
    N_("The proxy must be a URL such as socks5://host:1080."),
    N_("WhatsApp is not connected right now."),
    # blazz/whatsapp/cloud_api.py
    N_("Cloud API settings are missing: %(names)s"),
    N_("Could not reach Meta's Graph API: %(error)s"),
    N_("Meta's Graph API is unavailable: %(meta)s"),
    N_("Meta rejected the access token: %(meta)s"),
    N_("The access token lacks a WhatsApp permission: %(meta)s"),
    N_("Meta did not accept the phone number id: %(meta)s"),
    N_("access token expired or revoked: %(meta)s"),
    N_("Pair codes are for WhatsApp Web numbers; a Cloud API number connects with its access token"),
    # blazz/whatsapp/sandbox.py
    N_("This sandbox session is already running."),
    N_("Simulated temporary ban"),
    N_("Simulated connection failure"),
    N_("Simulated network drop"),
    N_("The phone removed this linked device."),
    N_("A pairing code can be requested only while a QR code is shown."),
    N_("Enter the phone number with its country code, e.g. 6281234567890."),
    N_("There is no QR code to scan: the account is not waiting for one."),
    N_("No pairing code is waiting to be confirmed."),
    N_("The sandbox number is not connected."),
)
_EXACT = frozenset(t for t in ENGINE_TEXTS if "%(" not in t)
_LOOSE = i18n.most_specific_first(t for t in ENGINE_TEXTS if "%(" in t)


def engine_message(text: str) -> tuple[str, dict[str, str]]:
    """An engine's English sentence as a catalog id and its values (for a domain error in the reader's language);
    a sentence we do not know comes back as it is."""
    if text in _EXACT:
        return text, {}
    found = i18n.recognise(text, _LOOSE)
    if found:
        msgid, values = found
        return msgid, {name: engine_text(value) for name, value in values.items()}
    return text, {}


def engine_text(text: str | None) -> str:
    """An engine's sentence in the current language (unknown ones, e.g. a raw network error, stay as they are)."""
    if not text:
        return ""
    message, params = engine_message(text)
    return _(message, **params) if params or message in _EXACT else text
