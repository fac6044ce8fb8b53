"""What the inbox templates need besides data: times in the workspace's timezone, names, media and tick labels.

The same helpers render a line whether it came with the page, a scroll, a click or a live update.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from pathlib import PurePosixPath

from blazz import cloud_templates, phones
from blazz.store.inbox_queries import ConversationRow
from blazz.store.media import Media
from blazz.store.messages import Message

TICK_LABELS = {"queued": "Queued", "sending": "Sending", "sent": "Sent", "delivered": "Delivered", "read": "Read",
               "failed": "Not delivered"}
STATUS_BADGES = {"open": ("Open", "badge-green"), "pending": ("Pending", "badge-amber"),
                 "resolved": ("Resolved", "badge-grey")}
# Inline only what a browser shows without running anything; every other file is a download (a customer's
# .html or .svg must never run inside Blazz's pages).
INLINE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/3gpp", "video/webm",
                "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/webm", "audio/wav"}
_DOC_ICONS = {"pdf": ("PDF", ""), "doc": ("DOC", "doc"), "docx": ("DOC", "doc"), "txt": ("TXT", "doc"),
              "xls": ("XLS", "sheet"), "xlsx": ("XLS", "sheet"), "csv": ("CSV", "sheet"), "ppt": ("PPT", "other"),
              "pptx": ("PPT", "other")}


@dataclass(frozen=True, slots=True)
class Clock:
    """Epoch seconds shown in the workspace's timezone."""

    tz: dt.tzinfo

    @classmethod
    def named(cls, name: str) -> Clock:
        try:
            return cls(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return cls(dt.UTC)

    def at(self, ts: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, self.tz)

    def time(self, ts: float | None) -> str:
        return self.at(ts).strftime("%H:%M") if ts else ""

    def day_key(self, ts: float) -> str:
        return self.at(ts).strftime("%Y-%m-%d")

    def day(self, ts: float) -> str:
        """A day separator: Today, Yesterday, a weekday this week, else the date."""
        date, today = self.at(ts).date(), dt.datetime.now(self.tz).date()
        if date == today:
            return "Today"
        if date == today - dt.timedelta(days=1):
            return "Yesterday"
        if today - date < dt.timedelta(days=7):
            return date.strftime("%A")
        return f"{date.day} {date.strftime('%B %Y')}" if date.year != today.year else f"{date.day} {date:%B}"

    def short(self, ts: float | None) -> str:
        """The list's time column: 14:05 today, then Yesterday, a weekday, or 3 Mar (3/3/24 in other years)."""
        if not ts:
            return ""
        moment, today = self.at(ts), dt.datetime.now(self.tz).date()
        date = moment.date()
        if date == today:
            return moment.strftime("%H:%M")
        if date == today - dt.timedelta(days=1):
            return "Yesterday"
        if today - date < dt.timedelta(days=7):
            return moment.strftime("%a")
        if date.year == today.year:
            return f"{date.day} {moment:%b}"
        return f"{date.day}/{date.month}/{date:%y}"

    def full(self, ts: float | None) -> str:
        return self.at(ts).strftime("%d %b %Y, %H:%M") if ts else ""


def iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def contact_label(conv: ConversationRow) -> str:
    """Who the conversation is with: the name, else the number as people write it."""
    return (conv.contact_name or phones.display(conv.contact_phone) or conv.contact_lid or conv.contact_jid
            or f"Contact {conv.contact_id}")


def hue(key: object) -> int:
    """A stable colour per person (avatars, group senders' names)."""
    return sum(ord(ch) * (i + 1) for i, ch in enumerate(str(key))) * 47 % 360


def sender_label(m: Message) -> str:
    """Who wrote a message in a group chat."""
    return m.sender_name or phones.display(m.sender_phone) or "Member"


def media_kind(media: Media | None) -> str:
    """How a file shows in a bubble: image, video, audio, or a document card."""
    if media is None:
        return "none"
    if media.mime not in INLINE_TYPES:
        return "document"
    return media.mime.split("/")[0]


def doc_icon(media: Media) -> tuple[str, str]:
    ext = PurePosixPath(media.filename or "").suffix.lstrip(".").lower()
    return _DOC_ICONS.get(ext, ((ext or "FILE")[:4].upper(), "other"))


def file_size(size: int | None) -> str:
    if not size:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def quote_text(m: Message) -> str:
    text = " ".join((m.body or "").split())
    return text[:160] or {"image": "Photo", "video": "Video", "audio": "Audio", "voice": "Voice message",
                          "document": "Document", "sticker": "Sticker"}.get(m.kind, "Message")


HELPERS = {"contact_label": contact_label, "hue": hue, "sender_label": sender_label, "media_kind": media_kind,
           "doc_icon": doc_icon, "file_size": file_size, "quote_text": quote_text, "iso": iso,
           "tick_labels": TICK_LABELS, "status_badges": STATUS_BADGES, "display_phone": phones.display,
           "explain": cloud_templates.explain}  # a failed Meta template's reason, in the reader's language
