"""Phone numbers: parse what people type into E.164 with the phonenumbers library, and back into readable text.

A workspace may set a default region (e.g. "ID"): numbers typed in national format (0812-3456-7890) then belong to
it. Letters are refused outright, because phonenumbers would read them as keypad digits (1-800-FLOWERS).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from blazz import i18n
from blazz.errors import Invalid

# What may appear in a typed phone number besides digits: separators people use, and "+" for the country code.
_ALLOWED = re.compile(r"^[\s\d+\-().\/\u00a0\u2010-\u2015]*$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NOT_DIGIT = re.compile(r"\D")
MAX_INPUT = 40  # the longest sensible typed number with separators; anything longer is not a phone


def _digits(text: str) -> str:
    if text.isascii():
        return _NOT_DIGIT.sub("", text)
    # str.isdigit() accepts other scripts' digits (Arabic-Indic, Devanagari...); int() maps them to ASCII.
    return "".join(str(int(ch)) for ch in text if ch.isdigit())


def country_name(region: str | None) -> str:
    """The name of a region code in the current language ("DE" → "Germany" / "Jerman"), or the code when unknown."""
    return _country_name(region, i18n.current()) if region else ""


@lru_cache(maxsize=1024)
def _country_name(region: str, locale: str) -> str:
    name = ""
    if locale == i18n.DEFAULT:
        from phonenumbers import geocoder  # loaded on first use: its name tables are large

        name = geocoder._region_display_name(region, "en")
    if not name:
        from babel import Locale  # CLDR names: phonenumbers' own tables lack most languages (and a few regions)

        name = Locale.parse(locale).territories.get(region, "")
    return name or region


class _Country:
    """A region as an error message parameter: named in the language the message is read in, not raised in."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __str__(self) -> str:
        return country_name(self.region)


def check_region(region: str | None) -> str | None:
    """A region code as stored in settings: two uppercase letters phonenumbers knows, or None."""
    if region is None or not str(region).strip():
        return None
    code = str(region).strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise Invalid("default_region", "Choose a country from the list (two-letter code such as ID or MY).")
    return code


def regions() -> list[tuple[str, str, int]]:
    """Every region phonenumbers supports as (code, country name, calling code), sorted by name in the current
    language."""
    return list(_regions(i18n.current()))


@lru_cache(maxsize=4)
def _regions(locale: str) -> list[tuple[str, str, int]]:
    rows = [(code, _country_name(code, locale), phonenumbers.country_code_for_region(code))
            for code in phonenumbers.SUPPORTED_REGIONS]
    return sorted(rows, key=lambda r: (_sort_key(r[1]), r[1]))


def _sort_key(name: str) -> str:
    """Åland sorts with the A's, in every language."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


def normalise(raw: str | None, region: str | None = None) -> str:
    """The E.164 form of a typed number (`+6281234567890`), or `Invalid("phone", reason)` saying what is wrong."""
    text = (raw or "").strip()
    if not text:
        raise Invalid("phone", "Enter a phone number.")
    if len(text) > MAX_INPUT:
        raise Invalid("phone", "That is too long for a phone number.")
    if not _ALLOWED.match(text):
        if any(ch.isalpha() for ch in text):
            raise Invalid("phone", "A phone number cannot contain letters.")
        raise Invalid("phone", "Use only digits, spaces and + - ( ) . / in a phone number.")
    digits = _digits(text)
    if len(digits) < 4:  # the shortest real numbers have four digits (Niue, Tokelau)
        raise Invalid("phone", "That is too short for a phone number.")
    international = text.lstrip().startswith("+")
    if not international and digits.startswith("00"):
        # "00" is the international prefix in most of the world; people keep it even where the local one differs.
        candidate = _parse(f"+{digits[2:]}", None)
        if _valid(candidate):
            return _e164(candidate)
    if international:
        number = _parse(f"+{digits}", None)
    elif region:
        number = _parse(digits, region)
        if _valid(number):
            return _e164(number)
        # A number written with its country code but without the "+" (6012…, 4479…).
        candidate = _parse(f"+{digits}", None)
        if _valid(candidate):
            return _e164(candidate)
    else:
        # No region to read a national number with: accept it only if it already starts with a country code.
        number = _parse(f"+{digits}", None)
        if not _valid(number):
            raise Invalid("phone", "Add the country code (for example +62 812…), or set the workspace's phone region.")
        return _e164(number)
    if number is None:
        raise Invalid("phone", "That is not a phone number.")
    if not _valid(number):
        raise _why_invalid(number)
    return _e164(number)


def _valid(number: phonenumbers.PhoneNumber | None) -> bool:
    return number is not None and phonenumbers.is_valid_number(number)


def try_normalise(raw: str | None, region: str | None = None) -> str | None:
    try:
        return normalise(raw, region)
    except Invalid:
        return None


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    if number.italian_leading_zero:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return f"+{number.country_code}{number.national_number}"


def _why_invalid(number: phonenumbers.PhoneNumber) -> Invalid:
    region = phonenumbers.region_code_for_number(number)
    known = bool(region) and region != "001"  # 001: non-geographic numbers (satellite phones...)
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return Invalid("phone", "That country code does not exist.")
    if reason == ValidationResult.TOO_SHORT:
        if known:
            return Invalid("phone", "That number is too short for %(country)s.", country=_Country(region))
        return Invalid("phone", "That number is too short.")
    if reason in (ValidationResult.TOO_LONG, ValidationResult.INVALID_LENGTH):
        if known:
            return Invalid("phone", "That number has the wrong length for %(country)s.", country=_Country(region))
        return Invalid("phone", "That number has the wrong length.")
    if known:
        return Invalid("phone", "That is not a valid number for %(country)s.", country=_Country(region))
    return Invalid("phone", "That is not a valid number.")


def is_e164(phone: str | None) -> bool:
    return bool(phone) and bool(_E164.match(phone))


@lru_cache(maxsize=65_536)  # a list page shows 50 numbers; formatting one costs ~0.1 ms, a hit ~0.1 µs
def display(phone: str | None) -> str:
    """A stored E.164 number as people read it: `+62 812-3456-7890`."""
    if not phone:
        return ""
    number = _parse(phone, None)
    if number is None:
        return phone
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def search_digits(query: str, region: str | None = None) -> list[str]:
    """Digit strings to look for inside stored numbers when someone searches for a phone typed any way.

    `0812 3456` with region ID gives ["08123456", "628123456"]: the national prefix swapped for the country code.
    """
    if not _ALLOWED.match(query or ""):
        return []
    digits = _digits(query)
    if len(digits) < 3:
        return []
    found = [digits]
    full = try_normalise(query, region)
    if full:
        found.append(full[1:])
    elif digits.startswith("00") and len(digits) > 4:
        found.append(digits[2:])
    elif region and not query.strip().startswith("+"):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = meta.national_prefix if meta else None
        if prefix and digits.startswith(prefix) and len(digits) > len(prefix) + 2:
            found.append(f"{meta.country_code}{digits[len(prefix):]}")
    elif digits.startswith("0") and len(digits) > 3 and not query.strip().startswith("+"):
        found.append(digits[1:])  # no region known: drop the trunk 0 most countries write before national numbers
    return list(dict.fromkeys(found))
