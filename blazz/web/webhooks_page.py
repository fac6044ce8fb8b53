"""Settings → Webhooks: subscribe URLs to events (the secret is shown once), the delivery log with response codes,
send a test event, redeliver, pause, turn back on, delete, and how a receiver verifies the signature."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import ClientRedirect, HTMXTemplate
from litestar.response import Template

from blazz import webhook_delivery, webhooks
from blazz.errors import Invalid
from blazz.web.context import CurrentWorkspace, fragment, page, provide_membership, provide_workspace
from blazz.web.guards import member_guard, requires
from blazz.web.toasts import toast
from blazz.web.workspace_pages import actor_of
from blazz.workspaces import Workspace

LOG_PAGE = 50

# How a receiver checks the signature, shown under "Checking that a delivery came from Blazz" (code: not translated).
VERIFY_EXAMPLES = (
    """import hashlib, hmac, time

def verify(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signed = timestamp.encode() + b"." + body
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)""",
    """const crypto = require("crypto");
function verify(secret, rawBody, timestamp, signature) {
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = "v1=" + crypto.createHmac("sha256", secret).update(timestamp + ".").update(rawBody).digest("hex");
  return expected.length === signature.length &&
    crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}""",
)


def _form_values(form) -> dict:
    return {
        "url": form.get("url", ""),
        "events": form.getall("events") if hasattr(form, "getall") else form.get("events", []),
        "allow_private": form.get("allow_private") in ("on", "yes", "true", "1"),
        "description": form.get("description", ""),
    }


class WebhooksController(Controller):
    path = "/w/{slug:str}/settings/webhooks"
    guards = [member_guard]
    dependencies = {"ws": Provide(provide_workspace), "me": Provide(provide_membership)}
    include_in_schema = False

    async def _list_context(self, ws: Workspace, **extra) -> dict:
        context = {"ws": ws, "hooks": await webhooks.list_page(ws, None, webhooks.MAX_WEBHOOKS),
                   "events": webhooks.EVENT_INFO, "form": {"events": []}, "errors": {}, "created": None,
                   "in_words": webhook_delivery.in_words}
        context.update(extra)
        return context

    async def _log_context(self, ws: Workspace, webhook_id: int, before: int | None = None) -> dict:
        hook = await webhooks.get(ws, webhook_id)
        rows = await webhooks.deliveries(ws, webhook_id, before, LOG_PAGE + 1)
        return {"ws": ws, "hook": hook, "deliveries": rows[:LOG_PAGE],
                "older": rows[LOG_PAGE - 1].id if len(rows) > LOG_PAGE else None, "before": before,
                "in_words": webhook_delivery.in_words}

    @get("/", **requires("admin"))
    async def index(self, request: Request, ws: CurrentWorkspace) -> Template:
        return page(request, "settings/webhooks.html", verify_examples=VERIFY_EXAMPLES, **await self._list_context(ws))

    @post("/", **requires("admin"))
    async def create(self, request: Request, ws: CurrentWorkspace) -> Template:
        values = _form_values(await request.form())
        try:
            hook, secret = await webhooks.create(ws, actor_of(request), **values)
        except Invalid as exc:
            ctx = await self._list_context(ws, form=values, errors={exc.field: exc.message})
            return fragment("settings/_webhooks.html", 422, **ctx)
        return fragment("settings/_webhooks.html", **await self._list_context(ws, created=(hook, secret)))

    @get("/{webhook_id:int}", **requires("admin"))
    async def detail(self, request: Request, ws: CurrentWorkspace, webhook_id: FromPath[int],
                     before: FromQuery[int | None] = None) -> Template:
        ctx = await self._log_context(ws, webhook_id, before)
        form = {"url": ctx["hook"].url, "events": list(ctx["hook"].events),
                "allow_private": ctx["hook"].allow_private, "description": ctx["hook"].description}
        return page(request, "settings/webhook.html", events=webhooks.EVENT_INFO, form=form, errors={},
                    saved=False, verify_examples=VERIFY_EXAMPLES, **ctx)

    @get("/{webhook_id:int}/log", **requires("admin"))
    async def log(self, ws: CurrentWorkspace, webhook_id: FromPath[int],
                  before: FromQuery[int | None] = None) -> Template:
        return fragment("settings/_webhook_log.html", **await self._log_context(ws, webhook_id, before))

    @post("/{webhook_id:int}", **requires("admin"))
    async def update(self, request: Request, ws: CurrentWorkspace, webhook_id: FromPath[int]) -> Template:
        values = _form_values(await request.form())
        hook = await webhooks.get(ws, webhook_id)
        try:
            hook = await webhooks.update(ws, actor_of(request), webhook_id, **values)
        except Invalid as exc:
            return fragment("settings/_webhook_form.html", 422, ws=ws, hook=hook, events=webhooks.EVENT_INFO,
                            form=values, errors={exc.field: exc.message}, saved=False)
        return fragment("settings/_webhook_form.html", ws=ws, hook=hook, events=webhooks.EVENT_INFO, form=values,
                        errors={}, saved=True)

    @post("/{webhook_id:int}/active", status_code=200, **requires("admin"))
    async def set_active(self, request: Request, ws: CurrentWorkspace, webhook_id: FromPath[int]) -> ClientRedirect:
        on = (await request.form()).get("active") == "on"
        await webhooks.update(ws, actor_of(request), webhook_id, active=on)
        return ClientRedirect(f"/w/{ws.slug}/settings/webhooks/{webhook_id}")

    @post("/{webhook_id:int}/test", **requires("admin"))
    async def send_test(self, request: Request, ws: CurrentWorkspace, webhook_id: FromPath[int]) -> HTMXTemplate:
        await webhooks.send_test(ws, actor_of(request), webhook_id)
        ctx = await self._log_context(ws, webhook_id)
        return HTMXTemplate(template_name="settings/_webhook_log.html", context=ctx,
                            headers=toast("Test event queued; it appears below when the receiver answers."))

    @post("/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver", **requires("admin"))
    async def redeliver(self, request: Request, ws: CurrentWorkspace, webhook_id: FromPath[int],
                        delivery_id: FromPath[int]) -> HTMXTemplate:
        await webhooks.redeliver(ws, actor_of(request), webhook_id, delivery_id)
        ctx = await self._log_context(ws, webhook_id)
        return HTMXTemplate(template_name="settings/_webhook_log.html", context=ctx,
                            headers=toast("Redelivery queued."))

    @get("/{webhook_id:int}/deliveries/{delivery_id:int}", **requires("admin"))
    async def delivery(self, ws: CurrentWorkspace, webhook_id: FromPath[int],
                       delivery_id: FromPath[int]) -> Template:
        found, body, attempts = await webhooks.delivery_detail(ws, webhook_id, delivery_id)
        return fragment("settings/_delivery.html", ws=ws, d=found, body=body, attempts=attempts,
                        in_words=webhook_delivery.in_words)

    @post("/{webhook_id:int}/delete", status_code=200, **requires("admin"))
    async def delete(self, request: Request, ws: CurrentWorkspace, webhook_id: FromPath[int]) -> ClientRedirect:
        await webhooks.delete(ws, actor_of(request), webhook_id)
        return ClientRedirect(f"/w/{ws.slug}/settings/webhooks")
