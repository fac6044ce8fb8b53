"""A webhook receiver served over real HTTP on 127.0.0.1: records every request and answers from a script.

`answer(500, 500, 200)` makes the next three requests get those statuses (then 200 again); `delay_s` holds each
answer, for timeouts. Use as a context manager, or `start()` / `stop()`; `url` is where it listens.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    host: str = "127.0.0.1"
    port: int = 0
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[int] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/blazz"

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self._script.extend(statuses)

    def reset(self) -> None:
        """Forget what was received and what was scripted."""
        with self._lock:
            self._script.clear()
            self.received.clear()

    def _next_status(self) -> int:
        with self._lock:
            return self._script.popleft() if self._script else 200

    def _record(self, request: Received) -> int:
        with self._lock:
            self.received.append(request)
        return self._next_status()

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._record(Received("POST", self.path, dict(self.headers.items()), body, time.time()))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                reply = json.dumps({"ok": 200 <= status < 300}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the sender gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def free_port() -> int:
    """A port nothing listens on (for "receiver is down" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
