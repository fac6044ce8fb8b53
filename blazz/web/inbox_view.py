"""What the inbox templates need besides data: times in the workspace's timezone, names, media and tick labels.

The same helpers render a line whether it came with the page, a scroll, a click or a live update.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass
from pathlib import PurePosixPath

from blazz import cloud_templates, i18n, inbox, phones
from blazz.delivery import worker
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.store.inbox_queries import ConversationRow
from blazz.store.media import Media
from blazz.store.messages import Message

TICK_LABELS = {"queued": N_("Queued"), "sending": N_("Sending"), "sent": N_("Sent"), "delivered": N_("Delivered"),
               "read": N_("Read"), "failed": N_("Not delivered")}
STATUS_BADGES = {"open": (N_("Open"), "badge-green"), "pending": (N_("Pending"), "badge-amber"),
                 "resolved": (N_("Resolved"), "badge-grey")}
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
        return i18n.time_of_day(self.at(ts)) if ts else ""

    def day_key(self, ts: float) -> str:
        return self.at(ts).strftime("%Y-%m-%d")

    def day(self, ts: float) -> str:
        """A day separator: Today, Yesterday, a weekday this week, else the date."""
        return _day_label(self.at(ts).date(), dt.datetime.now(self.tz).date(), i18n.current())

    def short(self, ts: float | None) -> str:
        """The list's time column: 14:05 today, then Yesterday, a weekday, or 3 Mar (3/3/24 in other years)."""
        if not ts:
            return ""
        moment, today = self.at(ts), dt.datetime.now(self.tz).date()
        date = moment.date()
        if date == today:
            return i18n.time_of_day(moment)
        if date == today - dt.timedelta(days=1):
            return _("Yesterday")
        if today - date < dt.timedelta(days=7):
            return i18n.date(date, "EEE")
        return i18n.date(date, "d MMM" if date.year == today.year else "d/M/yy")

    def full(self, ts: float | None) -> str:
        return i18n.datetime(self.at(ts), "dd MMM y, HH:mm") if ts else ""


@functools.lru_cache(maxsize=1024)
def _day_label(date: dt.date, today: dt.date, locale: str) -> str:
    """A thread repeats a few days on every line: each label is worked out once per language and day."""
    if date == today:
        return _("Today")
    if date == today - dt.timedelta(days=1):
        return _("Yesterday")
    if today - date < dt.timedelta(days=7):
        return i18n.date(date, "EEEE")
    return i18n.date(date, "d MMMM y" if date.year != today.year else "d MMMM")


def iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def contact_label(conv: ConversationRow) -> str:
    """Who the conversation is with: the name, else the number as people write it."""
    return (conv.contact_name or phones.display(conv.contact_phone) or conv.contact_lid or conv.contact_jid
            or _("Contact %(id)s", id=str(conv.contact_id)))


def hue(key: object) -> int:
    """A stable colour per person (avatars, group senders' names)."""
    return sum(ord(ch) * (i + 1) for i, ch in enumerate(str(key))) * 47 % 360


def sender_label(m: Message) -> str:
    """Who wrote a message in a group chat."""
    return m.sender_name or phones.display(m.sender_phone) or _("Member")


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
        return f"{i18n.number(size)} B"
    if size < 1024 * 1024:
        return f"{i18n.number(size / 1024, 0)} KB"
    return f"{i18n.number(size / 1024 / 1024, 1)} MB"


# What a message without text is called; the same English words as the list previews the store writes.
_KIND_WORDS = {"image": N_("Photo"), "video": N_("Video"), "audio": N_("Audio"), "voice": N_("Voice message"),
               "document": N_("Document"), "sticker": N_("Sticker"), "location": N_("Location"),
               "contact": N_("Contact card"), "template": N_("Template"), "unsupported": N_("Message")}


def quote_text(m: Message) -> str:
    text = " ".join((m.body or "").split())
    return text[:160] or _(_KIND_WORDS.get(m.kind, N_("Message")))


def preview(conv: ConversationRow) -> str:
    """The list's last-message line. The stored preview of a file, location... starts with its kind in English
    ("Photo: caption"); that word is shown in the reader's language."""
    text = conv.last_preview or ""
    word = _KIND_WORDS.get(conv.last_kind or "")
    if word is None:
        return text
    if text == word:
        return _(word)
    if text.startswith(word + ": "):
        return f"{_(word)}: {text[len(word) + 2:]}"
    return text


def tick_label(status: str) -> str:
    """What a status tick means, for its tooltip and screen readers."""
    return _(TICK_LABELS[status]) if status in TICK_LABELS else ""


def status_label(status: str) -> str:
    return _(STATUS_BADGES[status][0]) if status in STATUS_BADGES else status


def event_text(m: Message) -> str:
    """An event line (assignment, status) in the reader's language, from the names its meta keeps; lines stored
    before their meta named everyone show their English text as stored."""
    sentence = inbox.EVENT_LINES.get(str(m.meta.get("line") or ""))
    if sentence is None:
        return m.body or ""
    return _(sentence, by=m.meta.get("by_name") or _("a former member"), name=m.meta.get("name")
             or _("a former member"))


def failure(m: Message) -> str:
    """Why a message was not delivered. The worker stores its reasons in English (it runs outside any request):
    Blazz's own sentences are shown in the reader's language, anything else (Meta's or WhatsApp's own words) as
    stored."""
    reason = m.error or ""
    if m.kind == "template":
        explained = cloud_templates.explain(reason)  # Meta's template errors, already in the reader's language
        if explained and explained != reason:
            return explained
    if not reason:
        return _("Not delivered")
    gave_up = i18n.recognise(reason, (worker.GAVE_UP,))
    if gave_up and gave_up[1]["count"].isdigit():
        return _(worker.GAVE_UP, reason=_(gave_up[1]["reason"]), count=int(gave_up[1]["count"]))
    return _(reason)


HELPERS = {"contact_label": contact_label, "hue": hue, "sender_label": sender_label, "media_kind": media_kind,
           "doc_icon": doc_icon, "file_size": file_size, "quote_text": quote_text, "preview": preview, "iso": iso,
           "tick_labels": TICK_LABELS, "tick_label": tick_label, "status_badges": STATUS_BADGES,
           "status_label": status_label, "event_text": event_text, "failure": failure,
           "display_phone": phones.display}
