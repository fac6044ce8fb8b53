"""The long-lived parts of one Blazz process, started in order and stopped in reverse. Nothing else wires things."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from blazz import __version__
from blazz.bus import Bus
from blazz.config import Settings
from blazz.store import workspaces as ws_store
from blazz.store.registry import Databases
from blazz.store.workspaces import WorkspaceRow
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

HEARTBEAT_S = 15  # short, so a laptop waking from sleep catches up within seconds (monotonic clocks stop in suspend)


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.dbs = Databases(settings.data_dir)
        self.bus = Bus()
        self.scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1}
        )
        self.started_at = time.time()
        self.version = __version__
        self.running = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop everything runs on, for calls from threads
        # Periodic work registered by services (retries, campaigns, backups); each runs on every heartbeat.
        self.tick_jobs: list[Callable[[], Awaitable[None]]] = []

    @property
    def app_db(self):
        return self.dbs.app

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.settings.ensure_data_dir()
        await self.dbs.open()
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_S, id="heartbeat")
        self.scheduler.start()
        self.running = True
        log.info("blazz %s started, data in %s", self.version, self.settings.data_dir)

    async def stop(self) -> None:
        self.running = False
        self.bus.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.dbs.close()
        log.info("blazz stopped")

    async def heartbeat(self) -> None:
        """One short tick: every periodic job re-reads the wall clock here; one failing job never stops the others."""
        for job in list(self.tick_jobs):
            try:
                await job()
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__qualname__", job))

    async def workspace(self, row: WorkspaceRow) -> Workspace:
        db = await self.dbs.workspace(row.id)
        return Workspace(row.id, row.slug, row.name, db, self.dbs.workspace_folder(row.id))

    async def workspace_by_slug(self, slug: str) -> Workspace | None:
        row = await ws_store.by_slug(self.app_db, slug)
        return await self.workspace(row) if row else None

    def health(self) -> dict:
        components = {
            "app_db": "ok" if self.app_db.is_open else "closed",
            "scheduler": "running" if self.scheduler.running else "stopped",
            "bus": "closed" if self.bus.closed else "ok",
        }
        status = "ok" if self.running and all(v in ("ok", "running") for v in components.values()) else "degraded"
        return {
            "status": status,
            "version": self.version,
            "uptime_s": round(time.time() - self.started_at, 1),
            "components": components,
        }
