"""Jinja filters and globals shared by every template (dates, initials, asset versions)."""

from __future__ import annotations

import datetime as dt
import json
import time

from litestar.plugins.jinja import JinjaTemplateEngine
from markupsafe import Markup, escape

from blazz import __version__, i18n, workspaces
from blazz.i18n import gettext as _


def initials(name: str) -> str:
    parts = [p for p in (name or "").replace("@", " ").split() if p[:1].isalnum()]
    return ("".join(p[0] for p in parts[:2]) or "?").upper()


def timeago(ts: float | None) -> str:
    """'3 minutes ago' in the reader's language; a date once it is more than a week old."""
    if not ts:
        return _("never")
    delta = time.time() - ts
    if delta < 60:
        return _("just now")
    if delta < 7 * 86400:
        return i18n.timedelta(-delta, add_direction=True)
    return i18n.date(ts)


def timeuntil(ts: float | None) -> str:
    if not ts:
        return ""
    delta = ts - time.time()
    if delta <= 0:
        return _("expired")
    return i18n.timedelta(max(delta, 60), add_direction=True)


def role(code: str | None) -> str:
    """A member's role ("owner", "admin", "agent") as the reader calls it."""
    label = workspaces.ROLE_LABELS.get(code or "")
    return _(label) if label else (code or "")


def utc_iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def qr_svg(text: str, label: str | None = None) -> Markup:
    """A QR code as inline SVG without a fixed size (its box sizes it), dark modules on the box's white."""
    import segno  # only pages that show a QR code pay for it

    svg = segno.make_qr(text, error="l").svg_inline(scale=1, border=0, omitsize=True, dark="#111b21", svgclass=None,
                                                   lineclass=None)
    label = label or _("QR code")
    attrs = f'role="img" aria-label="{escape(label)}" shape-rendering="crispEdges"'
    return Markup(svg.replace("<svg ", f"<svg {attrs} ", 1))


def js_catalog() -> Markup:
    """The scripts' translations as JSON for a `<script type="application/json">` (safe inside HTML)."""
    return Markup(json.dumps(i18n.js_catalog(), ensure_ascii=False).replace("</", "<\\/"))


def install(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(initials=initials, timeago=timeago, timeuntil=timeuntil, utc_iso=utc_iso, qr_svg=qr_svg,
                       role=role, number=i18n.number, percent=i18n.percent, date=i18n.date, datetime=i18n.datetime,
                       time=i18n.time_of_day)
    # `{{ _("Text") }}`, `{{ _("%(n)s left", n=3) }}` and `{% trans %}` blocks, in the current request's language.
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.translations(i18n.current()).gettext(message),
        lambda singular, plural, n: i18n.translations(i18n.current()).ngettext(singular, plural, n),
        newstyle=True,
    )
    env.globals.update(locale=i18n.current, languages=i18n.LANGUAGES, js_catalog=js_catalog)
    env.globals.update(version=__version__, static=lambda path: f"/static/{path}?v={__version__}")
    env.autoescape = True
    env.auto_reload = False  # templates ship inside the package: no stat() of each template on every render
