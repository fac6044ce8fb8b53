"""REST API v1 (contract: shared/API.md). JSON in and out, bearer tokens scoped to one workspace.

How to add endpoints: write `blazz/web/api/<area>.py` with a `Controller` (path relative to /api/v1, e.g.
`path = "/contacts"`), handlers taking `ws: ApiWorkspace` (the token's workspace, with its own database) and
optionally `identity: ApiIdentity`; request/response bodies as msgspec Structs (`forbid_unknown_fields=True` so an
unknown key is a 422); raise the domain errors of blazz.errors (mapped to the error JSON once, in web/errors.py); use
`**requires_api_role("admin")` on handlers that need admin rights; list pages with `paginate()` from
blazz/web/api/pagination.py. Then add the controller to API_CONTROLLERS below.
"""

from __future__ import annotations

from litestar import Request, Response, Router
from litestar.di import Provide

from blazz.i18n import gettext as _
from blazz.web.api.accounts import AccountsApi
from blazz.web.api.auth import api_token_guard, provide_api_workspace, provide_identity
from blazz.web.api.auto_replies import AutoRepliesApi, BusinessHoursApi
from blazz.web.api.campaigns import CampaignsApi
from blazz.web.api.contacts import ContactsApi, GroupsApi
from blazz.web.api.conversations import ConversationsApi
from blazz.web.api.me import MeController
from blazz.web.api.messages import MediaApi, MessagesApi
from blazz.web.api.rate_limit import RateLimitMiddleware
from blazz.web.api.sandbox import SandboxApi
from blazz.web.api.search import SearchApi
from blazz.web.api.templates import TemplatesApi
from blazz.web.api.webhooks import WebhooksApi
from blazz.web.api.workspace import WorkspaceApi
from blazz.web.errors import error_json

API_CONTROLLERS: list = [MeController, WorkspaceApi, AccountsApi, SandboxApi, ContactsApi, GroupsApi, WebhooksApi,
                        AutoRepliesApi, BusinessHoursApi, ConversationsApi, MessagesApi, MediaApi, SearchApi,
                        TemplatesApi, CampaignsApi]
# JSON bodies (the sandbox's base64 media the largest); uploads set their own limit on the handler.
API_MAX_BODY = 10 * 1024 * 1024


SQLITE_MAX_INT = 2**63 - 1


def on_overflow(request: Request, exc: OverflowError) -> Response:
    """A number SQLite cannot hold: as an id in the path nothing can have it (404), elsewhere it is bad input."""
    if any(isinstance(v, int) and abs(v) > SQLITE_MAX_INT for v in request.path_params.values()):
        return error_json(404, "not_found", _("There is nothing with that id."))
    return error_json(422, "validation_error", _("A number is out of range."), {"body": _("A number is out of range.")})


def api_router() -> Router:
    return Router(
        path="/api/v1",
        route_handlers=API_CONTROLLERS,
        guards=[api_token_guard],
        dependencies={"ws": Provide(provide_api_workspace), "identity": Provide(provide_identity)},
        tags=["api"],
        middleware=[RateLimitMiddleware],  # before the token guard: floods are refused without a lookup
        request_max_body_size=API_MAX_BODY,
        exception_handlers={OverflowError: on_overflow},
    )
