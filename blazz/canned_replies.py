"""Canned replies: saved answers with `{{first_name}}`-style variables, filled for the contact of a conversation.

Every member uses them (type `/` and the shortcut in the composer); admins add, change and remove them.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping

from blazz.errors import Conflict, Invalid, NotFound
from blazz.store import canned_replies as store
from blazz.store.canned_replies import CannedReply
from blazz.workspaces import Workspace

MAX_BODY = 4096  # what one WhatsApp text message holds
_SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def clean(shortcut: str, title: str, body: str) -> tuple[str, str, str]:
    shortcut = (shortcut or "").strip().lstrip("/").lower()
    if not _SHORTCUT.match(shortcut):
        raise Invalid("shortcut", "Use 1-32 letters, digits, - or _ for the shortcut, e.g. thanks or price-list.")
    title = " ".join((title or "").split())[:120]
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise Invalid("body", "Write the reply.")
    if len(body) > MAX_BODY:
        raise Invalid("body", "A reply can be at most %(max)s characters.", max=MAX_BODY)
    return shortcut, title, body


async def all_replies(ws: Workspace) -> list[CannedReply]:
    return await store.all_replies(ws.db)


async def get(ws: Workspace, reply_id: int) -> CannedReply:
    reply = await store.get(ws.db, reply_id)
    if reply is None:
        raise NotFound("No such canned reply.")
    return reply


async def create(ws: Workspace, shortcut: str, title: str, body: str, created_by: int | None) -> CannedReply:
    shortcut, title, body = clean(shortcut, title, body)

    def write(conn: sqlite3.Connection) -> int:
        if store.shortcut_taken(conn, shortcut):
            raise Conflict("/%(shortcut)s is already a canned reply; choose another shortcut.",
                           details={"shortcut": "taken"}, shortcut=shortcut)
        return store.insert(conn, shortcut, title, body, created_by, int(time.time()))

    return await get(ws, await ws.db.execute_write_fn(write))


async def update(ws: Workspace, reply_id: int, shortcut: str, title: str, body: str) -> CannedReply:
    shortcut, title, body = clean(shortcut, title, body)

    def write(conn: sqlite3.Connection) -> bool:
        if store.shortcut_taken(conn, shortcut, other_than=reply_id):
            raise Conflict("/%(shortcut)s is already a canned reply; choose another shortcut.",
                           details={"shortcut": "taken"}, shortcut=shortcut)
        return store.update(conn, reply_id, shortcut, title, body, int(time.time()))

    if not await ws.db.execute_write_fn(write):
        raise NotFound("No such canned reply.")
    return await get(ws, reply_id)


async def delete(ws: Workspace, reply_id: int) -> None:
    if not await store.delete(ws.db, reply_id):
        raise NotFound("No such canned reply.")


def fill(body: str, variables: Mapping[str, str]) -> str:
    """Replace `{{name}}` placeholders with the contact's values; unknown ones stay as typed, so the agent sees
    them before sending."""
    def one(match: re.Match) -> str:
        key = match.group(1).lower()
        return variables[key] if variables.get(key) else match.group(0)

    return _VARIABLE.sub(one, body)
