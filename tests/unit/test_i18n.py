"""Languages: every UI string goes through the translation layer and has its Bahasa Indonesia translation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from blazz import i18n
from blazz.errors import Invalid

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("blazz_i18n_tool", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _tool()


def test_every_string_is_marked_and_translated_into_indonesian():
    problems = tool.problems("id")
    assert not problems, f"{len(problems)} translation problems (python scripts/i18n.py check):\n" + "\n".join(
        problems[:60])


def test_the_check_catches_bare_text_and_accepts_marked_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<h1>Contacts</h1><input placeholder="Search by name">'
                    '<p>{{ _("Marked") }} {{ count }} · WhatsApp</p>{% trans %}Also marked{% endtrans %}'
                    '<script>var x = "not shown";</script><button title="{{ _(\'Close\') }}">×</button>')
    bare = [text for _line, text in tool.bare_template_text(page)]
    assert bare == ["Contacts", "Search by name"]


def test_the_check_catches_untranslatable_error_messages(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('def f(n):\n    raise Invalid("x", f"At most {n}.")\n\n'
                      'def g(n):\n    raise Invalid("x", "At most %(n)s.", n=n)\n')
    assert tool.f_string_errors(module) == [(2, "Invalid")]


def test_the_browser_language_picks_the_default():
    assert i18n.negotiate("id-ID,id;q=0.9,en-US;q=0.8") == "id"
    assert i18n.negotiate("en-GB,id;q=0.5") == "en"
    assert i18n.negotiate("fr-FR,in;q=0.5") == "id", "Android's old code for Indonesian"
    assert i18n.negotiate("de, fr;q=0.9") == "en"
    assert i18n.negotiate("id;q=0, en;q=0.1") == "en"
    assert i18n.negotiate(None) == "en" and i18n.negotiate("garbage;;q=x") == "en"


def test_messages_numbers_and_dates_follow_the_language():
    error = Invalid("text", "WhatsApp messages can be at most %(max)s characters; this one has %(count)s.",
                    max=4096, count=5000)
    with i18n.using("en"):
        assert error.message == "WhatsApp messages can be at most 4,096 characters; this one has 5,000."
        assert i18n.number(1234.5) == "1,234.5" and i18n.percent(0.256) == "26%"
        assert i18n.date(1790000000) == "Sep 21, 2026"
    with i18n.using("id"):
        assert error.message.startswith("Pesan WhatsApp") and "4.096" in error.message and "5.000" in error.message
        assert error.details == {"text": error.message}
        assert i18n.number(1234.5) == "1.234,5" and i18n.percent(0.256) == "26%"
        assert i18n.date(1790000000) == "21 Sep 2026"
        assert i18n.timedelta(-180, add_direction=True) == "3 menit yang lalu"
    assert str(error).startswith("WhatsApp messages"), "logs keep the English text"


def test_an_unknown_language_falls_back_to_english():
    with i18n.using("xx"):
        assert i18n.current() == "en" and i18n.gettext("Save") == "Save"


@pytest.mark.parametrize("text", ["Save", "Cancel", "Contacts", "Search"])
def test_common_words_have_their_glossary_translation(text):
    expected = {"Save": "Simpan", "Cancel": "Batal", "Contacts": "Kontak", "Search": "Cari"}[text]
    with i18n.using("id"):
        assert i18n.gettext(text) == expected
