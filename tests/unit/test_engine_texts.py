"""Every sentence the WhatsApp engines say about a number's connection is known to `accounts.ENGINE_TEXTS`, so the
Numbers page can show it in the reader's language: a new reason added in blazz/whatsapp without a catalog entry
fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from blazz import accounts
from blazz.whatsapp.cloud_api_errors import TOKEN_REVOKED_REASON
from blazz.whatsapp.whatsapp_web import reasons

WHATSAPP = Path(accounts.__file__).parent / "whatsapp"
# Calls that carry a sentence shown on a number's card or as the answer to a card's action, and the argument it is.
CARRIERS = {"EngineError": 1, "Disconnected": 1, "LoggedOut": 1, "TemporaryBan": 2, "_set_state": 2, "_fail": 1,
            "_abandon": 2, "_drop": 0}
# Sentences that never reach the Numbers page: media downloads and sends (the inbox shows those), template
# management, and the sandbox's own test controls (API only).
ELSEWHERE = {
    "This media reference carries no Cloud API media id",
    "Template management needs the WhatsApp Business Account id",
    "Meta did not provide the media file: X",
    "Could not download the media file: X",
    "This media file is not available in the sandbox.",
    "This media reference lacks what WhatsApp needs to download the file.",
    "WhatsApp no longer has this file (media expires after some weeks).",
    "X: WhatsApp is not connected right now.",
    "X (X).",
    "X is not a phone number with a country code.",
    "An inbound message needs text or media.",
    "Unknown sandbox settings: X.",
    "fail_rate must be a number between 0 and 1.",
    "X must be a number of milliseconds.",
    "reply_delay_ms must be a number of milliseconds.",
    "fail_connects must be a whole number of attempts.",
    "not_on_whatsapp must be a list of phone numbers.",
    "X: X",  # the revoked token: TOKEN_REVOKED_REASON + Meta's words, checked below
}


def _sample(node: ast.expr) -> str | None:
    """A string literal as it is; an f-string with X for each value it formats."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    return None


def _engine_sentences() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(WHATSAPP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            position = CARRIERS.get(name)
            if position is not None and len(node.args) > position:
                sample = _sample(node.args[position])
                if sample is not None:
                    found.append((path.name, node.lineno, sample))
    return found


def _known(text: str) -> bool:
    message, params = accounts.engine_message(text)
    return message in accounts.ENGINE_TEXTS and (params or message == text)


def test_every_engine_sentence_about_a_connection_has_a_catalog_entry():
    sentences = _engine_sentences()
    assert len(sentences) > 40, "the scan found the engines' calls"
    unknown = [(f, line, s) for f, line, s in sentences if s not in ELSEWHERE and not _known(s)]
    assert unknown == []


def test_whatsapp_web_reasons_are_known_too():
    texts = [reasons.CLIENT_OUTDATED, reasons.QR_NOT_SCANNED, reasons.CONNECTION_LOST, reasons.SILENT_DROP,
             *reasons.LOGOUT_REASONS.values(), *reasons.BAN_REASONS.values(), *reasons.LOGIN_STATUS_REASONS.values(),
             reasons.logout_reason(-1), reasons.ban_reason(-1), f"{TOKEN_REVOKED_REASON}: Session has expired"]
    texts += [reasons.connect_error_reason(e) for e in (
        "socks connect tcp: proxy refused", "dial tcp: lookup web.whatsapp.com: no such host",
        "connect: network is unreachable", "dial tcp: connection refused", "context deadline exceeded",
        "unable to open database file", "websocket: bad handshake")]
    assert [t for t in texts if not _known(t)] == []
