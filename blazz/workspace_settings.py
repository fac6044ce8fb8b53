"""Typed settings of one workspace with their defaults: the timezone, the phone region, the opt-out words, how
long message files are kept.

Other features read them with `await load(ws.db)`; changes go through `update(ws.db, **changes)`, which validates.
"""

from __future__ import annotations

import contextlib
import re
import zoneinfo
from dataclasses import dataclass, field, replace
from typing import Any

from blazz import phones
from blazz.errors import Invalid
from blazz.store import ws_settings
from blazz.store.database import Database

# STOP is what WhatsApp users everywhere type; BERHENTI is its Indonesian twin, our first market's word.
DEFAULT_OPT_OUT_WORDS = ("STOP", "BERHENTI", "UNSUBSCRIBE")
MAX_OPT_OUT_WORDS = 30
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    timezone: str = "UTC"
    default_region: str | None = None  # ISO 3166 code that national-format numbers belong to, e.g. "ID"
    opt_out_words: tuple[str, ...] = field(default=DEFAULT_OPT_OUT_WORDS)
    media_retention_days: int | None = None  # remove message files older than this; None keeps them forever

    def as_dict(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "default_region": self.default_region,
                "opt_out_words": list(self.opt_out_words), "media_retention_days": self.media_retention_days}


async def load(db: Database) -> WorkspaceSettings:
    """The workspace's settings, defaults filled in for anything never set (or stored in a shape we don't accept)."""
    stored = await ws_settings.get_all(db)
    current = WorkspaceSettings()
    for key, check in _CHECKS.items():
        if key in stored:
            # A bad stored value keeps the default rather than failing every page that reads settings.
            with contextlib.suppress(Invalid):
                current = replace(current, **{key: check(stored[key])})
    return current


async def update(db: Database, *, confirm_delete_all: bool = False, **changes: Any) -> WorkspaceSettings:
    """Validate and store some settings; unknown names raise `Invalid`. A retention of 0 days (remove every message
    file at the next clean-up) is refused unless `confirm_delete_all` says the owner meant it."""
    if "media_retention_days" in changes and not confirm_delete_all:
        check_zero_retention(check_media_retention(changes["media_retention_days"]))
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in _CHECKS:
            raise Invalid(key, "There is no setting named %(name)s.", name=key)
        checked = _CHECKS[key](value)
        clean[key] = list(checked) if isinstance(checked, tuple) else checked
    await ws_settings.put_many(db, clean)
    return await load(db)


def check_timezone(value: Any) -> str:
    name = str(value or "").strip()
    if name not in zoneinfo.available_timezones() and name != "UTC":
        raise Invalid("timezone", "Choose a timezone such as Asia/Jakarta.")
    return name


def check_opt_out_words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[,\n]", value)
    if not isinstance(value, list | tuple):
        raise Invalid("opt_out_words", "Give a list of words.")
    words: list[str] = []
    for item in value:
        word = " ".join(str(item).split()).upper()
        if not word:
            continue
        if len(word) > 40:
            raise Invalid("opt_out_words", "Keep each opt-out word under 40 characters.")
        if word not in words:
            words.append(word)
    if len(words) > MAX_OPT_OUT_WORDS:
        raise Invalid("opt_out_words", "Use at most %(max)s opt-out words.", max=MAX_OPT_OUT_WORDS)
    return tuple(words)


def check_region(value: Any) -> str | None:
    return phones.check_region(value)


def check_media_retention(value: Any) -> int | None:
    """Days to keep message files: a whole number from 0 to 3,650, or empty (None) to keep them forever."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    days = int(text) if text.isdigit() and not isinstance(value, bool) else -1
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise Invalid("media_retention_days", "Keep files for a whole number of days from 0 to %(max)s, or leave it "
                                              "empty to keep them forever.", max=MAX_RETENTION_DAYS)
    return days


def check_zero_retention(days: int | None) -> None:
    """0 days removes every message's file at the next clean-up: only with the owner's explicit confirmation."""
    if days == 0:
        raise Invalid("media_retention_days", "0 days removes the file of every message at the next clean-up. "
                                              "Confirm that you want that.")


_CHECKS = {"timezone": check_timezone, "default_region": check_region, "opt_out_words": check_opt_out_words,
           "media_retention_days": check_media_retention}
