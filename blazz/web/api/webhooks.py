"""/api/v1/webhooks: outgoing webhook subscriptions, their delivery log, test events and redelivery (admin tokens).

The signing secret is returned once, by the create call. How receivers check a delivery: see the API description
(`blazz.web.api.openapi.DESCRIPTION`) and `blazz.webhooks`.
"""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from blazz import audit, webhooks
from blazz.store.webhooks import Attempt, Delivery, Webhook
from blazz.web.api.auth import ApiIdentity, ApiWorkspace, requires_api_role
from blazz.web.api.pagination import Page, check_limit, decode_cursor, paginate

ADMIN = requires_api_role("admin")


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


class WebhookOut(msgspec.Struct):
    id: int
    url: str
    description: str
    events: list[str]
    allow_private: bool
    active: bool
    status: str  # active | paused | disabled (turned off after failing for too long)
    disabled_reason: str | None
    failure_streak: int
    last_attempt_at: str | None
    last_status: int | None
    last_success_at: str | None
    created_at: str
    updated_at: str


class NewWebhookOut(WebhookOut):
    secret: str  # HMAC-SHA256 key for the Blazz-Signature header; shown only in this response


class NewWebhook(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    events: list[str]
    allow_private: bool = False  # allow LAN / loopback targets (never cloud metadata addresses)
    description: str = ""


class WebhookChange(msgspec.Struct, forbid_unknown_fields=True):
    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    allow_private: bool | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET  # false pauses; true turns a paused or disabled one back on


class DeliveryOut(msgspec.Struct):
    id: int
    event: str
    event_id: str
    status: str  # pending | sending | delivered | failed
    attempts: int
    response_status: int | None
    error: str | None
    duration_ms: int | None
    redelivery_of: int | None
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None


class AttemptOut(msgspec.Struct):
    at: str
    response_status: int | None
    error: str | None
    duration_ms: int | None


class DeliveryDetail(DeliveryOut):
    body: str  # the exact JSON that was signed and sent
    response_body: str | None  # the start of the receiver's answer
    attempt_log: list[AttemptOut]


class EventOut(msgspec.Struct):
    name: str
    description: str


def webhook_out(h: Webhook) -> WebhookOut:
    return WebhookOut(
        id=h.id, url=h.url, description=h.description, events=list(h.events), allow_private=h.allow_private,
        active=h.status == "active", status=h.status, disabled_reason=h.disabled_reason,
        failure_streak=h.failure_streak, last_attempt_at=iso(h.last_attempt_at), last_status=h.last_status,
        last_success_at=iso(h.last_success_at), created_at=iso(h.created_at), updated_at=iso(h.updated_at),
    )


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id, event=d.event_type, event_id=d.event_uid, status=d.status, attempts=d.attempts,
        response_status=d.response_status, error=d.error, duration_ms=d.duration_ms, redelivery_of=d.redelivery_of,
        created_at=iso(d.created_at), last_attempt_at=iso(d.last_attempt_at), next_attempt_at=iso(d.next_attempt_at),
    )


def attempt_out(a: Attempt) -> AttemptOut:
    return AttemptOut(iso(a.at), a.response_status, a.error, a.duration_ms)


def api_actor(identity) -> audit.Actor:
    return audit.Actor(None, f"API token '{identity.token.name}'")


class WebhooksApi(Controller):
    path = "/webhooks"
    tags = ["webhooks"]

    @get("/", operation_id="listWebhooks", summary="Outgoing webhook subscriptions", **ADMIN)
    async def list_webhooks(self, ws: ApiWorkspace, limit: FromQuery[int | None] = None,
                            cursor: FromQuery[str | None] = None) -> Page[WebhookOut]:
        limit = check_limit(limit)
        after = decode_cursor(cursor)
        after_id = after[0] if after and isinstance(after[0], int) else None
        rows = await webhooks.list_page(ws, after_id, limit + 1)
        page = paginate(rows, limit, lambda h: (h.id,))
        return Page([webhook_out(h) for h in page.data], page.next_cursor)

    @get("/events", operation_id="listWebhookEvents", summary="The events a webhook can subscribe to", **ADMIN)
    async def events(self) -> list[EventOut]:
        return [EventOut(e.name, e.description) for e in webhooks.EVENT_INFO]

    @post("/", operation_id="createWebhook", summary="Subscribe a URL to events; the secret is shown only here",
          **ADMIN)
    async def create(self, ws: ApiWorkspace, identity: ApiIdentity, data: JSONBody[NewWebhook]) -> NewWebhookOut:
        hook, secret = await webhooks.create(ws, api_actor(identity), data.url, data.events, data.allow_private,
                                             data.description)
        return NewWebhookOut(**msgspec.structs.asdict(webhook_out(hook)), secret=secret)

    @get("/{webhook_id:int}", operation_id="getWebhook", summary="One webhook subscription", **ADMIN)
    async def get_webhook(self, ws: ApiWorkspace, webhook_id: FromPath[int]) -> WebhookOut:
        return webhook_out(await webhooks.get(ws, webhook_id))

    @patch("/{webhook_id:int}", operation_id="updateWebhook", summary="Change, pause or turn on a webhook", **ADMIN)
    async def update(self, ws: ApiWorkspace, identity: ApiIdentity, webhook_id: FromPath[int],
                     data: JSONBody[WebhookChange]) -> WebhookOut:
        given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return webhook_out(await webhooks.update(ws, api_actor(identity), webhook_id, **given))

    @delete("/{webhook_id:int}", operation_id="deleteWebhook", summary="Delete a webhook and its delivery log",
            **ADMIN)
    async def remove(self, ws: ApiWorkspace, identity: ApiIdentity, webhook_id: FromPath[int]) -> None:
        await webhooks.delete(ws, api_actor(identity), webhook_id)

    @get("/{webhook_id:int}/deliveries", operation_id="listWebhookDeliveries",
         summary="The delivery log, newest first, with response codes", **ADMIN)
    async def deliveries(self, ws: ApiWorkspace, webhook_id: FromPath[int], limit: FromQuery[int | None] = None,
                         cursor: FromQuery[str | None] = None,
                         status: FromQuery[str | None] = None) -> Page[DeliveryOut]:
        limit = check_limit(limit)
        before = decode_cursor(cursor)
        before_id = before[0] if before and isinstance(before[0], int) else None
        rows = await webhooks.deliveries(ws, webhook_id, before_id, limit + 1, status)
        page = paginate(rows, limit, lambda d: (d.id,))
        return Page([delivery_out(d) for d in page.data], page.next_cursor)

    @get("/{webhook_id:int}/deliveries/{delivery_id:int}", operation_id="getWebhookDelivery",
         summary="One delivery with the body sent and every attempt", **ADMIN)
    async def delivery(self, ws: ApiWorkspace, webhook_id: FromPath[int],
                       delivery_id: FromPath[int]) -> DeliveryDetail:
        found, body, attempts = await webhooks.delivery_detail(ws, webhook_id, delivery_id)
        return DeliveryDetail(**msgspec.structs.asdict(delivery_out(found)), body=body,
                              response_body=found.response_body, attempt_log=[attempt_out(a) for a in attempts])

    @post("/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver", operation_id="redeliverWebhookDelivery",
          summary="Send the same event again (same event id)", status_code=202, **ADMIN)
    async def redeliver(self, ws: ApiWorkspace, identity: ApiIdentity, webhook_id: FromPath[int],
                        delivery_id: FromPath[int]) -> DeliveryOut:
        return delivery_out(await webhooks.redeliver(ws, api_actor(identity), webhook_id, delivery_id))

    @post("/{webhook_id:int}/test", operation_id="sendWebhookTest", summary="Queue a webhook.test event",
          status_code=202, **ADMIN)
    async def send_test(self, ws: ApiWorkspace, identity: ApiIdentity, webhook_id: FromPath[int]) -> DeliveryOut:
        return delivery_out(await webhooks.send_test(ws, api_actor(identity), webhook_id))
