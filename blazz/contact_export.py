"""Exporting contacts to CSV: every field and group, in chunks, with cells a spreadsheet will not run."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from blazz import contact_groups, contacts
from blazz.contact_files import safe_cell
from blazz.store import contacts as store
from blazz.store import custom_fields as fields_store
from blazz.workspaces import Workspace

EXPORT_COLUMNS = ("phone", "name", "first_name", "last_name", "email", "groups", "notes", "favourite", "opted_out_at",
                  "opted_out_reason", "created_at", "updated_at")


def _iso(ts: int | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


async def export_csv(ws: Workspace, filters: contacts.Filters, ids: Sequence[int] | None = None, *,
                     bom: bool = False, batch: int = 2000) -> AsyncIterator[bytes]:
    """Every matching contact (or the listed ones) as CSV with all fields and groups, produced in chunks."""
    specs = await fields_store.list_all(ws.db)
    group_names = {g.id: g.name for g in await contact_groups.groups(ws)}
    query = await contacts.to_query(ws, filters)
    if ids is not None:
        query = replace(query, ids=tuple(int(i) for i in ids)[:100_000])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*EXPORT_COLUMNS, *(s.key for s in specs)])
    yield (("\ufeff" if bom else "") + out.getvalue()).encode()
    after = None
    while True:
        rows = await store.page(ws.db, query, after, batch)
        if not rows:
            return
        groups = await store.group_ids_of(ws.db, [c.id for c in rows])
        out.seek(0)
        out.truncate()
        for c in rows:
            names = "|".join(sorted((group_names[g] for g in groups.get(c.id, ()) if g in group_names), key=str.lower))
            values = [c.phone or "", c.name, c.first_name, c.last_name, c.email, names, c.notes,
                      "yes" if c.favourite else "", _iso(c.opted_out_at), c.opted_out_reason or "",
                      _iso(c.created_at), _iso(c.updated_at)]
            extra = []
            for s in specs:
                v = c.fields.get(s.key)
                extra.append("" if v is None else ("yes" if v is True else "no" if v is False else v))
            writer.writerow([safe_cell(v) for v in (*values, *extra)])
        yield out.getvalue().encode()
        if len(rows) < batch:
            return
        after = (store.sort_value(rows[-1], query.sort), rows[-1].id)


def export_filename(ws: Workspace) -> str:
    return f"{ws.slug}-contacts-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M')}.csv"
