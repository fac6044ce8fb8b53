"""Picks each request's language: the signed-in person's choice, else the browser's Accept-Language."""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

from blazz import i18n


class LocaleMiddleware:
    """Runs after authentication (so `scope["user"]` is known) and sets `blazz.i18n`'s context for the request:
    handlers, services, templates and error pages rendered inside it all speak the same language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            i18n.activate(locale_for(scope))
        await self.app(scope, receive, send)


def locale_for(scope: Scope) -> str:
    user = scope.get("user")
    chosen = getattr(user, "locale", None)
    if chosen in i18n.LANGUAGES:
        return chosen
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            return i18n.negotiate(value.decode("latin-1"))
    return i18n.DEFAULT
