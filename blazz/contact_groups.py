"""Contact groups: their names and colours, and which contacts are in them."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from blazz.errors import Conflict, Invalid, NotFound
from blazz.store import contacts as contacts_store
from blazz.store import groups as groups_store
from blazz.store.groups import Group
from blazz.workspaces import Workspace

# Group colours offered in the UI and given in turn to groups an import creates.
GROUP_COLORS = ["#25d366", "#0ea5e9", "#6366f1", "#a855f7", "#ec4899", "#ef4444", "#f59e0b", "#14b8a6",
                "#64748b", "#84cc16"]
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def clean_group_name(name: Any) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise Invalid("name", "Give the group a name.")
    if len(text) > 60:
        raise Invalid("name", "Use at most 60 characters for a group name.")
    return text


def clean_color(color: Any) -> str:
    text = str(color or "").strip()
    if not _COLOR.match(text):
        raise Invalid("color", "Pick a colour.")
    return text.lower()


async def groups(ws: Workspace, with_counts: bool = False) -> list[Group]:
    return await (groups_store.with_counts(ws.db) if with_counts else groups_store.list_all(ws.db))


async def get_group(ws: Workspace, group_id: int) -> Group:
    group = await groups_store.get(ws.db, group_id)
    if group is None:
        raise NotFound("That group does not exist.")
    return group


async def create_group(ws: Workspace, name: str, color: str | None = None) -> Group:
    name = clean_group_name(name)

    def write(conn: sqlite3.Connection) -> int:
        if groups_store.by_name(conn, name):
            raise Conflict("There is already a group called %(name)s.", name=name, details={"name": "taken"})
        count = groups_store.count_sync(conn)
        return groups_store.insert(conn, name, clean_color(color) if color else GROUP_COLORS[count % 10],
                                   int(time.time()))

    return await get_group(ws, await ws.db.execute_write_fn(write))


async def update_group(ws: Workspace, group_id: int, name: str, color: str) -> Group:
    name, color = clean_group_name(name), clean_color(color)

    def write(conn: sqlite3.Connection) -> None:
        other = groups_store.by_name(conn, name)
        if other and other.id != group_id:
            raise Conflict("There is already a group called %(name)s.", name=name, details={"name": "taken"})
        if not groups_store.update(conn, group_id, name, color):
            raise NotFound("That group does not exist.")

    await ws.db.execute_write_fn(write)
    return await get_group(ws, group_id)


async def delete_group(ws: Workspace, group_id: int) -> None:
    """Delete a group; its contacts stay, they just leave the group."""
    if not await ws.db.execute_write_fn(lambda conn: groups_store.delete(conn, group_id)):
        raise NotFound("That group does not exist.")


async def add_to_group(ws: Workspace, ids: Sequence[int], group_id: int) -> int:
    return await _change_membership(ws, ids, group_id, contacts_store.add_to_group)


async def remove_from_group(ws: Workspace, ids: Sequence[int], group_id: int) -> int:
    return await _change_membership(ws, ids, group_id, contacts_store.remove_from_group)


async def _change_membership(ws: Workspace, ids: Sequence[int], group_id: int,
                             change: Callable[[sqlite3.Connection, list[int], int], int]) -> int:
    """Add or remove contacts in a group (how many changed); the contacts count as updated."""
    await get_group(ws, group_id)
    ids = list(ids)

    def write(conn: sqlite3.Connection) -> int:
        changed = change(conn, ids, group_id)
        contacts_store.touch(conn, ids, int(time.time()))
        return changed

    return await ws.db.execute_write_fn(write)


async def group_ids_of(ws: Workspace, contact_id: int) -> list[int]:
    return (await contacts_store.group_ids_of(ws.db, [contact_id])).get(contact_id, [])


def resolve_sync(conn: sqlite3.Connection, groups: Sequence[Any]) -> list[int]:
    """Group ids for groups given by id or by name (inside a write); names not seen before become new groups."""
    ids, names = [], []
    for g in groups:
        if isinstance(g, int) or (isinstance(g, str) and g.strip().isdigit()):
            if groups_store.get_sync(conn, int(g)) is None:
                raise Invalid("groups", "One of those groups does not exist.")
            ids.append(int(g))
        elif isinstance(g, str) and g.strip():
            names.append(clean_group_name(g))
        elif isinstance(g, str):
            continue
        else:
            raise Invalid("groups", "Give groups by name or id.")
    ids.extend(groups_store.ensure(conn, names, GROUP_COLORS, int(time.time())).values())
    return list(dict.fromkeys(ids))
