"""In-process publish/subscribe, keyed by workspace: how a change reaches every open browser tab.

Services publish domain events (a name and plain data); the web layer turns each into an HTML fragment once, however
many tabs are listening, and streams it over SSE. A subscriber that falls behind loses its oldest events rather than
slowing the publisher (the page reloads its state on reconnect anyway).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 500
_ids = itertools.count(1)


@dataclass(slots=True)
class BusEvent:
    name: str  # e.g. "message.new", "account.state"
    data: dict[str, Any]
    id: int = field(default_factory=lambda: next(_ids))
    rendered: dict[str, str] = field(default_factory=dict)  # cache of fragments, filled by the web layer


_CLOSED = BusEvent("bus.closed", {})


class Subscription:
    def __init__(self, workspace_id: int):
        self.workspace_id = workspace_id
        self.queue: asyncio.Queue[BusEvent] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def offer(self, event: BusEvent) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def events(self) -> AsyncIterator[BusEvent]:
        while True:
            event = await self.queue.get()
            if event is _CLOSED:
                return
            yield event

    async def next(self, wait_s: float) -> BusEvent | None:
        """The next event, or None after `wait_s` seconds of quiet; raises StopAsyncIteration when the bus closes."""
        try:
            event = await asyncio.wait_for(self.queue.get(), wait_s)
        except TimeoutError:
            return None
        if event is _CLOSED:
            raise StopAsyncIteration
        return event


class Bus:
    def __init__(self) -> None:
        self._subs: dict[int, set[Subscription]] = {}
        self.closed = False

    @contextmanager
    def subscribe(self, workspace_id: int):
        sub = Subscription(workspace_id)
        self._subs.setdefault(workspace_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(workspace_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[workspace_id]

    def publish(self, workspace_id: int, name: str, **data: Any) -> BusEvent:
        """Deliver to every subscriber of this workspace (and no other). Must be called on the event loop."""
        event = BusEvent(name, data)
        for sub in self._subs.get(workspace_id, ()):
            sub.offer(event)
        return event

    def subscribers(self, workspace_id: int) -> int:
        return len(self._subs.get(workspace_id, ()))

    def close(self) -> None:
        """End every stream (so a shutdown does not wait for browsers to hang up)."""
        self.closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(_CLOSED)
