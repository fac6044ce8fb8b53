"""Settings → Backup: an owner or admin downloads a fresh archive of their workspace.

The archive is written to a scratch file in `<data dir>/backups/` first, so a failure is an error page rather than
a download cut short; the file is deleted once sent. WhatsApp session files are never offered here (they are
credentials; the command line has `--with-sessions` for whoever runs the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path

from litestar import Controller, Request, get
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.response import File

from blazz import audit, backup
from blazz.errors import DomainError
from blazz.web.context import CurrentWorkspace, provide_workspace, runtime_of
from blazz.web.guards import member_guard, requires
from blazz.web.workspace_pages import actor_of

log = logging.getLogger(__name__)


class BackupUnavailable(DomainError):
    """The archive could not be written (full disk...): the owner sees why instead of a broken download."""

    code = "backup_failed"
    status = 503


def _remove(folder: Path) -> None:
    for path in folder.glob("*"):
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


class BackupController(Controller):
    path = "/w/{slug:str}/settings/backup"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace)}
    include_in_schema = False

    @get("/", **requires("admin"))
    async def download(self, request: Request, ws: CurrentWorkspace) -> File:
        data_dir = runtime_of(request).settings.data_dir
        scratch_root = backup.backups_dir(data_dir)
        scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".blazz-download-", dir=scratch_root))
        try:
            result = await asyncio.to_thread(backup.create_backup, data_dir, scratch, workspace=ws.slug)
        except backup.BackupError as exc:
            _remove(scratch)
            log.warning("backup download failed: %s", exc, extra={"workspace": ws.slug})
            raise BackupUnavailable(exc.msgid, **exc.params) from exc
        except BaseException:
            _remove(scratch)
            raise
        await audit.record(ws, actor_of(request), "backup.downloaded", result.path.name, size=result.size)
        log.info("backup of workspace downloaded by user %s", request.user.id, extra={"workspace": ws.slug})
        return File(result.path, filename=result.path.name, media_type="application/zip",
                    background=BackgroundTask(_remove, scratch))
