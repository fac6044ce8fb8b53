"""The contacts service on a real workspace file: phones, soft delete and restore, search, groups, fields, merge."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from blazz import contact_groups, contact_merge, contacts, custom_fields, workspace_settings
from blazz.errors import Conflict, Invalid, NotFound
from blazz.store.registry import workspace_database
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS
from blazz.workspaces import Workspace


@asynccontextmanager
async def open_workspace(folder: Path) -> AsyncIterator[Workspace]:
    """A migrated workspace database with Indonesia as its phone region."""
    path = folder / "workspace.db"
    WORKSPACE_MIGRATIONS.apply(path)
    db = workspace_database(path)
    await db.open()
    await workspace_settings.update(db, default_region="ID")
    try:
        yield Workspace(1, "toko", "Toko", db, folder)
    finally:
        await db.close()


@pytest.fixture
async def ws(tmp_path: Path) -> AsyncIterator[Workspace]:
    async with open_workspace(tmp_path) as workspace:
        yield workspace


async def names(ws: Workspace, **filters) -> list[str]:
    page = await contacts.list_contacts(ws, contacts.Filters(**filters))
    return [c.name for c in page.contacts]


async def test_phone_is_stored_as_e164_with_the_workspace_region(ws):
    contact, restored = await contacts.create(ws, {"phone": "0812-3456-7890", "name": "Budi Santoso"})
    assert contact.phone == "+6281234567890" and not restored
    assert (contact.first_name, contact.last_name) == ("Budi", "Santoso")


async def test_one_contact_per_phone_whatever_the_format(ws):
    first, _ = await contacts.create(ws, {"phone": "+62 812 3456 7890", "name": "Budi"})
    with pytest.raises(Conflict) as err:
        await contacts.create(ws, {"phone": "0812 3456 7890", "name": "Budi again"})
    assert err.value.details["contact_id"] == first.id


async def test_re_adding_a_deleted_phone_restores_that_contact(ws):
    first, _ = await contacts.create(ws, {"phone": "081234567890", "name": "Budi", "groups": ["VIP"]})
    assert await contacts.delete(ws, [first.id]) == 1
    assert await names(ws) == []
    assert await names(ws, deleted=True) == ["Budi"]
    again, restored = await contacts.create(ws, {"phone": "+6281234567890", "name": "Budi Baru", "email": ""})
    assert restored and again.id == first.id and again.deleted_at is None
    assert again.name == "Budi Baru"
    assert await contact_groups.group_ids_of(ws, again.id), "groups came back with it"


async def test_changing_phone_to_a_taken_or_binned_number_is_refused(ws):
    a, _ = await contacts.create(ws, {"phone": "081111111111", "name": "A"})
    b, _ = await contacts.create(ws, {"phone": "082222222222", "name": "B"})
    with pytest.raises(Conflict):
        await contacts.update(ws, b.id, {"phone": "0811-1111-1111"})
    await contacts.delete(ws, [a.id])
    with pytest.raises(Conflict, match="bin"):
        await contacts.update(ws, b.id, {"phone": "0811-1111-1111"})


async def test_bin_is_emptied_after_thirty_days_only(ws):
    old, _ = await contacts.create(ws, {"phone": "081111111111", "name": "Old"})
    recent, _ = await contacts.create(ws, {"phone": "082222222222", "name": "Recent"})
    await contacts.delete(ws, [old.id, recent.id])
    day = 86_400
    await ws.db.execute_write("UPDATE contacts SET deleted_at = ? WHERE id = ?", (int(time.time()) - 31 * day, old.id))
    assert await contacts.purge_expired(ws) == 1
    with pytest.raises(NotFound):
        await contacts.get(ws, old.id)
    assert (await contacts.get(ws, recent.id)).deleted_at
    again, restored = await contacts.create(ws, {"phone": "081111111111", "name": "New"})
    assert not restored and again.id != old.id


async def test_search_by_name_email_and_phone_in_any_format(ws):
    await contacts.create(ws, {"phone": "0812-3456-7890", "name": "Budi Santoso", "email": "budi@toko.id"})
    await contacts.create(ws, {"phone": "+60 12-345 6789", "name": "Siti Aminah"})
    await contacts.create(ws, {"phone": "+6281299998888", "name": "Dewi Lestari", "email": "dewi@mail.id"})
    assert await names(ws, q="bud") == ["Budi Santoso"]
    assert await names(ws, q="santoso") == ["Budi Santoso"]
    assert await names(ws, q="dewi@mail") == ["Dewi Lestari"]
    for typed in ("0812 3456 7890", "+62 812-3456-7890", "6281234567890", "3456-7890", "(0812) 3456"):
        assert await names(ws, q=typed) == ["Budi Santoso"], typed
    assert await names(ws, q="012 345") == ["Siti Aminah"], "digits in the middle of a foreign number"
    assert await names(ws, q="budi 7890") == ["Budi Santoso"], "words and digits narrow each other"
    assert await names(ws, q="dewi 7890") == []
    assert await names(ws, q="s") == ["Siti Aminah"], "one letter: names starting with it"
    assert await names(ws, q='"*) OR (') == [], "search syntax is not passed through"


async def test_filters_sort_and_cursor_pages(ws):
    vip = await contact_groups.create_group(ws, "VIP")
    for i in range(7):
        c, _ = await contacts.create(ws, {"phone": f"08123456780{i}", "name": f"Person {i}"})
        if i % 2:
            await contact_groups.add_to_group(ws, [c.id], vip.id)
        if i == 3:
            await contacts.set_favourite(ws, c.id, True)
            await contacts.set_opted_out(ws, c.id, True, "Asked by phone")
    assert await names(ws, group_id=vip.id) == ["Person 1", "Person 3", "Person 5"]
    assert await names(ws, favourite=True) == ["Person 3"]
    assert await names(ws, opted_out=True) == ["Person 3"]
    assert len(await names(ws, opted_out=False)) == 6
    assert (await names(ws, sort="-name"))[0] == "Person 6"
    seen, cursor = [], None
    while True:
        page = await contacts.list_contacts(ws, contacts.Filters(sort="-created"), cursor, limit=3)
        seen += [c.name for c in page.contacts]
        assert page.total == 7 or cursor is not None
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == [f"Person {i}" for i in range(7)] and len(seen) == 7
    with pytest.raises(Invalid):
        await contacts.list_contacts(ws, contacts.Filters(), "not-a-cursor")


async def test_custom_fields_are_validated_by_type(ws):
    await custom_fields.create_field(ws, "City", "select", ["Jakarta", "Medan"])
    await custom_fields.create_field(ws, "Birthday", "date")
    await custom_fields.create_field(ws, "Points", "number")
    await custom_fields.create_field(ws, "Newsletter", "checkbox")
    await custom_fields.create_field(ws, "Website", "url")
    await custom_fields.create_field(ws, "Work email", "email")
    c, _ = await contacts.create(ws, {"phone": "081234567890", "fields": {
        "city": "medan", "birthday": "31/03/1990", "points": "1500", "newsletter": "ya",
        "website": "toko.id", "work_email": "Budi@Kantor.ID"}})
    assert c.fields == {"city": "Medan", "birthday": "1990-03-31", "points": 1500, "newsletter": True,
                        "website": "https://toko.id", "work_email": "budi@kantor.id"}
    for key, bad in (("city", "Bandung"), ("birthday", "31-31-1990"), ("points", "lots"), ("newsletter", "maybe"),
                     ("website", "javascript:alert(1)"), ("work_email", "nope"), ("unknown", "x")):
        with pytest.raises(Invalid) as err:
            await contacts.update(ws, c.id, {"fields": {key: bad}})
        assert err.value.field == key
    updated = await contacts.update(ws, c.id, {"fields": {"points": "", "city": "Jakarta"}})
    assert "points" not in updated.fields and updated.fields["city"] == "Jakarta"
    assert await names(ws, field_key="city", field_value="jakarta") == [""]
    assert contacts.template_variables(updated, await custom_fields.fields(ws))["newsletter"] == "yes"


async def test_field_keys_are_checked_and_deleting_a_field_clears_its_values(ws):
    with pytest.raises(Invalid):
        await custom_fields.create_field(ws, "Phone", "text")  # its key would be a built-in one
    with pytest.raises(Invalid):
        await custom_fields.create_field(ws, "Colour", "select", [])
    with pytest.raises(Invalid):
        await custom_fields.create_field(ws, "X", "money")
    spec = await custom_fields.create_field(ws, "Kota Asal", "text")
    assert spec.key == "kota_asal"
    with pytest.raises(Conflict):
        await custom_fields.create_field(ws, "Kota asal", "text")
    c, _ = await contacts.create(ws, {"phone": "081234567890", "fields": {"kota_asal": "Solo"}})
    await custom_fields.delete_field(ws, spec.id)
    assert (await contacts.get(ws, c.id)).fields == {}


async def test_groups_names_are_unique_without_case_and_deleting_keeps_contacts(ws):
    group = await contact_groups.create_group(ws, "Pelanggan Setia", "#AABBCC")
    assert group.color == "#aabbcc"
    with pytest.raises(Conflict):
        await contact_groups.create_group(ws, "pelanggan setia")
    with pytest.raises(Invalid):
        await contact_groups.create_group(ws, "   ")
    with pytest.raises(Invalid):
        await contact_groups.update_group(ws, group.id, "Setia", "red")
    c, _ = await contacts.create(ws, {"phone": "081234567890", "groups": [str(group.id), "Baru"]})
    assert len(await contact_groups.group_ids_of(ws, c.id)) == 2
    await contact_groups.delete_group(ws, group.id)
    assert len(await contact_groups.group_ids_of(ws, c.id)) == 1
    assert (await contacts.get(ws, c.id)).deleted_at is None


async def test_opt_out_by_hand_and_by_keyword(ws):
    c, _ = await contacts.create(ws, {"phone": "081234567890"})
    words = (await workspace_settings.load(ws.db)).opt_out_words
    assert contacts.is_opt_out_text(" stop! ", words) and contacts.is_opt_out_text("Berhenti.", words)
    assert not contacts.is_opt_out_text("please don't stop", words)
    assert await contacts.opt_out_from_message(ws, c.id, "STOP")
    out = await contacts.get(ws, c.id)
    assert out.opted_out_at and out.opted_out_reason == "Replied STOP"
    assert not await contacts.opt_out_from_message(ws, c.id, "stop"), "already opted out"
    back = await contacts.set_opted_out(ws, c.id, False)
    assert back.opted_out_at is None
    again = await contacts.set_opted_out(ws, c.id, True, "")
    assert again.opted_out_reason == "Marked by hand"
    await workspace_settings.update(ws.db, opt_out_words="keluar, unsubscribe")
    assert (await workspace_settings.load(ws.db)).opt_out_words == ("KELUAR", "UNSUBSCRIBE")


async def test_merge_moves_conversations_groups_and_keeps_opt_out(ws):
    keep, _ = await contacts.create(ws, {"phone": "081111111111", "name": "Budi", "notes": "Likes batik"})
    drop, _ = await contacts.create(ws, {"phone": "082222222222", "name": "Budi S", "email": "budi@toko.id",
                                         "groups": ["VIP"], "notes": "Reseller"})
    await contacts.set_opted_out(ws, drop.id, True, "Replied STOP")
    now = int(time.time())

    def seed(conn):
        conn.execute("INSERT INTO accounts (id, name, engine, created_at) VALUES (1, 'Main', 'sandbox', ?)", (now,))
        for cid, at in ((keep.id, now - 100), (drop.id, now - 10)):
            conv = conn.execute("INSERT INTO conversations (contact_id, account_id, last_message_at, last_preview,"
                                " unread, created_at) VALUES (?, 1, ?, ?, 1, ?)", (cid, at, f"hi {cid}", at)).lastrowid
            conn.execute("INSERT INTO messages (conversation_id, account_id, direction, body, created_at)"
                         " VALUES (?, 1, 'in', 'halo', ?)", (conv, at))

    await ws.db.execute_write_fn(seed)
    preview = await contact_merge.merge_preview(ws, keep.id, drop.id, {"name": "drop"})
    assert preview.result["name"] == "Budi S" and preview.result["email"] == "budi@toko.id"
    assert preview.conversations_moving == 1 and preview.groups_added == 1
    merged = await contact_merge.merge(ws, keep.id, drop.id, {"name": "drop"})
    assert merged.name == "Budi S" and merged.phone == "+6281111111111" and merged.email == "budi@toko.id"
    assert merged.notes == "Likes batik\n\nReseller" and merged.opted_out_at is not None
    with pytest.raises(NotFound):
        await contacts.get(ws, drop.id)
    convs = await contacts.conversations(ws, keep.id)
    assert len(convs) == 1 and convs[0].unread == 2 and convs[0].last_preview == f"hi {drop.id}"
    assert await ws.db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = ?", (convs[0].id,)) == 2
    assert await names(ws, q="2222 2222") == [], "the dropped number is gone from search"
    with pytest.raises(Invalid):
        await contact_merge.merge_preview(ws, keep.id, keep.id)


async def test_bad_contact_input_is_refused_without_writing(ws):
    for data, field in (({"phone": ""}, "phone"), ({"phone": "0812-ABC"}, "phone"),
                        ({"phone": "081234567890", "email": "not-an-email"}, "email"),
                        ({"phone": "081234567890", "name": "x" * 201}, "name"),
                        ({"phone": "081234567890", "fields": "city=Medan"}, "fields"),
                        ({"phone": "081234567890", "groups": "VIP"}, "groups")):
        with pytest.raises(Invalid) as err:
            await contacts.create(ws, data)
        assert err.value.field == field
    assert await ws.db.fetchval("SELECT count(*) FROM contacts") == 0


async def test_workspace_settings_defaults_and_validation(ws):
    fresh = await workspace_settings.load(ws.db)
    assert fresh.timezone == "UTC" and fresh.default_region == "ID"
    assert fresh.opt_out_words == ("STOP", "BERHENTI", "UNSUBSCRIBE")
    with pytest.raises(Invalid):
        await workspace_settings.update(ws.db, timezone="Mars/Olympus")
    with pytest.raises(Invalid):
        await workspace_settings.update(ws.db, default_region="ZZ")
    with pytest.raises(Invalid):
        await workspace_settings.update(ws.db, colour="red")
    changed = await workspace_settings.update(ws.db, timezone="Asia/Jakarta", default_region=None)
    assert changed.timezone == "Asia/Jakarta" and changed.default_region is None
