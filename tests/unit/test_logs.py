"""Log lines: JSON or text, context from `bind` and `extra`, credentials masked, files rotated, tails read."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from blazz import logs


@pytest.fixture
def log_file(tmp_path: Path):
    """Log to a file the way `blazz serve --log-format json` does; handlers removed afterwards."""
    root = logging.getLogger()
    level = root.level
    path = logs.log_path(tmp_path)
    handlers = []

    def install(fmt: str = "json") -> Path:
        handlers.append(logs.add_file(path, fmt))
        root.setLevel(logging.INFO)
        return path

    yield install
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_lines_carry_context_from_bind_and_extra(log_file):
    path = log_file("json")
    log = logging.getLogger("blazz.test")
    with logs.bind(workspace="toko-sinar"):
        log.info("campaign %s started", 7, extra={"account": (1, 3), "campaign_id": 7})
        with logs.bind(account=2):
            log.warning("number %s dropped", 2)
    log.info("outside")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"workspace": "cabang"})
    first, second, third, fourth = lines(path)
    assert first["message"] == "campaign 7 started" and first["level"] == "info" and first["logger"] == "blazz.test"
    assert first["workspace"] == "toko-sinar" and first["account"] == "1/3" and first["campaign_id"] == 7
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["workspace"] == "toko-sinar" and second["account"] == 2 and second["level"] == "warning"
    assert "workspace" not in third
    assert fourth["workspace"] == "cabang" and "ValueError: boom" in fourth["exc"]


def test_text_lines_show_context_and_debug_stays_out(log_file):
    path = log_file("text")
    log = logging.getLogger("blazz.test")
    with logs.bind(workspace="toko-sinar", account=None):
        log.info("hello")
    log.debug("not at info level")
    text = path.read_text()
    assert "INFO blazz.test: hello [workspace=toko-sinar]" in text and "not at info level" not in text


def test_credentials_in_free_text_are_masked(log_file):
    path = log_file("json")
    log = logging.getLogger("blazz.test")
    log.info("graph said %s", "Authorization: Bearer EAAGsecretsecret rejected")
    log.warning("retrying https://example.test/media?access_token=EAAGtoken123&x=1")
    log.info("settings %s", {"app_secret": "app-secret-1234", "name": "Shop"})
    text = path.read_text()
    for secret in ("EAAGsecretsecret", "EAAGtoken123", "app-secret-1234"):
        assert secret not in text
    assert text.count("[redacted]") == 3 and "Shop" in text


def test_files_rotate_and_the_tail_is_read_from_the_end(log_file):
    path = log_file("text")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "baseFilename", "") == str(path))
    handler.maxBytes = 2000  # the real limit is 10 MB; the mechanism is the same
    log = logging.getLogger("blazz.test")
    for n in range(200):
        log.info("line %03d of the day", n)
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated[:2] == ["blazz.log", "blazz.log.1"] and len(rotated) == logs.BACKUP_COUNT + 1
    tail = logs.tail(path, 3)
    assert len(tail) == 3 and tail[-1].endswith("line 199 of the day")
    assert logs.tail(path.parent / "nothing.log") == []
