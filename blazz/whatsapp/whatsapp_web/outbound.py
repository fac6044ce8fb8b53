"""What Blazz sends, as the WhatsApp protobufs whatsmeow expects, and send failures as SendError.

We build media messages ourselves instead of using neonize's `build_*_message` helpers: those need ffmpeg for
audio and video, guess MIME types with libmagic, parse "@123…" mentions out of captions, and point the
thumbnail fields at the full-size upload.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import time

from neonize.proto.Neonize_pb2 import JID, UploadResponse
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    ImageMessage,
    Message,
    VideoMessage,
)
from neonize.utils.enum import MediaType

from blazz.whatsapp.protocol import SendError

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "image": MediaType.MediaImage, "video": MediaType.MediaVideo, "audio": MediaType.MediaAudio,
    "voice": MediaType.MediaAudio, "document": MediaType.MediaDocument,
}
DEFAULT_MIME = {
    "image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg", "voice": "audio/ogg; codecs=opus",
    "document": "application/octet-stream",
}
THUMBNAIL_PX = 200  # the longest side of the inline preview; neonize's builder uses the same size
_NOISE = re.compile(r"[\s\-().]")


def jid_for(address: str) -> JID:
    """A JID for an E.164 phone ("+62812…"), bare digits, or a full JID ("1203…@g.us", "987…@lid")."""
    value = address.strip()
    if "@" in value:
        user, _, server = value.partition("@")
    else:
        user, server = _NOISE.sub("", value).removeprefix("+"), "s.whatsapp.net"
        if not user.isdigit():
            raise SendError("undeliverable", f"{address!r} is not a phone number or a WhatsApp address.", retry=False)
    if not user or not server:
        raise SendError("undeliverable", f"{address!r} is not a phone number or a WhatsApp address.", retry=False)
    return JID(User=user, Server=server, Device=0, RawAgent=0, Integrator=0, IsEmpty=False)


def jid_text(jid: JID) -> str:
    return f"{jid.User}@{jid.Server}"


def reply_context(stanza_id: str, participant: str | None, quoted: Message | None) -> ContextInfo:
    """The quote block of a reply. WhatsApp shows the quoted bubble from `quotedMessage` and attributes it to
    `participant`; with neither it still links the reply by `stanzaID`."""
    context = ContextInfo(stanzaID=stanza_id)
    if participant:
        context.participant = participant
    if quoted is not None:
        context.quotedMessage.CopyFrom(quoted)
    return context


def text_message(text: str, context: ContextInfo | None = None) -> Message:
    """Plain `conversation` for ordinary text (what phones send); `extendedTextMessage` when it quotes."""
    if context is None:
        return Message(conversation=text)
    return Message(extendedTextMessage=ExtendedTextMessage(text=text, contextInfo=context))


def media_message(
    kind: str,
    upload: UploadResponse,
    *,
    mime: str,
    caption: str = "",
    filename: str | None = None,
    context: ContextInfo | None = None,
    thumbnail: tuple[bytes, int, int] | None = None,
    seconds: int | None = None,
) -> Message:
    """An image / video / audio / voice / document message around an uploaded file."""
    common = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mimetype": mime,
        "mediaKeyTimestamp": int(time.time()),
    }
    if context is not None:
        common["contextInfo"] = context
    if kind == "image":
        part = ImageMessage(caption=caption or None, **common)
        if thumbnail is not None:
            part.JPEGThumbnail, part.width, part.height = thumbnail
        return Message(imageMessage=part)
    if kind == "video":
        return Message(videoMessage=VideoMessage(caption=caption or None, seconds=seconds, **common))
    if kind in ("audio", "voice"):
        return Message(audioMessage=AudioMessage(PTT=kind == "voice", seconds=seconds, **common))
    if kind == "document":
        name = filename or "file"
        return Message(documentMessage=DocumentMessage(caption=caption or None, fileName=name, title=name, **common))
    raise SendError("invalid_media", f"WhatsApp Web cannot send a {kind!r} message.", retry=False)


def voice_mime(mime: str) -> str:
    """WhatsApp plays a voice note only as Ogg/Opus and wants the codec named."""
    return "audio/ogg; codecs=opus" if mime.split(";")[0].strip() in ("audio/ogg", "audio/opus") else mime


def image_thumbnail(data: bytes) -> tuple[bytes, int, int] | None:
    """A small JPEG preview and the image's width and height; None if Pillow cannot read the file."""
    from PIL import Image  # Pillow comes with neonize

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=70)
    except Exception as exc:  # any unreadable image still goes out, only without a preview
        log.debug("no thumbnail for image: %s", exc)
        return None
    return out.getvalue(), width, height


def ogg_opus_seconds(data: bytes) -> int | None:
    """Length of an Ogg/Opus file from its last page's granule position (Opus always counts 48 kHz samples)."""
    if not data.startswith(b"OggS"):
        return None
    last = data.rfind(b"OggS", max(0, len(data) - 65_536))
    if last < 0 or last + 14 > len(data):
        return None
    (granule,) = struct.unpack_from("<q", data, last + 6)
    return max(1, round(granule / 48_000)) if granule > 0 else None


# whatsmeow's error strings, by what they mean for the sender (there are no error codes, notes/neonize.md §A.11).
_NOT_CONNECTED = ("not connected", "client is nil", "doesn't contain a device jid", "not logged in", "not running")
_NOT_ON_WHATSAPP = ("not on whatsapp", "no such user", "not registered", "item-not-found")
_RATE_LIMITED = ("rate-overlimit", "rate limit", "429")
_TOO_LARGE = ("413", "too large", "payload too big")


def is_not_connected(error: Exception) -> bool:
    """Whether a neonize failure only means there is no live connection (worth retrying later)."""
    low = str(error).lower()
    return any(s in low for s in _NOT_CONNECTED)


def send_error(error: Exception) -> SendError:
    """Classify a neonize failure while sending or uploading."""
    text = str(error)
    low = text.lower()
    if is_not_connected(error):
        return SendError("not_connected", "WhatsApp is not connected right now; the message will be retried.",
                         retry=True)
    if any(s in low for s in _NOT_ON_WHATSAPP):
        return SendError("not_on_whatsapp", "This number is not on WhatsApp.", retry=False)
    if any(s in low for s in _RATE_LIMITED):
        return SendError("rate_limited", "WhatsApp is limiting how fast this number sends; retrying later.",
                         retry=True, retry_after=60.0)
    if any(s in low for s in _TOO_LARGE):
        return SendError("invalid_media", "WhatsApp refused the file because it is too large.", retry=False)
    return SendError("network", f"Sending through WhatsApp failed ({text}); retrying.", retry=True)
