"""Typed settings of one workspace with their defaults: the timezone, the phone region, the opt-out words.

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


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    timezone: str = "UTC"
    default_region: str | None = None  # ISO 3166 code that national-format numbers belong to, e.g. "ID"
    opt_out_words: tuple[str, ...] = field(default=DEFAULT_OPT_OUT_WORDS)

    def as_dict(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "default_region": self.default_region,
                "opt_out_words": list(self.opt_out_words)}


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


async def update(db: Database, **changes: Any) -> WorkspaceSettings:
    """Validate and store some settings; unknown names raise `Invalid`."""
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


_CHECKS = {"timezone": check_timezone, "default_region": check_region, "opt_out_words": check_opt_out_words}
