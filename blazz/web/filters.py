"""Jinja filters and globals shared by every template (dates, initials, asset versions)."""

from __future__ import annotations

import datetime as dt
import time

from litestar.plugins.jinja import JinjaTemplateEngine
from markupsafe import Markup, escape

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


def timeuntil(ts: float | None) -> str:
    if not ts:
        return ""
    delta = ts - time.time()
    if delta <= 0:
        return "expired"
    if delta < 3600:
        return f"in {max(1, int(delta // 60))} min"
    if delta < 86400:
        return f"in {int(delta // 3600)} h"
    days = round(delta / 86400)
    return f"in {days} day{'s' if days != 1 else ''}"


def utc_iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def qr_svg(text: str, label: str = "QR code") -> Markup:
    """A QR code as inline SVG without a fixed size (its box sizes it), dark modules on the box's white."""
    import segno  # only pages that show a QR code pay for it

    svg = segno.make_qr(text, error="l").svg_inline(scale=1, border=0, omitsize=True, dark="#111b21", svgclass=None,
                                                   lineclass=None)
    attrs = f'role="img" aria-label="{escape(label)}" shape-rendering="crispEdges"'
    return Markup(svg.replace("<svg ", f"<svg {attrs} ", 1))


def install(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(initials=initials, timeago=timeago, timeuntil=timeuntil, utc_iso=utc_iso, qr_svg=qr_svg)
    env.globals.update(version=__version__, static=lambda path: f"/static/{path}?v={__version__}")
    env.autoescape = True
