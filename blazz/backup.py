"""Backups: one zip archive of everything (or one workspace), made while the server keeps running.

Archive layout (paths inside the zip):
  manifest.json                                   what is inside, with a sha256 and size per file (see `Manifest`)
  app.db                                          people, workspaces, memberships, API tokens (full backups only)
  workspaces/<slug>/workspace.db                  everything of one workspace
  workspaces/<slug>/media/<sha[:2]>/<sha>         its content-addressed media files
  workspaces/<slug>/whatsapp/<account id>/<file>  WhatsApp session files, only when asked for (they are credentials)

Databases are copied with `VACUUM INTO` (see `store.backup_files`) before the media folder is listed: a media file is
written before the row that names it, so every file the copied database refers to is already there. Login sessions
and `secret.key` are never included: after a restore people log in again. Every archive holds the workspaces'
settings (Cloud API access tokens among them) and app.db's password hashes, so it is written readable by us only.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from blazz import __version__
from blazz.i18n import N_
from blazz.store import backup_files

log = logging.getLogger(__name__)

FORMAT = "blazz-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BACKUPS_DIR = "backups"
STATUS_FILE = "status.json"
DAILY_PREFIX = "blazz-daily-"
KEEP_DAILY = 7  # a week of daily archives: enough to go back past a bad day noticed late
DAILY_EVERY_S = 24 * 3600
RETRY_AFTER_FAILURE_S = 3600  # a failing backup (full disk...) is retried hourly, not on every 15 s heartbeat
_MEDIA_NAME = re.compile(r"^[0-9a-f]{64}$")
_SKIPPED_SESSION_FILES = ("session.lock",)
_SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal")
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup could not be made; the message says why in words the owner can act on. `str()` is English (the
    terminal, the log); `msgid` and `params` let the web page say it in the reader's language."""

    def __init__(self, message: str, **params: Any):
        self.msgid, self.params = message, params
        super().__init__(message % params if params else message)


class Member(msgspec.Struct):
    email: str
    role: str


class WorkspacePart(msgspec.Struct):
    id: int  # its id in the install it came from
    slug: str
    name: str
    created_at: int
    migrations: list[str]  # applied to its workspace.db, in order
    members: list[Member]
    database: bool = True  # false for a workspace that never had its file created
    sessions: bool = False  # whether its WhatsApp session files are in the archive


class FileEntry(msgspec.Struct):
    path: str
    sha256: str
    size: int


class Manifest(msgspec.Struct):
    format: str
    format_version: int
    blazz_version: str
    created_at: str  # ISO 8601 UTC
    scope: str  # "all" (app.db + every workspace) or "workspace"
    with_sessions: bool
    app_migrations: list[str] | None  # None when app.db is not in the archive
    workspaces: list[WorkspacePart]
    files: list[FileEntry]


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size: int
    manifest: Manifest


def backups_dir(data_dir: Path) -> Path:
    return data_dir / BACKUPS_DIR


def iso_utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- making an archive ------------------------------------------------------------------------------------------------


def create_backup(data_dir: Path, output_dir: Path | None = None, *, workspace: str | None = None,
                  with_sessions: bool = False, daily: bool = False) -> BackupResult:
    """Write one consistent archive of the data dir (or of the workspace with that slug) into `output_dir`
    (default `<data dir>/backups`) and return where it is. Safe while the server writes to the same data dir."""
    data_dir = Path(data_dir)
    app_db = data_dir / "app.db"
    if not backup_files.is_sqlite_file(app_db):
        raise BackupError(N_("There is no Blazz data in %(folder)s to back up."), folder=str(data_dir))
    output_dir = Path(output_dir) if output_dir else backups_dir(data_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(N_("Cannot create the folder %(folder)s: %(reason)s"), folder=str(output_dir),
                          reason=str(exc.strerror or exc)) from exc

    entries = backup_files.workspaces_in(app_db)
    if workspace is not None:
        entries = [e for e in entries if e.slug == workspace]
        if not entries:
            raise BackupError(N_("No workspace with the slug %(slug)s."), slug=str(workspace))
    _check_free_space(data_dir, output_dir, entries, with_sessions)

    created = time.time()
    scope = "workspace" if workspace is not None else "all"
    name = _archive_name(output_dir, DAILY_PREFIX if daily else f"blazz-backup-{workspace or 'all'}-", created)
    work = Path(tempfile.mkdtemp(prefix=".blazz-backup-", dir=output_dir))
    part = output_dir / f".{name}.part"
    try:
        manifest = _write_archive(data_dir, work, part, entries, scope, with_sessions, created)
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(part, 0o600)
        final = output_dir / name
        os.replace(part, final)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = final.stat().st_size
    log.info("backup written: %s (%d bytes, %d workspace(s), sessions %s)", final, size, len(manifest.workspaces),
             "included" if with_sessions else "left out")
    return BackupResult(final, size, manifest)


def _archive_name(folder: Path, prefix: str, created: float) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(created))
    name, n = f"{prefix}{stamp}.zip", 2
    while (folder / name).exists():
        name, n = f"{prefix}{stamp}-{n}.zip", n + 1
    return name


def tree_size(folder: Path) -> int:
    """Bytes of every file under `folder` (0 when it does not exist); files vanishing meanwhile are skipped."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, f)).st_size
    return total


def _check_free_space(data_dir: Path, output_dir: Path, entries: list, with_sessions: bool) -> None:
    """Refuse early rather than fill the disk the server writes to: the database copies and the archive exist
    side by side until it is finished, so about the data's size plus the databases' size again."""
    needed = 2 * (data_dir / "app.db").stat().st_size
    for e in entries:
        folder = data_dir / "workspaces" / str(e.id)
        needed += tree_size(folder) if with_sessions else tree_size(folder) - tree_size(folder / "whatsapp")
        with contextlib.suppress(OSError):
            needed += (folder / "workspace.db").stat().st_size
    free = shutil.disk_usage(output_dir).free
    margin = 64 << 20  # leave the server room to keep writing
    if free < needed + margin:
        raise BackupError(N_("Not enough free disk space in %(folder)s for a backup: about %(needed)s needed, "
                             "%(free)s free."), folder=str(output_dir), needed=_mb(needed + margin), free=_mb(free))


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB"


class _Writer:
    """Adds files to the zip and records each one's sha256 and size for the manifest."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.files: list[FileEntry] = []

    def add(self, src: Path, arcname: str, *, compress: bool = True) -> bool:
        try:
            digest, size = sha256_of(src), src.stat().st_size
            self.zf.write(src, arcname, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
        except FileNotFoundError:  # a media file removed by retention since the folder was listed
            return False
        self.files.append(FileEntry(arcname, digest, size))
        return True


def _write_archive(data_dir: Path, work: Path, part: Path, entries: list, scope: str, with_sessions: bool,
                   created: float) -> Manifest:
    # Copy every database first, so they are as close in time as the server's writes allow.
    app_migrations = None
    if scope == "all":
        backup_files.snapshot(data_dir / "app.db", work / "app.db")
        app_migrations = backup_files.migrations_of(work / "app.db")
        entries = backup_files.workspaces_in(work / "app.db")  # the list that matches the copied app.db
    parts: list[WorkspacePart] = []
    for e in entries:
        folder = data_dir / "workspaces" / str(e.id)
        snap = work / f"ws-{e.id}.db"
        has_db = backup_files.is_sqlite_file(folder / "workspace.db")
        if has_db:
            backup_files.snapshot(folder / "workspace.db", snap)
        parts.append(WorkspacePart(
            id=e.id, slug=e.slug, name=e.name, created_at=e.created_at,
            migrations=backup_files.migrations_of(snap) if has_db else [],
            members=[Member(email, role) for email, role in e.members], database=has_db,
            sessions=with_sessions and (folder / "whatsapp").is_dir(),
        ))

    # zlib level 1: half the CPU time of the default level for a slightly bigger archive (300k-message demo,
    # 68 MB of data: 22 MB in 2.5 s at level 1, 19 MB in 5.2 s at level 6); the server shares that CPU.
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        writer = _Writer(zf)
        if app_migrations is not None:
            writer.add(work / "app.db", "app.db")
        for p in parts:
            folder, prefix = data_dir / "workspaces" / str(p.id), f"workspaces/{p.slug}"
            if p.database:
                writer.add(work / f"ws-{p.id}.db", f"{prefix}/workspace.db")
            for sha_dir, sha in _media_files(folder / "media"):
                # Media is mostly JPEG, MP4, OGG: already compressed, so stored as is.
                writer.add(folder / "media" / sha_dir / sha, f"{prefix}/media/{sha_dir}/{sha}", compress=False)
            if p.sessions:
                _add_sessions(writer, folder / "whatsapp", f"{prefix}/whatsapp", work / f"ws-{p.id}-sessions")
        manifest = Manifest(
            format=FORMAT, format_version=FORMAT_VERSION, blazz_version=__version__, created_at=iso_utc(created),
            scope=scope, with_sessions=with_sessions, app_migrations=app_migrations, workspaces=parts,
            files=writer.files,
        )
        zf.writestr(MANIFEST, json.dumps(msgspec.to_builtins(manifest), indent=1, ensure_ascii=False))
    return manifest


def _media_files(root: Path) -> list[tuple[str, str]]:
    """The content-addressed files under `media/` (partial `.part-*` downloads and anything else are skipped)."""
    found = []
    if not root.is_dir():
        return found
    for sub in sorted(root.iterdir()):
        if not (sub.is_dir() and len(sub.name) == 2):
            continue
        for f in sorted(sub.iterdir()):
            if _MEDIA_NAME.match(f.name) and f.name[:2] == sub.name:
                found.append((sub.name, f.name))
    return found


def _add_sessions(writer: _Writer, root: Path, prefix: str, work: Path) -> None:
    """Each number's engine files: its databases copied hot like ours, lock and journal files left out."""
    work.mkdir(exist_ok=True)
    for account in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for f in sorted(p for p in account.iterdir() if p.is_file()):
            if f.name in _SKIPPED_SESSION_FILES or f.name.endswith(_SKIPPED_SUFFIXES):
                continue
            arcname = f"{prefix}/{account.name}/{f.name}"
            if backup_files.is_sqlite_file(f):
                snap = work / f"{account.name}-{f.name}"
                backup_files.snapshot(f, snap)
                writer.add(snap, arcname)
            else:
                writer.add(f, arcname)


def audit_backup(data_dir: Path, result: BackupResult, actor: str, action: str = "backup.created") -> None:
    """Record the backup in the audit log of each workspace it holds (from outside the server: the command line)."""
    for part in result.manifest.workspaces:
        db = Path(data_dir) / "workspaces" / str(part.id) / "workspace.db"
        if not part.database:
            continue
        try:
            backup_files.record_audit(db, actor, action, result.path.name,
                                      {"scope": result.manifest.scope, "with_sessions": result.manifest.with_sessions,
                                       "size": result.size})
        except Exception:
            log.exception("could not record the backup in the audit log", extra={"workspace": part.slug})


# -- daily backups ----------------------------------------------------------------------------------------------------


def daily_archives(data_dir: Path) -> list[Path]:
    """The finished daily archives, oldest first (names carry a sortable UTC time)."""
    folder = backups_dir(data_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{DAILY_PREFIX}*.zip") if p.is_file())


def prune_daily(data_dir: Path, keep: int = KEEP_DAILY) -> list[Path]:
    """Delete all but the newest `keep` daily archives; archives made by hand are never touched."""
    doomed = daily_archives(data_dir)[:-keep] if keep > 0 else []
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return doomed


def read_status(data_dir: Path) -> dict[str, Any]:
    """What the daily backups last did: `last_success_at`, `last_archive`, `last_error`, `last_error_at`."""
    try:
        return json.loads((backups_dir(data_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_status(data_dir: Path, status: dict[str, Any]) -> None:
    folder = backups_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STATUS_FILE}.tmp"
    tmp.write_text(json.dumps(status, indent=1))
    os.replace(tmp, folder / STATUS_FILE)


def last_backup(data_dir: Path) -> Path | None:
    """The newest finished archive in the backups folder, daily or made by hand."""
    folder = backups_dir(data_dir)
    if not folder.is_dir():
        return None
    archives = [p for p in folder.glob("blazz-*.zip") if p.is_file()]
    return max(archives, key=lambda p: p.stat().st_mtime, default=None)


def _remove_leftovers(folder: Path, older_than_s: float = 6 * 3600) -> None:
    """Unfinished archives and scratch folders of a backup or download interrupted by a stop or a crash."""
    if not folder.is_dir():
        return
    cutoff = time.time() - older_than_s
    for p in folder.glob(".blazz-*"):
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < cutoff:
                shutil.rmtree(p) if p.is_dir() else p.unlink()


def run_daily(data_dir: Path) -> BackupResult:
    """One daily backup: a full archive without WhatsApp sessions, then retention. Records success or failure."""
    status = read_status(data_dir)
    status["last_attempt_at"] = iso_utc(time.time())
    _remove_leftovers(backups_dir(data_dir))
    try:
        result = create_backup(data_dir, daily=True)
        pruned = prune_daily(data_dir)
    except Exception as exc:
        # English for the terminal and doctor; the catalog id and values let the Settings page say it in words.
        status.update(last_error=str(exc) or type(exc).__name__, last_error_at=iso_utc(time.time()),
                      last_error_id=getattr(exc, "msgid", None), last_error_params=getattr(exc, "params", None))
        _write_status(data_dir, status)
        raise
    if pruned:
        log.info("daily backups: removed %d old archive(s), keeping %d", len(pruned), KEEP_DAILY)
    status.update(last_success_at=result.manifest.created_at, last_archive=result.path.name, last_error=None,
                  last_error_at=None, last_error_id=None, last_error_params=None)
    _write_status(data_dir, status)
    return result


def _parse_iso(value: Any) -> float | None:
    try:
        return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None


def daily_due(data_dir: Path, now: float | None = None) -> bool:
    """Wall-clock rule, so a laptop that slept catches up: the newest daily archive is older than 24 h (and the
    last failure, if any, is over an hour old)."""
    now = time.time() if now is None else now
    archives = daily_archives(data_dir)
    if archives and now - archives[-1].stat().st_mtime < DAILY_EVERY_S:
        return False
    failed_at = _parse_iso(read_status(data_dir).get("last_error_at"))
    return not (failed_at and now - failed_at < RETRY_AFTER_FAILURE_S)


class DailyBackups:
    """Heartbeat job: starts a daily backup in a worker thread when one is due; the heartbeat never waits for it."""

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self.task: asyncio.Task | None = None

    @property
    def data_dir(self) -> Path:
        return self.runtime.settings.data_dir

    async def __call__(self) -> None:
        if self.task is not None and not self.task.done():
            return
        if await asyncio.to_thread(daily_due, self.data_dir):
            self.task = asyncio.create_task(self.run(), name="daily-backup")

    async def run(self) -> BackupResult | None:
        try:
            result = await asyncio.to_thread(run_daily, self.data_dir)
        except BackupError as exc:
            log.warning("daily backup failed: %s; it is retried in an hour (see `blazz doctor`)", exc)
            return None
        except Exception:
            log.exception("daily backup failed; it is retried in an hour (see `blazz doctor`)")
            return None
        if self.runtime.running:  # a stop meanwhile closed the databases
            await self._audit(result)
        return result

    async def _audit(self, result: BackupResult) -> None:
        from blazz import audit
        from blazz.store import workspaces as ws_store

        for part in result.manifest.workspaces:
            row = await ws_store.by_id(self.runtime.app_db, part.id)
            if row is None:
                continue
            try:
                await audit.record(await self.runtime.workspace(row), audit.SYSTEM, "backup.created",
                                   result.path.name, scheduled=True, size=result.size)
            except Exception:
                log.exception("could not record the daily backup in the audit log", extra={"workspace": row.slug})
