"""The dashboard's counters: tables that SQLite triggers keep in step with `messages` and `conversations`, so the
dashboard reads a few thousand small rows instead of every message of the range (1.6 s → a few ms on 1M messages).

- `dashboard_slots`: per 15-minute slot of UTC time and number, messages in and out, outgoing sent and failed,
  conversations opened (created_at) and resolved (resolved_at). 15 minutes because every UTC offset in use is a
  multiple of it (India +5:30, Nepal +5:45, Chatham +12:45), so local days are sums of whole slots anywhere.
- `dashboard_agent_lines`: per person and slot, the outgoing lines they wrote (replies, notes, events).
- `dashboard_agent_slots`: per person, slot and conversation, linked to the person's previous and next slot in that
  conversation. "Conversations they wrote in over a range" is the count of the range's rows whose previous slot lies
  before it (a plain scan instead of a DISTINCT over every line) and, for a range that reaches now, simply the count of
  the latest rows (next_slot 0) of the range, read from a small partial index.
- `dashboard_waits` and `dashboard_reply_times`: a customer who writes while nobody from the team has answered yet
  starts a wait (their first unanswered message); the team's next reply (typed in Blazz or on the phone, notes aside)
  ends it and records how long it took, once, as it happens. Resolving the conversation ends a wait unrecorded (the
  customer's "thanks!" needed no answer).
- `dashboard_resolution_times`: for each resolved conversation, resolved_at − created_at.
- `dashboard_campaigns`: per campaign, its recipients sent, delivered, read, replied and failed (a 100k-recipient
  campaign is one row to read instead of 100k).

Times are filed under a `bucket` of their value (two significant digits, so rows of one bucket differ by at most
10 %): the median of a range is found by counting rows per bucket, then sorting the one bucket it falls in.

All counters equal a recount from the rows as they are now (`rebuild`), deletes and status changes included, except
reply times: they record what happened when it happened, so a reply that is later deleted (a duplicate echo) stays
counted; a conversation's reply times go with its customer's messages (contact erased), and follow them when two
conversations are merged. Schema changes go in a new migration with a new schema constant; M014_SCHEMA is frozen
(m016 created its triggers again with IN lists spelled out: M016_TRIGGERS).
"""

from __future__ import annotations

import re
import sqlite3

from blazz.store.migrations import statements

SLOT_S = 900  # seconds per counter slot; see the module docstring for why 15 minutes
TABLES = ("dashboard_slots", "dashboard_agent_lines", "dashboard_agent_slots", "dashboard_waits",
          "dashboard_reply_times", "dashboard_resolution_times", "dashboard_campaigns")
TRIGGER_PREFIX = "dashboard_"  # every trigger of the counters is named so (a bulk load sets them aside by it)
TEAM_REPLY_SOURCES = ("agent", "phone")  # replies that end a customer's wait; automation and campaigns do not


def slot_of(column: str) -> str:
    return f"({column} - {column} % {SLOT_S})"


def bucket_of(value: str) -> str:
    """SQL for a duration's bucket: exact below 100 s, then length and first two digits (monotonic in the value)."""
    return (f"(CASE WHEN {value} < 100 THEN {value}"
            f" ELSE length({value}) * 100 + CAST(substr({value}, 1, 2) AS INTEGER) END)")


def bucket(seconds: int) -> int:
    """The same bucket computed in Python."""
    return seconds if seconds < 100 else len(str(seconds)) * 100 + int(str(seconds)[:2])


_OUT_COUNTED = "{r}.direction = 'out' AND {r}.status != 'note'"
_OUT_SENT = "{r}.direction = 'out' AND {r}.status IN ('sent', 'delivered', 'read')"
_OUT_FAILED = "{r}.direction = 'out' AND {r}.status = 'failed'"


def _message_slot(r: str, sign: str) -> str:
    """Add (`sign` '') or take away (`sign` '-') one message row `r` (new/old) in dashboard_slots."""
    return f"""
    INSERT INTO dashboard_slots (slot, account_id, incoming, outgoing, sent, failed)
    VALUES ({slot_of(r + '.created_at')}, {r}.account_id, {sign}({r}.direction = 'in'),
            {sign}({_OUT_COUNTED.format(r=r)}), {sign}({_OUT_SENT.format(r=r)}), {sign}({_OUT_FAILED.format(r=r)}))
    ON CONFLICT (slot, account_id) DO UPDATE SET incoming = incoming + excluded.incoming,
        outgoing = outgoing + excluded.outgoing, sent = sent + excluded.sent, failed = failed + excluded.failed;"""


def _conversation_slot(r: str, sign: str) -> str:
    return f"""
    INSERT INTO dashboard_slots (slot, account_id, opened)
    VALUES ({slot_of(r + '.created_at')}, {r}.account_id, {sign}1)
    ON CONFLICT (slot, account_id) DO UPDATE SET opened = opened + excluded.opened;
    INSERT INTO dashboard_slots (slot, account_id, resolved)
    SELECT {slot_of(r + '.resolved_at')}, {r}.account_id, {sign}1 WHERE {r}.resolved_at IS NOT NULL
    ON CONFLICT (slot, account_id) DO UPDATE SET resolved = resolved + excluded.resolved;"""


def _line_added(r: str) -> str:
    """A person's outgoing line joins their slot in the conversation; a slot new to them there is linked in between
    its neighbours (the next one's prev_slot and the previous one's next_slot become it)."""
    at = slot_of(r + ".created_at")
    thread = f"author_id = {r}.author_id AND conversation_id = {r}.conversation_id"
    after = f"(SELECT min(slot) FROM dashboard_agent_slots WHERE {thread} AND slot > {at})"
    before = f"(SELECT max(slot) FROM dashboard_agent_slots WHERE {thread} AND slot < {at})"
    return f"""
    UPDATE dashboard_agent_slots SET prev_slot = {at} WHERE {thread} AND slot = {after} AND prev_slot < {at};
    UPDATE dashboard_agent_slots SET next_slot = {at} WHERE {thread} AND slot = {before}
        AND (next_slot = 0 OR next_slot > {at});
    INSERT INTO dashboard_agent_slots (author_id, slot, conversation_id, lines, prev_slot, next_slot)
    VALUES ({r}.author_id, {at}, {r}.conversation_id, 1, coalesce({before}, 0), coalesce({after}, 0))
    ON CONFLICT (author_id, slot, conversation_id) DO UPDATE SET lines = lines + 1;
    INSERT INTO dashboard_agent_lines (author_id, slot, lines) VALUES ({r}.author_id, {at}, 1)
    ON CONFLICT (author_id, slot) DO UPDATE SET lines = lines + 1;"""


def _line_removed(r: str) -> str:
    """The reverse: an emptied slot joins its neighbours to each other, then goes."""
    at = slot_of(r + ".created_at")
    thread = f"author_id = {r}.author_id AND conversation_id = {r}.conversation_id"
    this = f"{thread} AND slot = {at}"
    emptied = f"EXISTS (SELECT 1 FROM dashboard_agent_slots WHERE {this} AND lines <= 0)"
    return f"""
    UPDATE dashboard_agent_slots SET lines = lines - 1 WHERE {this};
    UPDATE dashboard_agent_slots SET prev_slot = (SELECT prev_slot FROM dashboard_agent_slots WHERE {this})
    WHERE {thread} AND slot = (SELECT min(slot) FROM dashboard_agent_slots WHERE {thread} AND slot > {at})
      AND {emptied};
    UPDATE dashboard_agent_slots SET next_slot = (SELECT next_slot FROM dashboard_agent_slots WHERE {this})
    WHERE {thread} AND slot = (SELECT max(slot) FROM dashboard_agent_slots WHERE {thread} AND slot < {at})
      AND {emptied};
    DELETE FROM dashboard_agent_slots WHERE {this} AND lines <= 0;
    UPDATE dashboard_agent_lines SET lines = lines - 1 WHERE author_id = {r}.author_id AND slot = {at};
    DELETE FROM dashboard_agent_lines WHERE author_id = {r}.author_id AND slot = {at} AND lines <= 0;"""


_RECIPIENT_COUNTS = {  # dashboard_campaigns column: the recipient rows it counts
    "sent": "{r}.status IN ('sent', 'delivered', 'read')",
    "delivered": "{r}.status IN ('delivered', 'read')",
    "read": "{r}.status = 'read'",
    "replied": "{r}.replied_at IS NOT NULL",
    "failed": "{r}.status = 'failed'",
}


def _recipient(r: str, sign: str) -> str:
    columns = ", ".join(_RECIPIENT_COUNTS)
    values = ", ".join(f"{sign}({test.format(r=r)})" for test in _RECIPIENT_COUNTS.values())
    sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in _RECIPIENT_COUNTS)
    return f"""
    INSERT INTO dashboard_campaigns (campaign_id, {columns}) VALUES ({r}.campaign_id, {values})
    ON CONFLICT (campaign_id) DO UPDATE SET {sums};"""


def _resolution(r: str) -> str:
    return f"""
    INSERT OR REPLACE INTO dashboard_resolution_times (conversation_id, resolved_at, seconds, bucket)
    SELECT {r}.id, {r}.resolved_at, {r}.resolved_at - {r}.created_at, {bucket_of(f'({r}.resolved_at - {r}.created_at)')}
    WHERE {r}.resolved_at >= {r}.created_at;"""


_LINE = "{r}.direction = 'out' AND {r}.author_id IS NOT NULL"
_LINE_MOVED = ("(old.author_id IS NOT new.author_id OR old.conversation_id IS NOT new.conversation_id"
               " OR old.created_at IS NOT new.created_at OR old.direction IS NOT new.direction)")
_SLOT_MOVED = (
    "old.created_at IS NOT new.created_at OR old.account_id IS NOT new.account_id"
    " OR old.direction IS NOT new.direction OR (old.status = 'note') IS NOT (new.status = 'note')"
    " OR (old.status = 'failed') IS NOT (new.status = 'failed')"
    " OR (old.status IN ('sent', 'delivered', 'read')) IS NOT (new.status IN ('sent', 'delivered', 'read'))"
)
_TEAM_REPLY = (f"new.direction = 'out' AND new.status != 'note'"
               f" AND new.source IN ({', '.join(repr(s) for s in TEAM_REPLY_SOURCES)})")
_REPLY_SECONDS = "(new.created_at - asked_at)"
# The thread's event line of someone resolving the conversation (inbox.set_status writes one with every change).
_RESOLVED_LINE = "{r}.kind = 'event' AND json_extract({r}.meta, '$.status') = 'resolved'"

# The tables and triggers as migration m014 created them. Frozen: a later change is a new constant and migration.
M014_SCHEMA = f"""
CREATE TABLE dashboard_slots (
    slot INTEGER NOT NULL,                -- UTC epoch second where the 15-minute slot starts
    account_id INTEGER NOT NULL,
    incoming INTEGER NOT NULL DEFAULT 0,  -- messages received
    outgoing INTEGER NOT NULL DEFAULT 0,  -- messages sent or being sent (notes and events are not messages)
    sent INTEGER NOT NULL DEFAULT 0,      -- outgoing now sent, delivered or read
    failed INTEGER NOT NULL DEFAULT 0,    -- outgoing now failed
    opened INTEGER NOT NULL DEFAULT 0,    -- conversations created
    resolved INTEGER NOT NULL DEFAULT 0,  -- conversations resolved (resolved_at) and still so
    PRIMARY KEY (slot, account_id)
) WITHOUT ROWID;
CREATE TABLE dashboard_agent_lines (
    author_id INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    lines INTEGER NOT NULL DEFAULT 0,     -- outgoing lines (replies, notes, events) they wrote
    PRIMARY KEY (author_id, slot)
) WITHOUT ROWID;
CREATE TABLE dashboard_agent_slots (
    author_id INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    lines INTEGER NOT NULL DEFAULT 0,     -- their lines in this conversation in this slot
    prev_slot INTEGER NOT NULL DEFAULT 0, -- their previous slot in this conversation; 0 for the first
    next_slot INTEGER NOT NULL DEFAULT 0, -- their next slot in this conversation; 0 for the latest
    PRIMARY KEY (author_id, slot, conversation_id)
) WITHOUT ROWID;
CREATE INDEX dashboard_agent_threads ON dashboard_agent_slots(author_id, conversation_id, slot);
CREATE INDEX dashboard_agent_latest ON dashboard_agent_slots(author_id, next_slot, slot) WHERE next_slot = 0;
CREATE TABLE dashboard_waits (
    conversation_id INTEGER PRIMARY KEY,
    asked_id INTEGER,                     -- the customer's first unanswered message; NULL: nobody waits
    asked_at INTEGER,
    replied_at INTEGER NOT NULL DEFAULT 0 -- the team's latest reply
);
CREATE TABLE dashboard_reply_times (
    asked_id INTEGER PRIMARY KEY,         -- the message that started the wait
    asked_at INTEGER NOT NULL,
    seconds INTEGER NOT NULL,             -- until the team's first reply
    bucket INTEGER NOT NULL
);
CREATE INDEX dashboard_reply_times_bucket ON dashboard_reply_times(bucket, asked_at, seconds);
CREATE TABLE dashboard_campaigns (
    campaign_id INTEGER PRIMARY KEY,
    sent INTEGER NOT NULL DEFAULT 0,      -- recipients whose message is sent, delivered or read
    delivered INTEGER NOT NULL DEFAULT 0, -- delivered or read
    read INTEGER NOT NULL DEFAULT 0,
    replied INTEGER NOT NULL DEFAULT 0,   -- wrote back (replied_at)
    failed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE dashboard_resolution_times (
    conversation_id INTEGER PRIMARY KEY,
    resolved_at INTEGER NOT NULL,
    seconds INTEGER NOT NULL,             -- resolved_at - created_at
    bucket INTEGER NOT NULL
);
CREATE INDEX dashboard_resolution_times_bucket ON dashboard_resolution_times(bucket, resolved_at, seconds);

CREATE TRIGGER dashboard_message_added AFTER INSERT ON messages BEGIN {_message_slot('new', '')}
END;
CREATE TRIGGER dashboard_message_removed AFTER DELETE ON messages BEGIN {_message_slot('old', '-')}
END;
CREATE TRIGGER dashboard_message_changed AFTER UPDATE OF status, direction, created_at, account_id ON messages
WHEN {_SLOT_MOVED} BEGIN {_message_slot('old', '-')} {_message_slot('new', '')}
END;

CREATE TRIGGER dashboard_line_added AFTER INSERT ON messages WHEN {_LINE.format(r='new')} BEGIN {_line_added('new')}
END;
CREATE TRIGGER dashboard_line_removed AFTER DELETE ON messages WHEN {_LINE.format(r='old')} BEGIN {_line_removed('old')}
END;
CREATE TRIGGER dashboard_line_left AFTER UPDATE OF author_id, conversation_id, created_at, direction ON messages
WHEN {_LINE.format(r='old')} AND {_LINE_MOVED} BEGIN {_line_removed('old')}
END;
CREATE TRIGGER dashboard_line_joined AFTER UPDATE OF author_id, conversation_id, created_at, direction ON messages
WHEN {_LINE.format(r='new')} AND {_LINE_MOVED} BEGIN {_line_added('new')}
END;

-- A customer's message starts a wait unless one is open, or it is older than the team's latest reply (history).
CREATE TRIGGER dashboard_wait_started AFTER INSERT ON messages WHEN new.direction = 'in' BEGIN
    INSERT INTO dashboard_waits (conversation_id, asked_id, asked_at)
    VALUES (new.conversation_id, new.id, new.created_at)
    ON CONFLICT (conversation_id) DO UPDATE SET asked_id = excluded.asked_id, asked_at = excluded.asked_at
    WHERE asked_id IS NULL AND excluded.asked_at >= replied_at;
END;
CREATE TRIGGER dashboard_wait_answered AFTER INSERT ON messages WHEN {_TEAM_REPLY} BEGIN
    INSERT OR REPLACE INTO dashboard_reply_times (asked_id, asked_at, seconds, bucket)
    SELECT asked_id, asked_at, {_REPLY_SECONDS}, {bucket_of(_REPLY_SECONDS)} FROM dashboard_waits
    WHERE conversation_id = new.conversation_id AND asked_id IS NOT NULL AND asked_at <= new.created_at;
    INSERT INTO dashboard_waits (conversation_id, replied_at) VALUES (new.conversation_id, new.created_at)
    ON CONFLICT (conversation_id) DO UPDATE SET
        asked_id = CASE WHEN asked_at <= excluded.replied_at THEN NULL ELSE asked_id END,
        asked_at = CASE WHEN asked_at <= excluded.replied_at THEN NULL ELSE asked_at END,
        replied_at = max(replied_at, excluded.replied_at);
END;
-- Resolving the conversation ends a wait without a time: the team judged that the last message needed no answer.
CREATE TRIGGER dashboard_wait_dropped AFTER INSERT ON messages WHEN {_RESOLVED_LINE.format(r='new')} BEGIN
    UPDATE dashboard_waits SET asked_id = NULL, asked_at = NULL WHERE conversation_id = new.conversation_id;
END;
CREATE TRIGGER dashboard_wait_erased AFTER DELETE ON messages WHEN old.direction = 'in' BEGIN
    DELETE FROM dashboard_reply_times WHERE asked_id = old.id;
    UPDATE dashboard_waits SET asked_id = NULL, asked_at = NULL WHERE conversation_id = old.conversation_id
        AND asked_id = old.id;
END;

CREATE TRIGGER dashboard_recipient_added AFTER INSERT ON campaign_recipients BEGIN {_recipient('new', '')}
END;
CREATE TRIGGER dashboard_recipient_removed AFTER DELETE ON campaign_recipients BEGIN {_recipient('old', '-')}
END;
CREATE TRIGGER dashboard_recipient_changed AFTER UPDATE OF status, replied_at, campaign_id ON campaign_recipients
WHEN old.status IS NOT new.status OR (old.replied_at IS NULL) IS NOT (new.replied_at IS NULL)
  OR old.campaign_id IS NOT new.campaign_id BEGIN {_recipient('old', '-')} {_recipient('new', '')}
END;
CREATE TRIGGER dashboard_campaign_removed AFTER DELETE ON campaigns BEGIN
    DELETE FROM dashboard_campaigns WHERE campaign_id = old.id;
END;

CREATE TRIGGER dashboard_conversation_added AFTER INSERT ON conversations BEGIN {_conversation_slot('new', '')}
    {_resolution('new')}
END;
CREATE TRIGGER dashboard_conversation_changed AFTER UPDATE OF created_at, resolved_at, account_id ON conversations
WHEN old.created_at IS NOT new.created_at OR old.resolved_at IS NOT new.resolved_at
  OR old.account_id IS NOT new.account_id BEGIN {_conversation_slot('old', '-')} {_conversation_slot('new', '')}
    DELETE FROM dashboard_resolution_times WHERE conversation_id = old.id; {_resolution('new')}
END;
CREATE TRIGGER dashboard_conversation_removed AFTER DELETE ON conversations BEGIN {_conversation_slot('old', '-')}
    DELETE FROM dashboard_resolution_times WHERE conversation_id = old.id;
    DELETE FROM dashboard_waits WHERE conversation_id = old.id;
END;
"""


# `x IN ('a', 'b', 'c')`: in a trigger SQLite builds a temporary table for a list of three or more values on every row
# the trigger runs for: 60 % of the counters' cost per campaign message (its status moves four times), m016.
_IN_LIST = re.compile(r"([\w.]+) IN \(('[^'()]*'(?:, '[^'()]*')*)\)")


def _spelled_out(sql: str) -> str:
    """The statement with each literal IN list written as comparisons: `(x = 'a' OR x = 'b' OR x = 'c')`."""
    return _IN_LIST.sub(lambda m: "(" + " OR ".join(f"{m[1]} = {value.strip()}" for value in m[2].split(",")) + ")",
                        sql)


def _triggers_spelled_out(schema: str) -> str:
    """Every trigger of `schema` dropped and created again with its IN lists spelled out (nothing else changes)."""
    out = []
    for statement in statements(schema):
        match = re.match(r"\s*(?:--[^\n]*\n\s*)*CREATE TRIGGER (\w+)", statement)
        if match:
            out.append(f"DROP TRIGGER {match[1]};\n{_spelled_out(statement)}")
    return "\n".join(out)


# m016: the same triggers, cheaper per row. Frozen like M014_SCHEMA.
M016_TRIGGERS = _triggers_spelled_out(M014_SCHEMA)


def rebuild(conn: sqlite3.Connection) -> None:
    """Recount every counter from the messages and conversations as they are (migration backfill, after a bulk load,
    and the reference the triggers are tested against). Runs inside the caller's transaction."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")
    at = slot_of("created_at")
    conn.execute(
        "INSERT INTO dashboard_slots (slot, account_id, incoming, outgoing, sent, failed)"
        f" SELECT {at} AS s, account_id, sum(direction = 'in'), sum({_OUT_COUNTED.format(r='messages')}),"
        f" sum({_OUT_SENT.format(r='messages')}), sum({_OUT_FAILED.format(r='messages')})"
        " FROM messages GROUP BY s, account_id")
    for column, counter in (("created_at", "opened"), ("resolved_at", "resolved")):
        conn.execute(
            f"INSERT INTO dashboard_slots (slot, account_id, {counter})"
            f" SELECT {slot_of(column)} AS s, account_id, count(*) FROM conversations WHERE {column} IS NOT NULL"
            f" GROUP BY s, account_id ON CONFLICT (slot, account_id) DO UPDATE SET {counter} = excluded.{counter}")
    conn.execute(
        "INSERT INTO dashboard_agent_slots (author_id, slot, conversation_id, lines, prev_slot, next_slot)"
        " SELECT author_id, s, conversation_id, n,"
        "  coalesce(lag(s) OVER (PARTITION BY author_id, conversation_id ORDER BY s), 0),"
        "  coalesce(lead(s) OVER (PARTITION BY author_id, conversation_id ORDER BY s), 0)"
        f" FROM (SELECT author_id, {at} AS s, conversation_id, count(*) AS n FROM messages"
        "   WHERE direction = 'out' AND author_id IS NOT NULL GROUP BY author_id, s, conversation_id)"
        " ORDER BY author_id, s, conversation_id")  # in key order: appends instead of scattered inserts
    conn.execute("INSERT INTO dashboard_agent_lines (author_id, slot, lines)"
                 " SELECT author_id, slot, sum(lines) FROM dashboard_agent_slots GROUP BY author_id, slot")
    conn.execute(
        "INSERT INTO dashboard_resolution_times (conversation_id, resolved_at, seconds, bucket)"
        f" SELECT id, resolved_at, resolved_at - created_at, {bucket_of('(resolved_at - created_at)')}"
        " FROM conversations WHERE resolved_at >= created_at")
    sums = ", ".join(f"sum({test.format(r='r')})" for test in _RECIPIENT_COUNTS.values())
    conn.execute(f"INSERT INTO dashboard_campaigns (campaign_id, {', '.join(_RECIPIENT_COUNTS)})"
                 f" SELECT campaign_id, {sums} FROM campaign_recipients r GROUP BY campaign_id")
    _rebuild_waits(conn)


def _rebuild_waits(conn: sqlite3.Connection) -> None:
    """Replay every customer message, team reply and resolve in arrival (id) order, as the triggers saw them."""
    waits: dict[int, list] = {}  # conversation id -> [asked_id, asked_at, replied_at]
    times: list[tuple[int, int, int]] = []
    sources = ", ".join(repr(s) for s in TEAM_REPLY_SOURCES)
    rows = conn.execute(
        f"SELECT id, conversation_id, created_at, CASE WHEN direction = 'in' THEN 'in'"
        f" WHEN {_RESOLVED_LINE.format(r='messages')} THEN 'resolved' ELSE 'reply' END FROM messages"
        f" WHERE direction = 'in' OR (direction = 'out' AND status != 'note' AND source IN ({sources}))"
        f" OR {_RESOLVED_LINE.format(r='messages')} ORDER BY id")
    for message_id, conversation_id, at, what in rows:
        wait = waits.get(conversation_id)
        if what == "resolved":
            if wait is not None:
                wait[0] = wait[1] = None
        elif what == "in":
            if wait is None:
                waits[conversation_id] = [message_id, at, 0]
            elif wait[0] is None and at >= wait[2]:
                wait[0], wait[1] = message_id, at
        elif wait is None:
            waits[conversation_id] = [None, None, at]
        else:
            if wait[0] is not None and wait[1] <= at:
                times.append((wait[0], wait[1], at - wait[1]))
                wait[0] = wait[1] = None
            wait[2] = max(wait[2], at)
    conn.executemany("INSERT INTO dashboard_waits (conversation_id, asked_id, asked_at, replied_at)"
                     " VALUES (?, ?, ?, ?)", ((conversation_id, *wait) for conversation_id, wait in waits.items()))
    conn.executemany("INSERT INTO dashboard_reply_times (asked_id, asked_at, seconds, bucket) VALUES (?, ?, ?, ?)",
                     ((asked_id, asked_at, seconds, bucket(seconds)) for asked_id, asked_at, seconds in times))
