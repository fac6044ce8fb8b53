"""neonize's inbound protobufs (live messages, receipts, history sync) turned into Blazz's own events.

Pure functions: no client, no I/O. Looking up a phone for a LID in whatsmeow's table is done by
`session_events`; here a LID is resolved only from what the event itself says (`SenderAlt`, `RecipientAlt`,
the history's phone↔LID table) or from mappings learnt earlier (`lids`: LID user → E.164).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, NamedTuple

from neonize.proto.Neonize_pb2 import JID
from neonize.proto.Neonize_pb2 import Message as MessageEvent
from neonize.proto.Neonize_pb2 import Receipt as ReceiptProto
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import HistorySync

from blazz.whatsapp.events import AccountKey, InboundMessage, MediaRef, MessageKind, Receipt, ReceiptStatus

USER_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"
# Status updates, broadcast lists and channels are not conversations of the inbox.
SKIPPED_SERVERS = frozenset({"broadcast", "newsletter"})

# Containers whatsmeow unwraps for live messages; history sync hands them to us still wrapped.
WRAPPERS = (
    "ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
    "documentWithCaptionMessage", "editedMessage", "lottieStickerMessage", "groupMentionedMessage",
    "associatedChildMessage", "botInvokeMessage", "deviceSentMessage",
)
# Fields that ride along with content and say nothing by themselves.
RIDERS = frozenset({"messageContextInfo", "senderKeyDistributionMessage", "fastRatchetKeySenderKeyDistributionMessage"})
# Not chat messages: edits and deletions (protocolMessage), reactions, poll votes, pins, key shares, album headers.
NOT_CHAT = frozenset({
    "protocolMessage", "reactionMessage", "encReactionMessage", "pollUpdateMessage", "keepInChatMessage",
    "pinInChatMessage", "stickerSyncRmrMessage", "placeholderMessage", "secretEncryptedMessage",
    "encEventResponseMessage", "encCommentMessage", "groupRootKeyShare", "rootSecretDistributeMessage",
    "albumMessage", "messageHistoryBundle", "messageHistoryNotice", "call", "bcallMessage",
})
MEDIA_FIELDS: dict[str, MessageKind] = {
    "imageMessage": "image", "videoMessage": "video", "ptvMessage": "video", "audioMessage": "audio",
    "documentMessage": "document", "stickerMessage": "sticker",
}
# Which whatsmeow media type downloads a file of each kind (stickers are fetched as images).
DOWNLOAD_TYPES = {"image": "image", "video": "video", "audio": "audio", "voice": "audio", "document": "document",
                  "sticker": "image"}
RECEIPT_STATUS: dict[int, ReceiptStatus] = {
    ReceiptProto.DELIVERED: "delivered", ReceiptProto.READ: "read", ReceiptProto.PLAYED: "played",
}


class Addr(NamedTuple):
    """A JID without device or agent: ("15551234567", "s.whatsapp.net"), ("1203...", "g.us"), ("987...", "lid")."""

    user: str
    server: str

    def __str__(self) -> str:
        return f"{self.user}@{self.server}" if self.server else self.user


def addr_of(jid: JID | str | None) -> Addr | None:
    """The device-less address of a neonize JID or a JID string; None for an empty one."""
    if jid is None:
        return None
    if isinstance(jid, str):
        user, _, server = jid.partition("@")
    else:
        user, server = jid.User, jid.Server
    if server != GROUP_SERVER:  # "user.agent:device" → "user"; group ids keep their dashes
        user = user.split(":", 1)[0].split(".", 1)[0]
    return Addr(user, server) if user else None


def phone_of(addr: Addr | None) -> str | None:
    """E.164 for a phone-number address, None for LIDs, groups and anything else."""
    if addr is None or addr.server != USER_SERVER or not addr.user.isdigit():
        return None
    return f"+{addr.user}"


def seconds(timestamp: int | float) -> float:
    """Unix seconds from neonize's timestamps: message infos carry milliseconds, receipts and history seconds."""
    value = float(timestamp)
    return value / 1000.0 if value > 100_000_000_000 else value  # 1e11 s is the year 5138; 1e11 ms is 1973


def learn_alt(lids: dict[str, str], first: Addr | None, alt: Addr | None) -> None:
    """Remember a LID ↔ phone pair when an event names both forms of one person."""
    for lid, pn in ((first, alt), (alt, first)):
        if lid is not None and lid.server == LID_SERVER and (phone := phone_of(pn)):
            lids[lid.user] = phone


def unwrap(message: Message) -> Message:
    """The content inside ephemeral, view-once, edit, device-sent ... containers."""
    for _ in range(5):  # containers nest at most a few levels; a bound keeps a malformed message harmless
        for name in WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                message = getattr(message, name).message
                break
        else:
            return message
    return message


class Content(NamedTuple):
    kind: MessageKind
    text: str = ""
    media: MediaRef | None = None
    quoted_id: str | None = None
    location: tuple[float, float, str | None] | None = None
    vcard: str | None = None


def content_of(message: Message) -> Content | None:
    """What a message says, or None when it is not a chat message (a reaction, an edit, a key share ...)."""
    message = unwrap(message)
    fields = [f.name for f, _ in message.ListFields() if f.name not in RIDERS]
    if not fields or any(name in NOT_CHAT for name in fields):
        return None
    name = fields[0]
    part = getattr(message, name)
    quoted = _quoted_id(part)
    if name == "conversation":
        return Content("text", message.conversation)
    if name == "extendedTextMessage":
        return Content("text", part.text, quoted_id=quoted)
    if name in MEDIA_FIELDS:
        kind: MessageKind = MEDIA_FIELDS[name]
        if kind == "audio" and part.PTT:
            kind = "voice"
        caption = part.caption if name in ("imageMessage", "videoMessage", "documentMessage", "ptvMessage") else ""
        return Content(kind, caption, media=media_ref(kind, part), quoted_id=quoted)
    if name in ("locationMessage", "liveLocationMessage"):
        label = (part.name or part.address or None) if name == "locationMessage" else (part.caption or None)
        return Content("location", label or "", quoted_id=quoted,
                       location=(part.degreesLatitude, part.degreesLongitude, label))
    if name == "contactMessage":
        return Content("contact", part.displayName, quoted_id=quoted, vcard=part.vcard or None)
    if name == "contactsArrayMessage":
        cards = "\n".join(c.vcard for c in part.contacts if c.vcard)
        title = part.displayName or ", ".join(c.displayName for c in part.contacts if c.displayName)
        return Content("contact", title, quoted_id=quoted, vcard=cards or None)
    if name in ("buttonsResponseMessage", "templateButtonReplyMessage"):  # a tap on a button is a text reply
        return Content("text", part.selectedDisplayText, quoted_id=quoted)
    if name == "listResponseMessage":
        return Content("text", part.title, quoted_id=quoted)
    if name.startswith("pollCreationMessage"):
        return Content("unsupported", part.name, quoted_id=quoted)
    return Content("unsupported", quoted_id=quoted)


def _quoted_id(part: Any) -> str | None:
    descriptor = getattr(part, "DESCRIPTOR", None)
    if descriptor is None or "contextInfo" not in descriptor.fields_by_name or not part.HasField("contextInfo"):
        return None
    return part.contextInfo.stanzaID or None


def media_ref(kind: MessageKind, part: Any) -> MediaRef:
    """Everything `download_media_with_path` needs, as JSON-safe strings, so a download works after a restart."""
    data = {
        "direct_path": part.directPath,
        "media_key": _b64(part.mediaKey),
        "file_enc_sha256": _b64(part.fileEncSHA256),
        "file_sha256": _b64(part.fileSHA256),
        "file_length": int(part.fileLength),
        "media_type": DOWNLOAD_TYPES[kind],
        "url": part.URL,
    }
    filename = getattr(part, "fileName", "") or None
    return MediaRef(
        mime=part.mimetype or "application/octet-stream",
        filename=filename,
        size=int(part.fileLength) or None,
        sha256=part.fileSHA256.hex() or None,
        data=data,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class Origin(NamedTuple):
    """Who wrote a message, where, and when (the same for live events and history)."""

    provider_id: str
    chat: Addr
    sender: Addr | None
    from_me: bool
    push_name: str
    timestamp: float
    group_name: str | None = None
    sender_lid: str | None = None  # "987...@lid" when the event names the sender's LID


def inbound(origin: Origin, content: Content, lids: dict[str, str], own_phone: str | None) -> InboundMessage:
    is_group = origin.chat.server == GROUP_SERVER
    sender = origin.sender
    sender_phone = phone_of(sender)
    if sender_phone is None and sender is not None and sender.server == LID_SERVER:
        sender_phone = lids.get(sender.user)
    if sender_phone is None and origin.from_me:
        sender_phone = own_phone
    if is_group:
        chat = str(origin.chat)
    else:
        chat = phone_of(origin.chat) or (
            lids.get(origin.chat.user) if origin.chat.server == LID_SERVER else None
        ) or str(origin.chat)
        if sender_phone is None and not origin.from_me and chat.startswith("+"):
            sender_phone = chat
    sender_lid = origin.sender_lid or (str(sender) if sender is not None and sender.server == LID_SERVER else None)
    return InboundMessage(
        provider_id=origin.provider_id,
        chat=chat,
        sender_phone=sender_phone,
        timestamp=origin.timestamp,
        kind=content.kind,
        text=content.text,
        sender_lid=sender_lid,
        sender_name=origin.push_name or None,
        from_me=origin.from_me,
        is_group=is_group,
        group_name=origin.group_name,
        media=content.media,
        quoted_id=content.quoted_id,
        location=content.location,
        vcard=content.vcard,
    )


def from_message_event(ev: MessageEvent, lids: dict[str, str], own_phone: str | None) -> InboundMessage | None:
    """A live MessageEv as an InboundMessage, or None for what is not a chat message."""
    info = ev.Info
    source = info.MessageSource
    chat, sender = addr_of(source.Chat), addr_of(source.Sender)
    if chat is None or chat.server in SKIPPED_SERVERS or not ev.HasField("Message"):
        return None
    sender_alt = addr_of(source.SenderAlt)
    learn_alt(lids, sender, sender_alt)
    if not source.IsGroup:
        learn_alt(lids, chat, addr_of(source.RecipientAlt if source.IsFromMe else source.SenderAlt))
    content = content_of(ev.Message)
    if content is None:
        return None
    alt_lid = str(sender_alt) if sender_alt is not None and sender_alt.server == LID_SERVER else None
    origin = Origin(info.ID, chat, sender, source.IsFromMe, info.Pushname, seconds(info.Timestamp), None, alt_lid)
    return inbound(origin, content, lids, own_phone)


def from_receipt_event(key: AccountKey, ev: ReceiptProto) -> Receipt | None:
    """Delivered / read / played receipts for our messages; other receipt types say nothing about delivery."""
    status = RECEIPT_STATUS.get(ev.Type)
    if status is None or not ev.MessageIDs:
        return None
    return Receipt(key, tuple(ev.MessageIDs), status, seconds(ev.Timestamp))


def from_history(data: HistorySync, lids: dict[str, str], own_phone: str | None) -> Iterator[InboundMessage]:
    """Every chat message of a history-sync chunk, in the order WhatsApp sent them."""
    for mapping in data.phoneNumberToLidMappings:
        learn_alt(lids, addr_of(mapping.lidJID), addr_of(mapping.pnJID))
    for conversation in data.conversations:
        chat = addr_of(conversation.ID)
        if chat is None or chat.server in SKIPPED_SERVERS:
            continue
        if conversation.pnJID:
            learn_alt(lids, chat, addr_of(conversation.pnJID))
        group_name = (conversation.name or conversation.displayName or None) if chat.server == GROUP_SERVER else None
        for item in conversation.messages:
            if not item.HasField("message"):
                continue
            web = item.message
            if not web.HasField("message") or not web.key.ID:
                continue
            content = content_of(web.message)
            if content is None:
                continue
            from_me = web.key.fromMe
            if chat.server == GROUP_SERVER:
                sender = addr_of(web.key.participant or web.participant) if not from_me else None
            else:
                sender = None if from_me else chat
            origin = Origin(
                web.key.ID, chat, sender, from_me, web.pushName, seconds(web.messageTimestamp), group_name,
            )
            yield inbound(origin, content, lids, own_phone)
