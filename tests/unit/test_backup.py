"""Backups and restores on real data dirs: hot copies under write load, every kind of bad archive refused with the
data dir untouched, one-workspace round trips, daily backups and their retention."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sqlite3
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from blazz import backup, restore
from blazz.instance_lock import InstanceLock
from blazz.restore import RestoreRefused
from blazz.store import backup_files
from blazz.store.database import Database
from blazz.store.registry import Databases
from tests.unit.installs import (
    OWNER,
    add_contacts,
    add_session_files,
    corrupt,
    dataset,
    make_install,
    repack,
    tree_hash,
)


def ws_db(data_dir: Path, ws_id: int = 1) -> Path:
    return data_dir / "workspaces" / str(ws_id) / "workspace.db"


def rows_checksum(path: Path, where: str = "", params: tuple = ()) -> tuple[int, str]:
    conn = sqlite3.connect(path)
    rows = conn.execute(f"SELECT id, phone, name, notes, created_at FROM contacts {where} ORDER BY id", params)
    rows = [repr(tuple(r)) for r in rows]
    conn.close()
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


@pytest.fixture
def install(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    asyncio.run(make_install(data, names=("Toko Sinar", "Cabang Dua"), contacts=300, media=6))
    add_session_files(data / "workspaces" / "1")
    return data


# -- making archives ---------------------------------------------------------------------------------------------


async def test_backup_under_write_load_restores_a_consistent_snapshot(tmp_path):
    data = tmp_path / "data"
    await make_install(data, contacts=20_000, media=30)
    db = Database(ws_db(data))  # the server's writer, committing one contact + one audit row per transaction
    await db.open()
    written, stop, committed = 0, asyncio.Event(), asyncio.Event()

    async def writer():
        nonlocal written
        while not stop.is_set():
            n = written + 1

            def tx(conn, n=n):
                add_contacts(conn, 100_000 + n, 1, prefix="Load")
                conn.execute("INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, 'test',"
                             " 'load.insert', ?, '{}')", (int(time.time()), str(n)))

            await db.execute_write_fn(tx)
            written = n
            committed.set()

    async def until_written(count: int) -> None:
        while written < count:
            committed.clear()
            await committed.wait()

    task = asyncio.create_task(writer())
    await until_written(30)
    before = written
    result = await asyncio.to_thread(backup.create_backup, data, tmp_path / "out")
    after = written
    await until_written(after + 30)  # and the server keeps writing after the backup, unharmed
    stop.set()
    await task
    await db.close()
    assert after > before, "the writer committed while the backup ran"

    fresh = tmp_path / "fresh"
    restore.restore(fresh, result.path)
    got = ws_db(fresh)
    conn = sqlite3.connect(got)
    load_contacts = conn.execute("SELECT count(*) FROM contacts WHERE name LIKE 'Load %'").fetchone()[0]
    load_audit = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'load.insert'").fetchone()[0]
    max_id = conn.execute("SELECT max(id) FROM contacts").fetchone()[0]
    conn.close()
    assert before <= load_contacts <= after, "the snapshot is from the time of the backup"
    assert load_contacts == load_audit, "no transaction is half in the copy"
    # Identical dataset: every row of the snapshot equals the live row (rows are never changed after insert).
    assert rows_checksum(got) == rows_checksum(ws_db(data), "WHERE id <= ?", (max_id,))
    assert rows_checksum(got)[0] == 20_000 + load_contacts
    assert backup_files.integrity_problems(got) == []
    media = sorted(p.name for p in (data / "workspaces/1/media").rglob("*") if p.is_file())
    assert sorted(p.name for p in (fresh / "workspaces/1/media").rglob("*") if p.is_file()) == media


def test_full_backup_round_trip_is_identical_and_keeps_sessions_out_unless_asked(install, tmp_path):
    plain = backup.create_backup(install, tmp_path / "out")
    names = zipfile.ZipFile(plain.path).namelist()
    assert "manifest.json" in names and "app.db" in names
    assert "workspaces/toko-sinar/workspace.db" in names and "workspaces/cabang-dua/workspace.db" in names
    assert sum(n.startswith("workspaces/toko-sinar/media/") for n in names) == 6
    assert not any("/whatsapp/" in n for n in names), "session files are credentials: only when asked"
    assert oct(plain.path.stat().st_mode & 0o777) == "0o600"
    m = plain.manifest
    assert m.format == "blazz-backup" and m.scope == "all" and m.blazz_version
    assert m.app_migrations == backup_files.migrations_of(install / "app.db")
    assert [(w.slug, w.name) for w in m.workspaces] == [("toko-sinar", "Toko Sinar"), ("cabang-dua", "Cabang Dua")]
    assert m.workspaces[0].members[0].email == OWNER and m.workspaces[0].members[0].role == "owner"
    assert all(len(f.sha256) == 64 and f.size > 0 for f in m.files)

    with_sessions = backup.create_backup(install, tmp_path / "out", with_sessions=True)
    names = zipfile.ZipFile(with_sessions.path).namelist()
    assert "workspaces/toko-sinar/whatsapp/1/sandbox.db" in names
    assert "workspaces/toko-sinar/whatsapp/1/session.lock" not in names

    fresh = tmp_path / "fresh"
    result = restore.restore(fresh, with_sessions.path)
    assert result.restored == [("toko-sinar", "created"), ("cabang-dua", "created")] and result.moved_aside is None
    for ws_id in (1, 2):
        assert dataset(ws_db(fresh, ws_id)) == dataset(ws_db(install, ws_id))
    assert dataset(fresh / "app.db") == dataset(install / "app.db")
    conn = sqlite3.connect(fresh / "workspaces/1/whatsapp/1/sandbox.db")
    assert conn.execute("SELECT keys FROM phones").fetchone()[0] == b"\x01\x02\x03\x04\x05"
    conn.close()
    audit = sqlite3.connect(ws_db(fresh)).execute("SELECT actor, action, target FROM audit_log").fetchall()
    assert ("command line", "backup.restored", with_sessions.path.name) in audit


def test_full_restore_over_an_install_needs_force_and_keeps_the_previous_files(install, tmp_path):
    result = backup.create_backup(install, tmp_path / "out")
    before = dataset(ws_db(install))
    conn = sqlite3.connect(ws_db(install))
    conn.execute("DELETE FROM contacts WHERE id > 10")  # the mistake the backup undoes
    conn.commit()
    conn.close()
    (install / "sessions").mkdir()
    (install / "sessions" / "abc").write_text("a login session")

    with pytest.raises(RestoreRefused, match="--force"):
        restore.restore(install, result.path)
    done = restore.restore(install, result.path, force=True)
    assert dataset(ws_db(install)) == before
    aside = done.moved_aside
    assert aside is not None and aside.parent == install / "restore-backups"
    assert rows_checksum(aside / "workspaces/1/workspace.db")[0] == 10, "the replaced data is kept, not lost"
    assert (aside / "sessions" / "abc").exists() and not (install / "sessions").exists(), "everyone logs in again"
    # The backup had no WhatsApp sessions: the numbers linked here stay linked.
    assert (install / "workspaces/1/whatsapp/1/sandbox.db").exists()
    assert any("stay linked" in note for note in done.notes)


# -- bad archives are refused and nothing changes ------------------------------------------------------------------


def refused(data: Path, archive: Path, match: str, **kw) -> None:
    before = tree_hash(data)
    with pytest.raises(RestoreRefused, match=match):
        restore.restore(data, archive, **kw)
    assert tree_hash(data) == before, "the data dir is exactly as it was"
    assert not list(data.glob(".restore-*")), "no staging folder is left behind"


def test_truncated_archive_is_refused(install, tmp_path):
    good = backup.create_backup(install, tmp_path / "out").path
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    refused(install, cut, "damaged or incomplete", force=True)
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    refused(install, empty, "not a zip archive", force=True)


def test_foreign_archives_are_refused(install, tmp_path):
    tgz = tmp_path / "photos.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        info = tarfile.TarInfo("holiday.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    refused(install, tgz, "not a Blazz backup: it is not a zip archive", force=True)
    other_zip = tmp_path / "report.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("report.csv", "a,b\n1,2\n")
    refused(install, other_zip, "not a Blazz backup: it has no manifest.json", force=True)
    lookalike = tmp_path / "lookalike.zip"
    with zipfile.ZipFile(lookalike, "w") as zf:
        zf.writestr("manifest.json", '{"format": "something-else", "files": []}')
    refused(install, lookalike, "of another kind", force=True)
    refused(install, tmp_path / "missing.zip", "No such file", force=True)


def test_checksum_mismatch_and_damaged_contents_are_refused(install, tmp_path):
    good = backup.create_backup(install, tmp_path / "out").path

    def flip_media(root: Path, manifest: dict) -> None:
        media = next(p for p in root.rglob("media/*/*") if p.is_file())
        data = bytearray(media.read_bytes())
        data[100] ^= 0xFF
        media.write_bytes(bytes(data))

    refused(install, repack(good, tmp_path / "flipped.zip", flip_media, fix_checksums=False),
            "does not match its checksum", force=True)

    def damaged_db(root: Path, manifest: dict) -> None:
        corrupt(root / "workspaces/toko-sinar/workspace.db")

    # Checksums that match a database that was already damaged when it was backed up.
    refused(install, repack(good, tmp_path / "bad-db.zip", damaged_db), "integrity check", force=True)

    raw = bytearray(good.read_bytes())  # bytes flipped inside a compressed entry: zip's own CRC catches it
    info = zipfile.ZipFile(good).getinfo("workspaces/toko-sinar/workspace.db")
    raw[info.header_offset + 200] ^= 0xFF
    raw[info.header_offset + 201] ^= 0xFF
    (tmp_path / "bitrot.zip").write_bytes(bytes(raw))
    refused(install, tmp_path / "bitrot.zip", "damaged", force=True)

    def escape(root: Path, manifest: dict) -> None:
        (root / "evil").write_text("x")
        manifest["files"].append({"path": "../evil", "sha256": "0" * 64, "size": 1})

    refused(install, repack(good, tmp_path / "escape.zip", escape, fix_checksums=False), "never contains",
            force=True)

    def extra_file(root: Path, manifest: dict) -> None:
        (root / "workspaces/toko-sinar/media/aa").mkdir(parents=True, exist_ok=True)
        (root / "workspaces/toko-sinar/media/aa" / ("a" * 64)).write_text("not listed")

    refused(install, repack(good, tmp_path / "extra.zip", extra_file), "does not match its manifest", force=True)


@pytest.mark.parametrize("kind", ["app", "workspace"])
def test_newer_schema_is_refused_naming_what_is_newer(install, tmp_path, kind):
    good = backup.create_backup(install, tmp_path / "out").path

    def from_the_future(root: Path, manifest: dict) -> None:
        db = root / ("app.db" if kind == "app" else "workspaces/cabang-dua/workspace.db")
        conn = sqlite3.connect(db)
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_loyalty_points', 0)")
        conn.commit()
        conn.close()
        if kind == "app":
            manifest["app_migrations"].append("m999_loyalty_points")
        else:
            manifest["workspaces"][1]["migrations"].append("m999_loyalty_points")
        manifest["blazz_version"] = "9.0.0"

    newer = repack(good, tmp_path / "newer.zip", from_the_future)
    where = "app.db" if kind == "app" else "workspace cabang-dua"
    refused(install, newer, rf"newer Blazz \(9\.0\.0\).*{where} has m999_loyalty_points", force=True)

    def newer_format(root: Path, manifest: dict) -> None:
        manifest["format_version"] = backup.FORMAT_VERSION + 1

    refused(install, repack(good, tmp_path / "format.zip", newer_format), "Upgrade Blazz", force=True)


async def test_restore_is_refused_while_a_server_uses_the_data_dir(install, tmp_path):
    good = backup.create_backup(install, tmp_path / "out").path
    dbs = Databases(install)  # what a running server holds open
    await dbs.open()
    try:
        await dbs.workspace(1)
        refused(install, good, "Blazz is running on .* Stop it first", force=True)
    finally:
        await dbs.close()
    refused_while_locked(install, good)
    assert restore.restore(install, good, force=True).restored


def refused_while_locked(data: Path, archive: Path) -> None:
    with InstanceLock(data) as lock:  # what `blazz serve` holds while it runs
        lock.acquire("serve")
        lock.publish("http://127.0.0.1:8123/")
        refused(data, archive, r"Blazz serve at http://127\.0\.0\.1:8123/, pid \d+\)\. Stop it first", force=True)


# -- one workspace -----------------------------------------------------------------------------------------------


def test_workspace_backup_round_trip_replaces_only_that_workspace(install, tmp_path):
    result = backup.create_backup(install, tmp_path / "out", workspace="toko-sinar")
    assert result.manifest.scope == "workspace" and [w.slug for w in result.manifest.workspaces] == ["toko-sinar"]
    names = zipfile.ZipFile(result.path).namelist()
    assert "app.db" not in names and not any("cabang-dua" in n for n in names)
    snapshot = dataset(ws_db(install, 1))
    other = tree_hash(install / "workspaces" / "2")
    app_before = dataset(install / "app.db")

    conn = sqlite3.connect(ws_db(install, 1))
    conn.execute("DELETE FROM contacts")
    conn.commit()
    conn.close()
    with pytest.raises(RestoreRefused, match=r"already has a workspace toko-sinar.*--force"):
        restore.restore(install, result.path)
    done = restore.restore(install, result.path, force=True)
    assert done.restored == [("toko-sinar", "replaced")]
    assert dataset(ws_db(install, 1)) == snapshot
    assert tree_hash(install / "workspaces" / "2") == other, "the other workspace is untouched"
    assert dataset(install / "app.db") == app_before, "people, tokens and memberships stay as they are"
    with pytest.raises(backup.BackupError, match="No workspace with the slug nope"):
        backup.create_backup(install, tmp_path / "out", workspace="nope")


async def test_workspace_restore_into_another_install_recreates_it_with_its_owner(install, tmp_path):
    archive = backup.create_backup(install, tmp_path / "out", workspace="cabang-dua").path
    conn = sqlite3.connect(ws_db(install, 2))  # a Cloud API number: its webhook key names the workspace id
    conn.execute("INSERT INTO accounts (name, engine, webhook_key, created_at) VALUES ('Official', 'cloud_api',"
                 " '2.secretpart', 0)")
    conn.commit()
    conn.close()
    archive = backup.create_backup(install, tmp_path / "out", workspace="cabang-dua").path

    other = tmp_path / "other"  # an install where the owner exists and workspace 1 is something else
    await make_install(other, names=("Gudang",), contacts=5, media=0)
    done = restore.restore(other, archive)
    assert done.restored == [("cabang-dua", "created")]
    entries = {e.slug: e for e in backup_files.workspaces_in(other / "app.db")}
    assert entries["cabang-dua"].members == ((OWNER, "owner"),) and entries["cabang-dua"].id == 2
    assert dataset(ws_db(other, 2), skip=("audit_log", "accounts")) == \
        dataset(ws_db(install, 2), skip=("audit_log", "accounts"))
    key = sqlite3.connect(ws_db(other, 2)).execute("SELECT webhook_key FROM accounts").fetchone()[0]
    assert key == "2.secretpart"

    lonely = tmp_path / "lonely"  # an install where nobody has the owner's email, and the id is taken
    await make_install(lonely, names=("A", "B", "C"), contacts=1, media=0, owner="someone@else.test")
    done = restore.restore(lonely, archive)
    entries = {e.slug: e for e in backup_files.workspaces_in(lonely / "app.db")}
    assert entries["cabang-dua"].id == 4 and entries["cabang-dua"].members == ()
    assert any(f"blazz admin create-user --email {OWNER}" in n for n in done.notes)
    assert sqlite3.connect(ws_db(lonely, 4)).execute("SELECT webhook_key FROM accounts").fetchone()[0] \
        == "4.secretpart", "webhook keys follow the new workspace id"
    assert any("new webhook URL" in n for n in done.notes)
    # The fix the note names: create the owner, restore again; the owner gets the workspace back.
    dbs = Databases(lonely)
    await dbs.open()
    from blazz import auth

    await auth.create_user(dbs.app, OWNER, "correct horse battery")
    await dbs.close()
    restore.restore(lonely, archive, force=True)
    entries = {e.slug: e for e in backup_files.workspaces_in(lonely / "app.db")}
    assert entries["cabang-dua"].members == ((OWNER, "owner"),)


# -- daily backups -----------------------------------------------------------------------------------------------


def test_retention_keeps_the_newest_seven_daily_archives_and_never_manual_ones(tmp_path):
    folder = tmp_path / "data" / "backups"
    folder.mkdir(parents=True)
    days = [f"blazz-daily-202611{d:02d}-030000.zip" for d in range(1, 11)]
    for name in [*days, "blazz-backup-all-20261101-120000.zip"]:
        (folder / name).write_bytes(b"x")
    removed = backup.prune_daily(tmp_path / "data")
    assert [p.name for p in removed] == days[:3]
    assert sorted(p.name for p in folder.iterdir()) == ["blazz-backup-all-20261101-120000.zip", *days[3:]]


def test_daily_backup_runs_when_due_and_prunes(install):
    assert backup.daily_due(install)
    for d in range(1, 8):
        (install / "backups").mkdir(exist_ok=True)
        old = install / "backups" / f"blazz-daily-202601{d:02d}-030000.zip"
        old.write_bytes(b"x")
        os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    assert backup.daily_due(install), "the newest is three days old"
    result = backup.run_daily(install)
    daily = backup.daily_archives(install)
    assert len(daily) == 7 and daily[-1] == result.path and "blazz-daily-20260101-030000.zip" not in str(daily)
    assert not backup.daily_due(install), "one a day"
    assert not backup.daily_due(install, now=time.time() + 23 * 3600)
    assert backup.daily_due(install, now=time.time() + 25 * 3600)
    status = backup.read_status(install)
    assert status["last_archive"] == result.path.name and status["last_error"] is None


def test_a_failing_daily_backup_is_recorded_and_retried_an_hour_later(install):
    corrupt(ws_db(install, 2))
    with pytest.raises(sqlite3.DatabaseError):
        backup.run_daily(install)
    status = backup.read_status(install)
    assert status["last_error"] and status["last_error_at"]
    assert not backup.daily_archives(install) and not list((install / "backups").glob(".blazz-*"))
    assert not backup.daily_due(install), "not retried on every heartbeat"
    assert backup.daily_due(install, now=time.time() + 3601)
