"""Errors become a friendly page, an inline htmx message, a login redirect, or API JSON — decided here, once."""

from __future__ import annotations

import logging
import re

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.plugins.htmx import ClientRedirect
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from blazz.errors import DomainError, TooMany
from blazz.i18n import N_
from blazz.i18n import gettext as _

log = logging.getLogger(__name__)

_TITLES = {  # translated when a page shows one
    400: N_("That request did not make sense"),
    401: N_("Please log in"),
    403: N_("You don't have access to this"),
    404: N_("Page not found"),
    405: N_("That action is not allowed here"),
    409: N_("That conflicts with something that exists"),
    413: N_("That is too large"),
    422: N_("Please check what you entered"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong on our side"),
}
_TRY_AGAIN = N_("Please try again. If it keeps happening, check the log in Settings.")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/webhooks/")


def error_json(status: int, code: str, message: str, details: dict | None = None, headers=None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _render(request: Request, status: int, message: str, code: str, details=None, headers=None) -> Response:
    if _wants_json(request):
        return error_json(status, code, message, details, headers)
    if request.headers.get("hx-request"):
        # An error the form did not handle itself shows as a toast instead of replacing part of the page.
        headers = {**(headers or {}), "HX-Retarget": "#toasts", "HX-Reswap": "beforeend"}
        return Template(template_name="_toast.html", context={"message": message, "level": "error"},
                        status_code=status, headers=headers)
    title = _(_TITLES[status]) if status in _TITLES else _("Error")
    return Template(template_name="errors/error.html",
                    context={"status": status, "title": title, "message": message},
                    status_code=status, headers=headers)


def on_not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
    if _wants_json(request):
        return error_json(401, "unauthorized", _("A valid API token is required (Authorization: Bearer <token>)."))
    target = f"/login?next={request.url.path}"
    if request.headers.get("hx-request"):
        return ClientRedirect(target)
    return Redirect(target)


def on_http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status == 401:
        return on_not_authorized(request, NotAuthorizedException())
    message = exc.detail if status < 500 else _(_TRY_AGAIN)
    if status == 404 and not _wants_json(request):
        message = _("There is nothing here, or you don't have access to it.")
    if status == 403 and message == "CSRF token verification failed":  # litestar's words for a stale form
        message = _("This form is out of date (its page was open too long). Reload the page and try again.")
    code = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
            413: "too_large", 429: "rate_limited"}.get(status, "error")
    details = getattr(exc, "extra", None)
    headers = dict(exc.headers or {})
    if status == 429:
        message = _("Too many attempts. Wait a minute and try again.")
    return _render(request, status, message, code, details if isinstance(details, dict) else None, headers)


def on_validation_error(request: Request, exc: ValidationException) -> Response:
    """Malformed input is a 400; well-formed input with bad fields is a 422 naming each field."""
    fields = {}
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("key"):
            message = str(item.get("message", "invalid value"))
            fields[_field_name(str(item["key"]), message)] = message
    if fields:
        return _render(request, 422, _("Some fields are not valid: %(fields)s", fields=", ".join(fields)),
                       "validation_error", fields)
    return _render(request, 400, _clean_detail(exc.detail), "bad_request")


def _field_name(key: str, message: str) -> str:
    """The body field a msgspec message is about: `unknown field `x``, or a `$.a.b` path; else litestar's key."""
    if match := re.search(r"unknown field `([^`]+)`", message):
        return match.group(1)
    if match := re.search(r"at `\$\.([^`]+)`", message):
        return match.group(1)
    if match := re.search(r"required field `([^`]+)`", message):
        return match.group(1)
    return "body" if key == "data" else key


def _clean_detail(detail: str) -> str:
    if "Malformed" in detail or "JSON" in detail or "decode" in detail.lower():
        return _("The request body is not valid JSON.")
    return detail or _("The request is not valid.")


def on_domain_error(request: Request, exc: DomainError) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooMany) else None
    return _render(request, exc.status, exc.message, exc.code, exc.details, headers)


def on_server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _render(request, HTTP_500_INTERNAL_SERVER_ERROR,
                   _(_TRY_AGAIN), "internal_error")


EXCEPTION_HANDLERS = {
    NotAuthorizedException: on_not_authorized,
    ValidationException: on_validation_error,
    HTTPException: on_http_exception,
    DomainError: on_domain_error,
    HTTP_500_INTERNAL_SERVER_ERROR: on_server_error,
}
