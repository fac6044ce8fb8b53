"""A fake of Meta's Graph API for the WhatsApp Cloud API, served over real HTTP on 127.0.0.1.

It answers the calls the cloud_api engine makes (phone number, messages, media upload/URL/download, message
templates) with the shapes Meta documents, records every request, and can be told to fail a call with a Graph
error (`fail(...)`) or to treat the token as revoked (`revoke_token()`).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")

# Meta's wording for the two token failures the tests meet.
INVALID_TOKEN_MESSAGE = "Invalid OAuth access token - Cannot parse access token"
EXPIRED_TOKEN_MESSAGE = (
    "Error validating access token: Session has expired on Friday, 20-Jun-25 09:00:00 PDT. "
    "The current time is Saturday, 21-Jun-25 10:00:00 PDT."
)


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it; `path` has the `/vNN.N` prefix removed."""

    method: str
    path: str
    version: str | None
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def _parts(self) -> list[Any]:
        content_type = self.header("Content-Type") or ""
        raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + self.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        return list(message.iter_parts()) if message.is_multipart() else []

    @property
    def form(self) -> dict[str, str]:
        """The plain fields of a multipart/form-data body."""
        return {
            p.get_param("name", header="content-disposition"): p.get_payload(decode=True).decode()
            for p in self._parts()
            if p.get_filename() is None
        }

    @property
    def files(self) -> dict[str, UploadedFile]:
        """The file fields of a multipart/form-data body."""
        return {
            p.get_param("name", header="content-disposition"): UploadedFile(
                p.get_filename(), p.get_content_type(), p.get_payload(decode=True)
            )
            for p in self._parts()
            if p.get_filename() is not None
        }


@dataclass
class StoredMedia:
    content: bytes
    mime: str
    filename: str | None = None


@dataclass
class _Failure:
    method: str
    path: str
    status: int
    body: dict
    headers: dict[str, str]


@dataclass
class FakeGraphApi:
    token: str = "EAAG-test-token"
    phone_number_id: str = "106540352242922"
    waba_id: str = "102290129340398"
    display_phone_number: str = "+1 555-078-3881"
    verified_name: str = "Lucky Shrub"
    page_size: int = 2  # small, so template listing has to follow the paging cursor
    requests: list[Recorded] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    templates: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._ids = itertools.count(1)
        self._revoked = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- control ---------------------------------------------------------------------------------------------

    def start(self) -> FakeGraphApi:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-graph-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections, as a server that went away would."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(
        self,
        method: str,
        path: str,
        *,
        code: int | None,
        status: int = 400,
        message: str = "Graph error",
        details: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `method path` with a Graph error body (`code` None: an empty body)."""
        body: dict = {}
        if code is not None:
            error: dict[str, Any] = {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEfGhIjKlMnOp",
            }
            if details is not None:
                error["error_data"] = {"messaging_product": "whatsapp", "details": details}
            body = {"error": error}
        with self._lock:
            self._failures.append(_Failure(method.upper(), path, status, body, headers or {}))

    def revoke_token(self) -> None:
        """From now on every call fails as Meta answers an expired token (HTTP 401, code 190)."""
        self._revoked = True

    def add_media(self, content: bytes, mime: str, filename: str | None = None) -> str:
        media_id = str(9000000000000000 + next(self._ids))
        self.media[media_id] = StoredMedia(content, mime, filename)
        return media_id

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    # -- serving ---------------------------------------------------------------------------------------------

    def _answer(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(req)
            failure = next((f for f in self._failures if f.method == req.method and f.path == req.path), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            return failure.status, failure.headers, _dump(failure.body)
        if req.header("Authorization") != f"Bearer {self.token}" or self._revoked:
            message = EXPIRED_TOKEN_MESSAGE if self._revoked else INVALID_TOKEN_MESSAGE
            error = {"message": message, "type": "OAuthException", "code": 190, "fbtrace_id": "AzYxWvUt"}
            if self._revoked:
                error["error_subcode"] = 463
            return 401, {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}, _dump({"error": error})
        status, body = self._route(req)
        if isinstance(body, StoredMedia):
            return status, {"Content-Type": body.mime}, body.content
        return status, {}, _dump(body)

    def _route(self, req: Recorded) -> tuple[int, dict | StoredMedia]:
        parts = req.path.strip("/").split("/")
        pnid, waba = self.phone_number_id, self.waba_id
        if req.method == "GET" and parts == [pnid]:
            return 200, {
                "verified_name": self.verified_name,
                "display_phone_number": self.display_phone_number,
                "id": pnid,
                "quality_rating": "GREEN",
            }
        if req.method == "POST" and parts == [pnid, "messages"]:
            return self._message(req.json)
        if req.method == "POST" and parts == [pnid, "media"]:
            return self._upload(req)
        if req.method == "GET" and len(parts) == 2 and parts[0] == "download" and parts[1] in self.media:
            return 200, self.media[parts[1]]
        if len(parts) == 1 and parts[0] in self.media:
            media_id = parts[0]
            if req.method == "DELETE":
                del self.media[media_id]
                return 200, {"success": True}
            stored = self.media[media_id]
            return 200, {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/download/{media_id}",
                "mime_type": stored.mime,
                "sha256": hashlib.sha256(stored.content).hexdigest(),
                "file_size": len(stored.content),
                "id": media_id,
            }
        if parts == [waba, "message_templates"]:
            return self._list_templates(req) if req.method == "GET" else self._create_template(req.json)
        return 400, _graph_error(
            100,
            f"Unsupported {req.method.lower()} request. Object with ID '{parts[0]}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            "GraphMethodException",
        )

    def _message(self, body: dict) -> tuple[int, dict]:
        if body.get("messaging_product") != "whatsapp":
            return 400, _graph_error(100, "The parameter messaging_product is required.")
        if body.get("status") == "read":
            return 200, {"success": True}
        wamid = f"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI{next(self._ids):012d}AA=="
        to = body.get("to", "")
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    def _upload(self, req: Recorded) -> tuple[int, dict]:
        form, files = req.form, req.files
        if form.get("messaging_product") != "whatsapp" or "file" not in files:
            return 400, _graph_error(100, "The parameter messaging_product is required.")
        upload = files["file"]
        return 200, {"id": self.add_media(upload.content, form.get("type") or upload.content_type, upload.filename)}

    def _list_templates(self, req: Recorded) -> tuple[int, dict]:
        limit = min(int(req.query.get("limit", self.page_size)), self.page_size)
        start = int(req.query.get("after") or 0)
        page = self.templates[start : start + limit]
        body: dict[str, Any] = {
            "data": page,
            "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
        }
        if start + limit < len(self.templates):
            body["paging"]["next"] = (
                f"https://graph.facebook.com{req.version or ''}/{self.waba_id}/message_templates"
                f"?limit={limit}&after={start + limit}"
            )
        return 200, body

    def _create_template(self, body: dict) -> tuple[int, dict]:
        if not re.fullmatch(r"[a-z0-9_]{1,512}", str(body.get("name", ""))):
            return 400, _graph_error(100, "Invalid parameter", details="Template name is invalid.")
        template_id = str(1000000000000000 + next(self._ids))
        self.templates.append(
            {
                "name": body["name"],
                "language": body.get("language"),
                "category": body.get("category"),
                "status": "PENDING",
                "components": body.get("components", []),
                "id": template_id,
            }
        )
        return 200, {"id": template_id, "status": "PENDING", "category": body.get("category")}


def _graph_error(code: int, message: str, kind: str = "OAuthException", details: str | None = None) -> dict:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AqRsTuVwXyZ"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def _dump(body: dict) -> bytes:
    return json.dumps(body).encode() if body else b""


def _handler_for(fake: FakeGraphApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            super().finish()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            version = _VERSION.match(url.path)
            req = Recorded(
                method=self.command,
                path=url.path[version.end() :] if version else url.path,
                version=version.group(0) if version else None,
                query=dict(parse_qsl(url.query)),
                headers=dict(self.headers.items()),
                body=self.rfile.read(length) if length else b"",
            )
            status, headers, body = fake._answer(req)
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers} if body else headers
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet; the fake records requests instead."""

    return Handler
