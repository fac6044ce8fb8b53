"""Opens app.db and each workspace.db on demand, migrated, one `Database` per file for the life of the process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from blazz.store import messages as messages_store
from blazz.store.app_schema import APP_MIGRATIONS
from blazz.store.database import Database
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS

log = logging.getLogger(__name__)


def workspace_database(path: Path) -> Database:
    """A workspace file's `Database`: new messages join the search index as each write transaction commits."""
    return Database(path, before_commit=messages_store.index_queued)


class Databases:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.app = Database(data_dir / "app.db")
        self._workspaces: dict[int, Database] = {}
        self._lock = asyncio.Lock()

    def workspace_folder(self, workspace_id: int) -> Path:
        return self.data_dir / "workspaces" / str(workspace_id)

    def workspace_path(self, workspace_id: int) -> Path:
        return self.workspace_folder(workspace_id) / "workspace.db"

    async def open(self) -> None:
        """Migrate app.db and every workspace file that exists, then open app.db. Runs before serving."""
        await asyncio.to_thread(self._migrate_all)
        await self.app.open()

    def _migrate_all(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        APP_MIGRATIONS.apply(self.app.path)
        root = self.data_dir / "workspaces"
        if root.exists():
            for path in sorted(root.glob("*/workspace.db")):
                applied = WORKSPACE_MIGRATIONS.apply(path)
                if applied:
                    log.info("migrated %s: %s", path, ", ".join(applied))

    async def workspace(self, workspace_id: int) -> Database:
        """The open database of one workspace; created and migrated on first use."""
        db = self._workspaces.get(workspace_id)
        if db is not None:
            return db
        async with self._lock:
            db = self._workspaces.get(workspace_id)
            if db is None:
                path = self.workspace_path(workspace_id)
                path.parent.mkdir(parents=True, exist_ok=True)
                await asyncio.to_thread(WORKSPACE_MIGRATIONS.apply, path)
                db = workspace_database(path)
                await db.open()
                self._workspaces[workspace_id] = db
        return db

    async def close(self) -> None:
        for db in list(self._workspaces.values()):
            await db.close()
        self._workspaces.clear()
        await self.app.close()
