"""Who is working the inbox right now, and what happens after a customer writes: a resolved conversation that
the customer reopened says so in its thread, and (when the workspace asks for it) a new unassigned conversation
goes to the online agent holding the fewest open ones.

"Online" means an inbox tab reported within ONLINE_S seconds (pages and a 30 s heartbeat call `seen`); it lives in
this process's memory, which is all a one-process app needs.
"""

from __future__ import annotations

import sqlite3
import time

from blazz import inbox, ingest
from blazz.store import inbox_queries as q
from blazz.store.messages import Message
from blazz.workspaces import Workspace

ONLINE_S = 90  # an inbox tab reports every 30 s; three missed reports and the agent counts as away
# workspace folder -> user id -> (seen at, name, role); the folder, unlike the id, is unique across data dirs
_presence: dict[str, dict[int, tuple[float, str, str]]] = {}


def seen(ws: Workspace, agent: inbox.Agent) -> None:
    """Note that this member has the inbox open now (auto-assignment picks among them)."""
    if agent.user_id is not None:
        _presence.setdefault(str(ws.folder), {})[agent.user_id] = (time.monotonic(), agent.name, agent.role)


def online(ws: Workspace) -> dict[int, str]:
    """Members with an inbox open in the last ONLINE_S seconds: user id -> name."""
    now = time.monotonic()
    return {u: name for u, (at, name, _) in _presence.get(str(ws.folder), {}).items() if now - at <= ONLINE_S}


async def least_loaded(ws: Workspace) -> tuple[int, str] | None:
    """The online member holding the fewest unresolved conversations (ties: the one who has waited longest)."""
    here = online(ws)
    if not here:
        return None
    load = await q.open_load(ws.db, list(here))
    user_id = min(here, key=lambda u: (load.get(u, 0), _presence[str(ws.folder)][u][0]))
    return user_id, here[user_id]


@ingest.on_message
async def on_inbound(ws: Workspace, messages: list[Message]) -> None:
    """After a customer writes: say so in the thread when it reopened a resolved conversation, and hand a new
    unassigned one to the least-loaded online agent when the workspace asks for it. Runs beside the live update
    rather than before it, so open tabs see the message without waiting for this."""
    conversation_ids = list(dict.fromkeys(m.conversation_id for m in messages if m.direction == "in"))
    if conversation_ids:
        inbox.spawn(ws, _after_inbound(ws, conversation_ids))


async def _after_inbound(ws: Workspace, conversation_ids: list[int]) -> None:
    auto = (await inbox.load_settings(ws)).auto_assign
    for conversation_id in conversation_ids:
        conv = await q.conversation(ws.db, conversation_id)
        if conv is None:
            continue
        if conv.status == "open" and await q.last_status_event(ws.db, conversation_id) == "resolved":
            body, meta = inbox.event_meta("customer_reopened", event="status", status="open", by=None)
            await inbox.add_line(ws, conversation_id, "event", body, None, meta)
        if auto and conv.assignee_id is None and conv.status != "resolved":
            pick = await least_loaded(ws)
            if pick is None:
                continue
            user_id, name = pick

            def take(conn: sqlite3.Connection, now: int, cid: int = conversation_id, uid: int = user_id) -> None:
                if not q.assign_if_unassigned(conn, cid, uid):
                    raise _Taken

            body, meta = inbox.event_meta("auto", event="assigned", assignee_id=user_id, by=None, auto=True,
                                          name=name)
            try:
                await inbox.add_line(ws, conversation_id, "event", body, None, meta, take)
            except _Taken:
                continue


class _Taken(Exception):
    """Someone assigned the conversation between the check and the write: theirs stands."""
