"""Workspaces and who belongs to them (app.db `workspaces`, `memberships`)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from blazz.store.database import Database

ROLES = ("owner", "admin", "agent")


@dataclass(frozen=True, slots=True)
class WorkspaceRow:
    id: int
    slug: str
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Membership:
    workspace: WorkspaceRow
    user_id: int
    role: str


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    email: str
    name: str
    role: str
    joined_at: int
    last_login_at: int | None


async def all_workspaces(db: Database) -> list[WorkspaceRow]:
    return [
        WorkspaceRow(*r) for r in await db.fetchall("SELECT id, slug, name, created_at FROM workspaces ORDER BY id")
    ]


async def by_slug(db: Database, slug: str) -> WorkspaceRow | None:
    row = await db.fetchone("SELECT id, slug, name, created_at FROM workspaces WHERE slug = ?", (slug,))
    return WorkspaceRow(*row) if row else None


async def by_id(db: Database, workspace_id: int) -> WorkspaceRow | None:
    row = await db.fetchone("SELECT id, slug, name, created_at FROM workspaces WHERE id = ?", (workspace_id,))
    return WorkspaceRow(*row) if row else None


async def slug_taken(db: Database, slug: str) -> bool:
    return bool(await db.fetchval("SELECT 1 FROM workspaces WHERE slug = ?", (slug,)))


def insert(conn: sqlite3.Connection, slug: str, name: str, owner_id: int) -> int:
    now = int(time.time())
    cur = conn.execute("INSERT INTO workspaces (slug, name, created_at) VALUES (?, ?, ?)", (slug, name, now))
    conn.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
        (cur.lastrowid, owner_id, now),
    )
    return cur.lastrowid


async def rename(db: Database, workspace_id: int, name: str) -> None:
    await db.execute_write("UPDATE workspaces SET name = ? WHERE id = ?", (name, workspace_id))


async def membership(db: Database, slug: str, user_id: int) -> Membership | None:
    row = await db.fetchone(
        "SELECT w.id, w.slug, w.name, w.created_at, m.user_id, m.role FROM workspaces w"
        " JOIN memberships m ON m.workspace_id = w.id WHERE w.slug = ? AND m.user_id = ?",
        (slug, user_id),
    )
    return Membership(WorkspaceRow(*row[:4]), row[4], row[5]) if row else None


async def memberships_of(db: Database, user_id: int) -> list[Membership]:
    rows = await db.fetchall(
        "SELECT w.id, w.slug, w.name, w.created_at, m.user_id, m.role FROM workspaces w"
        " JOIN memberships m ON m.workspace_id = w.id WHERE m.user_id = ? ORDER BY w.name COLLATE NOCASE",
        (user_id,),
    )
    return [Membership(WorkspaceRow(*r[:4]), r[4], r[5]) for r in rows]


async def members(db: Database, workspace_id: int) -> list[Member]:
    rows = await db.fetchall(
        "SELECT u.id, u.email, u.name, m.role, m.created_at, u.last_login_at FROM memberships m"
        " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? ORDER BY m.created_at",
        (workspace_id,),
    )
    return [Member(*r) for r in rows]


def add_member(conn: sqlite3.Connection, workspace_id: int, user_id: int, role: str) -> None:
    conn.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (workspace_id, user_id) DO NOTHING",
        (workspace_id, user_id, role, int(time.time())),
    )


def count_owners(conn: sqlite3.Connection, workspace_id: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM memberships WHERE workspace_id = ? AND role = 'owner'", (workspace_id,)
    ).fetchone()[0]


def role_of(conn: sqlite3.Connection, workspace_id: int, user_id: int) -> str | None:
    row = conn.execute(
        "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?", (workspace_id, user_id)
    ).fetchone()
    return row[0] if row else None


def set_role(conn: sqlite3.Connection, workspace_id: int, user_id: int, role: str) -> None:
    conn.execute(
        "UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?", (role, workspace_id, user_id)
    )


def remove_member(conn: sqlite3.Connection, workspace_id: int, user_id: int) -> None:
    conn.execute("DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", (workspace_id, user_id))
