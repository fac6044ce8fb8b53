"""The official WhatsApp Business Cloud API engine: Graph API calls over httpx, inbound traffic by webhook.

There is no socket to keep open: "connected" means Meta accepted the access token for this phone number id.
Inbound messages and receipts arrive at the web layer's webhook, which hands the payload to `handle_webhook`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import re
from pathlib import Path
from typing import Any

import httpx

from blazz.whatsapp.cloud_api_errors import PERMISSION_CODES, TOKEN_REVOKED_REASON, GraphError, send_error
from blazz.whatsapp.cloud_api_templates import CloudTemplate, create_template, list_templates, template_object
from blazz.whatsapp.cloud_api_webhook import parse_webhook, verify_challenge, verify_signature
from blazz.whatsapp.events import Connected, Disconnected, Event, Inbound, MediaRef
from blazz.whatsapp.protocol import AccountSpec, Emit, EngineError, OutgoingMessage, SendError

__all__ = [
    "CloudApiEngine",
    "CloudTemplate",
    "parse_webhook",
    "verify_challenge",
    "verify_signature",
]

log = logging.getLogger(__name__)

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"
# notes/cloud-api.md: Meta's 2025-26 docs use v23.0; one pinned version keeps payload shapes predictable.
GRAPH_VERSION = "v23.0"
# Uploads of up to 100 MB documents need a generous write window; connecting should fail fast.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
REQUIRED_SETTINGS = ("phone_number_id", "access_token")
_VERSIONED = re.compile(r"/v\d+\.\d+/?$")
_CAPTIONED = ("image", "video", "document")


class CloudApiEngine:
    """One Cloud API phone number: sends through the Graph API, learns of inbound traffic from webhooks."""

    def __init__(self, spec: AccountSpec, emit: Emit):
        self.spec = spec
        self._emit = emit
        settings = spec.settings or {}
        self._pnid = str(settings.get("phone_number_id") or "").strip()
        self._waba_id = str(settings.get("waba_id") or "").strip()
        self._token = str(settings.get("access_token") or "").strip()
        base = str(settings.get("graph_base_url") or DEFAULT_GRAPH_BASE_URL).rstrip("/")
        self._base = base if _VERSIONED.search(base) else f"{base}/{GRAPH_VERSION}"
        self._client: httpx.AsyncClient | None = None
        self._stopped = True
        self._token_revoked = False
        # Meta's typing indicator is attached to the customer's last message, so remember it per chat.
        self._last_inbound: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token against the phone number id; Connected on success, EngineError if Meta refuses.

        An unreachable or overloaded Graph API is not final: it is reported as Disconnected(will_retry=False)
        and the session manager tries again with backoff.
        """
        missing = [name for name in REQUIRED_SETTINGS if not self.spec.settings.get(name)]
        if missing:
            raise EngineError("invalid_settings", f"Cloud API settings are missing: {', '.join(missing)}")
        self._stopped = False
        self._token_revoked = False
        self._client = httpx.AsyncClient(timeout=TIMEOUT, headers={"Authorization": f"Bearer {self._token}"})
        try:
            response = await self._client.get(
                self._url(self._pnid), params={"fields": "display_phone_number,verified_name"}
            )
        except httpx.HTTPError as exc:
            await self._drop(f"Could not reach Meta's Graph API: {_describe(exc)}")
            return
        if response.is_success:
            data = _json(response)
            phone, name = _e164(data.get("display_phone_number")), data.get("verified_name") or None
            await self._emit(Connected(self.spec.key, phone=phone, push_name=name))
            return
        err = GraphError.from_body(_json(response), response.status_code)
        if response.status_code >= 500 or response.status_code == 429 or err.code in (1, 2, 4, 80007):
            await self._drop(f"Meta's Graph API is unavailable: {err.meta_text}")
            return
        await self.stop()
        if err.is_auth:
            raise EngineError("auth_failed", f"Meta rejected the access token: {err.meta_text}")
        if err.code in PERMISSION_CODES:
            raise EngineError("auth_failed", f"The access token lacks a WhatsApp permission: {err.meta_text}")
        raise EngineError("invalid_settings", f"Meta did not accept the phone number id: {err.meta_text}")

    async def stop(self) -> None:
        """Stop sending; nothing stays open at Meta, so there is nothing else to close."""
        self._stopped = True
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def logout(self) -> None:
        """A Cloud API number is not a linked device: there is nothing to unlink, so this only stops."""
        await self.stop()

    # -- sending ---------------------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> str:
        """Send one message through `/{phone_number_id}/messages` and return Meta's wamid."""
        if "@" in message.to:
            raise SendError("undeliverable", "The Cloud API sends to phone numbers only, not to groups", retry=False)
        to = _digits(message.to)
        if not to:
            raise SendError("not_on_whatsapp", f"{message.to!r} is not a phone number", retry=False)
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        if message.kind == "text":
            body |= {"type": "text", "text": {"preview_url": "://" in message.text, "body": message.text}}
        elif message.kind == "template":
            body |= {"type": "template", "template": await self._template_body(message)}
        else:
            body |= await self._media_body(message)
        if message.reply_to:
            body["context"] = {"message_id": message.reply_to}
        if message.message_id:
            # Echoed back in status webhooks, which lets a crash-recovered send be matched to its row.
            body["biz_opaque_callback_data"] = message.message_id
        data = await self._call("POST", self._url(self._pnid, "messages"), json=body)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise SendError("unknown", "Meta accepted the request but returned no message id", retry=False) from None

    async def _media_body(self, message: OutgoingMessage) -> dict:
        kind = "audio" if message.kind == "voice" else message.kind
        if kind not in ("image", "video", "audio", "document"):
            raise SendError("unknown", f"The Cloud API engine cannot send {message.kind!r} messages", retry=False)
        if message.media_path is None:
            raise SendError("invalid_media", "No file was attached to this media message", retry=False)
        media: dict[str, Any] = {"id": await self.upload_media(message.media_path, message.mime)}
        if message.text and kind in _CAPTIONED:
            media["caption"] = message.text
        if kind == "document":
            media["filename"] = message.filename or message.media_path.name
        if message.kind == "voice":
            media["voice"] = True
        return {"type": kind, kind: media}

    async def _template_body(self, message: OutgoingMessage) -> dict:
        call = message.template
        if call is None:
            raise SendError("template_mismatch", "A template message needs a template name and language", retry=False)
        header_id = call.header_media_id
        if header_id is None and message.media_path is not None:
            header_id = await self.upload_media(message.media_path, message.mime)
        mime = message.mime or (_guess_mime(message.media_path) if message.media_path else None)
        return template_object(call, header_id, mime)

    async def upload_media(self, path: Path, mime: str | None = None) -> str:
        """Upload a stored file to `/{phone_number_id}/media` and return Meta's media id (valid 30 days)."""
        mime = mime or _guess_mime(path)
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise SendError("invalid_media", f"The file to send could not be read: {exc}", retry=False) from exc
        data = await self._call(
            "POST",
            self._url(self._pnid, "media"),
            uploading=True,
            data={"messaging_product": "whatsapp", "type": mime},
            files={"file": (path.name, content, mime)},
        )
        if not data.get("id"):
            raise SendError("invalid_media", "Meta accepted the upload but returned no media id", retry=False)
        return str(data["id"])

    # -- the rest of the engine protocol ---------------------------------------------------------------------

    async def check_numbers(self, phones: list[str]) -> dict[str, bool]:
        """Every phone counts as on WhatsApp: the Cloud API has no lookup; a send to a number that is not
        on WhatsApp fails later with `undeliverable` (code 131026)."""
        return {phone: True for phone in phones}

    async def download_media(self, ref: MediaRef) -> bytes:
        """Fetch an inbound file: GET the media id for a short-lived URL, then GET that URL with the token."""
        media_id = ref.data.get("id")
        if not media_id:
            raise EngineError("media_unavailable", "This media reference carries no Cloud API media id")
        try:
            client = self._require_client()
            info = await self._graph(client, "GET", self._url(str(media_id)))
            response = await client.get(str(info["url"]))
        except (SendError, KeyError, TypeError) as exc:
            raise EngineError("media_unavailable", f"Meta did not provide the media file: {exc}") from exc
        except httpx.HTTPError as exc:
            raise EngineError("media_unavailable", f"Could not download the media file: {_describe(exc)}") from exc
        if not response.is_success:
            raise EngineError("media_unavailable", f"Downloading the media file failed (HTTP {response.status_code})")
        if ref.sha256 and hashlib.sha256(response.content).hexdigest() != ref.sha256:
            log.warning("downloaded media does not match Meta's hash", extra={"account": self.spec.key})
        return response.content

    async def mark_read(self, chat: str, provider_ids: list[str], sender: str | None = None) -> None:
        """Blue ticks for the customer; Meta marks every earlier message of the chat read with the latest."""
        if not provider_ids:
            return
        await self._quiet_post({"messaging_product": "whatsapp", "status": "read", "message_id": provider_ids[-1]})

    async def typing(self, to: str, on: bool) -> None:
        """Meta's typing indicator, tied to the customer's last message (it also marks that message read).

        It clears itself after 25 s or when our reply arrives, so `on=False` has nothing to do.
        """
        last = self._last_inbound.get(f"+{_digits(to)}")
        if not on or last is None:
            return
        await self._quiet_post(
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": last,
                "typing_indicator": {"type": "text"},
            }
        )

    async def request_pair_code(self, phone: str) -> str:
        raise EngineError(
            "unsupported",
            "Pair codes are for WhatsApp Web numbers; a Cloud API number connects with its access token",
        )

    # -- webhooks --------------------------------------------------------------------------------------------

    async def handle_webhook(self, payload: dict) -> list[Event]:
        """Parse a webhook payload for this number and emit its events, in order; returns them too."""
        events = parse_webhook(self.spec.key, payload, self._pnid or None)
        for event in events:
            if isinstance(event, Inbound):
                self._last_inbound[event.message.chat] = event.message.provider_id
            await self._emit(event)
        return events

    # -- templates -------------------------------------------------------------------------------------------

    async def list_templates(self) -> list[CloudTemplate]:
        """Every template on the WhatsApp Business Account (APPROVED, PENDING, REJECTED, ...)."""
        return await list_templates(self._management_call, self._url(self._require_waba(), "message_templates"))

    async def create_template(
        self,
        name: str,
        language: str,
        category: str,
        components: list[dict],
        *,
        parameter_format: str | None = None,
    ) -> CloudTemplate:
        """Submit a template for Meta's review; it usually comes back PENDING."""
        url = self._url(self._require_waba(), "message_templates")
        return await create_template(
            self._management_call,
            url,
            name,
            language,
            category,
            components,
            parameter_format=parameter_format,
        )

    # -- Graph plumbing --------------------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        return "/".join([self._base, *parts])

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None or self._stopped:
            raise SendError("not_connected", "The Cloud API account is not started", retry=True)
        return self._client

    def _require_waba(self) -> str:
        if not self._waba_id:
            raise EngineError("invalid_settings", "Template management needs the WhatsApp Business Account id")
        return self._waba_id

    async def _call(self, method: str, url: str, *, uploading: bool = False, **kwargs: Any) -> dict:
        """One Graph call for a send; failures become SendError, and a dead token logs the account out."""
        if self._token_revoked:
            raise SendError("auth_failed", f"Meta rejected the access token ({TOKEN_REVOKED_REASON})", retry=False)
        return await self._graph(self._require_client(), method, url, uploading=uploading, **kwargs)

    async def _graph(
        self, client: httpx.AsyncClient, method: str, url: str, *, uploading: bool = False, **kwargs: Any
    ) -> dict:
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise SendError("network", f"Could not reach Meta: {_describe(exc)}", retry=True) from exc
        if response.is_success:
            return _json(response)
        err = GraphError.from_body(_json(response), response.status_code)
        if err.is_auth:
            await self._token_lost(err)
        log.warning(
            "Graph API refused %s %s: %s",
            method,
            url.rsplit("/", 1)[-1],
            err.meta_text,
            extra={"account": self.spec.key, "code": err.code},
        )
        raise send_error(err, uploading=uploading, retry_after=_retry_after(response))

    async def _management_call(self, method: str, url: str, **kwargs: Any) -> dict:
        """A template-management call; failures become EngineError (these are not sends)."""
        try:
            return await self._graph(self._require_client(), method, url, **kwargs)
        except SendError as exc:
            raise EngineError(exc.code, exc.reason) from exc

    async def _quiet_post(self, body: dict) -> None:
        """Read receipts and typing are courtesies: a failure is logged, never raised."""
        try:
            await self._call("POST", self._url(self._pnid, "messages"), json=body)
        except SendError as exc:
            log.info("Cloud API read/typing call failed: %s", exc.reason, extra={"account": self.spec.key})

    async def _token_lost(self, err: GraphError) -> None:
        """Meta refused the token mid-life: stop sending and report it once; the manager's next start() then
        fails with auth_failed, which leaves the account failed with Meta's explanation."""
        if self._token_revoked:
            return
        self._token_revoked = True
        await self._emit(Disconnected(self.spec.key, f"{TOKEN_REVOKED_REASON}: {err.meta_text}", will_retry=False))

    async def _drop(self, reason: str) -> None:
        await self._emit(Disconnected(self.spec.key, reason, will_retry=False))


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _e164(display: object) -> str | None:
    digits = _digits(str(display or ""))
    return f"+{digits}" if digits else None


def _guess_mime(path: Path | None) -> str:
    return (mimetypes.guess_type(str(path))[0] if path is not None else None) or "application/octet-stream"
