"""The one interface every engine implements, and what the session manager and the outbox call.

Engines never touch the store or the web layer: they get their settings and a folder for their own files, and they
report everything that happens through `emit`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from blazz.whatsapp.events import AccountKey, Event, MediaRef

EngineName = Literal["whatsapp_web", "cloud_api", "sandbox"]
Emit = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """Everything an engine needs to run one WhatsApp number."""

    key: AccountKey
    engine: EngineName
    settings: dict  # engine settings (cloud_api: phone_number_id, access_token, ...); secrets live only here
    folder: Path  # a folder the engine owns for this account (session store, sandbox state)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    to: str  # E.164 phone, or a group JID
    kind: Literal["text", "image", "video", "audio", "voice", "document", "template"] = "text"
    text: str = ""  # body, or caption for media
    media_path: Path | None = None  # a stored file to upload
    mime: str | None = None
    filename: str | None = None
    reply_to: str | None = None  # provider id of the quoted message
    message_id: str | None = None  # pre-generated provider id, so a resend after a crash is recognised
    template: TemplateCall | None = None


@dataclass(frozen=True, slots=True)
class TemplateCall:
    """A Cloud API template send: approved template name, language and its body parameters in order."""

    name: str
    language: str
    body_params: tuple[str, ...] = ()
    header_media_id: str | None = None
    extra: dict = field(default_factory=dict)


class SendError(Exception):
    """A send that did not go through. `retry` says whether trying again later can help.

    `code` is one of: not_on_whatsapp, rate_limited, window_closed, undeliverable, invalid_media, template_mismatch,
    auth_failed, not_connected, network, banned, unknown. `reason` is a sentence a shop owner understands.
    """

    def __init__(self, code: str, reason: str, *, retry: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.retry = retry
        self.retry_after = retry_after


class EngineError(Exception):
    """A lifecycle call failed (connect refused, bad credentials, pair code for a bad phone...)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Engine(Protocol):
    spec: AccountSpec

    async def start(self) -> None:
        """Begin connecting. Returns quickly; progress arrives as events (QrCode, Connected, ...)."""

    async def stop(self) -> None:
        """Close the connection, keep the login (the account resumes on the next start)."""

    async def logout(self) -> None:
        """Unlink the device / forget the credentials. A new login is needed afterwards."""

    async def send(self, message: OutgoingMessage) -> str:
        """Send one message; return its provider id or raise SendError."""

    async def check_numbers(self, phones: list[str]) -> dict[str, bool]:
        """Which E.164 phones are on WhatsApp."""

    async def download_media(self, ref: MediaRef) -> bytes: ...

    async def mark_read(self, chat: str, provider_ids: list[str], sender: str | None = None) -> None: ...

    async def typing(self, to: str, on: bool) -> None:
        """Show or clear the typing indicator where the engine supports it; a no-op elsewhere."""

    async def request_pair_code(self, phone: str) -> str:
        """Link by phone number instead of QR (whatsapp_web only; others raise EngineError)."""
