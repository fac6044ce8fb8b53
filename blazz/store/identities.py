"""Who wrote: every WhatsApp sender (phone and/or LID) resolved to exactly one contact. All SQL for that lives here.

WhatsApp may address one person by phone number in one event and by LID (a hidden id, "123@lid") in another. A
contact created from a LID alone gets its phone once an event names both; if by then the phone already belongs to
another contact, the two are merged into the phone's contact: never two contacts (or two threads) for one person.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from blazz.store import contacts as contacts_store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Found:
    id: int
    phone: str | None
    lid: str | None
    name: str
    deleted_at: int | None


def _find(conn: sqlite3.Connection, column: str, value: str) -> _Found | None:
    row = conn.execute(f"SELECT id, phone, lid, name, deleted_at FROM contacts WHERE {column} = ?", (value,)).fetchone()
    return _Found(*row) if row else None


def resolve(conn: sqlite3.Connection, *, phone: str | None, lid: str | None, name: str | None, now: int) -> int:
    """The id of the contact for this sender, created when new, completed with what this event adds (a LID, a
    phone, a profile name for a nameless contact) and merged when phone and LID were two contacts until now.

    A deleted contact who writes again comes back: their conversation must be visible to the team.
    """
    if not phone and not lid:
        raise ValueError("a sender needs a phone or a LID")
    by_phone = _find(conn, "phone", phone) if phone else None
    by_lid = _find(conn, "lid", lid) if lid else None
    if by_phone and by_lid and by_phone.id != by_lid.id:
        log.info("contacts %s (phone) and %s (LID) are one person: merging", by_phone.id, by_lid.id)
        merge(conn, by_phone.id, by_lid.id, now)
        by_phone = _find(conn, "phone", phone)
        by_lid = None
    contact = by_phone or by_lid
    if contact is None:
        return conn.execute(
            "INSERT INTO contacts (kind, phone, lid, name, created_at, updated_at) VALUES ('person', ?, ?, ?, ?, ?)",
            (phone, lid, (name or "").strip(), now, now)).lastrowid
    sets: dict[str, object] = {}
    if phone and contact.phone is None:
        sets["phone"] = phone
    if lid and contact.lid is None:
        sets["lid"] = lid
    if name and name.strip() and not contact.name:
        sets["name"] = name.strip()
    if contact.deleted_at is not None:
        sets["deleted_at"] = None
    if sets:
        assignments = ", ".join(f"{col} = ?" for col in sets)
        conn.execute(f"UPDATE contacts SET {assignments}, updated_at = ? WHERE id = ?",
                     (*sets.values(), now, contact.id))
    return contact.id


def resolve_group(conn: sqlite3.Connection, jid: str, name: str | None, now: int) -> int:
    """The contact standing for a group chat (kind 'group', keyed by its JID); its name follows WhatsApp's."""
    row = conn.execute("SELECT id, name FROM contacts WHERE jid = ?", (jid,)).fetchone()
    if row is None:
        return conn.execute(
            "INSERT INTO contacts (kind, jid, name, created_at, updated_at) VALUES ('group', ?, ?, ?, ?)",
            (jid, (name or "").strip() or jid, now, now)).lastrowid
    if name and name.strip() and name.strip() != row[1]:
        conn.execute("UPDATE contacts SET name = ?, updated_at = ? WHERE id = ?", (name.strip(), now, row[0]))
    return row[0]


def merge(conn: sqlite3.Connection, keep_id: int, drop_id: int, now: int) -> None:
    """Fold contact `drop_id` into `keep_id`: groups, conversations (threads with the same number become one),
    the LID, custom field values and whatever details `keep_id` lacks. An opt-out on either side stays."""
    contacts_store.fold_relations(conn, keep_id, drop_id)
    dropped = conn.execute(
        "SELECT lid, name, first_name, last_name, email, notes, fields, opted_out_at, opted_out_reason"
        " FROM contacts WHERE id = ?", (drop_id,)).fetchone()
    conn.execute("DELETE FROM contacts WHERE id = ?", (drop_id,))  # first: its LID is unique
    lid, name, first, last, email, notes, fields, opted_at, opted_reason = dropped
    conn.execute(
        "UPDATE contacts SET lid = coalesce(lid, ?),"
        " name = CASE WHEN name = '' THEN ? ELSE name END,"
        " first_name = CASE WHEN first_name = '' THEN ? ELSE first_name END,"
        " last_name = CASE WHEN last_name = '' THEN ? ELSE last_name END,"
        " email = CASE WHEN email = '' THEN ? ELSE email END,"
        " notes = CASE WHEN notes = '' THEN ? WHEN ? = '' THEN notes ELSE notes || char(10) || ? END,"
        " fields = json_patch(?, fields),"
        " opted_out_reason = CASE WHEN opted_out_at IS NULL THEN ? ELSE opted_out_reason END,"
        " opted_out_at = coalesce(opted_out_at, ?),"
        " deleted_at = NULL, updated_at = ? WHERE id = ?",
        (lid, name, first, last, email, notes, notes, notes, fields or "{}", opted_reason, opted_at, now, keep_id),
    )
