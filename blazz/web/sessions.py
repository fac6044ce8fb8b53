"""Server-side sessions that get a brand-new id at login (so a session id planted before login is worthless)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Message, ScopeSession

_NEW_ID = "blazz_new_session_id"
# An unchanged session is written back at most this often: every request used to rewrite its file (two thread hops
# and a rename on the inbox's hottest paths) only to slide its expiry, which a 14-day session needs far more rarely.
RENEW_EVERY_S = 600
_REMEMBERED = 10_000  # sessions whose last write is remembered (oldest forgotten first)


def rotate_session_id(connection: ASGIConnection) -> None:
    """Ask the session backend to store this request's session under a fresh id and drop the old one."""
    connection.state[_NEW_ID] = secrets.token_hex(32)


class RotatingSessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection) -> str:
        return connection.state.get(_NEW_ID) or super().get_session_id(connection)

    async def store_in_message(self, scope_session: ScopeSession, message: Message, connection: ASGIConnection) -> None:
        old = connection.cookies.get(self.config.key)
        if connection.state.get(_NEW_ID) and old and old != "null":
            await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)

    async def set(self, session_id: str, data: bytes, store: Store) -> None:
        recent = self.config.written  # type: ignore[attr-defined]
        now = time.monotonic()
        last = recent.get(session_id)
        if last is not None and last[0] == data and now - last[1] < RENEW_EVERY_S:
            return
        await super().set(session_id, data, store)
        recent.pop(session_id, None)
        recent[session_id] = (data, now)
        if len(recent) > _REMEMBERED:
            del recent[next(iter(recent))]

    async def delete(self, session_id: str, store: Store) -> None:
        self.config.written.pop(session_id, None)  # type: ignore[attr-defined]
        await super().delete(session_id, store)


@dataclass
class SessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
    written: dict[str, tuple[bytes, float]] = field(default_factory=dict, repr=False)  # session id -> (data, when)
