"""Merging two contacts that are the same person into one, with a preview of what the result will be."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from blazz import contacts
from blazz.errors import Invalid
from blazz.store import contacts as store
from blazz.store.contacts import Contact
from blazz.workspaces import Workspace

MERGE_FIELDS = ("name", "phone", "email", "notes")


@dataclass(slots=True)
class MergePreview:
    keep: Contact
    drop: Contact
    result: dict[str, Any]  # the merged values, field by field
    from_drop: set[str] = field(default_factory=set)  # which fields come from the contact that goes
    conversations_moving: int = 0
    groups_added: int = 0


async def merge_preview(ws: Workspace, keep_id: int, drop_id: int, choose: dict[str, str] | None = None
                        ) -> MergePreview:
    """What merging `drop_id` into `keep_id` gives: for each field the kept contact's value unless it is empty or
    `choose[field] == "drop"`; custom fields and groups are combined; notes are joined."""
    if keep_id == drop_id:
        raise Invalid("other", "Choose a different contact to merge with.")
    keep = await contacts.get(ws, keep_id, include_deleted=False)
    drop = await contacts.get(ws, drop_id, include_deleted=False)
    choose = choose or {}
    result: dict[str, Any] = {}
    from_drop: set[str] = set()
    for name in ("name", "phone", "email"):
        mine, theirs = getattr(keep, name), getattr(drop, name)
        take = (choose.get(name) == "drop" and theirs) or (not mine and theirs)
        result[name] = theirs if take else mine
        if take:
            from_drop.add(name)
    result["notes"] = "\n\n".join(n for n in (keep.notes, drop.notes) if n)
    result["fields"] = {**drop.fields, **keep.fields}
    result["favourite"] = keep.favourite or drop.favourite
    convs = await store.conversations_of(ws.db, drop_id)
    groups = await store.group_ids_of(ws.db, [keep_id, drop_id])
    added = len(set(groups.get(drop_id, [])) - set(groups.get(keep_id, [])))
    return MergePreview(keep, drop, result, from_drop, len(convs), added)


async def merge(ws: Workspace, keep_id: int, drop_id: int, choose: dict[str, str] | None = None) -> Contact:
    """Merge two contacts into `keep_id` as `merge_preview` shows; the other one is gone afterwards."""
    preview = await merge_preview(ws, keep_id, drop_id, choose)
    values = {k: v for k, v in preview.result.items() if k in store.WRITABLE}
    first, last = contacts.split_name(values["name"]) if "name" in preview.from_drop else (None, None)
    if first is not None:
        values.update(first_name=first, last_name=last)
    if preview.keep.opted_out_at is None and preview.drop.opted_out_at is not None:
        # An opt-out is a promise to the person; it survives the merge.
        values.update(opted_out_at=preview.drop.opted_out_at, opted_out_reason=preview.drop.opted_out_reason)
    if values.get("phone") == preview.keep.phone:
        values.pop("phone")

    def write(conn: sqlite3.Connection) -> None:
        store.merge(conn, keep_id, drop_id, values, contacts.now())

    await ws.db.execute_write_fn(write)
    return await contacts.get(ws, keep_id)
