"""Sentences a shop owner understands for what WhatsApp Web (whatsmeow) reports about a session."""

from __future__ import annotations

from neonize.proto.Neonize_pb2 import ConnectFailureReason, TemporaryBan

CLIENT_OUTDATED = "WhatsApp rejected this version of Blazz's WhatsApp library; update Blazz"
QR_NOT_SCANNED = "Nobody scanned the QR code in time."
CONNECTION_LOST = "The connection to WhatsApp dropped; reconnecting."
SILENT_DROP = (
    "WhatsApp closed the connection without saying why; this happens when the same session is opened "
    "somewhere else. Reconnecting."
)

_R = ConnectFailureReason
LOGOUT_REASONS: dict[int, str] = {
    _R.LOGGED_OUT: "The phone unlinked this device (WhatsApp → Linked devices). Link it again with a new QR code.",
    _R.MAIN_DEVICE_GONE: (
        "The WhatsApp account on the phone is gone (the app was reinstalled, the number changed or the account "
        "was deleted). Link the phone again."
    ),
    _R.UNKNOWN_LOGOUT: "WhatsApp ended this session without giving a reason. Link the phone again.",
    _R.CLIENT_OUTDATED: CLIENT_OUTDATED,
    _R.BAD_USER_AGENT: "WhatsApp rejected how Blazz identifies itself; update Blazz.",
    _R.TEMP_BANNED: "WhatsApp temporarily banned this number.",
    _R.GENERIC: "WhatsApp refused the connection.",
    _R.INTERNAL_SERVER_ERROR: "WhatsApp's servers had an internal error.",
    _R.SERVICE_UNAVAILABLE: "WhatsApp's servers are unavailable right now.",
    _R.EXPERIMENTAL: "WhatsApp refused the connection for this kind of client.",
}
# Reasons after which trying the same session again cannot help (the owner must link again or update).
FINAL_REASONS = frozenset({_R.LOGGED_OUT, _R.MAIN_DEVICE_GONE, _R.UNKNOWN_LOGOUT, _R.CLIENT_OUTDATED})
# Reasons whatsmeow reconnects from by itself.
TRANSIENT_REASONS = frozenset({_R.INTERNAL_SERVER_ERROR, _R.SERVICE_UNAVAILABLE})

_B = TemporaryBan
BAN_REASONS: dict[int, str] = {
    _B.SEND_TO_TOO_MANY_PEOPLE: "WhatsApp temporarily banned this number for messaging too many people who had "
    "not saved it.",
    _B.BLOCKED_BY_USERS: "WhatsApp temporarily banned this number because too many people blocked it.",
    _B.CREATED_TOO_MANY_GROUPS: "WhatsApp temporarily banned this number for creating too many groups.",
    _B.SENT_TOO_MANY_SAME_MESSAGE: "WhatsApp temporarily banned this number for sending the same message to "
    "too many people.",
    _B.BROADCAST_LIST: "WhatsApp temporarily banned this number for sending too many broadcast-list messages.",
}

# Statuses of whatsmeow's QR channel, passed to neonize's login-status callback.
LOGIN_STATUS_REASONS = {
    "timeout": QR_NOT_SCANNED,
    "err-client-outdated": CLIENT_OUTDATED,
    "err-scanned-without-multidevice": "The phone that scanned the code cannot link devices; update WhatsApp "
    "on the phone and scan again.",
    "err-unexpected-state": "Linking stopped in an unexpected state; try again.",
    "error": "Linking the phone failed; try again.",
}


def logout_reason(reason: int) -> str:
    return LOGOUT_REASONS.get(reason, "WhatsApp ended this session. Link the phone again.")


def ban_reason(code: int) -> str:
    return BAN_REASONS.get(code, "WhatsApp temporarily banned this number.")


def connect_error_reason(error: str) -> str:
    """A readable sentence for the error string `Neonize()` returns when a connection cannot begin."""
    text = error.strip()
    low = text.lower()
    if "socks" in low or "proxy" in low:
        return f"Could not reach WhatsApp through the configured proxy ({_tail(text)})."
    if "no such host" in low or "lookup " in low:
        return (
            "Could not reach WhatsApp: the address web.whatsapp.com could not be looked up. "
            "Check this computer's internet connection."
        )
    if "network is unreachable" in low or "no route to host" in low:
        return "Could not reach WhatsApp: this computer has no route to the internet."
    if "connection refused" in low:
        return "WhatsApp refused the connection; check the internet connection or the firewall."
    if "deadline exceeded" in low or "timeout" in low or "timed out" in low:
        return "WhatsApp did not answer in time; check the internet connection."
    if "database" in low or "sqlite" in low or "unable to open" in low or "disk" in low:
        return f"Could not open this account's WhatsApp session file ({_tail(text)})."
    return f"Could not connect to WhatsApp ({_tail(text)})."


def _tail(error: str) -> str:
    """The innermost part of a Go error chain ("a: b: c" → "c"), which is the part that says what happened."""
    return error.rsplit(": ", 1)[-1] or error
