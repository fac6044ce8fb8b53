"""Server-side sessions that get a brand-new id at login (so a session id planted before login is worthless)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Message, ScopeSession

_NEW_ID = "blazz_new_session_id"


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


@dataclass
class SessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
