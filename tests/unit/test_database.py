"""The Database class and migrations on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import sqlite_utils

from blazz.store.app_schema import APP_MIGRATIONS
from blazz.store.database import Database, connect
from blazz.store.migrations import Migrations, SchemaTooNew, applied_names
from blazz.store.registry import Databases
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS


async def test_pragmas_wal_foreign_keys_busy_timeout(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        await db.execute_write("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        assert (await db.fetchval("PRAGMA journal_mode")) == "wal"
        assert (await db.fetchval("PRAGMA foreign_keys")) == 1
        assert (await db.fetchval("PRAGMA busy_timeout")) >= 5000
    finally:
        await db.close()


async def test_write_fn_is_one_transaction_rolled_back_on_error(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.execute_write("CREATE TABLE t (v INTEGER UNIQUE)")

    def two_inserts(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO t VALUES (1)")  # violates UNIQUE: the first insert must vanish too

    with pytest.raises(sqlite3.IntegrityError):
        await db.execute_write_fn(two_inserts)
    assert await db.fetchval("SELECT count(*) FROM t") == 0
    await db.execute_write_fn(lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert await db.fetchval("SELECT count(*) FROM t") == 1
    await db.close()


async def test_concurrent_writers_never_see_locked_and_readers_run_alongside(tmp_path):
    db = Database(tmp_path / "x.db", readers=3)
    await db.open()
    await db.execute_write("CREATE TABLE t (v INTEGER)")

    async def writer(n: int) -> None:
        for i in range(100):
            await db.execute_write("INSERT INTO t VALUES (?)", (n * 1000 + i,))

    async def reader() -> int:
        seen = 0
        for _ in range(50):
            seen = max(seen, await db.fetchval("SELECT count(*) FROM t"))
        return seen

    results = await asyncio.gather(*(writer(n) for n in range(10)), reader(), reader())
    assert await db.fetchval("SELECT count(*) FROM t") == 1000
    assert all(r <= 1000 for r in results[-2:])
    await db.close()


async def test_readers_are_read_only(tmp_path):
    db = Database(tmp_path / "x.db")
    await db.open()
    await db.execute_write("CREATE TABLE t (v INTEGER)")
    with pytest.raises(sqlite3.OperationalError):
        await db.execute_fn(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await db.close()


def test_migrations_apply_once_in_order_and_are_recorded(tmp_path):
    path = tmp_path / "w.db"
    assert WORKSPACE_MIGRATIONS.apply(path) == WORKSPACE_MIGRATIONS.names
    assert WORKSPACE_MIGRATIONS.apply(path) == []
    conn = connect(path)
    assert applied_names(conn) == WORKSPACE_MIGRATIONS.names
    tables = set(sqlite_utils.Database(conn).table_names())
    assert {"contacts", "conversations", "messages", "messages_fts", "accounts", "outbox", "media"} <= tables


def test_failed_migration_changes_nothing(tmp_path):
    steps = Migrations("test")

    @steps
    def m001_ok(db):
        db.conn.execute("CREATE TABLE a (x)")

    @steps
    def m002_broken(db):
        db.conn.execute("CREATE TABLE b (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        steps.apply(tmp_path / "t.db")
    conn = connect(tmp_path / "t.db")
    assert applied_names(conn) == ["m001_ok"]
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in names and "b" not in names


def test_database_from_a_newer_blazz_is_refused(tmp_path):
    path = tmp_path / "app.db"
    APP_MIGRATIONS.apply(path)
    conn = connect(path)
    conn.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 0)")
    conn.close()
    with pytest.raises(SchemaTooNew):
        APP_MIGRATIONS.apply(path)


async def test_messages_fts_finds_words_without_diacritics_newest_first(tmp_path):
    dbs = Databases(tmp_path)
    await dbs.open()
    db = await dbs.workspace(7)
    assert db.path == tmp_path / "workspaces" / "7" / "workspace.db"

    def seed(conn):
        conn.execute("INSERT INTO accounts (id, name, engine, created_at) VALUES (1, 'a', 'sandbox', 0)")
        conn.execute("INSERT INTO contacts (id, phone, name, created_at, updated_at) VALUES (1, '+628', 'Ana', 0, 0)")
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                     " VALUES (1, 1, 1, 0, 0)")
        for i, body in enumerate(["¿Cuánto cuesta?", "terima kasih", "cuanto tiempo"]):
            conn.execute("INSERT INTO messages (conversation_id, account_id, direction, body, created_at)"
                         " VALUES (1, 1, 'in', ?, ?)", (body, i))

    await db.execute_write_fn(seed)
    rows = await db.fetchall("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'cuanto' ORDER BY rowid DESC")
    assert [r[0] for r in rows] == [3, 1]
    await dbs.close()


async def test_new_messages_join_the_search_index_as_their_transaction_commits(tmp_path):
    """Messages are indexed together at commit (m016): edits and deletes before it, a rolled-back write, and rows
    another connection wrote while the server was down all leave the index exactly matching the messages."""
    dbs = Databases(tmp_path)
    await dbs.open()
    db = await dbs.workspace(1)

    async def found(word: str) -> list[int]:
        rows = await db.fetchall("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (word,))
        return [r[0] for r in rows]

    def add(conn: sqlite3.Connection, body: str) -> int:
        return conn.execute("INSERT INTO messages (conversation_id, account_id, direction, body, created_at)"
                            " VALUES (1, 1, 'in', ?, 0)", (body,)).lastrowid

    def seed(conn: sqlite3.Connection) -> list[int]:
        conn.execute("INSERT INTO accounts (id, name, engine, created_at) VALUES (1, 'a', 'sandbox', 0)")
        conn.execute("INSERT INTO contacts (id, phone, created_at, updated_at) VALUES (1, '+628', 0, 0)")
        conn.execute("INSERT INTO conversations (id, contact_id, account_id, last_message_at, created_at)"
                     " VALUES (1, 1, 1, 0, 0)")
        ids = [add(conn, body) for body in ("kopi arabika", "kopi robusta", "teh melati", "kopi luwak")]
        assert not conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'kopi'").fetchone()[0]
        conn.execute("UPDATE messages SET body = 'teh hijau' WHERE id = ?", (ids[1],))  # edited while queued
        conn.execute("DELETE FROM messages WHERE id = ?", (ids[3],))  # gone while queued
        return ids

    ids = await db.execute_write_fn(seed)
    assert await found("kopi") == [ids[0]] and await found("teh") == [ids[1], ids[2]]
    assert await db.fetchval("SELECT count(*) FROM messages_fts_queue") == 0

    def edit_and_fail(conn: sqlite3.Connection) -> None:
        add(conn, "gula aren")
        conn.execute("UPDATE messages SET body = 'gula pasir' WHERE id = ?", (ids[0],))  # indexed: edited in place
        raise ValueError("changed my mind")

    with pytest.raises(ValueError):
        await db.execute_write_fn(edit_and_fail)
    assert await found("gula") == [] and await found("kopi") == [ids[0]]
    await db.execute_write("UPDATE messages SET body = 'kopi susu' WHERE id = ?", (ids[0],))
    await db.execute_write("DELETE FROM messages WHERE id = ?", (ids[2],))
    assert await found("kopi") == [ids[0]] and await found("susu") == [ids[0]] and await found("teh") == [ids[1]]

    await dbs.close()
    conn = connect(dbs.workspace_path(1))  # another program writes while the server is down
    late = add(conn, "es kopi")
    conn.close()
    dbs = Databases(tmp_path)
    await dbs.open()
    db = await dbs.workspace(1)
    assert await found("kopi") == [ids[0], late]
    # FTS5 compares the index with the messages themselves (rank 1) and raises on any difference
    await db.execute_write("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    await dbs.close()
