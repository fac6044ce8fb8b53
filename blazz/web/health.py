"""`/health`: is this process alive and are its parts working — for people, scripts and the packaging smoke test."""

from __future__ import annotations

from litestar import Request, Response, get

from blazz.web.context import runtime_of


@get("/health", exclude_from_auth=True, exclude_from_csrf=True, include_in_schema=False, sync_to_thread=False)
def health(request: Request) -> Response:
    rt = runtime_of(request)
    # 503 only when the process itself is not serving; a failed WhatsApp number shows as "degraded" with 200.
    return Response(rt.health(), status_code=200 if rt.running else 503)
