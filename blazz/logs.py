"""Where log lines go and what they look like: the console, and rotated files in `<data dir>/logs/`.

Lines carry context (`workspace`, `account`, `message_id`) from `extra={...}` or from `bind(...)` around a block.
JSON lines (`--log-format json`) hold one object per line: `ts`, `level`, `logger`, `message`, the context keys
present, and `exc` for a traceback. Never pass message bodies or secrets at info level: these files are read by
whoever helps the owner with a problem.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import logging.handlers
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOG_DIR = "logs"
LOG_FILE = "blazz.log"
MAX_BYTES = 10 << 20  # 10 MB a file, 5 old files: 60 MB at most, a few weeks of a busy shop
BACKUP_COUNT = 5
CONTEXT_KEYS = ("workspace", "account", "message_id", "campaign_id", "request")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
# Libraries that log full URLs or payloads at info level; warnings still come through.
QUIET_LOGGERS = ("apscheduler", "httpx", "httpcore", "uvicorn.access", "multipart")

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("blazz_log_context", default={})  # noqa: B039
_HANDLER_MARK = "_blazz_handler"
# A last line of defence for credentials in free text (a library's error message, a URL with a token).
_SECRET_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access_token|app_secret|verify_token|password|token|secret)[\"']?\s*[=:]\s*[\"']?)"
                r"[^\s\"'&,}]{4,}"), r"\1[redacted]"),
)


def log_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOG_DIR / LOG_FILE


@contextlib.contextmanager
def bind(**context: Any) -> Iterator[None]:
    """Add context to every line logged inside the block (in this task or thread): `with bind(workspace=slug):`."""
    token = _context.set({**_context.get(), **{k: v for k, v in context.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Puts the bound context on each record (an explicit `extra=` wins) and masks credentials in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        pairs = [(k, getattr(record, k)) for k in CONTEXT_KEYS if getattr(record, k, None) is not None]
        record.context = (" [" + " ".join(f"{k}={_plain(v)}" for k, v in pairs) + "]") if pairs else ""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _plain(value: Any) -> Any:
    """Context values as text or numbers; an account key `(workspace_id, account_id)` becomes `1/2`."""
    if isinstance(value, tuple | list):
        return "/".join(str(v) for v in value)
    return value if isinstance(value, int | float | str | bool) else str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = _plain(value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            record.context = ""
        text = super().format(record)
        return redact(text) if record.exc_info else text


def _formatter(fmt: str) -> logging.Formatter:
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r} (text or json)")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def _install(handler: logging.Handler, fmt: str, level: int) -> logging.Handler:
    handler.setFormatter(_formatter(fmt))
    handler.setLevel(level)
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    logging.getLogger().addHandler(handler)
    return handler


def configure(fmt: str = "text", level: int = logging.INFO) -> None:
    """Console logging for every command (stderr); replaces handlers installed by an earlier call."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    _install(logging.StreamHandler(), fmt, level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def add_file(path: Path, fmt: str = "text", level: int = logging.INFO) -> logging.Handler:
    """Also write to `path`, rotated at MAX_BYTES with BACKUP_COUNT old files kept (`blazz.log.1` ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT,
                                                   encoding="utf-8", delay=True)
    return _install(handler, fmt, level)


_WORKSPACE_PATH = re.compile(r"^/w/([a-z0-9-]+)(?:/|$)")


class RequestLogContext:
    """ASGI middleware: what is logged while serving `/w/<slug>/...` carries `workspace=<slug>`."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = _WORKSPACE_PATH.match(scope.get("path", "")) if scope["type"] in ("http", "websocket") else None
        if match is None:
            await self.app(scope, receive, send)
            return
        with bind(workspace=match.group(1)):
            await self.app(scope, receive, send)


def tail(path: Path, lines: int = 50) -> list[str]:
    """The last `lines` lines of a log file (reads only its end, however big it is)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - lines * 400))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > len(data):
        text = text[1:]  # the first line is probably cut
    return text[-lines:]
