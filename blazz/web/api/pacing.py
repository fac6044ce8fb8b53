"""The API's pacing object (shared/API.md "Pacing object") and how it maps onto `blazz.pacing.PacingSettings`.

`{"gap_s": [min, max], "pause_every": N, "pause_s": S, "daily_cap": N|null, "warmup": bool,
"window": {"days": [1..7], "from": "09:00", "to": "19:00"}|null, "typing": bool}`. Blazz pauses for a random time
in a range; `pause_s` is its start and the optional `pause_max_s` its end (the same as `pause_s` when left out).
Accounts hold the defaults; campaigns may override them with the same object.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from blazz.errors import Invalid
from blazz.pacing import PacingSettings

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
Seconds = Annotated[float, msgspec.Meta(ge=0, le=7 * 86400)]
ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)  # PacingSettings.weekdays: Monday = 0; the API says Monday = 1

# PacingSettings field → the API key a validation error is about.
_API_FIELD = {"gap_min_s": "gap_s", "gap_max_s": "gap_s", "pause_min_s": "pause_s", "window_start": "window",
              "window_end": "window", "weekdays": "window"}


class Window(msgspec.Struct, forbid_unknown_fields=True, rename={"from_": "from"}):
    days: list[Annotated[int, msgspec.Meta(ge=1, le=7)]]
    from_: str
    to: str


class PacingIn(msgspec.Struct, forbid_unknown_fields=True):
    """A pacing change: only the keys given change."""

    gap_s: tuple[Seconds, Seconds] | Unset = UNSET
    pause_every: Annotated[int, msgspec.Meta(ge=0)] | Unset = UNSET
    pause_s: Seconds | Unset = UNSET
    pause_max_s: Seconds | Unset = UNSET
    daily_cap: Annotated[int, msgspec.Meta(ge=1)] | Unset | None = UNSET  # null: no cap
    warmup: bool | Unset = UNSET
    window: Window | Unset | None = UNSET  # null: any day, any time
    typing: bool | Unset = UNSET


def pacing_out(p: PacingSettings) -> dict[str, Any]:
    window = None
    if p.window_start is not None or tuple(p.weekdays) != ALL_DAYS:
        window = {"days": [d + 1 for d in p.weekdays], "from": p.window_start or "00:00",
                  "to": p.window_end or "23:59"}
    return {"gap_s": [p.gap_min_s, p.gap_max_s], "pause_every": p.pause_every, "pause_s": p.pause_min_s,
            "pause_max_s": p.pause_max_s, "daily_cap": p.daily_cap, "warmup": p.warmup, "window": window,
            "typing": p.typing}


def pacing_changes(given: PacingIn) -> dict[str, Any]:
    """The `blazz.pacing.update` keyword changes for an API pacing object."""
    changes: dict[str, Any] = {}
    if given.gap_s is not UNSET:
        changes["gap_min_s"], changes["gap_max_s"] = given.gap_s
    if given.pause_s is not UNSET:
        changes["pause_min_s"] = changes["pause_max_s"] = given.pause_s
    if given.pause_max_s is not UNSET:
        changes["pause_max_s"] = given.pause_max_s
    for name in ("pause_every", "daily_cap", "warmup", "typing"):
        if getattr(given, name) is not UNSET:
            changes[name] = getattr(given, name)
    if given.window is None:
        changes.update(window_start=None, window_end=None, weekdays=list(ALL_DAYS))
    elif given.window is not UNSET:
        changes.update(window_start=given.window.from_, window_end=given.window.to,
                       weekdays=sorted({d - 1 for d in given.window.days}))
    return changes


def as_api_error(exc: Invalid) -> Invalid:
    """A pacing validation error, named by the API's key (`pacing.gap_s`) instead of the stored one."""
    return Invalid("pacing." + _API_FIELD.get(exc.field, exc.field), exc.msgid, **exc.params)
