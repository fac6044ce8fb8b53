"""Message templates of one workspace: our own (text with variables, variants, footer, media header) and the Cloud
API templates synced from Meta per number. All SQL for templates lives here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blazz.store.database import Database

_COLUMNS = "id, name, body, variants, footer, media_id, created_by, created_at, updated_at"
_CLOUD_COLUMNS = ("id, account_id, meta_id, name, language, category, status, components, parameter_format, mapping,"
                  " synced_at, removed_at")


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    body: str
    variants: tuple[str, ...]  # alternatives to `body`, rotated per recipient
    footer: str
    media_id: int | None
    created_by: int | None
    created_at: int
    updated_at: int

    @property
    def bodies(self) -> tuple[str, ...]:
        """Every text it can go out as: the body first, then its alternatives."""
        return (self.body, *self.variants)


@dataclass(frozen=True, slots=True)
class CloudTemplateRow:
    id: int
    account_id: int
    meta_id: str | None
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    parameter_format: str | None
    mapping: dict[str, str]  # parameter ("1", "customer_name", "header.1") -> our text with variables
    synced_at: int
    removed_at: int | None


def _template(row: Sequence[Any] | None) -> Template | None:
    if row is None:
        return None
    values = list(row)
    values[3] = tuple(json.loads(values[3] or "[]"))
    return Template(*values)


def _cloud(row: Sequence[Any] | None) -> CloudTemplateRow | None:
    if row is None:
        return None
    values = list(row)
    values[7] = json.loads(values[7] or "[]")
    values[9] = json.loads(values[9] or "{}")
    return CloudTemplateRow(*values)


# -- our templates ------------------------------------------------------------------------------------------------


async def list_all(db: Database) -> list[Template]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM templates WHERE deleted_at IS NULL ORDER BY name COLLATE NOCASE")
    return [_template(r) for r in rows]


async def get(db: Database, template_id: int) -> Template | None:
    return _template(await db.fetchone(f"SELECT {_COLUMNS} FROM templates WHERE id = ? AND deleted_at IS NULL",
                                       (template_id,)))


def name_taken(conn: sqlite3.Connection, name: str, except_id: int | None = None) -> bool:
    row = conn.execute("SELECT id FROM templates WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL",
                       (name,)).fetchone()
    return row is not None and row[0] != except_id


def insert(conn: sqlite3.Connection, *, name: str, body: str, variants: Sequence[str], footer: str,
           media_id: int | None, created_by: int | None, now: int) -> int:
    return conn.execute(
        "INSERT INTO templates (name, body, variants, footer, media_id, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (name, body, json.dumps(list(variants), ensure_ascii=False), footer, media_id, created_by, now, now),
    ).lastrowid


def update(conn: sqlite3.Connection, template_id: int, *, name: str, body: str, variants: Sequence[str],
           footer: str, media_id: int | None, now: int) -> bool:
    return conn.execute(
        "UPDATE templates SET name = ?, body = ?, variants = ?, footer = ?, media_id = ?, updated_at = ?"
        " WHERE id = ? AND deleted_at IS NULL",
        (name, body, json.dumps(list(variants), ensure_ascii=False), footer, media_id, now, template_id),
    ).rowcount > 0


async def delete(db: Database, template_id: int, now: int) -> bool:
    """Soft delete: campaigns that used it keep their own copy of the text, and the name becomes free."""
    cur = await db.execute_write("UPDATE templates SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                                 (now, template_id))
    return cur.rowcount > 0


# -- Cloud API templates ------------------------------------------------------------------------------------------


async def cloud_list(db: Database, account_id: int | None = None, *, include_removed: bool = False
                     ) -> list[CloudTemplateRow]:
    where, args = [], []
    if account_id is not None:
        where.append("account_id = ?")
        args.append(account_id)
    if not include_removed:
        where.append("removed_at IS NULL")
    sql = f"SELECT {_CLOUD_COLUMNS} FROM cloud_templates"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await db.fetchall(sql + " ORDER BY name, language", args)
    return [_cloud(r) for r in rows]


async def cloud_get(db: Database, cloud_id: int) -> CloudTemplateRow | None:
    return _cloud(await db.fetchone(f"SELECT {_CLOUD_COLUMNS} FROM cloud_templates WHERE id = ?", (cloud_id,)))


@dataclass(frozen=True, slots=True)
class SyncedTemplate:
    """One template as Meta lists it, ready to store."""

    meta_id: str | None
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    parameter_format: str | None


def cloud_upsert(conn: sqlite3.Connection, account_id: int, t: SyncedTemplate, now: int) -> int:
    """Store one template as Meta holds it (its mapping, if any, is kept); returns its id."""
    return conn.execute(
        "INSERT INTO cloud_templates (account_id, meta_id, name, language, category, status, components,"
        " parameter_format, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (account_id, name, language) DO UPDATE SET meta_id = excluded.meta_id,"
        " category = excluded.category, status = excluded.status, components = excluded.components,"
        " parameter_format = excluded.parameter_format, synced_at = excluded.synced_at, removed_at = NULL"
        " RETURNING id",
        (account_id, t.meta_id, t.name, t.language, t.category, t.status,
         json.dumps(t.components, ensure_ascii=False), t.parameter_format, now)).fetchone()[0]


def cloud_sync(conn: sqlite3.Connection, account_id: int, listed: Sequence[SyncedTemplate],
               now: int) -> tuple[int, int, int]:
    """Upsert what Meta listed (keeping our mappings) and mark the rest removed. Returns (added, updated, removed)."""
    known = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT name, language, removed_at FROM cloud_templates WHERE account_id = ?", (account_id,))}
    added = updated = 0
    for t in listed:
        if (t.name, t.language) in known:
            updated += 1
        else:
            added += 1
        cloud_upsert(conn, account_id, t, now)
    listed_keys = {(t.name, t.language) for t in listed}
    gone = [key for key, removed_at in known.items() if key not in listed_keys and removed_at is None]
    for name, language in gone:
        conn.execute("UPDATE cloud_templates SET removed_at = ? WHERE account_id = ? AND name = ? AND language = ?",
                     (now, account_id, name, language))
    return added, updated, len(gone)


async def cloud_set_mapping(db: Database, cloud_id: int, mapping: dict[str, str]) -> bool:
    cur = await db.execute_write("UPDATE cloud_templates SET mapping = ? WHERE id = ?",
                                 (json.dumps(mapping, ensure_ascii=False), cloud_id))
    return cur.rowcount > 0
