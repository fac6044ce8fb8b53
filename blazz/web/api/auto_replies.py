"""/api/v1/auto-replies and /api/v1/business-hours: automatic answers to customers (contract: shared/API.md).

Any token reads them and may try a sample message against the rules; changes need an admin token. A PATCH of an
auto-reply replaces the fields it names (`reply` as a whole); a PATCH of the business hours replaces the parts it
names (`week` as a whole: a day left out is closed).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from blazz import auto_replies, automation, business_hours
from blazz.store.auto_replies import Rule
from blazz.web.api.auth import ApiIdentity, ApiWorkspace, requires_api_role
from blazz.web.api.pagination import Page, check_limit, decode_cursor, paginate
from blazz.web.api.webhooks import api_actor

ADMIN = requires_api_role("admin")
Trigger = Literal["exact", "contains", "starts_with", "regex", "any", "first_message"]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Cooldown = Annotated[int, msgspec.Meta(ge=0, le=auto_replies.MAX_COOLDOWN_S)]
Priority = Annotated[int, msgspec.Meta(ge=1, le=auto_replies.MAX_PRIORITY)]
Period = Annotated[int, msgspec.Meta(ge=60, le=business_hours.MAX_PERIOD_S)]
Text = Annotated[str, msgspec.Meta(max_length=auto_replies.MAX_TEXT)]


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Text | None = None  # may hold {{first_name}}-style variables; a caption when media_id is set
    template_id: Id | None = None
    media_id: Id | None = None  # a file uploaded with POST /api/v1/media


class ReplyOut(msgspec.Struct):
    text: str
    template_id: int | None
    media_id: int | None


class NewAutoReply(msgspec.Struct, forbid_unknown_fields=True):
    trigger: Trigger
    reply: ReplyIn
    # Words (comma-separated) for exact/contains/starts_with, a regular expression for regex.
    pattern: Annotated[str, msgspec.Meta(max_length=auto_replies.MAX_PATTERN)] | None = None
    name: Annotated[str, msgspec.Meta(max_length=auto_replies.MAX_NAME)] = ""
    account_ids: list[Id] | None = None  # null: every number
    cooldown_s: Cooldown = auto_replies.DEFAULT_COOLDOWN_S
    priority: Priority | None = None  # 1 is checked first; default: after the others
    active: bool = True


class AutoReplyChange(msgspec.Struct, forbid_unknown_fields=True):
    trigger: Trigger | msgspec.UnsetType = msgspec.UNSET
    reply: ReplyIn | msgspec.UnsetType = msgspec.UNSET
    pattern: Annotated[str, msgspec.Meta(max_length=auto_replies.MAX_PATTERN)] | msgspec.UnsetType | None = (
        msgspec.UNSET)
    name: Annotated[str, msgspec.Meta(max_length=auto_replies.MAX_NAME)] | msgspec.UnsetType = msgspec.UNSET
    account_ids: list[Id] | msgspec.UnsetType | None = msgspec.UNSET
    cooldown_s: Cooldown | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class AutoReplyOut(msgspec.Struct):
    id: int
    name: str
    trigger: str
    pattern: str | None
    reply: ReplyOut
    account_ids: list[int] | None
    cooldown_s: int
    priority: int
    active: bool
    hits: int  # replies sent by this rule
    last_hit_at: str | None
    created_at: str
    updated_at: str


class RuleTest(msgspec.Struct, forbid_unknown_fields=True):
    text: Text
    account_id: Id | None = None  # only rules that answer on this number
    first_message: bool = False  # as if it were a new contact's first message


class RuleTestOut(msgspec.Struct):
    rule: AutoReplyOut | None  # the rule that would answer (null: none)
    reply: str | None  # its text as it would go out (variables filled with an example contact)
    also_matching: list[int]  # active rules that match too but are checked after it
    inactive_matching: list[int]  # rules that are off but would match
    timed_out: list[int]  # regex rules that ran out of time on this text (they never answer it)


def rule_out(r: Rule) -> AutoReplyOut:
    return AutoReplyOut(
        id=r.id, name=r.name, trigger=r.trigger, pattern=r.pattern or None,
        reply=ReplyOut(r.reply_text, r.reply_template_id, r.reply_media_id),
        account_ids=list(r.account_ids) if r.account_ids is not None else None, cooldown_s=r.cooldown_s,
        priority=r.priority, active=r.active, hits=r.hits, last_hit_at=iso(r.last_hit_at),
        created_at=iso(r.created_at), updated_at=iso(r.updated_at),
    )


class AutoRepliesApi(Controller):
    path = "/auto-replies"
    tags = ["automation"]

    @get("/", operation_id="listAutoReplies", summary="Auto-reply rules in the order they are checked")
    async def list_rules(self, ws: ApiWorkspace, limit: FromQuery[int | None] = None,
                         cursor: FromQuery[str | None] = None) -> Page[AutoReplyOut]:
        limit = check_limit(limit)
        after = decode_cursor(cursor)
        key = (after[0], after[1]) if after and len(after) == 2 and all(type(v) is int for v in after) else None
        rows = await auto_replies.page(ws, key, limit + 1)
        page = paginate(rows, limit, lambda r: (r.priority, r.id))
        return Page([rule_out(r) for r in page.data], page.next_cursor)

    @post("/", operation_id="createAutoReply", summary="Add an auto-reply rule", **ADMIN)
    async def create(self, ws: ApiWorkspace, identity: ApiIdentity, data: JSONBody[NewAutoReply]) -> AutoReplyOut:
        given = msgspec.to_builtins(data)
        if data.priority is None:
            given.pop("priority", None)
        rule = await auto_replies.create(ws, api_actor(identity), **given)
        return rule_out(rule)

    @post("/test", operation_id="testAutoReplies", summary="Which rule would answer a sample message (sends nothing)",
          status_code=200)
    async def test(self, ws: ApiWorkspace, data: JSONBody[RuleTest]) -> RuleTestOut:
        found = await automation.test(ws, data.text, account_id=data.account_id, first_message=data.first_message)
        reply = await auto_replies.preview(ws, found.rule) if found.rule is not None else None
        return RuleTestOut(rule=rule_out(found.rule) if found.rule else None, reply=reply or None,
                           also_matching=[r.id for r in found.later], inactive_matching=[r.id for r in found.inactive],
                           timed_out=[r.id for r in found.timed_out])

    @get("/{rule_id:int}", operation_id="getAutoReply", summary="One auto-reply rule")
    async def get_rule(self, ws: ApiWorkspace, rule_id: FromPath[int]) -> AutoReplyOut:
        return rule_out(await auto_replies.get(ws, rule_id))

    @patch("/{rule_id:int}", operation_id="updateAutoReply", summary="Change, reorder, or turn a rule on or off",
           **ADMIN)
    async def update(self, ws: ApiWorkspace, identity: ApiIdentity, rule_id: FromPath[int],
                     data: JSONBody[AutoReplyChange]) -> AutoReplyOut:
        return rule_out(await auto_replies.update(ws, api_actor(identity), rule_id, **msgspec.to_builtins(data)))

    @delete("/{rule_id:int}", operation_id="deleteAutoReply", summary="Delete an auto-reply rule", **ADMIN)
    async def remove(self, ws: ApiWorkspace, identity: ApiIdentity, rule_id: FromPath[int]) -> None:
        await auto_replies.delete(ws, api_actor(identity), rule_id)


# -- business hours -----------------------------------------------------------------------------------------------


class Opening(msgspec.Struct, forbid_unknown_fields=True):
    from_: str = msgspec.field(name="from")  # "09:00"
    to: str  # "17:00"; "24:00" is midnight at the end of the day


class Week(msgspec.Struct, forbid_unknown_fields=True):
    mon: list[Opening] = []
    tue: list[Opening] = []
    wed: list[Opening] = []
    thu: list[Opening] = []
    fri: list[Opening] = []
    sat: list[Opening] = []
    sun: list[Opening] = []


class HolidayIn(msgspec.Struct, forbid_unknown_fields=True):
    date: str  # YYYY-MM-DD in the workspace's timezone: closed all day
    name: str = ""


class AutoMessageChange(msgspec.Struct, forbid_unknown_fields=True):
    active: bool | msgspec.UnsetType = msgspec.UNSET
    text: Text | msgspec.UnsetType = msgspec.UNSET
    period_s: Period | msgspec.UnsetType = msgspec.UNSET  # at most one per contact in this many seconds


class BusinessHoursChange(msgspec.Struct, forbid_unknown_fields=True):
    week: Week | msgspec.UnsetType = msgspec.UNSET
    holidays: list[HolidayIn] | msgspec.UnsetType = msgspec.UNSET
    away: AutoMessageChange | msgspec.UnsetType = msgspec.UNSET  # sent while closed
    greeting: AutoMessageChange | msgspec.UnsetType = msgspec.UNSET  # sent when a conversation is new


class AutoMessageOut(msgspec.Struct):
    active: bool
    text: str
    period_s: int


class HolidayOut(msgspec.Struct):
    date: str
    name: str


class BusinessHoursOut(msgspec.Struct):
    timezone: str  # the workspace's (PATCH /api/v1/workspace changes it)
    open_now: bool
    next_change: str | None  # when it next opens (closed now) or closes (open now)
    week: dict[str, list[dict[str, str]]]  # {"mon": [{"from": "09:00", "to": "17:00"}], ..., "sun": []}
    holidays: list[HolidayOut]
    away: AutoMessageOut
    greeting: AutoMessageOut


async def hours_out(ws, hours: business_hours.BusinessHours) -> BusinessHoursOut:
    state = await business_hours.status(ws, hours)
    data = hours.as_dict()
    return BusinessHoursOut(
        timezone=str(state.now.tzinfo), open_now=state.open,
        next_change=iso(state.next_change.timestamp()) if state.next_change else None, week=data["week"],
        holidays=[HolidayOut(**h) for h in data["holidays"]], away=AutoMessageOut(**data["away"]),
        greeting=AutoMessageOut(**data["greeting"]),
    )


class BusinessHoursApi(Controller):
    path = "/business-hours"
    tags = ["automation"]

    @get("/", operation_id="getBusinessHours", summary="Opening hours, holidays, away and greeting messages")
    async def get_hours(self, ws: ApiWorkspace) -> BusinessHoursOut:
        return await hours_out(ws, await business_hours.load(ws))

    @patch("/", operation_id="updateBusinessHours", summary="Change opening hours, holidays or the messages",
           **ADMIN)
    async def update(self, ws: ApiWorkspace, identity: ApiIdentity,
                     data: JSONBody[BusinessHoursChange]) -> BusinessHoursOut:
        hours = await business_hours.update(ws, api_actor(identity), **msgspec.to_builtins(data))
        return await hours_out(ws, hours)
