"""Diagnostics of one install, for `blazz doctor` and the Settings page: versions, disk, database health, schema,
backups, whether a server runs, the end of the log. It changes nothing (only a database left open by a crash gets
its journal folded back in when opened, as any start of Blazz would do).

Each check is `ok`, `warning` (worth a look, nothing broken) or `problem` (something needs fixing); the overall
status is the worst of them, and `blazz doctor` exits with 1 when it is `problem`. A check's `name` and `detail` are
English (the terminal, JSON); `label`/`label_params` and `message`/`params` hold the same as catalog ids with their
values, so the Settings page can say them in the reader's language.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from blazz import __version__, backup, logs, restore
from blazz.config import Settings
from blazz.i18n import N_
from blazz.store import backup_files
from blazz.store.app_schema import APP_MIGRATIONS
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS

LOW_DISK_WARNING = 1 << 30  # under 1 GB free a busy media inbox fills up in days
LOW_DISK_PROBLEM = 200 << 20  # under 200 MB SQLite writes and the daily backup start failing
STALE_BACKUP_S = 2 * 24 * 3600  # daily backups run every 24 h; two missed days means they are not happening
_RANK = {"ok": 0, "warning": 1, "problem": 2}


class Size(int):
    """A number of bytes among a check's params: shown as "1.5 GB" (the page formats it in the reader's language)."""


class Moment(str):
    """An ISO UTC time among a check's params (the terminal shows it as it is, the page as a local date)."""


def _package_version(name: str) -> str | None:
    """From the installed package's metadata: neonize is not imported (that would start its Go runtime)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "blazz": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "litestar": _package_version("litestar"),
        "neonize": _package_version("neonize"),
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else backup.tree_size(path)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _database(label: str, path: Path, known: list[str] | None, quick: bool, /, **params: Any) -> dict[str, Any]:
    """Health of one database file: integrity and (for ours) migrations this version has not applied or not known.
    `label` names it (with `%(name)s` placeholders filled from `params`)."""
    db: dict[str, Any] = {"name": label % params if params else label, "label": label, "label_params": params,
                          "path": str(path), "size_bytes": None, "problems": [],
                          "schema_checked": known is not None, "pending_migrations": [], "unknown_migrations": []}
    if not path.exists():
        return db | {"problems": ["missing"]}
    db["size_bytes"] = sum(_size(Path(f"{path}{s}")) for s in ("", "-wal") if Path(f"{path}{s}").exists())
    db["problems"] = backup_files.integrity_problems(path, quick=quick)
    if known is not None and not db["problems"]:
        try:
            applied = backup_files.migrations_of(path)
        except sqlite3.DatabaseError as exc:
            db["problems"] = [str(exc)]
        else:
            db["pending_migrations"] = [n for n in known if n not in applied]
            db["unknown_migrations"] = [n for n in applied if n not in known]
    return db


def _database_check(db: dict[str, Any]) -> dict[str, Any]:
    name = (db["label"], db["label_params"])
    if db["problems"] == ["missing"]:
        return _check(name, "warning", N_("no database file yet (it is created when the workspace is first used)"))
    if db["problems"]:
        return _check(name, "problem", N_("damaged: %(problems)s (restore it from a backup: `blazz restore ARCHIVE`)"),
                      problems="; ".join(db["problems"][:3]))
    if db["unknown_migrations"]:
        return _check(name, "problem",
                      N_("written by a newer Blazz (unknown schema changes: %(names)s); upgrade Blazz"),
                      names=", ".join(db["unknown_migrations"]))
    pending = len(db["pending_migrations"])
    if pending == 1:
        return _check(name, "warning", N_("healthy; %(count)s schema change is applied when Blazz next starts"),
                      count=pending)
    if pending:
        return _check(name, "warning", N_("healthy; %(count)s schema changes are applied when Blazz next starts"),
                      count=pending)
    return _check(name, "ok", N_("healthy, schema up to date") if db["schema_checked"] else N_("healthy"))


def _check(name: str | tuple[str, dict[str, Any]], status: str, detail: str, /, **params: Any) -> dict[str, Any]:
    """One line of the report. `name` is a label or (label, its params); `detail` an English sentence whose
    `%(name)s` placeholders are filled from `params` (a `Size` reads as "1.5 GB")."""
    label, label_params = name if isinstance(name, tuple) else (name, {})
    english = {k: human_bytes(v) if isinstance(v, Size) else v for k, v in params.items()}
    return {"name": label % label_params if label_params else label, "status": status,
            "detail": detail % english if params else detail,
            "label": label, "label_params": label_params, "message": detail, "params": params}


def diagnostics(settings: Settings, *, quick: bool = False, log_lines: int = 30) -> dict[str, Any]:
    """Everything `blazz doctor` shows, as plain data. `quick` uses `PRAGMA quick_check` (faster on big files).
    Blocking (it reads every database): call it with `asyncio.to_thread` from the server."""
    data_dir = Path(settings.data_dir)
    checks: list[dict[str, str]] = []
    report: dict[str, Any] = {"generated_at": backup.iso_utc(time.time()), "versions": versions()}

    exists = data_dir.is_dir()
    usage = shutil.disk_usage(data_dir) if exists else None
    report["data_dir"] = {"path": str(data_dir), "exists": exists, "writable": exists and os.access(data_dir, os.W_OK),
                          "free_bytes": usage.free if usage else None, "total_bytes": usage.total if usage else None,
                          "size_bytes": _size(data_dir) if exists else 0}
    folder = str(data_dir)
    if not exists:
        checks.append(_check(N_("data folder"), "warning", N_("%(folder)s does not exist yet (Blazz creates it)"),
                             folder=folder))
    elif not report["data_dir"]["writable"]:
        checks.append(_check(N_("data folder"), "problem", N_("Blazz cannot write to %(folder)s"), folder=folder))
    elif usage.free < LOW_DISK_PROBLEM:
        checks.append(_check(N_("disk"), "problem", N_("only %(free)s free: free some space"), free=Size(usage.free)))
    elif usage.free < LOW_DISK_WARNING:
        checks.append(_check(N_("disk"), "warning", N_("only %(free)s free"), free=Size(usage.free)))
    else:
        checks.append(_check(N_("disk"), "ok", N_("%(free)s free"), free=Size(usage.free)))

    running = restore.data_dir_in_use(data_dir) if exists else None
    report["server"] = {"running": running is not None, "detail": running}
    if running:
        checks.append(_check(N_("server"), "ok", N_("running (%(holder)s)"), holder=running))
    else:
        checks.append(_check(N_("server"), "ok", N_("not running")))

    databases: list[dict[str, Any]] = []
    workspaces: list[dict[str, Any]] = []
    app_db = data_dir / "app.db"
    if app_db.exists():
        databases.append(_database("app.db", app_db, APP_MIGRATIONS.names, quick))
        entries = []
        if not databases[0]["problems"]:
            try:
                entries = backup_files.workspaces_in(app_db)
            except sqlite3.DatabaseError as exc:
                databases[0]["problems"] = [f"cannot list workspaces: {exc}"]  # technical, stays English
        for e in entries:
            folder = data_dir / "workspaces" / str(e.id)
            databases.append(_database(N_("workspace %(slug)s"), folder / "workspace.db",
                                       WORKSPACE_MIGRATIONS.names, quick, slug=e.slug))
            for engine_db in sorted((folder / "whatsapp").glob("*/*.db")):
                databases.append(_database(N_("workspace %(slug)s number %(number)s (%(file)s)"), engine_db, None,
                                           quick, slug=e.slug, number=engine_db.parent.name, file=engine_db.name))
            workspaces.append({"id": e.id, "slug": e.slug, "name": e.name, "size_bytes": _size(folder),
                               "media_bytes": _size(folder / "media")})
    else:
        checks.append(_check("app.db", "warning", N_("Blazz has not been set up in this folder yet")))
    checks.extend(_database_check(db) for db in databases)
    report["databases"], report["workspaces"] = databases, workspaces

    report["backups"] = _backups(data_dir, checks, has_data=app_db.exists())
    aside = data_dir / restore.ASIDE_DIR
    report["restore_backups"] = {"folder": str(aside), "count": len(list(aside.iterdir())) if aside.is_dir() else 0,
                                 "size_bytes": _size(aside) if aside.is_dir() else 0}
    leftovers = sorted(p.name for p in data_dir.glob(".restore-*")) if exists else []
    if leftovers:
        checks.append(_check(N_("restore"), "warning", N_("an interrupted restore left %(names)s in the data folder; "
                                                          "with Blazz stopped, delete it"), names=", ".join(leftovers)))
    log_file = logs.log_path(data_dir)
    report["log"] = {"path": str(log_file), "exists": log_file.exists(), "tail": logs.tail(log_file, log_lines)}
    report["checks"] = checks
    report["status"] = max((c["status"] for c in checks), key=_RANK.__getitem__, default="ok")
    return report


def _backups(data_dir: Path, checks: list[dict[str, str]], has_data: bool) -> dict[str, Any]:
    status = backup.read_status(data_dir)
    newest = backup.last_backup(data_dir)
    info = {
        "folder": str(backup.backups_dir(data_dir)),
        "last_at": backup.iso_utc(newest.stat().st_mtime) if newest else None,
        "last_archive": newest.name if newest else None,
        "daily_count": len(backup.daily_archives(data_dir)),
        "last_error": status.get("last_error"),
        "last_error_at": status.get("last_error_at"),
    }
    if info["last_error"]:
        checks.append(_check(N_("backups"), "problem", N_("the last daily backup failed at %(when)s: %(error)s"),
                             when=Moment(info["last_error_at"]), error=str(info["last_error"])))
    elif newest is None:
        if has_data:
            checks.append(_check(N_("backups"), "warning",
                                 N_("no backup yet (the server makes one daily; or run `blazz backup`)")))
    elif time.time() - newest.stat().st_mtime > STALE_BACKUP_S:
        checks.append(_check(N_("backups"), "warning", N_("the last backup is from %(when)s"),
                             when=Moment(info["last_at"])))
    else:
        checks.append(_check(N_("backups"), "ok", N_("last %(when)s (%(archive)s)"), when=Moment(info["last_at"]),
                             archive=newest.name))
    return info


def render(report: dict[str, Any]) -> str:
    """The report as a person reads it in a terminal."""
    v = report["versions"]
    d = report["data_dir"]
    lines = [
        f"Blazz doctor  {report['generated_at']}",
        "Versions: " + ", ".join(f"{k} {val or 'not installed'}" for k, val in v.items()),
        f"Data folder: {d['path']} ({human_bytes(d['size_bytes'])} used, {human_bytes(d['free_bytes'])} free)",
    ]
    kept = report["restore_backups"]
    if kept["count"]:
        lines.append(f"  files replaced by {kept['count']} restore(s), kept in {kept['folder']}: "
                     f"{human_bytes(kept['size_bytes'])} (delete them once you no longer need them)")
    for ws in report["workspaces"]:
        lines.append(f"  workspace {ws['slug']} ({ws['name']}): {human_bytes(ws['size_bytes'])}, "
                     f"media {human_bytes(ws['media_bytes'])}")
    lines.append("")
    marks = {"ok": "ok     ", "warning": "warning", "problem": "PROBLEM"}
    lines += [f"  {marks[c['status']]}  {c['name']}: {c['detail']}" for c in report["checks"]]
    tail = report["log"]["tail"]
    lines += ["", f"Last log lines ({report['log']['path']}):" if tail else f"No log yet at {report['log']['path']}."]
    lines += [f"  {line}" for line in tail]
    problems = sum(c["status"] == "problem" for c in report["checks"])
    warnings = sum(c["status"] == "warning" for c in report["checks"])
    summary = f"{problems} problem(s), {warnings} warning(s)." if problems or warnings else "Everything looks fine."
    lines += ["", summary]
    return "\n".join(lines)
