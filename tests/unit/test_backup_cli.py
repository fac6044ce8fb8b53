"""`blazz backup`, `blazz restore` and `blazz doctor` as a person runs them: real subprocesses, real data dirs."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from blazz import backup
from tests.unit.installs import add_session_files, corrupt, dataset, make_install, tree_hash
from tests.unit.test_cli import blazz


@pytest.fixture
def install(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    asyncio.run(make_install(data, names=("Toko Sinar", "Cabang Dua"), contacts=50, media=3))
    add_session_files(data / "workspaces" / "1")
    return data


def test_backup_then_restore_from_the_command_line(install, tmp_path):
    r = blazz("backup", "--output", str(tmp_path / "out"), data_dir=install)
    assert r.returncode == 0, r.stderr
    archive = Path(r.stdout.strip())
    assert archive.parent == tmp_path / "out" and archive.is_file() and zipfile.is_zipfile(archive)
    assert "keep it private" in r.stderr
    audit = sqlite3.connect(install / "workspaces/1/workspace.db").execute(
        "SELECT actor, action, target FROM audit_log").fetchall()
    assert ("command line", "backup.created", archive.name) in audit, "backups are audited"

    r = blazz("backup", "--workspace", "toko-sinar", "--with-sessions", data_dir=install)
    assert r.returncode == 0 and "anyone holding them can use your numbers" in r.stderr
    one = Path(r.stdout.strip())
    assert one.parent == install / "backups" and "whatsapp/1/sandbox.db" in " ".join(zipfile.ZipFile(one).namelist())
    r = blazz("backup", "--workspace", "nope", data_dir=install)
    assert r.returncode == 1 and "No workspace with the slug nope" in r.stderr and "Traceback" not in r.stderr

    fresh = tmp_path / "fresh"
    r = blazz("restore", str(archive), data_dir=fresh)
    assert r.returncode == 0, r.stderr
    assert "Workspace toko-sinar: created." in r.stdout and "start Blazz again" in r.stdout
    assert dataset(fresh / "workspaces/2/workspace.db") == dataset(install / "workspaces/2/workspace.db")

    r = blazz("restore", str(archive), data_dir=fresh)
    assert r.returncode == 1 and "--force" in r.stderr and "Nothing was changed." in r.stderr
    r = blazz("restore", str(one), "--force", data_dir=fresh)
    assert r.returncode == 0 and "Workspace toko-sinar: replaced." in r.stdout and "restore-backups" in r.stdout


def test_restore_refuses_a_damaged_archive_and_changes_nothing(install, tmp_path):
    archive = Path(blazz("backup", data_dir=install).stdout.strip())
    r = blazz("restore", str(archive), "--check", data_dir=install)
    assert r.returncode == 0 and "is a complete Blazz backup" in r.stdout and "toko-sinar, cabang-dua" in r.stdout
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[:-2000])
    before = tree_hash(install)
    r = blazz("restore", str(cut), "--check", data_dir=install)
    assert r.returncode == 1 and "damaged or incomplete" in r.stderr
    r = blazz("restore", str(cut), "--force", data_dir=install)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "damaged or incomplete" in r.stderr and "Nothing was changed." in r.stderr
    assert tree_hash(install) == before


def test_doctor_on_a_healthy_and_on_a_damaged_data_dir(install):
    r = blazz("doctor", data_dir=install)
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in ("blazz 0.", "sqlite 3.", "litestar 2.", "server: not running", "no backup yet",
                     "ok       workspace toko-sinar: healthy, schema up to date", "workspace cabang-dua (Cabang Dua)"):
        assert expected in r.stdout, expected
    blazz("backup", data_dir=install)
    report = json.loads(blazz("doctor", "--json", data_dir=install).stdout)
    assert report["status"] == "ok" and report["backups"]["last_archive"].startswith("blazz-backup-all-")
    assert {d["name"] for d in report["databases"]} >= {"app.db", "workspace toko-sinar", "workspace cabang-dua"}

    corrupt(install / "workspaces/2/workspace.db")
    r = blazz("doctor", data_dir=install)
    assert r.returncode == 1
    assert "PROBLEM  workspace cabang-dua: damaged" in r.stdout and "blazz restore" in r.stdout
    assert "ok       workspace toko-sinar" in r.stdout


def test_doctor_names_a_schema_from_a_newer_blazz_and_a_failing_daily_backup(install):
    conn = sqlite3.connect(install / "workspaces/1/workspace.db")
    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_loyalty_points', 0)")
    conn.commit()
    conn.close()
    (install / "backups").mkdir()
    (install / "backups" / backup.STATUS_FILE).write_text(json.dumps(
        {"last_error": "Not enough free disk space", "last_error_at": "2026-11-26T03:00:00Z"}))
    (install / ".restore-20261126-030000-x1y2").mkdir()  # a restore killed halfway
    r = blazz("doctor", "--quick", data_dir=install)
    assert r.returncode == 1
    assert "warning  restore: an interrupted restore left .restore-20261126-030000-x1y2" in r.stdout
    assert "newer Blazz (unknown schema changes: m999_loyalty_points)" in r.stdout
    assert "PROBLEM  backups: the last daily backup failed at 2026-11-26T03:00:00Z: Not enough free disk" in r.stdout


def test_with_a_real_server_running_backup_works_restore_refuses_and_logs_are_json(install, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "blazz", "serve", "--port", "0", "--log-format", "json",
                             "--data-dir", str(install)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split("running at ")[1].split()[0]
        deadline = time.time() + 15
        while True:
            try:
                if httpx.get(url + "health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "server did not become healthy"
            time.sleep(0.1)
        r = blazz("backup", data_dir=install)
        assert r.returncode == 0, r.stderr
        archive = Path(r.stdout.strip())
        before = tree_hash(install / "workspaces")
        r = blazz("restore", str(archive), "--force", data_dir=install)
        assert r.returncode == 1 and "Stop it first" in r.stderr and "Nothing was changed" in r.stderr, r.stderr
        assert tree_hash(install / "workspaces") == before
        r = blazz("doctor", data_dir=install)
        assert r.returncode == 0 and "server: running (" in r.stdout
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(line) for line in (install / "logs" / "blazz.log").read_text().splitlines()]
    assert any(line["message"].startswith("blazz 0.") and line["level"] == "info" for line in lines)
    r = blazz("restore", str(archive), "--force", data_dir=install)
    assert r.returncode == 0 and "Workspace toko-sinar: replaced." in r.stdout, r.stderr
