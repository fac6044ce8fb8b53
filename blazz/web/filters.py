"""Jinja filters and globals shared by every template (dates, initials, asset versions)."""

from __future__ import annotations

import datetime as dt
import time

from litestar.plugins.jinja import JinjaTemplateEngine

from blazz import __version__


def initials(name: str) -> str:
    parts = [p for p in (name or "").replace("@", " ").split() if p[:1].isalnum()]
    return ("".join(p[0] for p in parts[:2]) or "?").upper()


def timeago(ts: float | None) -> str:
    if not ts:
        return "never"
    delta = time.time() - ts
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    if delta < 7 * 86400:
        return f"{int(delta // 86400)} d ago"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d %b %Y")


def utc_iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def install(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(initials=initials, timeago=timeago, utc_iso=utc_iso)
    env.globals.update(version=__version__, static=lambda path: f"/static/{path}?v={__version__}")
    env.autoescape = True
