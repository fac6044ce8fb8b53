"""Search across the inbox: message bodies by full text (newest first) and contacts by name, phone or email.

Newest first rather than best match: ranking (bm25) has to score every match of a common word before showing one,
which takes hundreds of milliseconds on a year of messages; walking the index backwards by rowid stops after a page.
Internal notes are found too (they are part of the thread); event lines are not. An agent limited to their own
conversations finds messages only there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from blazz import contacts, inbox
from blazz.store import inbox_queries as q
from blazz.store.contacts import Contact
from blazz.store.inbox_queries import MessageHit
from blazz.workspaces import Workspace

MESSAGES_PAGE = 20
CONTACTS_PAGE = 8
MAX_QUERY = 200
# The index keeps two- and three-letter prefixes (schema m011); a single letter would expand to thousands of words
# whose matches all merge before the newest shows (90 ms for "b*" on a million messages), so it matches whole.
PREFIX_MIN = 2
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Results:
    query: str
    messages: list[MessageHit]
    contacts: list[Contact]
    next_before: int | None  # message id to pass as `before` for older matches


def fts_expression(text: str) -> str | None:
    """An FTS5 query for what someone typed: every word must appear; the last one may be the start of a word
    (they are still typing) once it has PREFIX_MIN letters. Quotes keep FTS5's operators out of user input."""
    words = _WORD.findall((text or "")[:MAX_QUERY])[:12]
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    if len(words[-1]) >= PREFIX_MIN:
        quoted[-1] += "*"
    return " ".join(quoted)


async def search(ws: Workspace, agent: inbox.Agent, text: str, *, before: int | None = None,
                 limit: int = MESSAGES_PAGE, with_contacts: bool = True) -> Results:
    """Messages matching every word, newest first (`before`: a message id to continue from), and contacts."""
    text = " ".join((text or "").split())[:MAX_QUERY]
    fts = fts_expression(text)
    if fts is None:
        return Results(text, [], [], None)
    limit = max(1, min(limit, 100))
    hits = await q.search_messages(ws.db, fts, before=before, limit=limit + 1,
                                   visible_to=await inbox.limited_to(ws, agent))
    found: list[Contact] = []
    if with_contacts and before is None:
        page = await contacts.list_contacts(ws, contacts.Filters(q=text), limit=CONTACTS_PAGE, with_total=False)
        found = page.contacts
    more = len(hits) > limit
    hits = hits[:limit]
    return Results(text, hits, found, hits[-1].message.id if more else None)
