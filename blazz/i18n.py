"""Translations and locale-aware formatting.

Source strings are English and live in the code; each other language has catalogs in `blazz/locale/<lang>/*.po`
(one file per area of the product, merged at load, so areas can be translated independently). The locale of the
current request sits in a context variable the web layer sets, so services, templates and filters all read the same
one without passing it around. Placeholders use Python's `%(name)s` style, as Jinja's `{% trans %}` blocks do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gettext as _gettext
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES: dict[str, str] = {"en": "English", "id": "Bahasa Indonesia"}  # code -> name in that language
DEFAULT = "en"

_current: ContextVar[str] = ContextVar("blazz_locale", default=DEFAULT)


def current() -> str:
    return _current.get()


def activate(locale: str | None) -> None:
    """Make `locale` the language of the current request/task (an unknown one falls back to English)."""
    _current.set(locale if locale in LANGUAGES else DEFAULT)


@contextlib.contextmanager
def using(locale: str | None) -> Iterator[None]:
    token = _current.set(locale if locale in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def negotiate(accept_language: str | None) -> str:
    """The best supported language for a browser's Accept-Language header (English when nothing matches)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = tag.strip().lower().replace("_", "-").split("-")[0]
        if lang == "in":  # the old ISO code for Indonesian, still sent by some Android browsers
            lang = "id"
        if lang and quality > 0:
            ranked.append((-quality, i, lang))
    for _q, _i, lang in sorted(ranked):
        if lang in LANGUAGES:
            return lang
    return DEFAULT


# -- catalogs -----------------------------------------------------------------------------------------------------


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """Every `.po` of one language merged and compiled in memory (English is the source: no catalog)."""
    folder = LOCALE_DIR / locale
    if locale == DEFAULT or not folder.is_dir():
        return _gettext.NullTranslations()
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    merged = Catalog(locale=locale)
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale=locale):
                if message.id and _translated(message.string) and merged.get(message.id) is None:
                    merged.add(message.id, message.string)  # plural ids are (singular, plural)
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


JS_DIR = Path(__file__).parent / "assets" / "js"
_JS_CALL = re.compile(r"""\bt\((["'])((?:\\.|(?!\1).)+)\1""")


@cache
def js_messages() -> tuple[str, ...]:
    """The strings our scripts show, found as `t("...")` calls (so the page can hand scripts their translations)."""
    found: list[str] = []
    for path in sorted(JS_DIR.glob("*.js")):
        for match in _JS_CALL.finditer(path.read_text(encoding="utf-8")):
            text = match.group(2).encode().decode("unicode_escape")
            if text not in found:
                found.append(text)
    return tuple(found)


def js_catalog() -> dict[str, str]:
    """The scripts' strings in the current language (only those that differ from English)."""
    t = translations(current())
    return {m: t.gettext(m) for m in js_messages() if t.gettext(m) != m}


def _translated(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


def gettext(message: str, **params: Any) -> str:
    """`message` in the current language, with `%(name)s` placeholders filled from `params`."""
    text = translations(current()).gettext(message)
    return text % _localised(params) if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    """The singular or plural form for `n` (available as `%(num)s`, localised) in the current language."""
    text = translations(current()).ngettext(singular, plural, n)
    return text % _localised({"num": n, **params})


_ = gettext


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it now (module constants, labels shown later)."""
    return message


def _localised(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: number(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for k, v in params.items()}


# -- sentences stored in English ------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _sentence_pattern(msgid: str) -> re.Pattern[str]:
    """The English sentence as a regular expression whose named groups are its placeholders."""
    parts = _PLACEHOLDER.split(msgid)  # literal, name, literal, name, ..., literal
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)), re.S)


def most_specific_first(sentences: Iterable[str]) -> tuple[str, ...]:
    """Order sentences so one with more fixed words is tried before a looser one like "%(reason)s (%(detail)s)"."""
    return tuple(sorted(sentences, key=lambda s: -len(_PLACEHOLDER.sub("", s))))


def recognise(stored: str, sentences: Iterable[str]) -> tuple[str, dict[str, str]] | None:
    """Which of our English sentences `stored` is, and the values in it (None: not one of them).

    Work done outside any request (a worker, a scheduler) stores its reasons in English; pages show them in the
    reader's language by recognising the sentence and translating it with the values found again."""
    for msgid in sentences:
        found = _sentence_pattern(msgid).fullmatch(stored)
        if found:
            return msgid, found.groupdict()
    return None


# -- formatting ---------------------------------------------------------------------------------------------------


@cache
def _babel_locale(code: str) -> Any:
    """Babel's Locale for a code, parsed once (parsing it on every call was a tenth of a thread page's time)."""
    from babel import Locale

    return Locale.parse(code)


def _here() -> Any:
    return _babel_locale(current())


def number(value: float | int | None, digits: int | None = None) -> str:
    """1,234.5 in English, 1.234,5 in Indonesian."""
    if value is None:
        return ""
    from babel.numbers import format_decimal

    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_here())


def percent(value: float | None, digits: int = 0) -> str:
    """`value` is a fraction (0.25 -> 25%)."""
    if value is None:
        return ""
    from babel.numbers import format_percent

    return format_percent(value, format="#,##0" + ("." + "0" * digits if digits else "") + "%", locale=_here())


def date(value: dt.date | dt.datetime | float | int | None, fmt: str = "medium", tz: Any = None) -> str:
    """A date in the current language: 'medium' -> 26 Nov 2026, 'long', 'short', or a CLDR pattern."""
    if value is None or value == "":
        return ""
    from babel.dates import format_date

    return format_date(_as_datetime(value, tz), format=fmt, locale=_here())


def datetime(value: dt.datetime | float | int | None, fmt: str = "medium", tz: Any = None) -> str:
    if value is None or value == "":
        return ""
    from babel.dates import format_datetime

    formats = {"medium": "d MMM y, HH:mm", "short": "d MMM, HH:mm"}
    return format_datetime(_as_datetime(value, tz), format=formats.get(fmt, fmt), tzinfo=None, locale=_here())


def time_of_day(value: dt.datetime | float | int | None, tz: Any = None) -> str:
    if value is None or value == "":
        return ""
    from babel.dates import format_time

    return format_time(_as_datetime(value, tz), format="HH:mm", locale=_here())


def timedelta(seconds: float, *, add_direction: bool = False, threshold: float = 0.85) -> str:
    """'3 minutes' / '3 menit' (or 'in 3 minutes' / '3 minutes ago' with `add_direction`)."""
    from babel.dates import format_timedelta

    return format_timedelta(dt.timedelta(seconds=seconds), add_direction=add_direction, threshold=threshold,
                            format="long", locale=_here())


def _as_datetime(value: dt.date | dt.datetime | float | int, tz: Any) -> dt.datetime | dt.date:
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, dt.datetime) and tz is not None:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(tz)
    return value
