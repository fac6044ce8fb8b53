"""Meta's webhook for the Cloud API: the verify handshake, the signature check and the payload parser.

Pure functions, so the web layer can call them from `GET/POST /webhooks/cloud/<account key>` whether or not
the account's engine is running. Payload shapes follow Meta's webhooks reference (messages, statuses).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping

from blazz.whatsapp.cloud_api_errors import GraphError, failure_reason
from blazz.whatsapp.events import AccountKey, Event, Inbound, InboundMessage, MediaRef, Receipt

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
RECEIPT_STATUSES = {"delivered": "delivered", "read": "read", "played": "played", "failed": "failed"}


def verify_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's subscribe handshake: the `hub.challenge` to echo back when mode and token match, else None."""
    if params.get("hub.mode") != "subscribe" or not verify_token:
        return None
    token = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge")


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Check `X-Hub-Signature-256: sha256=<hex>` against an HMAC-SHA256 of the raw body, in constant time."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256=") :].strip().lower().encode())


def parse_webhook(key: AccountKey, payload: object, phone_number_id: str | None = None) -> list[Event]:
    """Meta's webhook payload as events: messages → Inbound, statuses → Receipt; anything else is skipped.

    With `phone_number_id`, changes addressed to another number of the same app are skipped: Meta sends every
    number's traffic to one callback URL.
    """
    events: list[Event] = []
    entries = payload.get("entry") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        log.warning("cloud webhook without entries skipped", extra={"account": key})
        return events
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else ():
            try:
                events.extend(_parse_change(key, change, phone_number_id))
            except Exception:
                log.exception("cloud webhook change skipped: unexpected shape", extra={"account": key})
    return events


def _parse_change(key: AccountKey, change: object, phone_number_id: str | None) -> list[Event]:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        log.warning("cloud webhook change without a value skipped", extra={"account": key})
        return []
    if change.get("field") != "messages":
        log.info("cloud webhook field %r ignored", change.get("field"), extra={"account": key})
        return []
    value = change["value"]
    target = (value.get("metadata") or {}).get("phone_number_id")
    if phone_number_id and target and str(target) != str(phone_number_id):
        log.info("cloud webhook for another phone number id skipped", extra={"account": key})
        return []
    names = _profile_names(value.get("contacts"))
    events: list[Event] = []
    for raw in value.get("messages") or ():
        try:
            message = _inbound(raw, names)
        except Exception:
            log.exception("cloud webhook message skipped: unexpected shape", extra={"account": key})
            continue
        if message is not None:
            events.append(Inbound(key, message))
    for raw in value.get("statuses") or ():
        try:
            receipt = _receipt(key, raw)
        except Exception:
            log.exception("cloud webhook status skipped: unexpected shape", extra={"account": key})
            continue
        if receipt is not None:
            events.append(receipt)
    for raw in value.get("errors") or ():
        log.warning(
            "Meta reported an account-level error: %s",
            GraphError.from_body(raw).meta_text,
            extra={"account": key},
        )
    return events


def _profile_names(contacts: object) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in contacts if isinstance(contacts, list) else ():
        if isinstance(contact, dict) and isinstance(contact.get("profile"), dict):
            name = contact["profile"].get("name")
            if name and contact.get("wa_id"):
                names[str(contact["wa_id"])] = str(name)
    return names


def _timestamp(raw: object) -> float:
    try:
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return time.time()


def _inbound(msg: object, names: dict[str, str]) -> InboundMessage | None:
    if not isinstance(msg, dict) or not msg.get("id"):
        log.warning("cloud webhook message without an id skipped")
        return None
    if msg.get("group_id"):
        log.info("cloud webhook group message skipped: groups are not handled by this engine")
        return None
    sender = str(msg.get("from") or "")
    digits = "".join(ch for ch in sender if ch.isdigit())
    if not digits:
        # Since 2026 a user with a username may arrive with only a business-scoped user id and no phone.
        log.warning("cloud webhook message without a phone number skipped (username-only sender)")
        return None
    kind, text, extra = _content(msg)
    if kind is None:
        return None
    context = msg.get("context") if isinstance(msg.get("context"), dict) else {}
    return InboundMessage(
        provider_id=str(msg["id"]),
        chat=f"+{digits}",
        sender_phone=f"+{digits}",
        timestamp=_timestamp(msg.get("timestamp")),
        kind=kind,
        text=text,
        sender_name=names.get(sender) or names.get(digits),
        quoted_id=context.get("id") or None,
        **extra,
    )


def _content(msg: dict) -> tuple[str | None, str, dict]:
    """(kind, text, extra InboundMessage fields) for one message; kind None means skip it."""
    mtype = msg.get("type")
    body = msg.get(mtype) if isinstance(mtype, str) and isinstance(msg.get(mtype), dict) else {}
    if mtype == "text":
        return "text", str(body.get("body") or ""), {}
    if mtype in MEDIA_TYPES:
        kind = "voice" if mtype == "audio" and body.get("voice") else mtype
        return kind, str(body.get("caption") or ""), {"media": _media_ref(body)}
    if mtype == "location":
        lat, lng = float(body["latitude"]), float(body["longitude"])
        label = ", ".join(str(p) for p in (body.get("name"), body.get("address")) if p)
        return "location", label, {"location": (lat, lng, body.get("name") or body.get("address"))}
    if mtype == "contacts":
        cards = [c for c in msg.get("contacts") or () if isinstance(c, dict)]
        if not cards:
            return None, "", {}
        names = ", ".join(_contact_name(c) for c in cards)
        return "contact", names, {"vcard": "".join(_vcard(c) for c in cards)}
    if mtype == "interactive":
        reply = body.get(body.get("type")) if isinstance(body.get("type"), str) else None
        if isinstance(reply, dict) and reply.get("title"):
            return "text", str(reply["title"]), {}
        if body.get("type") == "nfm_reply" and isinstance(reply, dict):
            return "text", str(reply.get("body") or "Form submitted"), {}
        return "unsupported", "", {}
    if mtype == "button":
        return "text", str(body.get("text") or body.get("payload") or ""), {}
    if mtype == "reaction":
        # A reaction is not a message of its own in the inbox; we keep it out rather than post a lone emoji.
        return None, "", {}
    if mtype == "system":
        return "unsupported", str(body.get("body") or ""), {}
    log.info("cloud webhook message of type %r kept as unsupported", mtype)
    return "unsupported", "", {}


def _media_ref(body: dict) -> MediaRef:
    data = {"id": str(body["id"])}
    if body.get("url"):
        data["url"] = str(body["url"])
    return MediaRef(
        mime=str(body.get("mime_type") or "application/octet-stream").split(";")[0].strip(),
        filename=body.get("filename"),
        sha256=_hex_sha256(body.get("sha256")),
        data=data,
    )


def _hex_sha256(value: object) -> str | None:
    """Meta sends the file hash as base64 (current docs) or hex (older payloads); MediaRef wants hex."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _contact_name(card: dict) -> str:
    name = card.get("name") if isinstance(card.get("name"), dict) else {}
    return str(
        name.get("formatted_name")
        or " ".join(p for p in (name.get("first_name"), name.get("last_name")) if p)
        or "Contact"
    )


def _vcard(card: dict) -> str:
    """A vCard 3.0 for one shared contact, so the inbox shows it the same way as one from WhatsApp Web."""
    name = card.get("name") if isinstance(card.get("name"), dict) else {}
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_contact_name(card)}"]
    if name.get("first_name") or name.get("last_name"):
        lines.append(f"N:{name.get('last_name') or ''};{name.get('first_name') or ''};;;")
    org = card.get("org") if isinstance(card.get("org"), dict) else {}
    if org.get("company"):
        lines.append(f"ORG:{org['company']}")
    for phone in card.get("phones") or ():
        if isinstance(phone, dict) and phone.get("phone"):
            waid = f";waid={phone['wa_id']}" if phone.get("wa_id") else ""
            lines.append(f"TEL;type={phone.get('type') or 'CELL'}{waid}:{phone['phone']}")
    for email in card.get("emails") or ():
        if isinstance(email, dict) and email.get("email"):
            lines.append(f"EMAIL;type={email.get('type') or 'INTERNET'}:{email['email']}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


def _receipt(key: AccountKey, raw: object) -> Receipt | None:
    if not isinstance(raw, dict) or not raw.get("id"):
        log.warning("cloud webhook status without an id skipped", extra={"account": key})
        return None
    status = RECEIPT_STATUSES.get(str(raw.get("status")))
    if status is None:
        # "sent" only repeats what the send call already told us.
        return None
    error = None
    if status == "failed":
        errors = [e for e in raw.get("errors") or () if isinstance(e, dict)]
        error = "; ".join(failure_reason(GraphError.from_body(e)) for e in errors) or "Meta reported a failure"
    return Receipt(key, (str(raw["id"]),), status, _timestamp(raw.get("timestamp")), error=error)  # type: ignore[arg-type]
