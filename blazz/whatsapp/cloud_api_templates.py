"""Cloud API message templates: the `template` object of a send, and listing/creating them on the WABA."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from blazz.whatsapp.protocol import TemplateCall

Request = Callable[..., Awaitable[dict]]  # (method, url, **httpx kwargs) -> JSON body; raises on Graph errors

LIST_FIELDS = "name,status,category,language,components,parameter_format"
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class CloudTemplate:
    """A message template as Meta holds it on the WhatsApp Business Account."""

    name: str
    language: str
    category: str  # MARKETING, UTILITY, AUTHENTICATION
    status: str  # APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...
    components: list[dict] = field(default_factory=list)
    id: str | None = None
    parameter_format: str | None = None  # POSITIONAL or NAMED

    @classmethod
    def from_graph(cls, data: dict) -> CloudTemplate:
        return cls(
            name=str(data.get("name") or ""),
            language=str(data.get("language") or ""),
            category=str(data.get("category") or ""),
            status=str(data.get("status") or ""),
            components=[c for c in data.get("components") or () if isinstance(c, dict)],
            id=str(data["id"]) if data.get("id") else None,
            parameter_format=data.get("parameter_format"),
        )


def template_object(call: TemplateCall, header_media_id: str | None, header_mime: str | None) -> dict:
    """Meta's `template` object for a send.

    `call.extra` may hold `header_format` (image|video|document; else from `header_mime`, else image), `header_text`
    (header text parameters), `body_param_names` (for NAMED templates) and `buttons` (button components,
    passed through as Meta documents them).
    """
    components: list[dict[str, Any]] = []
    if header_media_id:
        fmt = call.extra.get("header_format") or _media_kind(header_mime)
        components.append({"type": "header", "parameters": [{"type": fmt, fmt: {"id": header_media_id}}]})
    elif call.extra.get("header_text"):
        params = [{"type": "text", "text": str(t)} for t in call.extra["header_text"]]
        components.append({"type": "header", "parameters": params})
    if call.body_params:
        names = list(call.extra.get("body_param_names") or ())
        params = []
        for i, value in enumerate(call.body_params):
            param = {"type": "text", "text": str(value)}
            if i < len(names):
                param["parameter_name"] = names[i]
            params.append(param)
        components.append({"type": "body", "parameters": params})
    components.extend(dict(b) for b in call.extra.get("buttons") or ())
    template: dict[str, Any] = {"name": call.name, "language": {"code": call.language}}
    if components:
        template["components"] = components
    return template


async def list_templates(request: Request, url: str) -> list[CloudTemplate]:
    """Every template at `url` (`/{waba_id}/message_templates`), following Meta's cursor paging."""
    params = {"fields": LIST_FIELDS, "limit": str(PAGE_SIZE)}
    templates: list[CloudTemplate] = []
    while True:
        data = await request("GET", url, params=params)
        templates.extend(CloudTemplate.from_graph(t) for t in data.get("data") or () if isinstance(t, dict))
        paging = data.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        # No `next` on the last page. The cursor is followed on our base URL (a proxy or test server).
        if not paging.get("next") or not after:
            return templates
        params = {**params, "after": after}


async def create_template(
    request: Request,
    url: str,
    name: str,
    language: str,
    category: str,
    components: list[dict],
    *,
    parameter_format: str | None = None,
) -> CloudTemplate:
    """Submit a template for review; Meta answers `{"id", "status", "category"}`."""
    body: dict[str, Any] = {
        "name": name,
        "language": language,
        "category": category.upper(),
        "components": components,
    }
    if parameter_format:
        body["parameter_format"] = parameter_format.upper()
    data = await request("POST", url, json=body)
    return CloudTemplate(
        name=name,
        language=language,
        category=str(data.get("category") or body["category"]),
        status=str(data.get("status") or "PENDING"),
        components=components,
        id=str(data["id"]) if data.get("id") else None,
        parameter_format=body.get("parameter_format"),
    )


def _media_kind(mime: str | None) -> str:
    if mime is None or mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return "document"
