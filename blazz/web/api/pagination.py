"""Cursor pagination for API lists: `?limit=` (default 50, max 500) and an opaque `next_cursor`."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

import msgspec

from blazz.errors import Invalid

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(msgspec.Struct, Generic[T]):
    data: list[T]
    next_cursor: str | None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit", "limit must be between %(min)s and %(max)s.", min=1, max=MAX_LIMIT)
    return limit


def encode_cursor(*values: int | str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list | None:
    """The values a cursor was made from, or None for the first page; a damaged cursor is a 422."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise Invalid("cursor", "This cursor is not valid; start again without it.") from exc
    if not isinstance(values, list) or not values:
        raise Invalid("cursor", "This cursor is not valid; start again without it.")
    return values


def paginate(rows: list[T], limit: int, key) -> Page[T]:
    """`rows` fetched with LIMIT limit+1; the extra row only tells that there is a next page."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, encode_cursor(*key(rows[-1])))
    return Page(rows, None)
