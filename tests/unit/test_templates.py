"""Local message templates on a real workspace file: variables, fallbacks, variants, footer, media header, unknown
variables, previews for a contact, and the checks on what is saved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blazz import contacts, custom_fields, media, templates
from blazz.errors import Conflict, Invalid, NotFound
from blazz.templates import TemplateInput
from blazz.workspaces import Workspace
from tests.unit.test_contacts import open_workspace

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture
async def ws(tmp_path: Path) -> AsyncIterator[Workspace]:
    async with open_workspace(tmp_path) as workspace:
        yield workspace


def test_variables_are_replaced_with_fallbacks_for_missing_values():
    values = {"first_name": "", "name": "Budi Santoso", "city": "Medan"}
    assert templates.render("Halo {{first_name|Kak}}, promo di {{ city }}!", values) == "Halo Kak, promo di Medan!"
    assert templates.render("Halo {{name}}", values) == "Halo Budi Santoso"
    assert templates.render("Hi {{First_Name|there}}", values) == "Hi there"  # names are not case-sensitive


def test_an_empty_value_without_fallback_leaves_no_dangling_space():
    assert templates.render("Halo {{first_name}}, apa kabar?", {"first_name": ""}) == "Halo, apa kabar?"
    assert templates.render("Terima kasih {{first_name}}", {"first_name": ""}) == "Terima kasih"
    assert templates.render("Halo {{first_name}} dan keluarga", {"first_name": ""}) == "Halo dan keluarga"


def test_unknown_and_malformed_variables_stay_visible_and_are_named():
    text = "Halo {{frist_name}}, kode {{kode promo}} {{}}"
    parts = templates.render_parts(text, {"first_name": "Budi"})
    assert [p.text for p in parts if p.kind == "unknown"] == ["{{frist_name}}", "{{kode promo}}", "{{}}"]
    assert templates.render(text, {"first_name": "Budi"}) == text
    assert templates.unknown_in([text], ["first_name"]) == ["frist_name", "kode promo", ""]
    assert templates.variables_in(["{{a}} {{b|x}}", "{{a}}"]) == ["a", "b"]


def test_compose_puts_the_footer_in_its_own_paragraph():
    assert templates.compose("Halo {{name}}", "Balas STOP untuk berhenti", {"name": "Sari"}) == \
        "Halo Sari\n\nBalas STOP untuk berhenti"
    assert templates.compose("Halo", "", {}) == "Halo"


async def test_a_template_renders_for_a_contact_with_custom_fields_and_rotates_variants(ws):
    await custom_fields.create_field(ws, "City", "text")
    budi, _ = await contacts.create(ws, {"phone": "0812-1111-2222", "name": "Budi Santoso",
                                         "fields": {"city": "Medan"}})
    t = await templates.create(ws, TemplateInput(
        name="Promo", body="Halo {{first_name|Kak}} di {{city|kota Anda}}",
        variants=("Hai {{first_name}}, ada promo di {{city}}", "Selamat pagi {{name}}"), footer="Balas STOP"))
    assert t.bodies[0].startswith("Halo") and len(t.bodies) == 3
    first = await templates.render_for(ws, t.id, budi.id, variant=0)
    assert first.text == "Halo Budi di Medan\n\nBalas STOP" and first.unknown == []
    assert (await templates.render_for(ws, t.id, budi.id, variant=1)).text.startswith("Hai Budi, ada promo di Medan")
    assert (await templates.render_for(ws, t.id, budi.id, variant=5)).variant == 2  # wraps around
    rotated = await templates.render_for(ws, t.id, budi.id)
    assert rotated.variant == budi.id % 3


async def test_preview_shows_unknown_variables_and_uses_example_values_without_a_contact(ws):
    preview = await templates.preview(ws, ["Halo {{first_name}} dari {{kota}}"], "Salam")
    assert preview.unknown == ["kota"] and preview.contact is None
    assert [p.text for p in preview.variants[0]] == ["Halo ", "Budi", " dari ", "{{kota}}"]
    assert [p.kind for p in preview.footer] == ["text"]
    sari, _ = await contacts.create(ws, {"phone": "0812-3333-4444", "name": "Sari"})
    shown = await templates.preview(ws, ["Halo {{first_name}}"], contact_id=sari.id)
    assert shown.contact.id == sari.id and [p.text for p in shown.variants[0]] == ["Halo ", "Sari"]


async def test_check_known_names_the_unknown_variable(ws):
    await templates.check_known(ws, ["Halo {{first_name|Kak}} {{phone}} {{email}} {{last_name}}"])
    with pytest.raises(Invalid) as err:
        await templates.check_known(ws, ["Halo {{first_name}} {{kota}}"])
    assert "{{kota}}" in err.value.message and err.value.field == "body"
    await custom_fields.create_field(ws, "Kota", "text")
    await templates.check_known(ws, ["Halo {{kota}}"])


async def test_bad_template_input_is_refused_with_the_field(ws):
    cases = [
        (TemplateInput(name="", body="x"), "name"),
        (TemplateInput(name="x" * 81, body="x"), "name"),
        (TemplateInput(name="Empty", body="  "), "body"),
        (TemplateInput(name="Long", body="x" * 4097), "body"),
        (TemplateInput(name="Footer", body="x", footer="f" * 61), "footer"),
        (TemplateInput(name="Many", body="a", variants=("b", "c", "d")), "variants"),
        (TemplateInput(name="Fallback", body="{{first_name|" + "k" * 101 + "}}"), "body"),
        (TemplateInput(name="No file", body="x", media_id=999), "media_id"),
    ]
    for data, field in cases:
        with pytest.raises(Invalid) as err:
            await templates.create(ws, data)
        assert err.value.field == field, data
    # An unknown variable is not refused at save time: the preview shows it and a launch names it.
    saved = await templates.create(ws, TemplateInput(name="Typo", body="Halo {{frist_name}}"))
    assert saved.body == "Halo {{frist_name}}"


async def test_names_are_unique_until_a_template_is_deleted(ws):
    t = await templates.create(ws, TemplateInput(name="Welcome", body="Halo"))
    with pytest.raises(Conflict):
        await templates.create(ws, TemplateInput(name="welcome", body="Hi"))
    other = await templates.create(ws, TemplateInput(name="Other", body="Hi"))
    with pytest.raises(Conflict):
        await templates.update(ws, other.id, TemplateInput(name="WELCOME", body="Hi"))
    await templates.delete(ws, t.id)
    with pytest.raises(NotFound):
        await templates.get(ws, t.id)
    again = await templates.create(ws, TemplateInput(name="Welcome", body="Halo lagi"))
    assert again.id != t.id and [x.name for x in await templates.list_all(ws)] == ["Other", "Welcome"]


async def test_a_media_header_is_kept_and_empty_variants_are_dropped(ws):
    stored = await media.store_upload(ws, PNG, "promo.png")
    t = await templates.create(ws, TemplateInput(name="Poster", body="Lihat promo kami", variants=("", "  "),
                                                 media_id=stored.id))
    assert t.media_id == stored.id and t.variants == ()
    sari, _ = await contacts.create(ws, {"phone": "0812-5555-6666", "name": "Sari"})
    assert (await templates.render_for(ws, t.id, sari.id)).media_id == stored.id
    updated = await templates.update(ws, t.id, TemplateInput(name="Poster", body="Baru", media_id=None))
    assert updated.media_id is None and updated.body == "Baru"


async def test_a_whole_template_renders_as_body_and_footer(ws):
    t = await templates.create(ws, TemplateInput(name="Thanks", body="Terima kasih {{first_name|Kak}}",
                                                 footer="Toko Sinar"))
    assert templates.render(t, {"first_name": ""}) == "Terima kasih Kak\n\nToko Sinar"
