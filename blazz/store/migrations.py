"""Ordered, named schema migrations per kind of database, recorded in a `_migrations` table.

Each migration is a function taking a sqlite-utils Database; they run once, in order, inside a transaction, before
the file is served (the simonw/llm pattern). Never edit a released migration: add the next one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from blazz.store.database import connect

MigrationFn = Callable[[sqlite_utils.Database], None]


class SchemaTooNew(Exception):
    """The file was written by a newer Blazz (it has migrations this version does not know)."""


class Migrations:
    def __init__(self, kind: str):
        self.kind = kind
        self.steps: list[tuple[str, MigrationFn]] = []

    def __call__(self, fn: MigrationFn) -> MigrationFn:
        self.steps.append((fn.__name__, fn))
        return fn

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.steps]

    def apply(self, path: Path) -> list[str]:
        """Bring the file at `path` up to date; return the names applied now."""
        conn = connect(path)
        try:
            return self.apply_to(conn)
        finally:
            conn.close()

    def apply_to(self, conn: sqlite3.Connection) -> list[str]:
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        unknown = done - set(self.names)
        if unknown:
            raise SchemaTooNew(
                f"this {self.kind} database was written by a newer Blazz (unknown migrations: {sorted(unknown)})"
            )
        applied = []
        db = sqlite_utils.Database(conn)
        for name, fn in self.steps:
            if name in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                fn(db)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, int(time.time())))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied


def run_script(db: sqlite_utils.Database, sql: str) -> None:
    """Execute several statements without `executescript`, which would COMMIT the migration's transaction."""
    for statement in statements(sql):
        db.conn.execute(statement)


def statements(sql: str) -> list[str]:
    """The complete SQL statements of a script, in order (a trailing incomplete one is an error)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:80]}")
    return out


def applied_names(conn: sqlite3.Connection) -> list[str]:
    try:
        return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    except sqlite3.OperationalError:
        return []
