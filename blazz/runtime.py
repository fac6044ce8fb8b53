"""The long-lived parts of one Blazz process, started in order and stopped in reverse. Nothing else wires things."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from blazz import __version__, accounts, automation, ingest, message_webhooks
from blazz.backup import DailyBackups
from blazz.bus import Bus
from blazz.campaign_runner import CampaignScheduler
from blazz.config import Settings
from blazz.delivery import Delivery
from blazz.store import workspaces as ws_store
from blazz.store.registry import Databases
from blazz.store.workspaces import WorkspaceRow
from blazz.webhook_delivery import WebhookDelivery
from blazz.whatsapp.events import (
    Event,
    HistoryBatch,
    Inbound,
    PairCode,
    QrCode,
    Receipt,
    StateChanged,
    TemporaryBan,
)
from blazz.whatsapp.session_manager import AccountStatus, SessionManager
from blazz.workspaces import Workspace

EventHandler = Callable[[Workspace, Event], Awaitable[None]]

log = logging.getLogger(__name__)

# Hooks for new live inbound messages, in DESIGN §5's order: auto-replies answer first, then webhooks hear of them.
ingest.on_message(automation.on_messages)
ingest.on_message(message_webhooks.on_messages)

HEARTBEAT_S = 15  # short, so a laptop waking from sleep catches up within seconds (monotonic clocks stop in suspend)


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.dbs = Databases(settings.data_dir)
        self.bus = Bus()
        self.sessions = SessionManager(self.on_whatsapp_event)
        # Services that consume WhatsApp events (ingest, automation...) register here, by event type.
        self.event_handlers: dict[type, list[EventHandler]] = {}
        self.scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1}
        )
        self.started_at = time.time()
        self.version = __version__
        self.running = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop everything runs on, for calls from threads
        # Periodic work registered by services (retries, campaigns, backups); each runs on every heartbeat.
        self.tick_jobs: list[Callable[[], Awaitable[None]]] = []
        self.delivery = Delivery(self)  # outbox workers, one per connected number
        self.daily_backups = DailyBackups(self)
        self.webhooks = WebhookDelivery(self)  # outgoing webhooks: signed posts, retried for 24 h
        self.campaigns = CampaignScheduler(self)  # starts due campaigns and feeds them to the outbox

    @property
    def app_db(self):
        return self.dbs.app

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.settings.ensure_data_dir()
        await self.dbs.open()
        self.on_event(StateChanged, accounts.on_state_changed)
        self.on_event(QrCode, _publish_account)
        self.on_event(PairCode, _publish_account)
        # Delivery pipeline: a worker while a number is connected, receipts, bans, inbound ingest, media retries.
        self.on_event(StateChanged, self.delivery.on_state)
        self.on_event(Receipt, self.delivery.on_receipt)
        self.on_event(TemporaryBan, self.delivery.on_ban)
        self.on_event(Inbound, ingest.on_inbound)
        self.on_event(HistoryBatch, ingest.on_history)
        self.tick_jobs.append(self.delivery.tick)
        self.tick_jobs.append(self.daily_backups)  # a full archive in <data dir>/backups when the last is 24 h old
        self.tick_jobs.append(self.campaigns.tick)
        await self.webhooks.start()
        if self.settings.start_whatsapp:
            await self.restore_sessions()
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_S, id="heartbeat")
        self.scheduler.start()
        self.campaigns.start()  # due and running campaigns now, not at the first heartbeat
        self.running = True
        log.info("blazz %s started, data in %s", self.version, self.settings.data_dir)

    async def stop(self) -> None:
        self.running = False
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.campaigns.stop()  # before delivery: no window is fed to workers that are stopping
        await self.delivery.stop()  # before the sessions: the send in hand still has its engine
        await self.sessions.close()
        await self.webhooks.stop()
        self.bus.close()
        await self.dbs.close()
        log.info("blazz stopped")

    def on_event(self, event_type: type, handler: EventHandler) -> None:
        self.event_handlers.setdefault(event_type, []).append(handler)

    async def on_whatsapp_event(self, event: Event) -> None:
        """Route an engine or session-manager event to the services of its workspace."""
        handlers = self.event_handlers.get(type(event))
        if not handlers:
            return
        row = await ws_store.by_id(self.app_db, event.key[0])
        if row is None:
            log.warning("event for unknown workspace %s dropped: %s", event.key[0], type(event).__name__)
            return
        ws = await self.workspace(row)
        for handler in handlers:
            try:
                await handler(ws, event)
            except Exception:
                log.exception("%s failed for %s (workspace=%s account=%s)", getattr(handler, "__qualname__", handler),
                              type(event).__name__, *event.key)

    async def restore_sessions(self) -> None:
        """Know every account and reconnect those the owner left connected."""
        for row in await ws_store.all_workspaces(self.app_db):
            started = await accounts.restore(await self.workspace(row))
            if started:
                log.info("restored %s WhatsApp session(s) of workspace %s", started, row.slug)

    async def heartbeat(self) -> None:
        """One short tick: every periodic job re-reads the wall clock here; one failing job never stops the others."""
        for job in list(self.tick_jobs):
            try:
                await job()
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__qualname__", job))

    async def workspace(self, row: WorkspaceRow) -> Workspace:
        db = await self.dbs.workspace(row.id)
        return Workspace(row.id, row.slug, row.name, db, self.dbs.workspace_folder(row.id), self.bus, self.sessions)

    async def workspace_by_slug(self, slug: str) -> Workspace | None:
        row = await ws_store.by_slug(self.app_db, slug)
        return await self.workspace(row) if row else None

    def health(self) -> dict:
        components = {
            "app_db": "ok" if self.app_db.is_open else "closed",
            "scheduler": "running" if self.scheduler.running else "stopped",
            "bus": "closed" if self.bus.closed else "ok",
            "whatsapp": self.sessions.health(),
        }
        parts = [v["status"] if isinstance(v, dict) else v for v in components.values()]
        status = "ok" if self.running and all(p in ("ok", "running") for p in parts) else "degraded"
        return {
            "status": status,
            "version": self.version,
            "uptime_s": round(time.time() - self.started_at, 1),
            "components": components,
            "accounts": [_account_health(status) for _, status in sorted(self.sessions.states().items())],
        }


def _account_health(status: AccountStatus) -> dict:
    """One number's health: enough to see a flapping or failing session without opening the app."""
    last = status.last_event_at
    return {
        "workspace_id": status.key[0], "account_id": status.key[1], "engine": status.engine, "state": status.state,
        "last_event_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else None,
        "reconnects": status.reconnects, "last_error": status.last_error,
    }


async def _publish_account(ws: Workspace, event: QrCode | PairCode) -> None:
    await accounts.publish_state(ws, event.key[1])
