"""Custom fields: the extra details a workspace defines for its contacts (a key, a label and a type).

The values live in each contact; `blazz.contacts` checks them against these definitions.
"""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from typing import Any

from blazz.errors import Conflict, Invalid, NotFound
from blazz.store import contacts as contacts_store
from blazz.store import custom_fields as fields_store
from blazz.store.custom_fields import CustomField
from blazz.workspaces import Workspace

RESERVED_KEYS = frozenset({"id", "name", "first_name", "last_name", "phone", "email", "notes", "groups", "lid",
                           "favourite", "opted_out", "created_at", "updated_at"})
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_FIELD_INDEXES: set[tuple[str, str]] = set()  # (database file, field key) known to have its filter index


def field_key_from(label: str) -> str:
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:40].strip("_")
    if key and not key[0].isalpha():
        key = f"f_{key}"[:40]
    return key or "field"


def _options(type_: str, options: Any) -> list[str]:
    if type_ != "select":
        return []
    if isinstance(options, str):
        options = re.split(r"[,\n]", options)
    if not isinstance(options, list | tuple):
        raise Invalid("options", "Give the choices as a list.")
    clean = list(dict.fromkeys(" ".join(str(o).split()) for o in options if str(o).strip()))
    if not clean:
        raise Invalid("options", "A choice field needs at least one choice (one per line).")
    if len(clean) > 100 or any(len(o) > 80 for o in clean):
        raise Invalid("options", "Use at most 100 choices of up to 80 characters.")
    return clean


async def fields(ws: Workspace) -> list[CustomField]:
    return await fields_store.list_all(ws.db)


async def create_field(ws: Workspace, label: str, type_: str, options: Any = None, key: str | None = None
                       ) -> CustomField:
    label = " ".join(str(label or "").split())
    if not label or len(label) > 60:
        raise Invalid("label", "Give the field a name of up to 60 characters.")
    if type_ not in fields_store.TYPES:
        raise Invalid("type", "Choose a type: %(types)s.", types=", ".join(fields_store.TYPES))
    key = (key or "").strip().lower() or field_key_from(label)
    if not _KEY.match(key):
        raise Invalid("key", "Keys start with a letter and use a-z, 0-9 and _ (up to 40).")
    if key in RESERVED_KEYS:
        raise Invalid("key", "%(key)s is a built-in detail of every contact; choose another key.", key=key)
    opts = _options(type_, options)

    def write(conn: sqlite3.Connection) -> int:
        if fields_store.key_taken(conn, key):
            raise Conflict("There is already a field with the key %(key)s.", key=key, details={"key": "taken"})
        return fields_store.insert(conn, key, label, type_, opts, int(time.time()))

    field_id = await ws.db.execute_write_fn(write)
    return await fields_store.get(ws.db, field_id)


async def update_field(ws: Workspace, field_id: int, label: str, options: Any = None) -> CustomField:
    spec = await fields_store.get(ws.db, field_id)
    if spec is None:
        raise NotFound("That field does not exist.")
    label = " ".join(str(label or "").split())
    if not label or len(label) > 60:
        raise Invalid("label", "Give the field a name of up to 60 characters.")
    opts = _options(spec.type, options)
    await ws.db.execute_write_fn(lambda conn: fields_store.update(conn, field_id, label, opts))
    return await fields_store.get(ws.db, field_id)


async def delete_field(ws: Workspace, field_id: int) -> None:
    """Delete a field definition and every contact's value of it."""
    spec = await fields_store.get(ws.db, field_id)
    if spec is None:
        raise NotFound("That field does not exist.")

    def write(conn: sqlite3.Connection) -> None:
        fields_store.delete(conn, field_id)
        contacts_store.drop_field_index(conn, spec.key)
        contacts_store.drop_field_values(conn, spec.key)

    await ws.db.execute_write_fn(write)
    _FIELD_INDEXES.discard((str(ws.db.path), spec.key))


async def ensure_filter_index(ws: Workspace, key: str) -> None:
    """Make sure filtering the contact list by this field has its index (made the first time it is used)."""
    if (str(ws.db.path), key) not in _FIELD_INDEXES:
        if not await ws.db.execute_fn(lambda conn: contacts_store.has_field_index(conn, key)):
            await ws.db.execute_write_fn(lambda conn: contacts_store.ensure_field_index(conn, key))
        _FIELD_INDEXES.add((str(ws.db.path), key))
