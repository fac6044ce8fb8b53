"""Auto-replies: rules that answer customers' messages while nobody is at the keyboard, and the hook that runs them
(with the business hours' away and greeting messages) for every new inbound message.

A rule has a trigger (`exact`, `contains`, `starts_with` on keywords; `regex`; `any` message; `first_message` of a
new contact), a scope (every number, or some), a reply (text with {{first_name}}-style variables, a file with an
optional caption, or a message template; `blazz.templates` renders them), a per-contact cooldown, a priority and an
on/off switch. Rules are checked in ascending priority; the first that matches decides: it answers unless it
answered this contact within its cooldown, in which case nothing is sent. Replies go through the outbox's `normal`
lane with source "automation".

Safety: regular expressions run with a time limit (the `regex` module's `timeout`), and a pattern that is slow on
long messages is refused when saved. Whatever the cooldowns say, a conversation gets at most LOOP_MAX automatic
messages in LOOP_WINDOW_S, so two bots answering each other stop after a few rounds. Group chats, contacts who
opted out and messages older than STALE_S (a backlog after days offline) get no automatic answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import time
import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from blazz import audit, business_hours, media, outbox, templates
from blazz.errors import DomainError, Invalid, NotFound
from blazz.store import accounts as accounts_store
from blazz.store import auto_replies as store
from blazz.store import media as media_store
from blazz.store.auto_replies import Facts, Rule
from blazz.store.database import Database
from blazz.store.messages import Message
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

TRIGGERS = ("exact", "contains", "starts_with", "regex", "any", "first_message")
KEYWORD_TRIGGERS = ("exact", "contains", "starts_with")
MAX_RULES = 200
MAX_NAME = 80
MAX_PATTERN = 500
MAX_TEXT = outbox.MAX_TEXT
# An hour: a customer who asks twice in a row gets one answer, and a bot answering our bot gets one reply.
DEFAULT_COOLDOWN_S = 3600
MAX_COOLDOWN_S = 30 * 86400
MAX_PRIORITY = 1_000_000
MATCH_TIMEOUT_S = 0.05  # per rule and message; a well-behaved pattern needs microseconds
PROBE_TIMEOUT_S = 0.25  # per probe when a pattern is saved
LOOP_WINDOW_S = 600
LOOP_MAX = 5  # automatic messages per conversation in LOOP_WINDOW_S, whatever the cooldowns say
STALE_S = 24 * 3600
_CACHE_S = 30.0  # rules changed by another process are seen within this
# Long messages of the shapes that make backtracking patterns slow (repeats of one character, of word and space,
# of separators): a pattern that cannot finish on these within PROBE_TIMEOUT_S is refused.
_PROBES = tuple(s[:MAX_TEXT] for s in (
    "a" * MAX_TEXT, "a" * (MAX_TEXT - 1) + "!", "ab" * MAX_TEXT, "1," * MAX_TEXT, "hello " * MAX_TEXT,
    "a1 " * MAX_TEXT, "x" * 2000 + " " + "x" * 2000 + "!", "=" * MAX_TEXT, ". " * MAX_TEXT,
))


# -- text and keywords --------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a message: "  Café   OPEN? " → "cafe open?"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def _trim(text: str) -> str:
    """Without the punctuation and emoji around it: "price?!" and "price 🙏" both become "price"."""
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end]


def keywords(pattern: str) -> tuple[str, ...]:
    """The comma-separated keywords of a pattern, normalised: "Price, harga" → ("price", "harga")."""
    found = [normalise(part) for part in pattern.split(",")]
    return tuple(dict.fromkeys(k for k in found if k))


# -- compiled rules and matching ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    rule: Rule
    words: tuple[str, ...] = ()
    pattern: Any = None  # regex.Pattern for `regex` rules

    def applies_to(self, account_id: int | None) -> bool:
        return account_id is None or self.rule.account_ids is None or account_id in self.rule.account_ids

    def matches(self, text: str, folded: str, first: bool) -> bool:
        """Raises TimeoutError when a regular expression runs out of time."""
        trigger = self.rule.trigger
        if trigger == "any":
            return True
        if trigger == "first_message":
            return first
        if trigger == "regex":
            return bool(text) and self.pattern.search(text, timeout=MATCH_TIMEOUT_S, concurrent=True) is not None
        if not folded:
            return False
        if trigger == "exact":
            return _trim(folded) in self.words or folded in self.words
        if trigger == "contains":
            return any(w in folded for w in self.words)
        return any(folded.startswith(w) for w in self.words)


def compile_pattern(pattern: str) -> Any:
    """A case-insensitive regex.Pattern; raises Invalid("pattern") if it does not compile."""
    try:
        return regex.compile(pattern, regex.IGNORECASE)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise Invalid("pattern", f"This regular expression is not valid: {exc}.") from None


def compile_rule(rule: Rule) -> Compiled:
    if rule.trigger == "regex":
        return Compiled(rule, pattern=compile_pattern(rule.pattern))
    if rule.trigger in KEYWORD_TRIGGERS:
        return Compiled(rule, words=keywords(rule.pattern))
    return Compiled(rule)


def check_speed(pattern: Any) -> None:
    """Refuse a pattern that backtracks catastrophically on long messages (e.g. nested repeats like (a+)+b)."""
    for probe in _PROBES:
        try:
            pattern.search(probe, timeout=PROBE_TIMEOUT_S)
        except TimeoutError:
            raise Invalid("pattern", "This regular expression takes too long on some long messages (it backtracks "
                                     "catastrophically). Simplify it: avoid repeats inside repeats like (a+)+ and "
                                     "several .* in a row.") from None


@dataclass(slots=True)
class Evaluation:
    """Which rule would answer a message, and what else was considered."""

    rule: Rule | None = None  # the first active rule in scope that matches
    later: list[Rule] = field(default_factory=list)  # active rules in scope that match too, checked after it
    inactive: list[Rule] = field(default_factory=list)  # rules that are off but would match
    timed_out: list[Rule] = field(default_factory=list)  # regex rules that ran out of time (treated as no match)


def evaluate(rules: Sequence[Compiled], text: str, *, account_id: int | None = None, first: bool = False,
             stop_at_first: bool = True) -> Evaluation:
    """Check the rules in order against one message (text may be empty for a photo without caption)."""
    result = Evaluation()
    folded = normalise(text)
    for c in rules:
        if not c.applies_to(account_id):
            continue
        if not c.rule.active and stop_at_first:
            continue
        try:
            hit = c.matches(text, folded, first)
        except TimeoutError:
            result.timed_out.append(c.rule)
            log.warning("auto-reply rule %s timed out on a message and was skipped", c.rule.id)
            continue
        if not hit:
            continue
        if not c.rule.active:
            result.inactive.append(c.rule)
        elif result.rule is None:
            result.rule = c.rule
            if stop_at_first:
                break
        else:
            result.later.append(c.rule)
    return result


_cache: weakref.WeakKeyDictionary[Database, tuple[float, list[Compiled]]] = weakref.WeakKeyDictionary()


async def compiled_rules(db: Database) -> list[Compiled]:
    """Every rule, compiled, in checking order (cached; writes here drop the cache)."""
    cached = _cache.get(db)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    rules = []
    for rule in await store.list_all(db):
        try:
            rules.append(compile_rule(rule))
        except Invalid:  # saved by a version with other regex rules: skip it rather than every rule
            log.warning("auto-reply rule %s has a pattern that no longer compiles; skipped", rule.id)
    _cache[db] = (time.monotonic() + _CACHE_S, rules)
    return rules


def _forget(db: Database) -> None:
    _cache.pop(db, None)


async def _evaluate(rules: Sequence[Compiled], text: str, **kw: Any) -> Evaluation:
    if any(c.rule.trigger == "regex" for c in rules):  # time-limited, but never on the event loop
        return await asyncio.to_thread(evaluate, rules, text, **kw)
    return evaluate(rules, text, **kw)


# -- rules: checks and changes ------------------------------------------------------------------------------------


def _int(value: Any, name: str, low: int, high: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(name, message)
    return value


async def _clean(ws: Workspace, data: dict[str, Any], current: Rule | None) -> dict[str, Any]:
    """Checked column values for a new rule (current None) or for the changed fields of one."""
    unknown = set(data) - {"name", "trigger", "pattern", "reply", "account_ids", "cooldown_s", "priority", "active"}
    if unknown:
        raise Invalid(sorted(unknown)[0], "There is no such auto-reply setting.")
    out: dict[str, Any] = {}
    if "name" in data:
        if not isinstance(data["name"], str) or len(data["name"].strip()) > MAX_NAME:
            raise Invalid("name", f"Give a name of at most {MAX_NAME} characters.")
        out["name"] = " ".join(data["name"].split())
    trigger = data.get("trigger", current.trigger if current else None)
    if trigger not in TRIGGERS:
        raise Invalid("trigger", f"The trigger is one of {', '.join(TRIGGERS)}.")
    out["trigger"] = trigger
    pattern = data.get("pattern", current.pattern if current else "")
    if pattern is None:
        pattern = ""
    if not isinstance(pattern, str):
        raise Invalid("pattern", "Write the pattern as text.")
    pattern = pattern.strip()
    if trigger in ("any", "first_message"):
        pattern = ""
    elif not pattern or (trigger in KEYWORD_TRIGGERS and not keywords(pattern)):
        raise Invalid("pattern", "Say which words this rule answers (several: separate them with commas)."
                      if trigger != "regex" else "Write the regular expression this rule answers.")
    elif len(pattern) > MAX_PATTERN:
        raise Invalid("pattern", f"Keep the pattern under {MAX_PATTERN} characters.")
    elif trigger == "regex" and (current is None or pattern != current.pattern or current.trigger != "regex"):
        await asyncio.to_thread(check_speed, compile_pattern(pattern))
    out["pattern"] = pattern
    if "reply" in data or current is None:
        out.update(await _clean_reply(ws, data.get("reply")))
    if "account_ids" in data:
        out["account_ids"] = await _clean_accounts(ws, data["account_ids"])
    if "cooldown_s" in data:
        out["cooldown_s"] = _int(data["cooldown_s"], "cooldown_s", 0, MAX_COOLDOWN_S,
                                 f"The cooldown is between 0 and {MAX_COOLDOWN_S} seconds (30 days).")
    if "priority" in data:
        out["priority"] = _int(data["priority"], "priority", 1, MAX_PRIORITY,
                               f"The priority is a whole number from 1 (checked first) to {MAX_PRIORITY:,}.")
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
        raise Invalid("reply.text", f"WhatsApp messages can be at most {MAX_TEXT:,} characters; this one has "
                                    f"{len(text):,}.")
    await templates.check_known(ws, [text], field="reply.text")
    media_id = reply.get("media_id")
    if media_id is not None:
        _int(media_id, "reply.media_id", 1, 2**63 - 1, "Give the id of an uploaded file.")
        found = await media_store.get(ws.db, media_id)
        if found is None:
            raise Invalid("reply.media_id", "No such file; upload it first.")
        try:
            media.sendable(found)
        except DomainError as exc:
            raise Invalid("reply.media_id", exc.message) from None
    template_id = reply.get("template_id")
    if template_id is not None:
        _int(template_id, "reply.template_id", 1, 2**63 - 1, "Give the id of a message template.")
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
        raise Invalid("account_ids", f"There is no WhatsApp number {missing[0]} in this workspace.")
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
            raise Invalid("rules", f"A workspace can have at most {MAX_RULES} auto-reply rules.")
        values.setdefault("priority", store.next_priority(conn))
        return store.insert(conn, values, now)

    rule_id = await ws.db.execute_write_fn(write)
    _forget(ws.db)
    rule = await get(ws, rule_id)
    await audit.record(ws, actor, "auto_reply.created", f"rule {rule_id}", trigger=rule.trigger)
    return rule


async def update(ws: Workspace, actor: audit.Actor, rule_id: int, **changes: Any) -> Rule:
    current = await get(ws, rule_id)
    values = await _clean(ws, changes, current)
    await ws.db.execute_write_fn(lambda conn: store.update(conn, rule_id, values, int(time.time())))
    _forget(ws.db)
    await audit.record(ws, actor, "auto_reply.updated", f"rule {rule_id}", changed=sorted(changes))
    return await get(ws, rule_id)


async def delete(ws: Workspace, actor: audit.Actor, rule_id: int) -> None:
    if not await ws.db.execute_write_fn(lambda conn: store.delete(conn, rule_id)):
        raise NotFound("No such auto-reply rule.")
    _forget(ws.db)
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
    _forget(ws.db)
    await audit.record(ws, actor, "auto_reply.moved", f"rule {rule_id}", direction=direction)
    return await list_rules(ws)


async def test(ws: Workspace, text: str, *, account_id: int | None = None, first_message: bool = False) -> Evaluation:
    """Which rule would answer this sample message (nothing is sent, no counter moves)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise Invalid("text", f"Write a sample message of at most {MAX_TEXT:,} characters.")
    if account_id is not None and account_id not in {a.id for a in await accounts_store.all_active(ws.db)}:
        raise Invalid("account_id", "There is no such WhatsApp number in this workspace.")
    rules = await compiled_rules(ws.db)
    return await _evaluate(rules, text, account_id=account_id, first=first_message, stop_at_first=False)


async def preview(ws: Workspace, rule: Rule) -> str:
    """The rule's reply text as it would go out, filled with an example contact's details."""
    if rule.reply_template_id is not None:
        try:
            return templates.render(await templates.get(ws, rule.reply_template_id), templates.EXAMPLE)
        except NotFound:
            return ""
    return templates.render(rule.reply_text, templates.EXAMPLE)


# -- answering inbound messages -----------------------------------------------------------------------------------


async def on_messages(ws: Workspace, messages: list[Message]) -> None:
    """Ingest hook: answer each new message from a customer with the business hours' message and/or a rule."""
    inbound = [m for m in messages if m.direction == "in" and m.source == "contact"]
    if not inbound:
        return
    rules = [c for c in await compiled_rules(ws.db) if c.rule.active]
    hours = await business_hours.load(ws)
    if not rules and not hours.away.active and not hours.greeting.active:
        return
    tz = await business_hours.timezone_of(ws)
    for message in inbound:
        try:
            await _answer(ws, message, rules, hours, tz)
        except Exception:
            log.exception("automation failed for a message (workspace=%s message=%s)", ws.slug, message.id)


async def _answer(ws: Workspace, m: Message, rules: list[Compiled], hours: business_hours.BusinessHours,
                  tz: Any) -> None:
    now = time.time()
    if now - m.created_at > STALE_S:
        return
    facts = await ws.db.execute_fn(lambda conn: store.facts(conn, m.conversation_id, m.id))
    if facts is None or facts.kind != "person" or facts.opted_out:
        return
    kind = business_hours.due(hours, dt.datetime.fromtimestamp(now, tz), facts.previous_at, now)
    if kind is not None:
        said = getattr(hours, kind)
        await _send(ws, m, facts, key=kind, period_s=said.period_s, text=said.text)
    if rules:
        found = (await _evaluate(rules, m.body, account_id=m.account_id, first=facts.first_ever)).rule
        if found is not None:
            await _send(ws, m, facts, key=store.rule_key(found.id), period_s=found.cooldown_s, rule=found)


async def _send(ws: Workspace, m: Message, facts: Facts, *, key: str, period_s: int, text: str = "",
                rule: Rule | None = None) -> None:
    """Claim the send (cooldown and bot-loop guard, in one transaction with the hit counter), then queue it."""
    now = int(time.time())

    def claim(conn: sqlite3.Connection) -> bool:
        last = store.last_sent(conn, facts.contact_id, key)
        if last is not None and now - last < period_s:
            return False
        if store.automated_since(conn, m.conversation_id, now - LOOP_WINDOW_S) >= LOOP_MAX:
            log.warning("automatic replies paused for a conversation that keeps answering them "
                        "(workspace=%s conversation=%s)", ws.slug, m.conversation_id)
            return False
        store.note_sent(conn, facts.contact_id, key, now)
        if rule is not None:
            store.record_hit(conn, rule.id, now)
        return True

    if not await ws.db.execute_write_fn(claim):
        return
    try:
        await _queue_reply(ws, m, facts, key, text, rule)
    except DomainError as exc:  # opted out meanwhile, number deleted, file gone: nothing to retry
        log.info("automatic %s not sent (workspace=%s conversation=%s): %s", key, ws.slug, m.conversation_id,
                 exc.message)


async def _queue_reply(ws: Workspace, m: Message, facts: Facts, key: str, text: str, rule: Rule | None) -> None:
    media_id = None
    if rule is not None and rule.reply_template_id is not None:
        rendered = await templates.render_for(ws, rule.reply_template_id, facts.contact_id)
        body, media_id = rendered.text, rendered.media_id
    else:
        if rule is not None:
            text, media_id = rule.reply_text, rule.reply_media_id
        body = templates.render(text, await templates.contact_values(ws, facts.contact_id)).strip()
    # One automatic answer of each kind per inbound message, even if this hook ran twice for it.
    idem = f"automation:{m.id}:{key}"
    if media_id is not None:
        await outbox.send_media(ws, media_id=media_id, caption=body, conversation_id=m.conversation_id,
                                source="automation", lane="normal", idempotency_key=idem)
    elif body:
        await outbox.send_text(ws, text=body, conversation_id=m.conversation_id, source="automation",
                               lane="normal", idempotency_key=idem)

