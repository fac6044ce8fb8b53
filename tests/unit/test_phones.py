"""Phone normalisation: property tests over real numbers of every region phonenumbers knows, plus the odd inputs."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from blazz import phones
from blazz.errors import Invalid

REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS
                 if phonenumbers.example_number_for_type(r, PhoneNumberType.MOBILE) is not None)
SEPARATORS = st.sampled_from([" ", "-", ".", "", "  ", " - ", "/"])


@st.composite
def valid_numbers(draw) -> tuple[str, phonenumbers.PhoneNumber]:
    """A valid mobile number of some region: the region's example with its last digits redrawn."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    national = str(example.national_number)
    keep = max(len(national) - 4, 1)
    tail = draw(st.text("0123456789", min_size=len(national) - keep, max_size=len(national) - keep))
    number = phonenumbers.parse(f"+{example.country_code}{national[:keep]}{tail}")
    assume(phonenumbers.is_valid_number(number))
    assume(not number.italian_leading_zero)
    # A few ranges (Gabon's old numbers) do not survive phonenumbers' own national-format round trip; skip those.
    national_text = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    assume(phonenumbers.parse(national_text, region) == number)
    return region, number


def spaced(text: str, data: st.DataObject) -> str:
    """The same digits with separators people type dropped in between."""
    out = []
    for ch in text:
        out.append(ch)
        if ch.isdigit() and data.draw(st.booleans()):
            out.append(data.draw(SEPARATORS))
    return "".join(out).strip()


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(valid_numbers(), st.data())
def test_every_written_form_of_a_number_gives_the_same_e164(case, data):
    region, number = case
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    assert phones.normalise(e164) == e164
    assert phones.normalise(international) == e164
    assert phones.normalise(spaced(e164, data)) == e164
    assert phones.normalise(national, region) == e164, "national format with the workspace's region"
    assert phones.normalise("00" + e164[1:], region) == e164 or region in ("US", "CA"), "the 00 prefix"


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(valid_numbers())
def test_normalising_is_idempotent_and_always_e164(case):
    region, number = case
    once = phones.normalise(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), region)
    assert phones.normalise(once) == once
    assert phones.normalise(once, "US") == once, "a + number ignores the default region"
    assert phones.is_e164(once)


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=60))
def test_any_text_is_either_e164_or_a_clear_refusal(text):
    try:
        result = phones.normalise(text, "ID")
    except Invalid as exc:
        assert exc.field == "phone" and exc.message.endswith(".")
    else:
        assert phones.is_e164(result)
        assert phonenumbers.is_valid_number(phonenumbers.parse(result))


@settings(deadline=None, max_examples=200)
@given(st.text("0123456789 -+()", min_size=1, max_size=8), st.text(st.characters(categories=("Lu", "Ll")), min_size=1,
                                                                     max_size=3))
def test_letters_are_never_read_as_keypad_digits(digits, letters):
    with pytest.raises(Invalid, match="letters"):
        phones.normalise(digits + letters + "7890", "ID")


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(valid_numbers(), st.integers(min_value=0, max_value=6), st.integers(min_value=3, max_value=8), st.data())
def test_searching_any_run_of_digits_finds_the_stored_number(case, start, length, data):
    _, number = case
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    run = e164[1:][start:start + length]
    assume(len(run) >= 3)
    wanted = phones.search_digits(spaced(run, data), None)
    assert any(w in e164 for w in wanted)


def test_indonesian_examples():
    assert phones.normalise("0812-3456-7890", "ID") == "+6281234567890"
    assert phones.normalise("+62 812 3456 7890") == "+6281234567890"
    assert phones.normalise("6281234567890") == "+6281234567890", "country code without the +"
    assert phones.normalise("(0812) 3456.7890", "ID") == "+6281234567890"
    assert phones.normalise("٠٨١٢٣٤٥٦٧٨٩٠", "ID") == "+6281234567890", "Arabic-Indic digits"
    assert phones.normalise("60123456789", "ID") == "+60123456789", "a Malaysian number written without +"
    assert phones.display("+6281234567890") == "+62 812-3456-7890"


@pytest.mark.parametrize("text, message", [
    ("", "Enter a phone number"),
    ("0812-ABC-7890", "letters"),
    ("1-800-FLOWERS", "letters"),
    ("0812 3456 7890", "country code"),
    ("12", "too short"),
    ("+62 812", "too short for Indonesia"),
    ("+62 999 1234 5678", "not a valid number for Indonesia"),
    ("1" * 41, "too long"),
    ("+62 812 3456 7890 ext. 5", "letters"),
    ("0812#3456", "Use only digits"),
])
def test_bad_numbers_say_why(text, message):
    with pytest.raises(Invalid) as err:
        phones.normalise(text)
    assert message.lower() in err.value.message.lower()


def test_search_digits_swaps_the_national_prefix_for_the_country_code():
    assert phones.search_digits("0812 3456", "ID") == ["08123456", "628123456"]
    assert phones.search_digits("3456-7890", None) == ["34567890"]
    assert phones.search_digits("budi", "ID") == []
    assert phones.search_digits("12", "ID") == [], "too few digits to search by"


def test_regions_and_region_check():
    codes = {code for code, _, _ in phones.regions()}
    assert {"ID", "MY", "SG", "US"} <= codes
    assert phones.check_region(" id ") == "ID"
    assert phones.check_region("") is None
    with pytest.raises(Invalid):
        phones.check_region("XX")
