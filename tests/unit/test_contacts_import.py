"""Importing and exporting contacts: every bad file the issue lists, the duplicate policies, Excel, progress."""

from __future__ import annotations

import csv
import dataclasses
import io
import os

import pytest

from blazz import contact_export, contact_groups, contact_import, contacts, custom_fields
from blazz.bus import Bus
from blazz.errors import Invalid
from tests.unit.test_contacts import open_workspace

HEADER = "name,phone,email,groups\n"


@pytest.fixture
async def ws(tmp_path):
    async with open_workspace(tmp_path) as workspace:
        yield workspace


async def run(ws, data: bytes, filename: str = "contacts.csv", **options):
    job, inspection = await contact_import.upload(ws, filename, data, None)
    mapping = options.pop("mapping", inspection.mapping)
    await contact_import.start(ws, job.id, mapping, **options)
    return await contact_import.wait(ws, job.id), inspection


async def phones_in(ws) -> dict[str, str]:
    rows = await ws.db.fetchall("SELECT phone, name FROM contacts WHERE deleted_at IS NULL")
    return {r["phone"]: r["name"] for r in rows}


async def reasons(ws, job) -> dict[int, str]:
    return {e.row: e.message for e in await contact_import.rejected_rows(ws, job.id)}


async def test_valid_rows_land_and_bad_rows_are_reported_with_row_numbers(ws):
    data = (HEADER + "Budi,0812-3456-7890,budi@toko.id,VIP|Jakarta\n"
            "Siti,0812-ABC-7890,,\n"          # letters in the phone
            "\n"                               # an empty line is not a row
            "Dewi,+62 813 1111 2222,not-an-email,\n"
            "Budi twin,+6281234567890,,\n"    # the same phone as row 2
            "No phone,,,\n"
            "Agus,0813 2222 3333,,VIP\n").encode()
    job, _ = await run(ws, data)
    assert job.status == "done"
    assert (job.created, job.updated, job.skipped, job.rejected) == (2, 0, 0, 4)
    assert await phones_in(ws) == {"+6281234567890": "Budi", "+6281322223333": "Agus"}
    why = await reasons(ws, job)
    assert set(why) == {3, 5, 6, 7}
    assert "letters" in why[3] and "email" in why[5] and "row 2" in why[6] and "No phone" in why[7]
    groups = {g.name: g.members for g in await contact_groups.groups(ws, with_counts=True)}
    assert groups == {"VIP": 2, "Jakarta": 1}


@pytest.mark.parametrize("encoding, prefix", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("latin-1", b""),
                                              ("cp1252", b""), ("utf-16", b"")])
async def test_encodings(ws, encoding, prefix):
    text = HEADER + "José Müller,+49 151 23456789,,Köln\nBudi Ñandú,0812-3456-7890,,\n"
    job, inspection = await run(ws, prefix + text.encode(encoding))
    assert inspection.headers == ["name", "phone", "email", "groups"], "the BOM is not part of the first header"
    assert job.created == 2
    assert set((await phones_in(ws)).values()) == {"José Müller", "Budi Ñandú"}


async def test_a_file_mixing_utf8_and_windows_lines(ws):
    data = (HEADER.encode() + "José,+49 151 23456789,,\n".encode()
            + "Müller,+49 151 23456780,,\n".encode("latin-1") + "Zoë “Z”,+49 151 23456781,,\n".encode("cp1252"))
    job, _ = await run(ws, data)
    assert job.created == 3
    assert set((await phones_in(ws)).values()) == {"José", "Müller", "Zoë “Z”"}


async def test_semicolons_quoted_newlines_and_crlf(ws):
    data = (b'nama;no hp;catatan\r\n'
            b'"Sari; Toko Jaya";0812 3456 7890;"Lantai 2\r\nBlok B"\r\n'
            b'"Rudi ""RJ""";0813 1111 2222;\r\n')
    job, inspection = await run(ws, data)
    assert inspection.delimiter == ";" and inspection.mapping == ["name", "phone", "notes"]
    assert job.created == 2 and job.rejected == 0
    row = await ws.db.fetchone("SELECT name, notes FROM contacts WHERE phone = '+6281234567890'")
    assert row["name"] == "Sari; Toko Jaya" and row["notes"] == "Lantai 2\nBlok B"
    assert "Rudi \"RJ\"" in (await phones_in(ws)).values()


async def test_ten_megabytes_of_garbage_is_refused_and_nothing_changes(ws):
    await contacts.create(ws, {"phone": "081234567890", "name": "Before"})
    with pytest.raises(Invalid, match="not a CSV"):
        await contact_import.upload(ws, "contacts.csv", os.urandom(10 * 1024 * 1024), None)
    with pytest.raises(Invalid, match=r"\.xls"):
        await contact_import.upload(ws, "old.xls", b"\xd0\xcf\x11\xe0" + os.urandom(2000), None)
    with pytest.raises(Invalid, match="Excel file could not be opened"):
        await contact_import.upload(ws, "broken.xlsx", b"PK\x03\x04" + os.urandom(2000), None)
    with pytest.raises(Invalid, match="empty"):
        await contact_import.upload(ws, "empty.csv", b"\n\n  \n", None)
    assert await phones_in(ws) == {"+6281234567890": "Before"}
    assert await ws.db.fetchval("SELECT count(*) FROM contact_imports") == 0
    assert not list((ws.folder / "imports").glob("*")), "refused uploads leave no file behind"


async def test_formula_cells_are_neutralised_on_export(ws):
    data = (HEADER + '"=HYPERLINK(""http://evil.example"",""Click"")",0812-3456-7890,,\n'
            "@SUM(A1),0812-3456-7891,,\n+cmd,0812-3456-7892,,\n-2+3,0812-3456-7893,,\n").encode()
    job, _ = await run(ws, data)
    assert job.created == 4
    names = set((await phones_in(ws)).values())
    assert '=HYPERLINK("http://evil.example","Click")' in names, "stored as typed; it is only text to Blazz"
    body = b"".join([chunk async for chunk in contact_export.export_csv(ws, contacts.Filters())]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    exported = {r["name"] for r in rows}
    assert exported == {"'=HYPERLINK(\"http://evil.example\",\"Click\")", "'@SUM(A1)", "'+cmd", "'-2+3"}
    assert {r["phone"] for r in rows} == {"+6281234567890", "+6281234567891", "+6281234567892", "+6281234567893"}
    assert all(not cell.startswith(("=", "@")) for r in rows for cell in r.values())


async def test_export_has_every_field_groups_and_an_optional_bom(ws):
    await custom_fields.create_field(ws, "City", "select", ["Medan"])
    await custom_fields.create_field(ws, "Newsletter", "checkbox")
    c, _ = await contacts.create(ws, {"phone": "081234567890", "name": "Budi", "groups": ["VIP", "Medan"],
                                      "fields": {"city": "Medan", "newsletter": "yes"}})
    await contacts.set_opted_out(ws, c.id, True, "Replied STOP")
    plain = b"".join([x async for x in contact_export.export_csv(ws, contacts.Filters())])
    excel = b"".join([x async for x in contact_export.export_csv(ws, contacts.Filters(), bom=True)])
    assert not plain.startswith(b"\xef\xbb\xbf") and excel.startswith(b"\xef\xbb\xbf")
    row = next(csv.DictReader(io.StringIO(plain.decode())))
    assert row["groups"] == "Medan|VIP" and row["city"] == "Medan" and row["newsletter"] == "yes"
    assert row["opted_out_reason"] == "Replied STOP" and row["opted_out_at"].endswith("Z")
    # The export imports back unchanged into an empty workspace's shape (headers are recognised).
    await contacts.delete(ws, [c.id])
    job, inspection = await run(ws, plain)
    assert inspection.mapping[:6] == ["phone", "name", "first_name", "last_name", "email", "groups"]
    assert job.created == 1 and (await contacts.get(ws, c.id)).deleted_at is None, "restored from the bin"


async def test_duplicate_policy_skip_or_update(ws):
    await custom_fields.create_field(ws, "City", "text")
    c, _ = await contacts.create(ws, {"phone": "081234567890", "name": "Budi", "email": "budi@toko.id",
                                      "fields": {"city": "Medan"}})
    data = (HEADER.strip() + ",city\nBudi Santoso,+62 812-3456-7890,,,Jakarta\nNew,0813 1111 2222,,,\n").encode()
    job, _ = await run(ws, data, policy="skip")
    assert (job.created, job.updated, job.skipped) == (1, 0, 1)
    assert (await contacts.get(ws, c.id)).name == "Budi"
    job, _ = await run(ws, data, policy="update")
    assert (job.created, job.updated, job.skipped) == (0, 2, 0)
    after = await contacts.get(ws, c.id)
    assert after.name == "Budi Santoso" and after.email == "budi@toko.id", "empty cells change nothing"
    assert after.fields == {"city": "Jakarta"}


async def test_mapping_group_region_and_new_field(ws):
    data = b"Customer,Handphone,Kota\nBudi,0812-3456-7890,Solo\nSiti,0813-1111-2222,Medan\n"
    job, inspection = await run(ws, data, mapping=["name", "phone", "new_field"], new_group="Lebaran 2026",
                                region="ID")
    assert inspection.mapping[:2] == ["name", "phone"]
    assert job.created == 2
    spec = next(s for s in await custom_fields.fields(ws) if s.label == "Kota")
    assert spec.key == "kota" and spec.type == "text"
    groups = {g.name: g.members for g in await contact_groups.groups(ws, with_counts=True)}
    assert groups == {"Lebaran 2026": 2}


async def test_mapping_needs_exactly_one_phone_column(ws):
    job, _ = await contact_import.upload(ws, "c.csv", b"a,b\nBudi,0812-3456-7890\n", None)
    with pytest.raises(Invalid, match="phone"):
        await contact_import.start(ws, job.id, ["name", ""])
    with pytest.raises(Invalid, match="Only one"):
        await contact_import.start(ws, job.id, ["phone", "phone"])
    with pytest.raises(Invalid):
        await contact_import.start(ws, job.id, ["phone", "field:nope"])
    assert (await contact_import.get_job(ws, job.id)).status == "mapping", "still waiting for a good mapping"


async def test_file_without_header_and_numbers_without_region(ws):
    await ws.db.execute_write("DELETE FROM settings")
    data = b"Budi,+62 812 3456 7890\nSiti,0813 1111 2222\n"
    job, inspection = await run(ws, data)
    assert not inspection.has_header and inspection.total_rows == 2
    assert job.created == 1 and job.rejected == 1
    assert "country code" in (await reasons(ws, job))[2]


async def test_excel_files(ws):
    openpyxl = pytest.importorskip("openpyxl")
    import datetime as dt

    await custom_fields.create_field(ws, "Birthday", "date")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Phone", "Birthday", "Groups"])
    sheet.append(["Budi", 6281234567890, dt.datetime(1990, 3, 31), "VIP"])  # numbers typed into Excel stay digits
    sheet.append(["Siti", "0813-1111-2222", "31/12/1985", None])
    sheet.append([None, None, None, None])
    sheet.append(["Bad", "call me", None, None])
    buf = io.BytesIO()
    book.save(buf)
    job, inspection = await run(ws, buf.getvalue(), "contacts.xlsx")
    assert inspection.kind == "xlsx" and inspection.mapping == ["name", "phone", "field:birthday", "groups"]
    assert (job.created, job.rejected) == (2, 1)
    budi = await contacts.get(ws, (await ws.db.fetchval("SELECT id FROM contacts WHERE name = 'Budi'")))
    assert budi.phone == "+6281234567890" and budi.fields == {"birthday": "1990-03-31"}
    assert (await reasons(ws, job)) == {5: "A phone number cannot contain letters."}


async def test_rejected_rows_download_keeps_the_cells_and_is_formula_safe(ws):
    job, _ = await run(ws, (HEADER + "=cmd(),12,,\n").encode())
    body = await contact_import.rejected_csv(ws, job.id)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == ["row", "reason", "name", "phone", "email", "groups"]
    assert rows[1][0] == "2" and rows[1][2] == "'=cmd()" and rows[1][3] == "12"


async def test_progress_goes_out_on_the_bus(ws):
    bus = Bus()
    ws = dataclasses.replace(ws, bus=bus)
    lines = "".join(f"P{i},+6281{i:09d},,\n" for i in range(12_000))
    with bus.subscribe(ws.id) as sub:
        job, _ = await run(ws, (HEADER + lines).encode())
        events = []
        while not sub.queue.empty():
            events.append(sub.queue.get_nowait())
    assert job.created == 12_000
    assert events and all(e.name == "contact_import" for e in events)
    assert events[-1].data["job"].status == "done" and events[-1].data["job"].created == 12_000


async def test_an_import_runs_once_and_a_stopped_one_says_so(ws):
    job, _ = await run(ws, (HEADER + "Budi,081234567890,,\n").encode())
    with pytest.raises(Invalid, match="already"):
        await contact_import.start(ws, job.id, ["name", "phone", "", ""])
    await ws.db.execute_write("UPDATE contact_imports SET status = 'running' WHERE id = ?", (job.id,))
    stopped = await contact_import.get_job(ws, job.id)
    assert stopped.status == "failed" and "Interrupted" in stopped.error
