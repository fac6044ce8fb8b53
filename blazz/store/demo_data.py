"""Bulk loading of a fresh workspace file with generated demo data: all the SQL of `blazz demo` lives here.

The load runs on one plain sync connection inside one transaction. The FTS triggers, the dashboard counters' triggers
and the indexes of `messages` are set aside while rows go in, and everything is indexed (and counted) once at the end
(sorting beats a million scattered B-tree inserts, and an FTS rebuild is an order of magnitude faster than feeding it
row by row). Triggers and indexes are re-created from the exact SQL the migrations wrote, read back from
sqlite_master, so later writes behave as usual.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from blazz.store import dashboard_counters
from blazz.store.database import Database, connect

# An FTS5 table that mirrors a content table (`content=...`), as sqlite-utils and the migrations make them.
_EXTERNAL_CONTENT = re.compile(r"\bcontent\s*=\s*['\"\[]?\w", re.IGNORECASE)
REINDEXED_TABLES = ("messages",)  # the only table big enough for index-after-load to pay off

ACCOUNT_COLUMNS = (
    "id", "name", "engine", "phone", "push_name", "status", "settings", "is_default", "keep_connected",
    "linked_at", "created_at",
)
CONTACT_COLUMNS = (
    "id", "phone", "name", "first_name", "last_name", "email", "notes", "fields", "favourite", "opted_out_at",
    "opted_out_reason", "created_at", "updated_at",
)
GROUP_COLUMNS = ("id", "name", "color", "created_at")
CONTACT_GROUP_COLUMNS = ("contact_id", "group_id")
CUSTOM_FIELD_COLUMNS = ("key", "label", "type", "options", "position", "created_at")
CONVERSATION_COLUMNS = (
    "id", "contact_id", "account_id", "status", "unread", "last_message_id", "last_message_at", "last_preview",
    "last_inbound_at", "created_at", "resolved_at",
)
MESSAGE_COLUMNS = (
    "id", "conversation_id", "account_id", "direction", "body", "status", "provider_id", "error", "source",
    "author_id", "created_at", "sent_at", "delivered_at", "read_at",
)


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


async def first_user_id(app_db: Database) -> int | None:
    """The id of the earliest person in app.db (the owner who set Blazz up), if any."""
    return await app_db.fetchval("SELECT id FROM users ORDER BY id LIMIT 1")


class BulkLoad:
    """Fills a freshly migrated workspace file that nobody else has open; use as a context manager, then `finish()`.

    Foreign keys and CHECK constraints hold by construction (the generator assigns every id and picks every status
    from the allowed ones), so SQLite does not re-check them row by row during the load.
    """

    def __init__(self, path: Path):
        self.path = path
        self.conn: sqlite3.Connection | None = None
        # CREATE statements of what is dropped for the load, to be run again at the end
        self._indexes: list[str] = []
        self.fts_tables: list[str] = []  # external-content FTS5 tables, rebuilt from their content at the end
        self._triggers: list[str] = []
        self._done = False

    def __enter__(self) -> BulkLoad:
        conn = connect(self.path)
        self.conn = conn
        conn.row_factory = None
        conn.execute("PRAGMA foreign_keys = OFF")
        # The generator satisfies every CHECK by construction; evaluating `x IN (...)` per row doubles the insert cost.
        conn.execute("PRAGMA ignore_check_constraints = ON")
        # A rollback journal on a file nobody else reads: the new pages are written once instead of WAL + checkpoint.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -131072")  # 128 MiB, so index pages stay in memory during the load
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("BEGIN IMMEDIATE")
        self.fts_tables = [
            name for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'"
            ) if _EXTERNAL_CONTENT.search(sql)
        ]
        # The search index triggers (writing the index, or its queue of messages to index: see m016), and the
        # dashboard counters' (recounted in one pass at the end instead).
        triggers = [
            (name, sql) for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            if any(re.search(rf"\b{re.escape(fts)}(_queue)?\b", sql) for fts in self.fts_tables)
            or name.startswith(dashboard_counters.TRIGGER_PREFIX)
        ]
        indexes = conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({', '.join('?' * len(REINDEXED_TABLES))}) ORDER BY name",
            REINDEXED_TABLES,
        ).fetchall()
        for name, sql in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
            self._triggers.append(sql)
        for name, sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
            self._indexes.append(sql)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if not self._done:
                conn.execute("ROLLBACK")
        finally:
            conn.close()

    def _many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(_insert_sql(table, columns), rows)

    def accounts(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("accounts", ACCOUNT_COLUMNS, rows)

    def contacts(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("contacts", CONTACT_COLUMNS, rows)

    def groups(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("groups", GROUP_COLUMNS, rows)

    def contact_groups(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("contact_groups", CONTACT_GROUP_COLUMNS, rows)

    def custom_fields(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("custom_fields", CUSTOM_FIELD_COLUMNS, rows)

    def conversations(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("conversations", CONVERSATION_COLUMNS, rows)

    def messages(self, rows: Iterable[Sequence[Any]]) -> None:
        self._many("messages", MESSAGE_COLUMNS, rows)

    def rebuild_indexes(self) -> None:
        """Index every row once: the set-aside indexes first, then both search indexes and the dashboard counters;
        then the triggers return."""
        for sql in self._indexes:
            self.conn.execute(sql)
        for table in self.fts_tables:
            self.conn.execute(f"INSERT INTO {table}({table}) VALUES('rebuild')")
            if self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{table}_queue",)).fetchone():
                self.conn.execute(f"DELETE FROM {table}_queue")  # what the rebuild just indexed
        dashboard_counters.rebuild(self.conn)
        for sql in self._triggers:
            self.conn.execute(sql)

    def finish(self) -> None:
        """Commit, then return the file to WAL like every other Blazz database."""
        self.conn.execute("COMMIT")
        self._done = True
        self.conn.execute("PRAGMA journal_mode = WAL")
