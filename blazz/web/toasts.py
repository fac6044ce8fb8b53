"""The toast a page shows after an htmx action, sent as an `HX-Trigger` header, in the reader's language."""

from __future__ import annotations

import json
from typing import Any

from blazz.i18n import gettext


def toast(message: str, level: str = "success", *, events: dict[str, Any] | None = None, **params: Any) -> dict:
    """Headers for a toast saying `message` (English source, `%(name)s` placeholders from `params`), plus any other
    client events to fire with it."""
    body = {"toast": {"message": gettext(message, **params), "level": level}, **(events or {})}
    return {"HX-Trigger": json.dumps(body)}
