"""Real installs in temp dirs for the backup, restore and doctor tests: people, workspaces, rows, media, sessions."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from blazz import auth, workspaces
from blazz.store.registry import Databases

OWNER = "owner@shop.test"
PASSWORD = "correct horse battery"


def add_contacts(conn: sqlite3.Connection, start: int, count: int, prefix: str = "Pelanggan") -> None:
    now = int(time.time())
    conn.executemany(
        "INSERT INTO contacts (phone, name, notes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(f"+62812{n:07d}", f"{prefix} {n}", "suka kopi " * (n % 5), now, now) for n in range(start, start + count)],
    )


def add_media(folder: Path, count: int, size: int = 20_000) -> list[str]:
    shas = []
    for n in range(count):
        data = os.urandom(size // 2) + f"file {n}".encode() * (size // 20)
        sha = hashlib.sha256(data).hexdigest()
        (folder / "media" / sha[:2]).mkdir(parents=True, exist_ok=True)
        (folder / "media" / sha[:2] / sha).write_bytes(data)
        shas.append(sha)
    return shas


def add_session_files(folder: Path, account_id: int = 1) -> Path:
    """A linked number: its accounts row, and what its engine keeps (its own SQLite file, a lock file)."""
    ws = sqlite3.connect(folder / "workspace.db")
    ws.execute("INSERT INTO accounts (id, name, engine, status, created_at) VALUES (?, 'Shop', 'sandbox',"
               " 'connected', 0)", (account_id,))
    ws.commit()
    ws.close()
    acct = folder / "whatsapp" / str(account_id)
    acct.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(acct / "sandbox.db")
    conn.execute("CREATE TABLE phones (jid TEXT PRIMARY KEY, keys BLOB)")
    conn.execute("INSERT INTO phones VALUES ('6281100001111@s.whatsapp.net', x'0102030405')")
    conn.commit()
    conn.close()
    (acct / "session.lock").write_bytes(b"")
    return acct


async def make_install(data_dir: Path, names: tuple[str, ...] = ("Toko Sinar",), contacts: int = 200,
                       media: int = 5, owner: str = OWNER) -> dict[str, int]:
    """A data dir as the server leaves it after a clean stop; returns {slug: workspace id}."""
    dbs = Databases(data_dir)
    await dbs.open()
    try:
        user = await auth.create_user(dbs.app, owner, PASSWORD, "Sari")
        made = {}
        for name in names:
            row = await workspaces.create_workspace(dbs.app, name, user.id)
            db = await dbs.workspace(row.id)
            await db.execute_write_fn(lambda conn: add_contacts(conn, 1, contacts))
            add_media(dbs.workspace_folder(row.id), media)
            made[row.slug] = row.id
        return made
    finally:
        await dbs.close()
        (data_dir / "blazz.lock").write_bytes(b"")  # what a server leaves after a clean stop


def dataset(path: Path, skip: tuple[str, ...] = ("audit_log",)) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the rows of every table, to compare two databases' contents."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for table in tables:
            if table in skip:
                continue
            rows = sorted(repr(tuple(r)) for r in conn.execute(f'SELECT * FROM "{table}"'))
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return out
    finally:
        conn.close()


def tree_hash(root: Path) -> str:
    """Every path under `root` with its content's hash: equal before and after means nothing changed."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def repack(src: Path, dst: Path, change: Callable[[Path, dict], None], fix_checksums: bool = True) -> Path:
    """Unzip an archive, let `change` edit its files and manifest, zip it again (checksums redone unless told)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(src) as zf:
            zf.extractall(root)
        manifest = json.loads((root / "manifest.json").read_text())
        change(root, manifest)
        if fix_checksums:
            for entry in manifest["files"]:
                data = (root / entry["path"]).read_bytes()
                entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
        (root / "manifest.json").write_text(json.dumps(manifest))
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(root).as_posix())
    return dst


def corrupt(db: Path) -> None:
    """Overwrite every page after the first with noise: the header still says SQLite, the b-trees are garbage."""
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(4096)
        fh.write(os.urandom(size - 4096))
