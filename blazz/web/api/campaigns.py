"""/api/v1/campaigns: create a campaign, start and control it, follow its counts, list or export its recipients
(contract: shared/API.md).

A campaign is created as a draft and starts with `POST /campaigns/{id}/start` (at its `scheduled_at`, if given).
Agent tokens read campaigns and their results; creating and controlling them needs an admin token, as in the pages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from blazz import audit, campaign_checks, campaign_stats, campaigns, contact_groups, pacing
from blazz.errors import Forbidden, Invalid
from blazz.store import accounts as accounts_store
from blazz.store import campaigns as campaigns_store
from blazz.store.campaigns import Campaign, Counts
from blazz.web.api.auth import ApiIdentity, ApiWorkspace, requires_api_role
from blazz.web.api.pacing import PacingIn, as_api_error, pacing_changes, pacing_out
from blazz.web.api.pagination import Page, check_limit, decode_cursor, paginate
from blazz.workspaces import Workspace

ADMIN = requires_api_role("admin")
STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled", "failed")
RECIPIENT_STATUSES = (*campaigns_store.STATUSES, "replied")
PACING_FIELDS = {f.name for f in dataclasses.fields(pacing.PacingSettings)}


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


def parse_time(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, "Give the time in ISO 8601, e.g. 2026-11-26T10:00:00Z.") from None
    if moment.tzinfo is None:
        raise Invalid(field, "Give the time with its offset, e.g. 2026-11-26T10:00:00Z (UTC).")
    return moment.timestamp()


class FieldFilter(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    value: str | int | float | bool


class AudienceIn(msgspec.Struct, forbid_unknown_fields=True):
    groups: list[int | str] = []  # group ids or names
    all: bool = False
    fields: list[FieldFilter] = []  # only contacts whose custom field has this value (all must match)
    recent_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None  # skip those messaged that recently


class NewCampaign(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    account_id: int
    audience: AudienceIn
    text: str | None = None
    variants: list[str] = []  # alternative texts, rotated per recipient
    template_id: int | None = None
    media_id: int | None = None
    cloud_template_id: int | None = None  # one of Meta's approved templates of a Cloud API number (synced here)
    scheduled_at: str | None = None  # ISO 8601 UTC; none: it starts when started
    late_limit_s: Annotated[float, msgspec.Meta(ge=0, le=7 * 86400)] | None = None
    pacing: PacingIn | None = None  # its own pacing (keys not given: the number's); none: the number's


class CountsOut(msgspec.Struct):
    total: int
    pending: int
    queued: int
    sent: int  # sent, delivered and read: everyone it reached WhatsApp for
    delivered: int  # delivered and read
    read: int
    replied: int
    failed: int
    skipped: int


class CampaignOut(msgspec.Struct):
    id: int
    name: str
    status: str  # draft | scheduled | running | paused | completed | cancelled | failed
    detail: str  # what it waits for, or why it stopped
    account_id: int | None
    text: str | None
    variants: list[str]
    template_id: int | None
    media_id: int | None
    cloud_template_id: int | None
    audience: dict[str, Any]
    scheduled_at: str | None
    started_at: str | None
    finished_at: str | None
    counts: CountsOut
    created_at: str
    pacing: dict[str, Any] | None  # its own pacing (a Pacing object); null: it follows its number's


class RecipientOut(msgspec.Struct):
    id: int
    contact_id: int
    name: str
    phone: str | None
    status: str  # pending | queued | sent | delivered | read | failed | skipped
    reason: str | None
    sent_at: str | None
    delivered_at: str | None
    read_at: str | None
    replied_at: str | None


class RetryOut(msgspec.Struct):
    queued: int
    not_retried: int


def counts_out(n: Counts) -> CountsOut:
    return CountsOut(total=n.total, pending=n["pending"], queued=n["queued"], sent=n.sent, delivered=n.delivered,
                     read=n["read"], replied=n.replied, failed=n["failed"], skipped=n["skipped"])


async def campaign_out(ws: Workspace, c: Campaign) -> CampaignOut:
    m = c.message
    own = None
    if c.pacing:
        account = await accounts_store.get(ws.db, c.account_id) if c.account_id is not None else None
        number = pacing.settings_of(account) if account is not None else pacing.PacingSettings()
        own = pacing_out(pacing.effective(number, c.pacing))
    return CampaignOut(id=c.id, name=c.name, status=c.status, detail=campaign_stats.in_words(c.detail),
                       account_id=c.account_id,
                       text=m.get("text") or None, variants=list(m.get("variants") or []),
                       template_id=m.get("template_id"), media_id=m.get("media_id"),
                       cloud_template_id=m.get("cloud_template_id"), audience=c.audience,
                       scheduled_at=iso(c.scheduled_at), started_at=iso(c.started_at), finished_at=iso(c.finished_at),
                       counts=counts_out(await campaigns_store.counts(ws.db, c.id)), created_at=iso(c.created_at),
                       pacing=own)


async def _group_ids(ws: Workspace, given: list[int | str]) -> list[int]:
    groups = await contact_groups.groups(ws)
    by_name = {g.name.casefold(): g.id for g in groups}
    ids = {g.id for g in groups}
    out = []
    for g in given:
        found = g if isinstance(g, int) and g in ids else by_name.get(str(g).casefold()) if isinstance(g, str) else None
        if found is None:
            raise Invalid("audience.groups", "There is no group %(group)s in this workspace.", group=repr(g))
        out.append(found)
    return out


def api_actor(identity) -> audit.Actor:
    return audit.Actor(None, f"API token '{identity.token.name}'")


class CampaignsApi(Controller):
    path = "/campaigns"
    tags = ["campaigns"]

    @get("/", operation_id="listCampaigns", summary="Campaigns, newest first")
    async def list_campaigns(self, ws: ApiWorkspace, limit: FromQuery[int | None] = None,
                             cursor: FromQuery[str | None] = None,
                             status: FromQuery[str | None] = None) -> Page[CampaignOut]:
        limit = check_limit(limit)
        if status is not None and status not in STATUSES:
            raise Invalid("status", "The status is one of %(choices)s.", choices=", ".join(STATUSES))
        before = decode_cursor(cursor)
        if before is not None and not isinstance(before[0], int):
            raise Invalid("cursor", "This cursor is not valid; start again without it.")
        rows = await campaigns.list_page(ws, status=status, before_id=before[0] if before else None, limit=limit + 1)
        page = paginate(rows, limit, lambda c: (c.id,))
        return Page([await campaign_out(ws, c) for c in page.data], page.next_cursor)

    @post("/", operation_id="createCampaign", summary="Create a campaign (a draft until it is started)", **ADMIN)
    async def create(self, ws: ApiWorkspace, data: JSONBody[NewCampaign]) -> CampaignOut:
        if data.text is None and data.template_id is None and data.media_id is None and data.cloud_template_id is None:
            raise Invalid("text", "Give the message: text, a template_id, a media_id, or a cloud_template_id.")
        if data.cloud_template_id is not None and (data.text is not None or data.template_id is not None
                                                   or data.media_id is not None or data.variants):
            raise Invalid("cloud_template_id", "A Meta template is the whole message: give it without text, "
                                               "template_id or media_id.")
        audience = {"all": data.audience.all, "groups": await _group_ids(ws, data.audience.groups),
                    "fields": [{"key": f.key, "value": f.value} for f in data.audience.fields],
                    "recent_days": data.audience.recent_days}
        # one that selects nobody: 422 now
        await campaign_checks.audience_of(ws, campaign_checks.clean_audience(audience))
        try:
            c = await campaigns.create(ws, {
                "name": data.name, "account_id": data.account_id, "audience": audience,
                "message": {"text": data.text or "", "variants": data.variants, "template_id": data.template_id,
                            "media_id": data.media_id, "cloud_template_id": data.cloud_template_id},
                "scheduled_at": parse_time(data.scheduled_at, "scheduled_at"), "late_limit_s": data.late_limit_s,
                "pacing": pacing_changes(data.pacing) if data.pacing is not None else None})
        except Invalid as exc:
            if exc.field in PACING_FIELDS:
                raise as_api_error(exc) from exc
            if exc.field == "message.cloud_template_id":
                raise Invalid("cloud_template_id", exc.msgid, **exc.params) from exc
            raise
        return await campaign_out(ws, c)

    @get("/{campaign_id:int}", operation_id="getCampaign", summary="A campaign with its counts per recipient status")
    async def get_campaign(self, ws: ApiWorkspace, campaign_id: FromPath[int]) -> CampaignOut:
        return await campaign_out(ws, await campaigns.get(ws, campaign_id))

    @post("/{campaign_id:int}/start", operation_id="startCampaign", status_code=200,
          summary="Launch: snapshot the audience and send now, or at scheduled_at", **ADMIN)
    async def start(self, ws: ApiWorkspace, identity: ApiIdentity, campaign_id: FromPath[int]) -> CampaignOut:
        return await campaign_out(ws, await campaigns.launch(ws, campaign_id, api_actor(identity)))

    @post("/{campaign_id:int}/pause", operation_id="pauseCampaign", status_code=200,
          summary="Stop sending now (queued messages are taken back and go again on resume)", **ADMIN)
    async def pause(self, ws: ApiWorkspace, identity: ApiIdentity, campaign_id: FromPath[int]) -> CampaignOut:
        return await campaign_out(ws, await campaigns.pause(ws, campaign_id, api_actor(identity)))

    @post("/{campaign_id:int}/resume", operation_id="resumeCampaign", status_code=200, summary="Go on sending",
          **ADMIN)
    async def resume(self, ws: ApiWorkspace, identity: ApiIdentity, campaign_id: FromPath[int]) -> CampaignOut:
        return await campaign_out(ws, await campaigns.resume(ws, campaign_id, api_actor(identity)))

    @post("/{campaign_id:int}/cancel", operation_id="cancelCampaign", status_code=200,
          summary="Stop for good (queued messages are withdrawn; sent ones stay sent)", **ADMIN)
    async def cancel(self, ws: ApiWorkspace, identity: ApiIdentity, campaign_id: FromPath[int]) -> CampaignOut:
        return await campaign_out(ws, await campaigns.cancel(ws, campaign_id, api_actor(identity)))

    @post("/{campaign_id:int}/retry", operation_id="retryCampaignFailures", status_code=200,
          summary="Send the failed recipients' messages again", **ADMIN)
    async def retry(self, ws: ApiWorkspace, identity: ApiIdentity, campaign_id: FromPath[int]) -> RetryOut:
        result = await campaigns.retry_failed(ws, campaign_id, api_actor(identity))
        return RetryOut(result.queued, result.not_retried)

    @get("/{campaign_id:int}/recipients", operation_id="listCampaignRecipients",
         summary="Recipients in send order, with status and reason (Accept: text/csv: a CSV export, admin tokens)")
    async def recipients(self, ws: ApiWorkspace, identity: ApiIdentity, request: Request, campaign_id: FromPath[int],
                         status: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
                         cursor: FromQuery[str | None] = None) -> Page[RecipientOut]:
        await campaigns.get(ws, campaign_id)
        if status is not None and status not in RECIPIENT_STATUSES:
            raise Invalid("status", "The status is one of %(choices)s.", choices=", ".join(RECIPIENT_STATUSES))
        if "text/csv" in request.headers.get("accept", ""):
            if identity.token.role != "admin":  # exports need an admin, as the contacts export does
                raise Forbidden("Exporting recipients needs a token with the admin role.")
            # The handler's JSON media type would win over the Stream's own; the header says CSV explicitly.
            return Stream(campaign_stats.recipients_csv(ws, campaign_id, status), media_type="text/csv",
                          headers={"Content-Type": "text/csv; charset=utf-8",
                                   "Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'})
        limit = check_limit(limit)
        after = decode_cursor(cursor)
        if after is not None and not isinstance(after[0], int):
            raise Invalid("cursor", "This cursor is not valid; start again without it.")
        rows = await campaigns_store.recipients(ws.db, campaign_id, status=status, after_id=after[0] if after else 0,
                                                limit=limit + 1)
        page = paginate(rows, limit, lambda r: (r.id,))
        return Page([RecipientOut(id=r.id, contact_id=r.contact_id, name=r.name, phone=r.phone, status=r.status,
                                  reason=campaign_stats.in_words(r.reason) or None, sent_at=iso(r.sent_at),
                                  delivered_at=iso(r.delivered_at),
                                  read_at=iso(r.read_at), replied_at=iso(r.replied_at)) for r in page.data],
                    page.next_cursor)
