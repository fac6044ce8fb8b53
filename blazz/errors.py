"""Domain errors raised by services; the web layer maps each to HTTP once (page, htmx fragment or API JSON).

A message is an English sentence that doubles as its catalog id: values go in `%(name)s` placeholders passed as
keyword arguments (never an f-string), so `message` can be read in the language of whoever is being answered.
"""

from __future__ import annotations

from typing import Any

from blazz.i18n import gettext


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None, **params: Any):
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)
        self._details = details or {}

    @property
    def message(self) -> str:
        """The message in the current request's language (English outside a request)."""
        return gettext(self.msgid, **self.params)

    @property
    def details(self) -> dict:
        return self._details


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Invalid(DomainError):
    """Bad input for one field; `field` names it so forms can show the message beside it."""

    code = "validation_error"
    status = 422

    def __init__(self, field: str, message: str, **params: Any):
        super().__init__(message, **params)
        self.field = field

    @property
    def details(self) -> dict:
        return {self.field: self.message}


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class TooMany(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int, **params: Any):
        super().__init__(message, details={"retry_after": retry_after}, **params)
        self.retry_after = retry_after
