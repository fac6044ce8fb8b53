"""The API's OpenAPI document at /api/v1/openapi.json (generated from the code, API routes only) and its docs page at
/api/docs (Swagger UI from vendored files: it works offline and calls no CDN)."""

from __future__ import annotations

import copy
from typing import Any

from litestar import MediaType, Request, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server, Tag

from blazz import __version__

SCHEMA_PATH = "/api/v1/openapi.json"
API_PREFIX = "/api/v1/"
SWAGGER_UI = "/static/vendor/swagger-ui-5.35.0"

DESCRIPTION = """\
The Blazz REST API: contacts, WhatsApp numbers, messages, campaigns, templates, automation and webhooks of one
workspace. JSON in and out; times are ISO 8601 UTC; phones are returned as E.164.

## Authentication
Send `Authorization: Bearer <token>`. Create tokens in **Settings → API tokens** (or
`blazz admin create-token --workspace W --name N`). A token belongs to one workspace and has the `admin` or `agent`
role; it is shown once. A missing, unknown or revoked token gets `401`; a token without the needed role gets `403`.
Ids of another workspace are simply not found (`404`).

## Errors
Every error is `{"error": {"code": "snake_case", "message": "a sentence", "details": {...}}}`: `400` malformed
JSON, `401`, `403`, `404`, `409` conflict, `413` body too large, `422` invalid fields (`details` names each field,
unknown fields included), `429` rate limited.

## Lists
`?limit=` (default 50, max 500) and `?cursor=`: each page is `{"data": [...], "next_cursor": "..." | null}`.

## Rate limits
Each token may make 60 requests per second by default (a burst of 60; owners change it in Settings → API tokens).
Every answer carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`; past the
limit you get `429` with `Retry-After` (seconds).

## Webhooks
Subscribe a URL with `POST /api/v1/webhooks` (`{"url", "events": [...]}`); the response holds the signing `secret`
once. Each event is POSTed as JSON `{"id", "type", "created_at", "workspace", "data"}` with these headers:

- `Blazz-Event-Id`: the event id (a delivery can arrive more than once: deduplicate on it)
- `Blazz-Event`: the event type, e.g. `contact.created`
- `Blazz-Timestamp`: Unix seconds when this attempt was signed
- `Blazz-Signature`: `v1=` + hex HMAC-SHA256 of `"<timestamp>.<raw body>"` keyed with the secret

Verify over the raw bytes you received (before parsing the JSON), compare in constant time, and refuse timestamps
more than five minutes old:

```python
import hashlib, hmac, time

def verify(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
```

```javascript
const crypto = require("crypto");
function verify(secret, rawBody, timestamp, signature) {
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = "v1=" + crypto.createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
  return expected.length === signature.length && crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}
```

Answer with any `2xx` within 10 seconds. Anything else (or no answer) is retried with exponential backoff for 24
hours; a webhook that fails every attempt for a day is turned off and the owner is told. Only `http` and `https` URLs
are accepted, and never private, loopback or link-local addresses unless the webhook allows LAN targets (cloud
metadata addresses are always refused).
"""

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "examples": ["validation_error"]},
            "message": {"type": "string"},
            "details": {"type": "object", "description": "Per-field messages for 422; other context otherwise."},
        },
    }},
}
_ERRORS = {
    "400": "The request body is not valid JSON, or a parameter is malformed",
    "401": "Missing, unknown or revoked token",
    "403": "The token's role may not do this",
    "404": "Not found in this workspace",
    "409": "Conflicts with the current state",
    "413": "The request body is too large",
    "422": "Some fields are not valid (details name each one)",
    "429": "Rate limited: retry after Retry-After seconds",
}


def _error_response(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == "429":
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
    return response


def api_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated document narrowed to /api/v1 routes, with the API's error answers on every operation."""
    doc = copy.deepcopy(schema)
    doc["paths"] = {p: item for p, item in doc.get("paths", {}).items()
                    if p.startswith(API_PREFIX) and p != SCHEMA_PATH}
    for item in doc["paths"].values():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            # The router's "api" tag would list every operation twice in the docs; the area's tag is enough.
            if len(op.get("tags", [])) > 1:
                op["tags"] = [t for t in op["tags"] if t != "api"]
            statuses = ["400", "401", "403", "404", "422", "429"]
            if method in ("post", "put", "patch", "delete"):
                statuses.append("409")
            if "requestBody" in op:
                statuses.append("413")
            for status in statuses:
                op["responses"][status] = _error_response(status)
    doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    _drop_unused_schemas(doc)
    return doc


def _drop_unused_schemas(doc: dict[str, Any]) -> None:
    """Schemas only HTML routes used go with them."""
    schemas = doc["components"]["schemas"]
    used: set[str] = set()
    pending = [doc["paths"]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in used and name in schemas:
                    used.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in list(schemas):
        if name not in used:
            del schemas[name]


class ApiSchemaPlugin(OpenAPIRenderPlugin):
    """Serves the narrowed document as JSON."""

    def __init__(self) -> None:
        # "/" is the router's own path (SCHEMA_PATH); "/openapi.json" keeps litestar from adding an unfiltered copy.
        super().__init__(path=["/", "/openapi.json"], media_type=MediaType.JSON)
        self._cache: tuple[int, bytes] | None = None

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._cache is None or self._cache[0] != id(openapi_schema):
            self._cache = (id(openapi_schema), self.render_json(request, api_only(openapi_schema)))
        return self._cache[1]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Blazz REST API",
        version=__version__,
        description=DESCRIPTION,
        path=SCHEMA_PATH,
        render_plugins=[ApiSchemaPlugin()],
        servers=[Server(url="/")],
        components=Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer", description="An API token (blz_…)"),
        }),
        security=[{"bearer": []}],
        tags=[Tag(name=n) for n in ("workspace", "accounts", "contacts", "webhooks", "sandbox")],
        use_handler_docstrings=False,
    )


_DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Blazz API</title>
<link rel="icon" href="/static/img/favicon.svg">
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
<style>body {{ margin: 0; }} .swagger-ui .topbar {{ display: none; }}</style>
</head>
<body>
<div id="docs"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{SCHEMA_PATH}", dom_id: "#docs", deepLinking: true, validatorUrl: null,
  persistAuthorization: true, tryItOutEnabled: false, defaultModelsExpandDepth: 0,
}});
</script>
</body>
</html>
"""


@get("/api/docs", include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False,
     opt={"exclude_from_auth": True})
def api_docs() -> str:
    """The interactive API reference (Swagger UI, vendored)."""
    return _DOCS_PAGE
