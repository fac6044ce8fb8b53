"""Meta Graph API errors in Blazz's words: which codes retry, after how long, and what the shop owner is told.

Codes and actions follow notes/cloud-api.md (B.5), from Meta's error-code and throughput pages. Key off `code`
and `error_data.details`, never the title: titles change, codes do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from blazz.whatsapp.protocol import SendError

# Throughput limit (80 msg/s per number): Meta asks for a short backoff, seconds not minutes.
THROUGHPUT_RETRY_S = 5.0
# Pair rate limit: about one message per 6 s to the same user.
PAIR_RATE_RETRY_S = 6.0
# App (4) and WABA (80007) call limits are counted per hour: back off for minutes.
CALL_LIMIT_RETRY_S = 300.0
# Number in maintenance during a throughput upgrade: Meta says to retry after about a minute.
MAINTENANCE_RETRY_S = 60.0
# Spam rate limit (quality): slow right down.
SPAM_LIMIT_RETRY_S = 3600.0

AUTH_CODES = frozenset({0, 190})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
TEMPLATE_CODES = frozenset({132000, 132001, 132005, 132007, 132012, 132015, 132016, 132068, 132069})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})

WINDOW_CLOSED_REASON = "More than 24 hours since the customer's last message: send an approved template instead"
TOKEN_REVOKED_REASON = "access token expired or revoked"


@dataclass(frozen=True, slots=True)
class GraphError:
    """One error object as Meta returns it, in a response body or in a failed status webhook."""

    code: int | None
    message: str = ""
    details: str = ""
    title: str = ""
    http_status: int | None = None

    @classmethod
    def from_body(cls, body: object, http_status: int | None = None) -> GraphError:
        """Read `{"error": {...}}` (a response) or a bare error object (a status webhook's `errors[]`)."""
        err = body.get("error", body) if isinstance(body, dict) else {}
        if not isinstance(err, dict):
            err = {"message": str(err)}
        code = err.get("code")
        data = err.get("error_data")
        details = data.get("details", "") if isinstance(data, dict) else (data or "")
        return cls(
            code=code if isinstance(code, int) else _int_or_none(code),
            message=str(err.get("message") or ""),
            details=str(details or ""),
            title=str(err.get("title") or ""),
            http_status=http_status,
        )

    @property
    def meta_text(self) -> str:
        """Meta's own words, most specific first, for logs and for reasons that quote Meta."""
        parts = [p for p in (self.message or self.title, self.details) if p]
        if len(parts) == 2 and parts[1] in parts[0]:
            parts = parts[:1]
        return ": ".join(parts) or f"HTTP {self.http_status}"

    @property
    def is_auth(self) -> bool:
        return self.code in AUTH_CODES or (self.code is None and self.http_status == 401)


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def send_error(err: GraphError, *, uploading: bool = False, retry_after: float | None = None) -> SendError:
    """The SendError for a failed Graph call; `uploading` marks media uploads, whose bad input is the file."""
    code, meta = err.code, err.meta_text
    if err.is_auth:
        return SendError("auth_failed", f"Meta rejected the access token ({TOKEN_REVOKED_REASON}): {meta}", retry=False)
    if code in PERMISSION_CODES:
        return SendError("auth_failed", f"The access token lacks a WhatsApp permission: {meta}", retry=False)
    if code == 130429:
        return SendError(
            "rate_limited",
            "Meta's throughput limit for this number was hit; retrying shortly",
            retry=True,
            retry_after=retry_after or THROUGHPUT_RETRY_S,
        )
    if code == 131056:
        return SendError(
            "rate_limited",
            "Too many messages to this customer in a short time; retrying shortly",
            retry=True,
            retry_after=retry_after or PAIR_RATE_RETRY_S,
        )
    if code in (4, 80007):
        return SendError(
            "rate_limited",
            "Meta's API call limit was reached; retrying in a few minutes",
            retry=True,
            retry_after=retry_after or CALL_LIMIT_RETRY_S,
        )
    if code == 131057:
        return SendError(
            "rate_limited",
            "Meta is upgrading this number's capacity; retrying in a minute",
            retry=True,
            retry_after=retry_after or MAINTENANCE_RETRY_S,
        )
    if code == 131048:
        return SendError(
            "rate_limited",
            f"Meta is limiting this number because of low message quality: {meta}",
            retry=True,
            retry_after=retry_after or SPAM_LIMIT_RETRY_S,
        )
    if code == 131047:
        return SendError("window_closed", WINDOW_CLOSED_REASON, retry=False)
    if code == 131026:
        return SendError(
            "undeliverable",
            "WhatsApp could not deliver this message: the number may not be on WhatsApp, may not have "
            "accepted WhatsApp's latest terms, or may use an outdated app",
            retry=False,
        )
    if code == 131049:
        return SendError(
            "undeliverable",
            "Meta held this marketing message back: this customer already got enough marketing messages recently",
            retry=False,
        )
    if code == 130497:
        return SendError("undeliverable", "This business may not message users in the customer's country", retry=False)
    if code in TEMPLATE_CODES:
        return SendError("template_mismatch", f"Meta rejected the template message: {meta}", retry=False)
    if code in (131031, 368):
        return SendError("banned", f"Meta has blocked this WhatsApp Business account: {meta}", retry=False)
    if code in (131052, 131053) or (uploading and code is not None and 400 <= (err.http_status or 0) < 500):
        return SendError("invalid_media", f"Meta refused the media file: {meta}", retry=False)
    if code in TRANSIENT_CODES or (err.http_status or 0) >= 500:
        return SendError(
            "network", f"Meta's servers had a temporary problem: {meta}", retry=True, retry_after=retry_after
        )
    if err.http_status == 429:
        return SendError(
            "rate_limited",
            f"Meta asked to slow down: {meta}",
            retry=True,
            retry_after=retry_after or CALL_LIMIT_RETRY_S,
        )
    return SendError("unknown", f"Meta refused the message: {meta}", retry=False)


def failure_reason(err: GraphError) -> str:
    """A readable sentence for a `failed` status webhook, using the same wording as a refused send."""
    if err.code is None:
        return err.meta_text
    reason = send_error(err).reason
    return reason if err.code in (131047, 131026) else f"{reason} (#{err.code})"
