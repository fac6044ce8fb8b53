"""Domain errors raised by services; the web layer maps each to HTTP once (page, htmx fragment or API JSON)."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Invalid(DomainError):
    """Bad input for one field; `field` names it so forms can show the message beside it."""

    code = "validation_error"
    status = 422

    def __init__(self, field: str, message: str):
        super().__init__(message, details={field: message})
        self.field = field


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class TooMany(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
