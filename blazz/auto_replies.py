"""Auto-reply rules: their checks and changes (create, update, delete, reorder) and a preview of their reply.

What a rule is and how rules answer messages: `blazz.automation`. Every change here drops the engine's cache of
compiled rules, so the next message is checked against the rules as they are now.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from blazz import audit, automation, media, outbox, templates
from blazz.errors import DomainError, Invalid, NotFound
from blazz.i18n import N_
from blazz.store import accounts as accounts_store
from blazz.store import auto_replies as store
from blazz.store import media as media_store
from blazz.store.auto_replies import Rule
from blazz.workspaces import Workspace

MAX_RULES = 200
MAX_NAME = 80
MAX_PATTERN = 500
MAX_TEXT = outbox.MAX_TEXT
# An hour: a customer who asks twice in a row gets one answer, and a bot answering our bot gets one reply.
DEFAULT_COOLDOWN_S = 3600
MAX_COOLDOWN_S = 30 * 86400
MAX_PRIORITY = 1_000_000


def _int(value: Any, name: str, low: int, high: int, message: str, **params: Any) -> int:
    """`message` is an English catalog id (marked with N_) with `%(name)s` placeholders filled from `params`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(name, message, **params)
    return value


async def _clean(ws: Workspace, data: dict[str, Any], current: Rule | None) -> dict[str, Any]:
    """Checked column values for a new rule (current None) or for the changed fields of one."""
    unknown = set(data) - {"name", "trigger", "pattern", "reply", "account_ids", "cooldown_s", "priority", "active"}
    if unknown:
        raise Invalid(sorted(unknown)[0], "There is no such auto-reply setting.")
    out: dict[str, Any] = {}
    if "name" in data:
        if not isinstance(data["name"], str) or len(data["name"].strip()) > MAX_NAME:
            raise Invalid("name", "Give a name of at most %(max)s characters.", max=MAX_NAME)
        out["name"] = " ".join(data["name"].split())
    trigger = data.get("trigger", current.trigger if current else None)
    if trigger not in automation.TRIGGERS:
        raise Invalid("trigger", "The trigger is one of %(triggers)s.", triggers=", ".join(automation.TRIGGERS))
    out["trigger"] = trigger
    pattern = data.get("pattern", current.pattern if current else "")
    if pattern is None:
        pattern = ""
    if not isinstance(pattern, str):
        raise Invalid("pattern", "Write the pattern as text.")
    pattern = pattern.strip()
    if trigger not in automation.KEYWORD_TRIGGERS and trigger != "regex":
        pattern = ""
    elif not pattern and trigger == "regex":
        raise Invalid("pattern", "Write the regular expression this rule answers.")
    elif not pattern or (trigger in automation.KEYWORD_TRIGGERS and not automation.keywords(pattern)):
        raise Invalid("pattern", "Say which words this rule answers (several: separate them with commas).")
    elif len(pattern) > MAX_PATTERN:
        raise Invalid("pattern", "Keep the pattern under %(max)s characters.", max=MAX_PATTERN)
    elif trigger == "regex" and (current is None or pattern != current.pattern or current.trigger != "regex"):
        await asyncio.to_thread(automation.check_speed, automation.compile_pattern(pattern))
    out["pattern"] = pattern
    if "reply" in data or current is None:
        out.update(await _clean_reply(ws, data.get("reply")))
    if "account_ids" in data:
        out["account_ids"] = await _clean_accounts(ws, data["account_ids"])
    if "cooldown_s" in data:
        out["cooldown_s"] = _int(data["cooldown_s"], "cooldown_s", 0, MAX_COOLDOWN_S,
                                 N_("The cooldown is between 0 and %(max)s seconds (30 days)."),
                                 max=str(MAX_COOLDOWN_S))  # the exact number of seconds an API client sends
    if "priority" in data:
        out["priority"] = _int(data["priority"], "priority", 1, MAX_PRIORITY,
                               N_("The priority is a whole number from 1 (checked first) to %(max)s."),
                               max=MAX_PRIORITY)
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise Invalid("active", "Use true or false.")
        out["active"] = data["active"]
    return out


async def _clean_reply(ws: Workspace, reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise Invalid("reply", "Say what to reply: {\"text\": \"...\"}, a file (media_id) or a template_id.")
    unknown = set(reply) - {"text", "template_id", "media_id"}
    if unknown:
        raise Invalid(f"reply.{sorted(unknown)[0]}", "There is no such reply setting.")
    text = reply.get("text") or ""
    if not isinstance(text, str):
        raise Invalid("reply.text", "Write the reply as text.")
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        raise Invalid("reply.text", "WhatsApp messages can be at most %(max)s characters; this one has %(count)s.",
                      max=MAX_TEXT, count=len(text))
    await templates.check_known(ws, [text], field="reply.text")
    media_id = reply.get("media_id")
    if media_id is not None:
        _int(media_id, "reply.media_id", 1, 2**63 - 1, N_("Give the id of an uploaded file."))
        found = await media_store.get(ws.db, media_id)
        if found is None:
            raise Invalid("reply.media_id", "No such file; upload it first.")
        try:
            media.sendable(found)
        except DomainError as exc:
            raise Invalid("reply.media_id", exc.message) from None
    template_id = reply.get("template_id")
    if template_id is not None:
        _int(template_id, "reply.template_id", 1, 2**63 - 1, N_("Give the id of a message template."))
        if text or media_id is not None:
            raise Invalid("reply.template_id", "A template is the whole reply: leave out text and media_id.")
        try:
            await templates.get(ws, template_id)
        except NotFound:
            raise Invalid("reply.template_id", "No such message template.") from None
    if not text and media_id is None and template_id is None:
        raise Invalid("reply.text", "Write the reply, or choose a file or a template to send.")
    return {"reply_text": text, "reply_media_id": media_id, "reply_template_id": template_id}


async def _clean_accounts(ws: Workspace, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise Invalid("account_ids", "Give a list of number ids, or null for every number.")
    if not value:
        raise Invalid("account_ids", "Choose at least one number, or null for every number.")
    known = {a.id for a in await accounts_store.all_active(ws.db)}
    missing = [v for v in value if v not in known]
    if missing:
        raise Invalid("account_ids", "There is no WhatsApp number %(id)s in this workspace.", id=str(missing[0]))
    return tuple(sorted(set(value)))


async def list_rules(ws: Workspace) -> list[Rule]:
    return await store.list_all(ws.db)


async def page(ws: Workspace, after: tuple[int, int] | None, limit: int) -> list[Rule]:
    return await store.page(ws.db, after, limit)


async def get(ws: Workspace, rule_id: int) -> Rule:
    rule = await store.get(ws.db, rule_id)
    if rule is None:
        raise NotFound("No such auto-reply rule.")
    return rule


async def create(ws: Workspace, actor: audit.Actor, **data: Any) -> Rule:
    """Add a rule (checked last unless `priority` says otherwise). Raises Invalid naming the field."""
    values = await _clean(ws, data, None)
    values.setdefault("cooldown_s", DEFAULT_COOLDOWN_S)
    now = int(time.time())

    def write(conn: sqlite3.Connection) -> int:
        if store.count(conn) >= MAX_RULES:
            raise Invalid("rules", "A workspace can have at most %(max)s auto-reply rules.", max=MAX_RULES)
        values.setdefault("priority", store.next_priority(conn))
        return store.insert(conn, values, now)

    rule_id = await ws.db.execute_write_fn(write)
    automation.forget(ws.db)
    rule = await get(ws, rule_id)
    await audit.record(ws, actor, "auto_reply.created", f"rule {rule_id}", trigger=rule.trigger)
    return rule


async def update(ws: Workspace, actor: audit.Actor, rule_id: int, **changes: Any) -> Rule:
    current = await get(ws, rule_id)
    values = await _clean(ws, changes, current)
    await ws.db.execute_write_fn(lambda conn: store.update(conn, rule_id, values, int(time.time())))
    automation.forget(ws.db)
    await audit.record(ws, actor, "auto_reply.updated", f"rule {rule_id}", changed=sorted(changes))
    return await get(ws, rule_id)


async def delete(ws: Workspace, actor: audit.Actor, rule_id: int) -> None:
    if not await ws.db.execute_write_fn(lambda conn: store.delete(conn, rule_id)):
        raise NotFound("No such auto-reply rule.")
    automation.forget(ws.db)
    await audit.record(ws, actor, "auto_reply.deleted", f"rule {rule_id}")


async def move(ws: Workspace, actor: audit.Actor, rule_id: int, direction: str) -> list[Rule]:
    """Swap a rule with its neighbour ("up": checked earlier, "down": later); priorities become 1, 2, 3..."""
    if direction not in ("up", "down"):
        raise Invalid("direction", "Move a rule up or down.")

    def write(conn: sqlite3.Connection) -> None:
        ids = store.ordered_ids(conn)
        if rule_id not in ids:
            raise NotFound("No such auto-reply rule.")
        at = ids.index(rule_id)
        other = at - 1 if direction == "up" else at + 1
        if 0 <= other < len(ids):
            ids[at], ids[other] = ids[other], ids[at]
        store.renumber(conn, ids)

    await ws.db.execute_write_fn(write)
    automation.forget(ws.db)
    await audit.record(ws, actor, "auto_reply.moved", f"rule {rule_id}", direction=direction)
    return await list_rules(ws)




async def preview(ws: Workspace, rule: Rule) -> str:
    """The rule's reply text as it would go out, filled with an example contact's details."""
    if rule.reply_template_id is not None:
        try:
            return templates.render(await templates.get(ws, rule.reply_template_id), templates.EXAMPLE)
        except NotFound:
            return ""
    return templates.render(rule.reply_text, templates.EXAMPLE)
