"""What engines tell the rest of Blazz, in our own words (no protobufs, no Graph JSON above this line).

Every event names the account it belongs to by `AccountKey` (workspace id, account id): account ids are unique only
inside a workspace, and one session manager serves every workspace of the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AccountKey = tuple[int, int]  # (workspace_id, account_id)

MessageKind = Literal[
    "text", "image", "video", "audio", "voice", "document", "sticker", "location", "contact", "template", "unsupported"
]
ReceiptStatus = Literal["delivered", "read", "played", "failed"]
AccountState = Literal[
    "stopped", "starting", "qr", "pairing", "connected", "disconnected", "failed", "logged_out", "banned"
]


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Where an engine can fetch a media file again; `data` is engine-specific and opaque to everyone else."""

    mime: str
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None  # hex, when the engine knows it
    data: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    provider_id: str  # WhatsApp message id (neonize Info.ID, Cloud API wamid)
    chat: str  # E.164 phone ("+62812...") for a 1:1 chat, or a group JID ("1203...@g.us")
    sender_phone: str | None  # E.164; None when only a LID is known
    timestamp: float  # unix seconds, UTC
    kind: MessageKind
    text: str = ""  # body, or caption for media
    sender_lid: str | None = None  # "123456789@lid" when WhatsApp addressed the sender by LID
    sender_name: str | None = None  # push name / profile name
    from_me: bool = False  # sent by the owner from the phone or another linked device
    is_group: bool = False
    group_name: str | None = None
    media: MediaRef | None = None
    quoted_id: str | None = None  # provider id of the message this one replies to
    location: tuple[float, float, str | None] | None = None  # (lat, lng, name)
    vcard: str | None = None


@dataclass(frozen=True, slots=True)
class QrCode:
    key: AccountKey
    code: str  # the text to render as a QR image
    expires_at: float  # unix seconds when this code rotates


@dataclass(frozen=True, slots=True)
class PairCode:
    key: AccountKey
    code: str  # 8 characters the owner types on the phone


@dataclass(frozen=True, slots=True)
class Connected:
    key: AccountKey
    phone: str | None  # E.164 of the linked number
    jid: str | None = None
    push_name: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    key: AccountKey
    reason: str
    will_retry: bool


@dataclass(frozen=True, slots=True)
class LoggedOut:
    key: AccountKey
    reason: str


@dataclass(frozen=True, slots=True)
class TemporaryBan:
    key: AccountKey
    expires_at: float  # unix seconds
    reason: str


@dataclass(frozen=True, slots=True)
class Inbound:
    key: AccountKey
    message: InboundMessage


@dataclass(frozen=True, slots=True)
class Receipt:
    key: AccountKey
    provider_ids: tuple[str, ...]
    status: ReceiptStatus
    timestamp: float
    error: str | None = None  # for status "failed" (Cloud API reports failures as statuses)


@dataclass(frozen=True, slots=True)
class HistoryBatch:
    key: AccountKey
    messages: tuple[InboundMessage, ...]


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Emitted by the session manager (not engines) whenever an account's lifecycle state changes."""

    key: AccountKey
    state: AccountState
    detail: str = ""  # readable reason for failed / disconnected / banned states
    retry_at: float | None = None  # when the manager will try again, if it will


Event = (
    QrCode | PairCode | Connected | Disconnected | LoggedOut | TemporaryBan | Inbound | Receipt | HistoryBatch
    | StateChanged
)
