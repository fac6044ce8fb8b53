"""The litestar application: one factory wires controllers, sessions, CSRF, templates, static files and errors."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.middleware.session.server_side import ServerSideSessionBackend
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.security.session_auth import SessionAuth
from litestar.static_files import create_static_files_router
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.template.config import TemplateConfig

from blazz import __version__, contacts, media
from blazz.config import Settings
from blazz.logs import RequestLogContext
from blazz.runtime import Runtime
from blazz.web import filters
from blazz.web.account import AccountController
from blazz.web.accounts import AccountsController
from blazz.web.api import api_router
from blazz.web.api.openapi import api_docs, openapi_config
from blazz.web.api_tokens_page import ApiTokensController
from blazz.web.audit_page import AuditPageController
from blazz.web.auth import AuthController, login_rate_limit, retrieve_user
from blazz.web.automation import AutomationController
from blazz.web.backups import BackupController
from blazz.web.campaigns import CampaignsController
from blazz.web.cloud_webhook import cloud_receive, cloud_verify
from blazz.web.contacts import ContactsController, ContactSetupController
from blazz.web.dashboard import DashboardController
from blazz.web.diagnostics_page import DiagnosticsPageController
from blazz.web.errors import EXCEPTION_HANDLERS
from blazz.web.events import EventsController
from blazz.web.health import health
from blazz.web.inbox import InboxController
from blazz.web.inbox_admin import CannedRepliesController, InboxSettingsController
from blazz.web.locale import LocaleMiddleware
from blazz.web.sessions import SessionConfig
from blazz.web.shell import ShellController
from blazz.web.templates_page import TemplatesController
from blazz.web.webhooks_page import WebhooksController
from blazz.web.workspace_pages import NewWorkspaceController, SettingsController

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "web" / "templates"
ASSETS = PACKAGE / "assets"

PUBLIC_PATHS = ["^/static", "^/health", "^/api/", "^/webhooks/"]


def create_app(settings: Settings, runtime: Runtime | None = None) -> Litestar:
    runtime = runtime or Runtime(settings)
    settings.ensure_data_dir()
    runtime.tick_jobs.append(contacts.PurgeJob(runtime))  # empties the contacts bin after its 30 days
    runtime.tick_jobs.append(media.RetentionJob(runtime))  # removes message files older than the retention setting

    @asynccontextmanager
    async def lifespan(app: Litestar):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    session_auth = SessionAuth[object, ServerSideSessionBackend](
        retrieve_user_handler=retrieve_user,
        session_backend_config=SessionConfig(
            httponly=True, samesite="lax", secure=settings.secure_cookies, key="blazz_session",
            max_age=14 * 24 * 3600,
        ),
        exclude=PUBLIC_PATHS,
    )
    csrf = CSRFConfig(
        secret=settings.secret_key(), cookie_name="blazz_csrf", header_name="x-csrftoken",
        cookie_secure=settings.secure_cookies, cookie_samesite="lax", exclude=["/api/", "/webhooks/"],
    )
    template_config = TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=filters.install)

    app = Litestar(
        route_handlers=[
            health,
            cloud_verify,
            cloud_receive,
            AuthController,
            AccountController,
            AccountsController,
            ContactsController,
            ContactSetupController,
            CampaignsController,
            TemplatesController,
            InboxSettingsController,
            CannedRepliesController,
            InboxController,
            NewWorkspaceController,
            AutomationController,
            ShellController,
            SettingsController,
            BackupController,
            AuditPageController,
            DiagnosticsPageController,
            DashboardController,
            EventsController,
            api_router(),
            api_docs,
            ApiTokensController,
            WebhooksController,
            create_static_files_router(path="/static", directories=[ASSETS], include_in_schema=False,
                                       opt={"exclude_from_auth": True, "exclude_from_csrf": True}),
        ],
        on_app_init=[session_auth.on_app_init],
        middleware=[RequestLogContext, LocaleMiddleware, login_rate_limit(settings.login_rate_limit).middleware],
        plugins=[HTMXPlugin()],
        template_config=template_config,
        csrf_config=csrf,
        stores={
            "sessions": FileStore(settings.data_dir / "sessions", create_directories=True),
            "rate_limit": MemoryStore(),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        openapi_config=openapi_config(),  # /api/v1/openapi.json, API routes only
        logging_config=None,  # blazz.logs owns logging; litestar's default would replace the root handlers
        debug=False,
    )
    app.state.runtime = runtime
    app.state.version = __version__
    return app
