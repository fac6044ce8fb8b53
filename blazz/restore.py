"""Restoring a backup archive: everything is checked before anything in the data dir changes.

Order: refuse while a Blazz server uses the data dir; read and check the archive (zip, manifest, file list, schema
names known to this version); unpack into a staging folder inside the data dir while checking every sha256; run
`PRAGMA integrity_check` on every database and bring it to this version's schema; only then move the current files
to `restore-backups/<time>/` and the staged ones into place (renames on one filesystem, undone if one fails).

A running server is refused rather than swapped under: it holds the databases open, keeps its own in-memory state
and would keep writing into files that are no longer the data. It is detected by the instance lock `blazz.lock`
(`blazz.instance_lock`) and, whatever that file's state, by app.db being open in another process; the restore then
holds that lock itself until it is done, so a server started meanwhile is told the folder is busy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from blazz import __version__
from blazz.backup import FORMAT, FORMAT_VERSION, MANIFEST, Manifest, WorkspacePart
from blazz.instance_lock import _WINDOWS_LOCK_OFFSET, LOCK_NAME, AlreadyRunning, InstanceLock, LockError, read_holder
from blazz.store import backup_files
from blazz.store.app_schema import APP_MIGRATIONS
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

log = logging.getLogger(__name__)

ASIDE_DIR = "restore-backups"
_SLUG = r"[a-z0-9][a-z0-9-]{0,39}"
_ALLOWED_PATH = re.compile(
    rf"^(app\.db|workspaces/{_SLUG}/(workspace\.db|media/[0-9a-f]{{2}}/[0-9a-f]{{64}}"
    rf"|whatsapp/[0-9]+/[A-Za-z0-9_-][A-Za-z0-9._-]*))$"
)
_CHUNK = 1 << 20


class RestoreRefused(Exception):
    """The archive or the situation does not allow a restore; nothing in the data dir was changed."""


@dataclass(slots=True)
class RestoreResult:
    scope: str
    restored: list[tuple[str, str]]  # (slug, "replaced" | "created")
    moved_aside: Path | None
    notes: list[str] = field(default_factory=list)


# -- is a server using the data dir? ---------------------------------------------------------------------------------


def _lock_held(path: Path) -> bool:
    """Whether a process holds the instance lock, probed without writing to the file (unlike acquiring it)."""
    try:
        with open(path, "rb") as handle:
            try:
                if sys.platform == "win32":
                    handle.seek(_WINDOWS_LOCK_OFFSET)
                    msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
                else:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
    except FileNotFoundError:
        return False
    return False


def data_dir_in_use(data_dir: Path) -> str | None:
    """Why the data dir looks in use by a Blazz process (a server, a restore), or None when it is free."""
    data_dir = Path(data_dir)
    if _lock_held(data_dir / LOCK_NAME):
        holder = read_holder(data_dir)
        if holder is None:
            return f"another Blazz process holds {data_dir / LOCK_NAME}"
        where = f" at {holder.url}" if holder.url else ""
        return f"Blazz {holder.mode}{where}, pid {holder.pid}"
    if backup_files.in_use_by_another_process(data_dir / "app.db"):
        return "another program has its app.db open"
    return None


def _hold_data_dir(data_dir: Path) -> InstanceLock:
    """Take the instance lock for the whole restore: a server starting meanwhile is told the folder is busy."""
    lock = InstanceLock(data_dir)
    try:
        lock.acquire(mode="restore", wait_for_url_s=0)
    except AlreadyRunning:
        reason = data_dir_in_use(data_dir) or f"another Blazz process holds {data_dir / LOCK_NAME}"
        raise RestoreRefused(f"Blazz is running on {data_dir} ({reason}). Stop it first, then run the restore "
                             "again.") from None
    except LockError as exc:
        raise RestoreRefused(str(exc)) from None
    return lock


# -- reading and checking the archive -------------------------------------------------------------------------------


def verify(archive: Path) -> Manifest:
    """Every check a restore makes (checksums, integrity, schema), in a scratch folder: the data dir is not
    touched and a server may keep running. Returns the manifest; raises RestoreRefused naming the problem."""
    archive = Path(archive)
    with _open_zip(archive) as zf, tempfile.TemporaryDirectory(prefix="blazz-verify-") as scratch:
        manifest = _check_manifest(archive, zf)
        _unpack(archive.name, zf, manifest, Path(scratch))
        _check_databases(archive.name, manifest, Path(scratch))
    return manifest


@contextlib.contextmanager
def _open_zip(archive: Path):
    archive = Path(archive)
    if not archive.is_file():
        raise RestoreRefused(f"No such file: {archive}")
    try:
        with open(archive, "rb") as fh:
            magic = fh.read(4)
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        if magic.startswith(b"PK"):
            raise RestoreRefused(f"{archive.name} is damaged or incomplete (was it cut off while copying?): "
                                 f"{exc}") from None
        raise RestoreRefused(f"{archive.name} is not a Blazz backup: it is not a zip archive.") from None
    except OSError as exc:
        raise RestoreRefused(f"Cannot read {archive}: {exc.strerror or exc}") from None
    with zf:
        yield zf


def _check_manifest(archive: Path, zf: zipfile.ZipFile) -> Manifest:
    name = archive.name
    try:
        raw = zf.read(MANIFEST)
    except KeyError:
        raise RestoreRefused(f"{name} is not a Blazz backup: it has no {MANIFEST}.") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise RestoreRefused(f"{name} is damaged: its {MANIFEST} cannot be read ({exc}).") from None
    try:
        loose = json.loads(raw)
    except ValueError:
        raise RestoreRefused(f"{name} is not a Blazz backup: its {MANIFEST} is not JSON.") from None
    if not isinstance(loose, dict) or loose.get("format") != FORMAT:
        raise RestoreRefused(f"{name} is not a Blazz backup: its {MANIFEST} is of another kind.")
    version = loose.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise RestoreRefused(f"{name} was made by a newer Blazz ({loose.get('blazz_version')}) in backup format "
                             f"{version}; this Blazz ({__version__}) reads format {FORMAT_VERSION}. Upgrade Blazz.")
    try:
        manifest = msgspec.convert(loose, Manifest)
    except msgspec.ValidationError as exc:
        raise RestoreRefused(f"{name} has a damaged {MANIFEST}: {exc}.") from None

    listed = [f.path for f in manifest.files]
    bad = [p for p in listed if not _ALLOWED_PATH.match(p)]
    if bad:
        raise RestoreRefused(f"{name} holds files a Blazz backup never contains: {', '.join(bad[:5])}.")
    in_zip = [n for n in zf.namelist() if n != MANIFEST]
    if len(in_zip) != len(set(in_zip)) or set(in_zip) != set(listed) or len(listed) != len(set(listed)):
        missing, extra = sorted(set(listed) - set(in_zip)), sorted(set(in_zip) - set(listed))
        raise RestoreRefused(f"{name} does not match its {MANIFEST} (missing: {missing[:5] or 'none'}; "
                             f"not listed: {extra[:5] or 'none'}).")
    slugs = [w.slug for w in manifest.workspaces]
    if len(slugs) != len(set(slugs)) or not all(re.fullmatch(_SLUG, s) for s in slugs):
        raise RestoreRefused(f"{name} has a damaged {MANIFEST}: workspace addresses are invalid or repeated.")
    if manifest.scope not in ("all", "workspace") or (manifest.scope == "all") != ("app.db" in listed) \
            or (manifest.scope == "all") != (manifest.app_migrations is not None) \
            or (manifest.scope == "workspace" and len(manifest.workspaces) != 1):
        raise RestoreRefused(f"{name} has a damaged {MANIFEST}: its scope does not match its files.")
    strays = [p for p in listed if p.startswith("workspaces/") and p.split("/")[1] not in set(slugs)]
    if strays:
        raise RestoreRefused(f"{name} does not match its {MANIFEST}: files of no listed workspace ({strays[0]}).")
    for w in manifest.workspaces:
        if w.database != (f"workspaces/{w.slug}/workspace.db" in listed):
            raise RestoreRefused(f"{name} does not match its {MANIFEST}: workspace {w.slug}'s database.")
    _check_schema(name, manifest)
    return manifest


def _unknown(kind: str, names: list[str], known: list[str]) -> str | None:
    newer = [n for n in names if n not in set(known)]
    return f"{kind} has {', '.join(newer)}" if newer else None


def _check_schema(name: str, manifest: Manifest) -> None:
    """A newer schema is refused naming what is newer; an older one is fine (it is migrated while staged)."""
    problems = []
    if manifest.app_migrations is not None:
        problems.append(_unknown("app.db", manifest.app_migrations, APP_MIGRATIONS.names))
    for w in manifest.workspaces:
        problems.append(_unknown(f"workspace {w.slug}", w.migrations, WORKSPACE_MIGRATIONS.names))
    problems = [p for p in problems if p]
    if problems:
        raise RestoreRefused(f"{name} was made by a newer Blazz ({manifest.blazz_version}) with database changes "
                             f"this Blazz ({__version__}) does not know: {'; '.join(problems)}. "
                             "Upgrade Blazz, then restore.")


# -- restoring ---------------------------------------------------------------------------------------------------------


def restore(data_dir: Path, archive: Path, *, force: bool = False, actor: str = "command line") -> RestoreResult:
    """Validate `archive` completely, then put its contents in place of the current ones (kept aside).
    Raises RestoreRefused, with nothing changed, when anything is wrong."""
    data_dir, archive = Path(data_dir), Path(archive).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)  # restoring into a new install
    reason = data_dir_in_use(data_dir)
    if reason:
        raise RestoreRefused(f"Blazz is running on {data_dir} ({reason}). Stop it first, then run the restore again.")
    with _hold_data_dir(data_dir), _open_zip(archive) as zf:
        manifest = _check_manifest(archive, zf)
        _check_replacements(data_dir, manifest, force)
        _check_space(data_dir, manifest)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        staging = Path(tempfile.mkdtemp(prefix=f".restore-{stamp}-", dir=data_dir))
        try:
            _unpack(archive.name, zf, manifest, staging)
            _check_databases(archive.name, manifest, staging)
            if backup_files.in_use_by_another_process(data_dir / "app.db"):
                raise RestoreRefused(f"Blazz started on {data_dir} meanwhile; stop it and run the restore again.")
            result = _swap(data_dir, manifest, staging, stamp)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for slug, _ in result.restored:
            _audit(data_dir, slug, manifest, archive.name, actor)
    log.info("restored %s from %s (%s); previous files in %s", ", ".join(s for s, _ in result.restored) or "app.db",
             archive, manifest.created_at, result.moved_aside)
    return result


def _check_replacements(data_dir: Path, manifest: Manifest, force: bool) -> None:
    if force:
        return
    app_db = data_dir / "app.db"
    if manifest.scope == "all":
        if backup_files.has_users(app_db) or any((data_dir / "workspaces").glob("*/workspace.db")):
            raise RestoreRefused(f"{data_dir} already holds Blazz data; restoring this full backup replaces all of it "
                                 "(the current files are kept in restore-backups/). Run again with --force to do so.")
        return
    slug = manifest.workspaces[0].slug
    if backup_files.is_sqlite_file(app_db) and any(w.slug == slug for w in backup_files.workspaces_in(app_db)):
        raise RestoreRefused(f"This install already has a workspace {slug}; restoring replaces it (its current "
                             "files are kept in restore-backups/). Run again with --force to do so.")


def _check_space(data_dir: Path, manifest: Manifest) -> None:
    needed = sum(f.size for f in manifest.files) + (64 << 20)
    free = shutil.disk_usage(data_dir).free
    if free < needed:
        raise RestoreRefused(f"Not enough free disk space in {data_dir}: about {needed >> 20} MB needed, "
                             f"{free >> 20} MB free.")


def _unpack(name: str, zf: zipfile.ZipFile, manifest: Manifest, staging: Path) -> None:
    for entry in manifest.files:
        target = staging / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        try:
            with zf.open(entry.path) as src, open(target, "wb") as out:
                while True:
                    try:
                        chunk = src.read(_CHUNK)
                    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                        raise RestoreRefused(f"{name} is damaged: {entry.path} cannot be read ({exc}).") from None
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                    if size > entry.size:  # stop a lying entry before it fills the disk
                        raise RestoreRefused(f"{name} is damaged: {entry.path} is larger than its manifest says.")
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise RestoreRefused(f"{name} is damaged: {entry.path} cannot be read ({exc}).") from None
        except OSError as exc:
            raise RestoreRefused(f"Cannot unpack {entry.path} into {staging}: {exc.strerror or exc}.") from None
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise RestoreRefused(f"{name} is damaged: {entry.path} does not match its checksum.")


def _check_databases(name: str, manifest: Manifest, staging: Path) -> None:
    """Integrity of every database, manifest and file agreeing on the schema, then migration to this version."""
    dbs: list[tuple[Path, list[str] | None, object]] = []
    if manifest.app_migrations is not None:
        dbs.append((staging / "app.db", manifest.app_migrations, APP_MIGRATIONS))
    for w in manifest.workspaces:
        if w.database:
            dbs.append((staging / "workspaces" / w.slug / "workspace.db", w.migrations, WORKSPACE_MIGRATIONS))
        for session_db in (staging / "workspaces" / w.slug / "whatsapp").glob("*/*"):
            if session_db.is_file() and backup_files.is_sqlite_file(session_db):
                dbs.append((session_db, None, None))
    for path, migrations, steps in dbs:
        label = path.relative_to(staging).as_posix()
        problems = backup_files.integrity_problems(path)
        if problems:
            raise RestoreRefused(f"{name} is damaged: {label} fails its integrity check ({'; '.join(problems[:3])}).")
        if steps is None:
            continue
        try:
            if backup_files.migrations_of(path) != migrations:
                raise RestoreRefused(f"{name} does not match its {MANIFEST}: {label} has other schema changes.")
            steps.apply(path)
        except RestoreRefused:
            raise
        except Exception as exc:
            raise RestoreRefused(f"{label} from {name} cannot be brought up to this version: {exc}.") from None
    if manifest.scope == "all":
        recorded = {(e.id, e.slug) for e in backup_files.workspaces_in(staging / "app.db")}
        if not {(w.id, w.slug) for w in manifest.workspaces} <= recorded:
            raise RestoreRefused(f"{name} does not match its {MANIFEST}: its app.db lists other workspaces.")


class _Moves:
    """Renames done so far, so a failure halfway puts every file back where it was."""

    def __init__(self):
        self.done: list[tuple[Path, Path]] = []

    def move(self, src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        self.done.append((src, dst))

    def undo(self) -> None:
        for src, dst in reversed(self.done):
            try:
                os.rename(dst, src)
            except OSError:
                log.exception("could not move %s back to %s after a failed restore", dst, src)


def _swap(data_dir: Path, manifest: Manifest, staging: Path, stamp: str) -> RestoreResult:
    aside = data_dir / ASIDE_DIR / stamp
    n = 2
    while aside.exists():
        aside, n = data_dir / ASIDE_DIR / f"{stamp}-{n}", n + 1
    moves = _Moves()
    try:
        if manifest.scope == "all":
            result = _swap_all(data_dir, manifest, staging, aside, moves)
        else:
            result = _swap_workspace(data_dir, manifest.workspaces[0], staging, aside, moves)
    except OSError as exc:
        moves.undo()
        raise RestoreRefused(f"Moving files into place failed ({exc.strerror or exc}); the previous files were put "
                             "back.") from exc
    except BaseException:
        moves.undo()
        raise
    if aside.exists():
        result.moved_aside = aside
        result.notes.insert(0, f"The previous files are kept in {aside}.")
    return result


def _carry_sessions(old_folder: Path, part: WorkspacePart, staged: Path, moves: _Moves) -> bool:
    """A backup without WhatsApp sessions keeps the numbers linked here (same workspace), so nobody rescans a QR."""
    if part.sessions or not (old_folder / "whatsapp").is_dir():
        return False
    moves.move(old_folder / "whatsapp", staged / "whatsapp")
    return True


def _swap_all(data_dir: Path, manifest: Manifest, staging: Path, aside: Path, moves: _Moves) -> RestoreResult:
    old = {e.slug: e.id for e in backup_files.workspaces_in(data_dir / "app.db")} \
        if backup_files.has_users(data_dir / "app.db") else {}
    for name in ("app.db", "app.db-wal", "app.db-shm", "workspaces", "sessions"):
        if (data_dir / name).exists():
            moves.move(data_dir / name, aside / name)
    result = RestoreResult("all", [], None)
    carried = False
    for w in manifest.workspaces:
        staged = staging / "workspaces" / w.slug
        staged.mkdir(parents=True, exist_ok=True)
        if w.slug in old:
            carried |= _carry_sessions(aside / "workspaces" / str(old[w.slug]), w, staged, moves)
    moves.move(staging / "app.db", data_dir / "app.db")
    for w in manifest.workspaces:
        moves.move(staging / "workspaces" / w.slug, data_dir / "workspaces" / str(w.id))
        result.restored.append((w.slug, "replaced" if w.slug in old else "created"))
    result.notes.append("Everyone logs in again (login sessions are not part of a backup).")
    linked = sum(backup_files.numbers_with_sessions(data_dir / "workspaces" / str(w.id) / "workspace.db")
                 for w in manifest.workspaces if w.database)
    if not manifest.with_sessions and linked:
        result.notes.append(_sessions_note(carried))
    return result


def _sessions_note(carried: bool) -> str:
    if carried:
        return ("WhatsApp sessions were not in the backup: numbers linked in this install stay linked, others need "
                "their QR code scanned again.")
    return "WhatsApp sessions were not in the backup: link each WhatsApp number again (scan its QR code)."


def _swap_workspace(data_dir: Path, part: WorkspacePart, staging: Path, aside: Path, moves: _Moves) -> RestoreResult:
    app_db = data_dir / "app.db"
    APP_MIGRATIONS.apply(app_db)  # a fresh install has no app.db yet; the server would create the same
    staged = staging / "workspaces" / part.slug
    staged.mkdir(parents=True, exist_ok=True)
    members = [(m.email, m.role) for m in part.members]
    result = RestoreResult("workspace", [], None)
    conn = backup_files.begin_app_write(app_db)
    try:
        ws_id = backup_files.workspace_id_of(conn, part.slug)
        if ws_id is None:
            ws_id = backup_files.insert_workspace(conn, part.slug, part.name, part.created_at)
            backup_files.add_members(conn, ws_id, members)
            result.restored.append((part.slug, "created"))
        else:
            backup_files.add_members(conn, ws_id, [m for m in members if m[1] == "owner"])
            result.restored.append((part.slug, "replaced"))
        target = data_dir / "workspaces" / str(ws_id)
        carried = False
        if target.exists():
            moves.move(target, aside / "workspaces" / str(ws_id))
            carried = _carry_sessions(aside / "workspaces" / str(ws_id), part, staged, moves)
        if ws_id != part.id and part.database:
            rekeyed = backup_files.rekey_webhooks(staged / "workspace.db", ws_id)
            if rekeyed:
                result.notes.append(f"{rekeyed} Cloud API number(s) got a new webhook URL (the workspace has another "
                                    "id here): copy it from the WhatsApp numbers page into Meta's app settings.")
        moves.move(staged, target)
        owners_left = backup_files.owner_count(conn, ws_id)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    if not owners_left:
        emails = [email for email, role in members if role == "owner"] or ["you@example.com"]
        result.notes.append(f"No one here has the owner's email ({', '.join(emails)}), so nobody can open this "
                            f"workspace yet. Create that user (`blazz admin create-user --email {emails[0]}`), then "
                            "run this restore again with --force to give them the workspace.")
    if not part.sessions and part.database and backup_files.numbers_with_sessions(target / "workspace.db"):
        result.notes.append(_sessions_note(carried))
    return result


def _audit(data_dir: Path, slug: str, manifest: Manifest, archive_name: str, actor: str) -> None:
    for entry in backup_files.workspaces_in(data_dir / "app.db"):
        if entry.slug == slug:
            db = data_dir / "workspaces" / str(entry.id) / "workspace.db"
            if not backup_files.is_sqlite_file(db):
                return
            try:
                backup_files.record_audit(db, actor, "backup.restored", archive_name, {
                    "backup_created_at": manifest.created_at, "backup_blazz_version": manifest.blazz_version,
                    "scope": manifest.scope, "with_sessions": manifest.with_sessions,
                })
            except Exception:
                log.exception("could not record the restore in the audit log of %s", slug)
            return
