"""`/health`: is this process alive and are its parts working — for people, scripts and the packaging smoke test."""

from __future__ import annotations

from litestar import Request, Response, get

from blazz.web.context import runtime_of


@get("/health", exclude_from_auth=True, exclude_from_csrf=True, include_in_schema=False, sync_to_thread=False)
def health(request: Request) -> Response:
    body = runtime_of(request).health()
    return Response(body, status_code=200 if body["status"] == "ok" else 503)
