"""Importing contacts from CSV or Excel files (read by `blazz.contact_files`; exports are `blazz.contact_export`).

An import goes in three steps: `upload` keeps the file and reads its first rows (columns are guessed from their
headers and contents), `start` takes the confirmed column mapping and runs the import as a background task, and
the result (counts plus every rejected row with its reason) stays in `contact_imports`. Valid rows land in batches;
a bad row is reported and never stops the others.

Rejected rows keep their reason in the language of the person who started the import (the task runs in that
request's locale), in the page and in the rejected-rows CSV alike; the CSV's column names stay the same keys as an
export's, so a fixed file imports again in any language.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from blazz import contact_groups, contacts, custom_fields, phones, workspace_settings
from blazz.contact_files import csv_rows, read_rows, safe_cell, sniff
from blazz.errors import Invalid, NotFound
from blazz.i18n import N_
from blazz.i18n import gettext as _
from blazz.store import contacts as store
from blazz.store import custom_fields as fields_store
from blazz.store.contacts import ImportJob, ImportRow
from blazz.store.custom_fields import CustomField
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024  # ~600k rows of a typical contact export
PREVIEW_ROWS = 5
BATCH = 5000  # rows per write transaction: big enough to be fast, small enough that other writes interleave
PUBLISH_EVERY_S = 0.2  # progress events at most five times a second
CELL_LIMIT = 5000
EVENT = "contact_import"
TARGETS = ("phone", "name", "first_name", "last_name", "email", "groups", "notes")
# English labels; pages show them through `_()`.
TARGET_LABELS = {"phone": N_("Phone"), "name": N_("Full name"), "first_name": N_("First name"),
                 "last_name": N_("Last name"), "email": N_("Email"), "groups": N_("Groups"), "notes": N_("Notes")}
# Header words people use for each column, in English and Indonesian; compared after `_norm`.
ALIASES = {
    "phone": ("phone", "phone number", "mobile", "mobile phone", "mobile number", "cell", "cellphone", "tel",
              "telephone", "whatsapp", "whatsapp number", "wa", "no wa", "nomor wa", "number", "hp", "no hp",
              "nomor hp", "nomor", "no telp", "telepon", "handphone", "msisdn", "contact number"),
    "name": ("name", "full name", "fullname", "nama", "nama lengkap", "contact", "contact name", "customer",
             "customer name", "pelanggan", "display name"),
    "first_name": ("first name", "firstname", "given name", "nama depan", "first"),
    "last_name": ("last name", "lastname", "surname", "family name", "nama belakang", "last"),
    "email": ("email", "e mail", "email address", "mail", "surel", "alamat email"),
    "groups": ("groups", "group", "tags", "tag", "labels", "label", "grup", "kelompok", "segment"),
    "notes": ("notes", "note", "catatan", "keterangan", "comment", "comments", "remarks", "description"),
}
_GROUP_SPLIT = re.compile(r"[|;]")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", str(text).casefold().replace("_", " ")).split())


# -- inspecting an upload -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Inspection:
    kind: str
    delimiter: str
    has_header: bool
    headers: list[str]
    sample: list[list[str]]
    mapping: list[str]  # per column: a target, "field:<key>", or "" to skip it
    total_rows: int
    national_phones: bool = False  # the sample has numbers without a country code: a region is needed


def _looks_like_phone(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= 7 and phones._ALLOWED.match(value) is not None


def guess_mapping(headers: Sequence[str], sample: Sequence[Sequence[str]], specs: Sequence[CustomField]) -> list[str]:
    by_alias = {alias: target for target, words in ALIASES.items() for alias in words}
    by_field = {_norm(s.key): f"field:{s.key}" for s in specs} | {_norm(s.label): f"field:{s.key}" for s in specs}
    mapping, used = [], set()
    for header in headers:
        key = _norm(header)
        target = by_field.get(key) or by_alias.get(key) or ""
        if target in used:
            target = ""
        used.add(target)
        mapping.append(target)
    if "phone" not in mapping:
        for col in range(len(headers)):
            values = [row[col] for row in sample if col < len(row) and row[col].strip()]
            if values and sum(map(_looks_like_phone, values)) >= 0.6 * len(values) and not mapping[col]:
                mapping[col] = "phone"
                break
    return mapping


def inspect_file(path: Path, kind: str, specs: Sequence[CustomField]) -> Inspection:
    """Headers, the first rows, a guessed mapping and the number of data rows of an uploaded file."""
    delimiter = csv_rows(path)[0] if kind == "csv" else ","
    records = ((n, cells) for n, cells in read_rows(path, kind) if any(c.strip() for c in cells))
    first = next(records, None)
    if first is None:
        raise Invalid("file", "The file has no rows.")
    head = [c.strip() for c in first[1]]
    sample, total = [], 0
    for _number, cells in records:
        total += 1
        if len(sample) < PREVIEW_ROWS:
            sample.append([c.strip() for c in cells])
    width = max([len(head), *(len(r) for r in sample)])
    head += [""] * (width - len(head))
    sample = [r + [""] * (width - len(r)) for r in sample]
    mapping = guess_mapping(head, sample, specs)
    # A first row holding a phone number is data, not a header.
    has_header = not any(_looks_like_phone(c) for c in head) or any(m and m != "phone" for m in mapping)
    if not has_header:
        sample = ([head, *sample])[:PREVIEW_ROWS]
        total += 1
        headers = [_column(i) for i in range(width)]
        mapping = guess_mapping(headers, sample, specs)
    else:
        headers = [h or _column(i) for i, h in enumerate(head)]
    national = False
    if "phone" in mapping:
        col = mapping.index("phone")
        national = any(_looks_like_phone(r[col]) and not r[col].lstrip().startswith(("+", "00")) for r in sample)
    return Inspection(kind, delimiter, has_header, headers, sample, mapping, total, national)


def _column(index: int) -> str:
    return _("Column %(n)s", n=str(index + 1))


async def upload(ws: Workspace, filename: str, data: bytes, user_id: int | None) -> tuple[ImportJob, Inspection]:
    """Keep an uploaded file for the mapping step and read its first rows; bad files are refused here, unchanged."""
    if not data:
        raise Invalid("file", "Choose a CSV or Excel file to upload.")
    if len(data) > MAX_FILE_BYTES:
        raise Invalid("file", "The file is over %(mb)s MB; split it and import the parts.",
                      mb=MAX_FILE_BYTES // 1024 // 1024)
    kind = sniff(data[:65536])
    folder = ws.folder / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{secrets.token_hex(8)}.{kind}"
    await asyncio.to_thread(stored.write_bytes, data)
    try:
        specs = await fields_store.list_all(ws.db)
        inspection = await asyncio.to_thread(inspect_file, stored, kind, specs)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    name = (Path(filename or "contacts.csv").name or "contacts.csv")[:200]
    options = {"kind": kind, "has_header": inspection.has_header, "headers": inspection.headers}
    job_id = await ws.db.execute_write_fn(
        lambda conn: store.create_import(conn, name, str(stored.relative_to(ws.folder)), options,
                                         inspection.total_rows, user_id, int(time.time())))
    await _forget_abandoned(ws)
    return await get_job(ws, job_id), inspection


async def inspection_of(ws: Workspace, job: ImportJob) -> Inspection:
    path = _stored_path(ws, job)
    specs = await fields_store.list_all(ws.db)
    return await asyncio.to_thread(inspect_file, path, job.options["kind"], specs)


def _stored_path(ws: Workspace, job: ImportJob) -> Path:
    if not job.stored_file:
        raise NotFound("The uploaded file of this import is gone; upload it again.")
    path = (ws.folder / job.stored_file).resolve()
    if ws.folder.resolve() not in path.parents or not path.exists():
        raise NotFound("The uploaded file of this import is gone; upload it again.")
    return path


async def _forget_abandoned(ws: Workspace) -> None:
    """Uploads left at the mapping step for a day are dropped, files included."""
    stale = await store.stale_imports(ws.db, int(time.time()) - 86_400)
    for job in stale:
        if job.stored_file:
            (ws.folder / job.stored_file).unlink(missing_ok=True)
    if stale:
        await ws.db.execute_write_fn(lambda conn: store.cancel_imports(conn, [j.id for j in stale]))


# -- running an import --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """A confirmed import: what each column is, where contacts go and what happens to numbers already saved."""

    mapping: tuple[str, ...]
    policy: str = "skip"  # or "update": fill in what the file has over what is saved
    group_id: int | None = None
    region: str | None = None
    has_header: bool = True


@dataclass(slots=True)
class Progress:
    job_id: int
    total: int
    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    last_publish: float = 0.0


_RUNNING: dict[tuple[int, int], tuple[asyncio.Task, Progress]] = {}


def check_plan(mapping: Sequence[str], specs: Sequence[CustomField], width: int) -> tuple[str, ...]:
    keys = {s.key for s in specs}
    clean: list[str] = []
    for target in list(mapping)[:width] + [""] * max(0, width - len(mapping)):
        target = (target or "").strip()
        if target.startswith("field:") and target[6:] not in keys:
            raise Invalid("mapping", "One column is mapped to a custom field that no longer exists.")
        if target and target not in TARGETS and not target.startswith("field:") and target != "new_field":
            raise Invalid("mapping", "Unknown column type %(target)s.", target=target)
        if target and target != "new_field" and target in clean:
            label = _(TARGET_LABELS[target]) if target in TARGET_LABELS else target
            raise Invalid("mapping", "Only one column can be %(target)s.", target=label)
        clean.append(target)
    if "phone" not in clean:
        raise Invalid("mapping", "Choose which column holds the phone number.")
    return tuple(clean)


async def start(ws: Workspace, job_id: int, mapping: Sequence[str], *, policy: str = "skip",
                group_id: int | None = None, new_group: str = "", region: str | None = None) -> ImportJob:
    """Check the mapping and run the import in the background; progress goes out on `ws.bus` as it runs."""
    job = await get_job(ws, job_id)
    if job.status != "mapping":
        raise Invalid("import", "This import has already run; upload the file again to import it once more.")
    _stored_path(ws, job)
    if policy not in ("skip", "update"):
        raise Invalid("policy", "Choose whether to skip or update contacts that already exist.")
    region = phones.check_region(region)
    settings = await workspace_settings.load(ws.db)
    if region and not settings.default_region:
        await workspace_settings.update(ws.db, default_region=region)  # the first import teaches the workspace
    specs = await fields_store.list_all(ws.db)
    plan_mapping = list(check_plan(mapping, specs, len(job.options["headers"])))
    for col, target in enumerate(plan_mapping):
        if target == "new_field":
            spec = await custom_fields.create_field(ws, job.options["headers"][col] or _column(col), "text")
            plan_mapping[col] = f"field:{spec.key}"
    if new_group.strip():
        group_id = (await contact_groups.create_group(ws, new_group)).id
    elif group_id is not None:
        await contact_groups.get_group(ws, group_id)
    plan = Plan(tuple(plan_mapping), policy, group_id, region or settings.default_region, job.options["has_header"])
    options = {**job.options, "mapping": list(plan.mapping), "policy": policy, "group_id": group_id,
               "region": plan.region}
    if not await ws.db.execute_write_fn(lambda conn: store.mark_import_running(conn, job_id, options,
                                                                                int(time.time()))):
        raise Invalid("import", "This import has already started.")
    progress = Progress(job_id, job.total_rows)
    task = asyncio.get_running_loop().create_task(_run(ws, job, plan, progress), name=f"import-{job_id}")
    _RUNNING[(ws.id, job_id)] = (task, progress)
    task.add_done_callback(lambda _t: _RUNNING.pop((ws.id, job_id), None))
    return await get_job(ws, job_id)


async def import_now(ws: Workspace, filename: str, data: bytes, *, policy: str = "skip", group: str = "",
                     user_id: int | None = None) -> ImportJob:
    """Upload and import in one call with the guessed mapping, waiting for the end (the REST API's way)."""
    job, inspection = await upload(ws, filename, data, user_id)
    group_id = None
    if group.strip():
        name = contact_groups.clean_group_name(group)
        existing = next((g for g in await contact_groups.groups(ws) if g.name.casefold() == name.casefold()), None)
        group_id = existing.id if existing else (await contact_groups.create_group(ws, name)).id
    try:
        await start(ws, job.id, inspection.mapping, policy=policy, group_id=group_id)
    except Invalid:
        await cancel(ws, job.id)
        raise
    return await wait(ws, job.id)


async def wait(ws: Workspace, job_id: int) -> ImportJob:
    """The import once it has finished (at once if it is not running)."""
    running = _RUNNING.get((ws.id, job_id))
    if running:
        await asyncio.shield(running[0])
    return await get_job(ws, job_id)


async def cancel(ws: Workspace, job_id: int) -> None:
    """Drop an import that has not started (its file goes too)."""
    job = await get_job(ws, job_id)
    if job.status != "mapping":
        raise Invalid("import", "Only an import that has not started can be cancelled.")
    if job.stored_file:
        (ws.folder / job.stored_file).unlink(missing_ok=True)
    await ws.db.execute_write_fn(lambda conn: store.cancel_imports(conn, [job_id]))


async def _run(ws: Workspace, job: ImportJob, plan: Plan, progress: Progress) -> None:
    path = _stored_path(ws, job)
    specs = {s.key: s for s in await fields_store.list_all(ws.db)}
    rows = read_rows(path, job.options["kind"])
    seen: dict[str, int] = {}
    started = time.perf_counter()
    try:
        if plan.has_header:
            next((r for r in rows if any(c.strip() for c in r[1])), None)
        pending = asyncio.ensure_future(asyncio.to_thread(_prepare, rows, plan, specs, seen))
        while True:
            good, bad, done = await pending
            if not done:  # read and check the next batch while this one is written
                pending = asyncio.ensure_future(asyncio.to_thread(_prepare, rows, plan, specs, seen))
            counts = await ws.db.execute_write_fn(
                lambda conn, good=good, bad=bad: store.import_batch(conn, job.id, good, bad, plan.policy,
                                                                    plan.group_id, contact_groups.GROUP_COLORS,
                                                                    int(time.time())))
            progress.processed += len(good) + len(bad)
            progress.created += counts[0]
            progress.updated += counts[1]
            progress.skipped += counts[2]
            progress.rejected += counts[3]
            _publish(ws, job, progress, force=done)
            if done:
                break
        await ws.db.execute_write_fn(lambda conn: store.finish_import(conn, job.id, "done", None, int(time.time())))
        log.info("import %d done in %.1f s: %d created, %d updated, %d skipped, %d rejected", job.id,
                 time.perf_counter() - started, progress.created, progress.updated, progress.skipped,
                 progress.rejected, extra={"workspace": ws.slug})
    except Exception as exc:
        message = exc.message if isinstance(exc, Invalid) else _("The import stopped because of an internal error.")
        if not isinstance(exc, Invalid):
            log.exception("import %d failed", job.id, extra={"workspace": ws.slug})
        await ws.db.execute_write_fn(lambda conn: store.finish_import(conn, job.id, "failed", message,
                                                                      int(time.time())))
    finally:
        path.unlink(missing_ok=True)
        if ws.bus is not None:
            ws.bus.publish(ws.id, EVENT, job=await get_job(ws, job.id), slug=ws.slug)


def _publish(ws: Workspace, job: ImportJob, progress: Progress, force: bool = False) -> None:
    now = time.monotonic()
    if ws.bus is None or (not force and now - progress.last_publish < PUBLISH_EVERY_S):
        return
    progress.last_publish = now
    snapshot = replace(job, status="running", processed=progress.processed, created=progress.created,
                       updated=progress.updated, skipped=progress.skipped, rejected=progress.rejected)
    ws.bus.publish(ws.id, EVENT, job=snapshot, slug=ws.slug)


def _prepare(rows: Iterator[tuple[int, list[str]]], plan: Plan, specs: dict[str, CustomField],
             seen: dict[str, int]) -> tuple[list[ImportRow], list[tuple[int, str, list[str]]], bool]:
    """Read and check up to BATCH records: (good rows, rejected rows with reasons, whether the file ended)."""
    good: list[ImportRow] = []
    bad: list[tuple[int, str, list[str]]] = []
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank lines are not rows
        try:
            row = _row(number, cells, plan, specs)
        except Invalid as exc:
            bad.append((number, exc.message, cells))
        else:
            first = seen.get(row.phone)
            if first is not None:
                bad.append((number, _("Same phone as row %(row)s; only the first one is imported.", row=str(first)),
                            cells))
            else:
                seen[row.phone] = number
                good.append(row)
        if len(good) + len(bad) >= BATCH:
            return good, bad, False
    return good, bad, True


def _row(number: int, cells: list[str], plan: Plan, specs: dict[str, CustomField]) -> ImportRow:
    values: dict[str, str] = {}
    fields: dict[str, Any] = {}
    groups: list[str] = []
    phone = ""
    for col, target in enumerate(plan.mapping):
        if not target or col >= len(cells):
            continue
        raw = cells[col].strip()
        if len(raw) > CELL_LIMIT:
            raise Invalid(target, "A cell in column %(column)s is over %(max)s characters.", column=str(col + 1),
                          max=CELL_LIMIT)
        if target == "phone":
            phone = raw
        elif target == "email":
            values["email"] = contacts.clean_email(raw)
        elif target == "groups":
            groups = [contact_groups.clean_group_name(g) for g in _GROUP_SPLIT.split(raw) if g.strip()]
        elif target == "notes":
            values["notes"] = contacts.clean_text(raw, "notes", multiline=True)
        elif target.startswith("field:"):
            value = contacts.field_value(specs[target[6:]], raw)
            if value is not None:
                fields[target[6:]] = value
        else:
            values[target] = contacts.clean_text(raw, target)
    if not phone:
        raise Invalid("phone", "No phone number.")
    phone = phones.normalise(phone, plan.region)  # its reason names no value, so reasons can be counted
    if values.get("name") and not (values.get("first_name") or values.get("last_name")):
        values["first_name"], values["last_name"] = contacts.split_name(values["name"])
    elif not values.get("name") and (values.get("first_name") or values.get("last_name")):
        values["name"] = f"{values.get('first_name', '')} {values.get('last_name', '')}".strip()
    return ImportRow(number, phone, {k: v for k, v in values.items() if v}, fields, tuple(groups))


# -- reading results ----------------------------------------------------------------------------------------------


async def get_job(ws: Workspace, job_id: int) -> ImportJob:
    job = await store.get_import(ws.db, job_id)
    if job is None:
        raise NotFound("That import does not exist.")
    running = _RUNNING.get((ws.id, job_id))
    if running is not None:
        p = running[1]
        return replace(job, processed=p.processed, created=p.created, updated=p.updated, skipped=p.skipped,
                       rejected=p.rejected)
    if job.status == "running":
        # Blazz stopped while it ran: what was written stays, the rest of the file did not go in.
        return replace(job, status="failed",
                       error=_("Interrupted when Blazz stopped; rows before that were imported."))
    return job


async def recent_jobs(ws: Workspace, limit: int = 10) -> list[ImportJob]:
    return [await get_job(ws, j.id) for j in await store.recent_imports(ws.db, limit)]


async def rejected_rows(ws: Workspace, job_id: int, limit: int | None = None) -> list[store.ImportError]:
    await get_job(ws, job_id)
    return await store.import_errors(ws.db, job_id, limit)


async def rejection_reasons(ws: Workspace, job_id: int) -> list[tuple[str, int]]:
    """The most common reasons rows were rejected, with how many rows each."""
    return await store.import_error_reasons(ws.db, job_id)


async def rejected_csv(ws: Workspace, job_id: int) -> str:
    """The rejected rows as CSV (row, reason, then the row's own cells) to fix and import again."""
    job = await get_job(ws, job_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "reason", *job.options.get("headers", [])])
    for error in await store.import_errors(ws.db, job_id, None):
        writer.writerow([error.row, safe_cell(error.message), *(safe_cell(c) for c in error.cells)])
    return "\ufeff" + out.getvalue()
