"""The SQLite side of backups: hot consistent copies, integrity checks, and the app.db rows a restore touches.

A live database is never copied byte for byte (its newest pages may sit in the `-wal` file): `VACUUM INTO` reads
one consistent snapshot inside a read transaction while the server's writer keeps committing, and writes a
compact, self-contained file with no WAL.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from blazz.store import audit as audit_store
from blazz.store.database import connect
from blazz.store.migrations import applied_names

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class WorkspaceEntry:
    """A workspace as app.db knows it, with the people who belong to it (email, role)."""

    id: int
    slug: str
    name: str
    created_at: int
    members: tuple[tuple[str, str], ...]


def _open(path: Path, *, timeout: float = 30) -> sqlite3.Connection:
    """A plain connection that changes nothing by itself (no journal-mode switch), unlike `database.connect`."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def snapshot(src: Path, dest: Path) -> None:
    """Write a consistent copy of the (possibly live) database `src` to the new file `dest`."""
    conn = _open(src)
    try:
        conn.execute("VACUUM INTO ?", (str(dest),))
    finally:
        conn.close()


def integrity_problems(path: Path, *, quick: bool = False) -> list[str]:
    """What `PRAGMA integrity_check` (or `quick_check`) finds wrong with the file; an empty list means healthy."""
    if not path.is_file():
        return [f"{path.name} is missing"]
    if not is_sqlite_file(path):
        return [f"{path.name} is not an SQLite database"]
    try:
        conn = _open(path)
        try:
            conn.execute("PRAGMA query_only = 1")
            rows = [r[0] for r in conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [f"{path.name}: {exc}"]
    return [] if rows == ["ok"] else rows[:20]


def migrations_of(path: Path) -> list[str]:
    """The names of the migrations recorded in a database file, in the order they ran."""
    conn = _open(path)
    try:
        return applied_names(conn)
    finally:
        conn.close()


def workspaces_in(app_db: Path) -> list[WorkspaceEntry]:
    """Every workspace of an app.db (live or a snapshot), each with its members' emails and roles."""
    conn = _open(app_db)
    try:
        members: dict[int, list[tuple[str, str]]] = {}
        for ws_id, email, role in conn.execute(
            "SELECT m.workspace_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
            " ORDER BY m.workspace_id, m.created_at"
        ):
            members.setdefault(ws_id, []).append((email, role))
        return [
            WorkspaceEntry(r[0], r[1], r[2], r[3], tuple(members.get(r[0], ())))
            for r in conn.execute("SELECT id, slug, name, created_at FROM workspaces ORDER BY id")
        ]
    finally:
        conn.close()


def has_users(app_db: Path) -> bool:
    if not app_db.is_file():
        return False
    conn = _open(app_db)
    try:
        return bool(conn.execute("SELECT 1 FROM users LIMIT 1").fetchone())
    except sqlite3.OperationalError:  # not migrated yet: no users table
        return False
    finally:
        conn.close()


def begin_app_write(app_db: Path) -> sqlite3.Connection:
    """An app.db connection inside `BEGIN IMMEDIATE`; the caller commits once the files are in place."""
    conn = connect(app_db)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def insert_workspace(conn: sqlite3.Connection, slug: str, name: str, created_at: int) -> int:
    cur = conn.execute("INSERT INTO workspaces (slug, name, created_at) VALUES (?, ?, ?)", (slug, name, created_at))
    return cur.lastrowid


def workspace_id_of(conn: sqlite3.Connection, slug: str) -> int | None:
    row = conn.execute("SELECT id FROM workspaces WHERE slug = ?", (slug,)).fetchone()
    return row[0] if row else None


def add_members(conn: sqlite3.Connection, workspace_id: int, members: list[tuple[str, str]]) -> tuple[list, list]:
    """Give each (email, role) that has an account here its membership, unless it already has one.
    Returns (added, missing): the pairs added and those whose email has no user in this install."""
    added, missing = [], []
    now = int(time.time())
    for email, role in members:
        user = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        if user is None:
            missing.append((email, role))
            continue
        cur = conn.execute(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (workspace_id, user_id) DO NOTHING",
            (workspace_id, user[0], role, now),
        )
        if cur.rowcount:
            added.append((email, role))
    return added, missing


def owner_count(conn: sqlite3.Connection, workspace_id: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM memberships WHERE workspace_id = ? AND role = 'owner'", (workspace_id,)
    ).fetchone()[0]


def rekey_webhooks(ws_db: Path, workspace_id: int) -> int:
    """Point Cloud API webhook keys at a workspace's new id (keys are `<workspace id>.<random>`, see
    `accounts.new_webhook_key`); returns how many numbers got a new webhook URL."""
    conn = connect(ws_db)
    try:
        cur = conn.execute(
            "UPDATE accounts SET webhook_key = ? || substr(webhook_key, instr(webhook_key, '.'))"
            " WHERE webhook_key IS NOT NULL AND instr(webhook_key, '.') > 0",
            (str(workspace_id),),
        )
        return cur.rowcount
    finally:
        conn.close()


def numbers_with_sessions(ws_db: Path) -> int:
    """WhatsApp numbers of a workspace whose engine keeps session files (the Cloud API keeps none)."""
    conn = _open(ws_db)
    try:
        return conn.execute(
            "SELECT count(*) FROM accounts WHERE engine != 'cloud_api' AND deleted_at IS NULL"
        ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def record_audit(ws_db: Path, actor: str, action: str, target: str, details: dict) -> None:
    """An audit entry written from outside the server (command line, restore), in its own transaction."""
    conn = connect(ws_db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            audit_store.insert(conn, None, actor, action, target, details)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def in_use_by_another_process(db: Path) -> bool:
    """True when another process holds this WAL database open (every WAL connection keeps a shared lock on it).

    Only probed when a `-shm` file exists: without one no WAL connection can be open, and the probe is skipped so
    the file stays untouched.
    """
    if not db.is_file() or not Path(f"{db}-shm").exists():
        return False
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()
