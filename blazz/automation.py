"""Auto-replies: rules that answer customers' messages while nobody is at the keyboard, and the hook that runs them
(with the business hours' away and greeting messages) for every new inbound message.

A rule has a trigger (`exact`, `contains`, `starts_with` on keywords; `regex`; `any` message; `first_message` of a
new contact), a scope (every number, or some), a reply (text with {{first_name}}-style variables, a file with an
optional caption, or a message template; `blazz.templates` renders them), a per-contact cooldown, a priority and an
on/off switch. Rules are checked in ascending priority; the first that matches decides: it answers unless it
answered this contact within its cooldown, in which case nothing is sent. Replies go through the outbox's `normal`
lane with source "automation". Rules are created and changed through `blazz.auto_replies`.

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

from blazz import business_hours, outbox, templates
from blazz.errors import DomainError, Invalid
from blazz.store import accounts as accounts_store
from blazz.store import auto_replies as store
from blazz.store.auto_replies import Facts, Rule
from blazz.store.database import Database
from blazz.store.messages import Message
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

TRIGGERS = ("exact", "contains", "starts_with", "regex", "any", "first_message")
KEYWORD_TRIGGERS = ("exact", "contains", "starts_with")
MAX_TEXT = outbox.MAX_TEXT
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
        raise Invalid("pattern", "This regular expression is not valid: %(error)s.", error=str(exc)) from None


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


def forget(db: Database) -> None:
    """Drop the compiled rules of a database (its rules changed)."""
    _cache.pop(db, None)


async def _evaluate(rules: Sequence[Compiled], text: str, **kw: Any) -> Evaluation:
    if any(c.rule.trigger == "regex" for c in rules):  # time-limited, but never on the event loop
        return await asyncio.to_thread(evaluate, rules, text, **kw)
    return evaluate(rules, text, **kw)


async def test(ws: Workspace, text: str, *, account_id: int | None = None, first_message: bool = False) -> Evaluation:
    """Which rule would answer this sample message (nothing is sent, no counter moves)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise Invalid("text", "Write a sample message of at most %(max)s characters.", max=MAX_TEXT)
    if account_id is not None and account_id not in {a.id for a in await accounts_store.all_active(ws.db)}:
        raise Invalid("account_id", "There is no such WhatsApp number in this workspace.")
    rules = await compiled_rules(ws.db)
    return await _evaluate(rules, text, account_id=account_id, first=first_message, stop_at_first=False)


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

