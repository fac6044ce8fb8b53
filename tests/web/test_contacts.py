"""The contacts pages through the real app: list and search, adding and editing, bulk actions, import, export, roles."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re

from blazz.bus import BusEvent
from blazz.web.events import render_event
from tests.conftest import csrf_of, form_post
from tests.web.test_workspaces_and_members import invite_link, join

HX = {"hx-request": "true"}


async def add(client, slug: str, **data) -> str:
    r = await form_post(client, f"/w/{slug}/contacts/new", data)
    assert r.status_code == 200, r.text
    return str(r.url)


def local(url: str) -> str:
    return url.split("testserver.local")[1]


async def upload(client, slug: str, content: bytes, name: str = "contacts.csv"):
    await client.get(f"/w/{slug}/contacts/import")
    return await client.post(f"/w/{slug}/contacts/import", files={"file": (name, content, "text/csv")},
                             headers={"x-csrftoken": csrf_of(client)})


async def finished(client, url: str) -> str:
    for _ in range(100):
        r = await client.get(url)
        if "Importing…" not in r.text:
            return r.text
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_add_search_and_open_a_contact(client, owner):
    url = await add(client, owner.slug, phone="+62 812-3456-7890", name="Budi Santoso", email="budi@toko.id")
    assert re.search(r"/contacts/\d+$", url)
    page = (await client.get(url)).text
    assert "Budi Santoso" in page and "+62 812-3456-7890" in page
    for typed in ("budi", "3456 7890", "+6281234567890"):
        r = await client.get(f"/w/{owner.slug}/contacts", params={"q": typed},
                             headers={**HX, "hx-target": "contact-results"})
        assert r.status_code == 200 and "Budi Santoso" in r.text and "<html" not in r.text, typed
    r = await client.get(f"/w/{owner.slug}/contacts", params={"q": "nobody"},
                         headers={**HX, "hx-target": "contact-results"})
    assert "No contacts match" in r.text


async def test_bad_and_duplicate_input_on_the_new_contact_form(client, owner):
    r = await form_post(client, f"/w/{owner.slug}/contacts/new", {"phone": "0812-ABC", "name": "X"})
    assert r.status_code == 422 and "cannot contain letters" in r.text
    r = await form_post(client, f"/w/{owner.slug}/contacts/new", {"phone": "0812 3456 7890"})
    assert r.status_code == 422 and "country code" in r.text, "no region set yet"
    url = await add(client, owner.slug, phone="+6281234567890", name="Budi")
    r = await form_post(client, f"/w/{owner.slug}/contacts/new", {"phone": "+62 812 3456 7890", "name": "Again"})
    assert r.status_code == 422 and "already has this number" in r.text and url.split("testserver.local")[1] in r.text


async def test_deleted_contact_comes_back_when_its_number_is_added(client, owner):
    url = await add(client, owner.slug, phone="+6281234567890", name="Budi")
    path = url.split("testserver.local")[1]
    r = await form_post(client, f"{path}/delete", {}, htmx=True)
    assert r.status_code == 200 and r.headers.get("hx-redirect") == path
    assert "In the bin" in (await client.get(path)).text
    assert "Budi" not in (await client.get(f"/w/{owner.slug}/contacts")).text.split("ct-rows")[-1]
    again = await add(client, owner.slug, phone="+62 812-3456-7890", name="Budi Baru")
    assert again.endswith(f"{path}?restored=1")
    assert "Restored from the bin" in (await client.get(again)).text


async def test_inline_editing_favourite_opt_out_and_groups(client, owner):
    path = (await add(client, owner.slug, phone="+6281234567890", name="Budi")).split("testserver.local")[1]
    r = await client.get(f"{path}/details/edit", headers=HX)
    assert r.status_code == 200 and 'name="phone"' in r.text
    r = await form_post(client, f"{path}/details", {"name": "Budi S", "phone": "call me", "email": ""}, htmx=True)
    assert r.status_code == 422 and "letters" in r.text and 'value="call me"' in r.text
    r = await form_post(client, f"{path}/details", {"name": "Budi S", "phone": "+6281234567890", "email": ""},
                        htmx=True)
    assert r.status_code == 200 and "Budi S" in r.text and "Saved" in r.headers["hx-trigger"]
    r = await form_post(client, f"{path}/notes", {"notes": "<script>alert(1)</script>"}, htmx=True)
    assert "&lt;script&gt;" in r.text and "<script>alert" not in r.text
    r = await form_post(client, f"{path}/favourite", {"on": "1"}, htmx=True)
    assert 'aria-pressed="true"' in r.text
    r = await form_post(client, f"{path}/opt-out", {"opted_out": "1", "reason": "Asked on the phone"}, htmx=True)
    assert "Opted out" in r.text and "Asked on the phone" in r.text
    r = await form_post(client, f"{path}/groups/add", {"new_group": "VIP"}, htmx=True)
    assert r.status_code == 200 and "VIP" in r.text
    group_id = re.search(r"/groups/(\d+)/remove", r.text).group(1)
    r = await form_post(client, f"{path}/groups/{group_id}/remove", {}, htmx=True)
    assert "In no group yet" in r.text
    r = await client.get(f"{path}/bogus/edit", headers=HX)
    assert r.status_code == 422


async def test_custom_fields_on_the_contact_page(client, owner):
    base = f"/w/{owner.slug}/contacts"
    r = await form_post(client, f"{base}/fields", {"label": "City", "type": "select", "options": "Jakarta\nMedan"},
                        htmx=True)
    assert r.status_code == 200 and "{{city}}" in r.text
    r = await form_post(client, f"{base}/fields", {"label": "Points", "type": "money"}, htmx=True)
    assert r.status_code == 422 and "Choose a type" in r.text
    path = local(await add(client, owner.slug, phone="+6281234567890", **{"field:city": "Medan"}))
    assert "Medan" in (await client.get(path)).text
    r = await form_post(client, f"{path}/fields", {"field:city": "Bandung"}, htmx=True)
    assert r.status_code == 422 and "choose one of Jakarta, Medan" in r.text


async def test_bulk_actions_and_select_all_matching(client, owner):
    base = f"/w/{owner.slug}/contacts"
    for i in range(3):
        await add(client, owner.slug, phone=f"+62812345678{i}0", name=f"Toko {i}")
    await add(client, owner.slug, phone="+6281399990000", name="Rumah")
    r = await form_post(client, f"{base}/groups", {"name": "Grosir"}, htmx=True)
    group_id = re.search(r"/contacts/groups/(\d+)\"", r.text).group(1)
    r = await form_post(client, f"{base}/bulk", {"action": "add_group", "group_id": group_id, "all": "1", "q": "toko"},
                        htmx=True)
    assert r.status_code == 204 and "Added 3" in r.headers["hx-trigger"]
    listed = (await client.get(base, params={"group": group_id})).text
    assert len(re.findall(r'aria-label="Select Toko \d"', listed)) == 3 and "Select Rumah" not in listed
    ids = re.findall(r'name="ids" value="(\d+)"', listed)
    r = await form_post(client, f"{base}/bulk", {"action": "delete", "ids": ids[:2]}, htmx=True)
    assert r.status_code == 204 and "Moved 2 to the bin" in r.headers["hx-trigger"]
    assert (await client.get(base, params={"view": "deleted"})).text.count('name="ids" value=') == 2
    r = await form_post(client, f"{base}/bulk", {"action": "restore", "ids": ids[:2]}, htmx=True)
    assert "Restored 2" in r.headers["hx-trigger"]
    r = await form_post(client, f"{base}/bulk", {"action": "delete"}, htmx=True)
    assert r.status_code == 422, "nothing ticked"


async def test_export_is_csv_with_formulas_neutralised(client, owner):
    await add(client, owner.slug, phone="+6281234567890", name="=HYPERLINK(\"http://evil.example\")")
    r = await client.get(f"/w/{owner.slug}/contacts/export", params={"bom": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and r.content.startswith(b"\xef\xbb\xbf")
    row = next(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert row["name"].startswith("'=") and row["phone"] == "+6281234567890"
    ids = re.findall(r'name="ids" value="(\d+)"', (await client.get(f"/w/{owner.slug}/contacts")).text)
    r = await form_post(client, f"/w/{owner.slug}/contacts/export", {"ids": ids})
    assert r.status_code == 200 and "+6281234567890" in r.text


async def test_import_from_upload_to_result(client, owner):
    content = ("Nama;No HP;Email\n"
               "Budi;0812-3456-7890;budi@toko.id\n"
               "Siti;0812-ABC;\n"
               "Budi lagi;+62 812 3456 7890;\n").encode("cp1252")
    r = await upload(client, owner.slug, content)
    assert r.status_code == 200 and "/contacts/import/" in str(r.url), r.text
    job_url = str(r.url).split("testserver.local")[1]
    assert "Match the columns" in r.text and "semicolons" in r.text
    selected = re.findall(r'<option value="(\w+)" selected>', r.text)
    assert selected[:3] == ["name", "phone", "email"]
    r = await form_post(client, job_url, {"col0": "name", "col1": "phone", "col2": "email", "region": "ID",
                                          "policy": "skip", "new_group": "Pameran"})
    assert r.status_code == 200
    page = await finished(client, job_url)
    assert "Import finished" in page and "Why rows were rejected" in page and "letters" in page and "row 2" in page
    csv_body = (await client.get(f"{job_url}/rejected.csv")).text
    assert "Siti" in csv_body and "Budi lagi" in csv_body
    listed = (await client.get(f"/w/{owner.slug}/contacts")).text
    assert "Budi" in listed and "Pameran" in listed
    r = await form_post(client, job_url, {"col1": "phone"})
    assert r.status_code == 422, "an import runs once"
    imports = (await client.get(f"/w/{owner.slug}/contacts/import")).text
    assert "Recent imports" in imports


async def test_bad_uploads_are_refused_on_the_page(client, owner):
    r = await upload(client, owner.slug, os.urandom(10 * 1024 * 1024))
    assert r.status_code == 422 and "not a CSV or Excel file" in r.text
    r = await upload(client, owner.slug, b"")
    assert r.status_code == 422
    r = await upload(client, owner.slug, b"name,email\nBudi,budi@toko.id\n")
    job_url = str(r.url).split("testserver.local")[1]
    r = await form_post(client, job_url, {"col0": "name", "col1": "email"})
    assert r.status_code == 422 and "Choose which column holds the phone number" in r.text
    r = await form_post(client, f"{job_url}/cancel", {})
    assert r.status_code == 200 and "/contacts/import" in str(r.url)


async def test_import_progress_event_renders_a_swappable_card(client, owner):
    await upload(client, owner.slug, b"name,phone\nBudi,+6281234567890\n")
    engine = client.app.template_engine
    from blazz.store.contacts import ImportJob

    job = ImportJob(7, "c.csv", None, "running", {}, 100, 40, 30, 5, 4, 1, None, None, 0, 0, None)
    html = render_event(engine, BusEvent("contact_import", {"job": job, "slug": owner.slug}))
    assert 'id="import-7"' in html and 'hx-swap-oob="true"' in html and "40 of 100 rows" in html
    done = render_event(engine, BusEvent("contact_import", {"job": ImportJob(
        7, "c.csv", None, "done", {}, 100, 100, 90, 5, 4, 1, None, None, 0, 0, 1), "slug": owner.slug}))
    assert 'hx-trigger="load"' in done and "Import finished" in done


async def test_merge_from_the_contact_page(client, owner):
    keep = local(await add(client, owner.slug, phone="+6281111111111", name="Budi", email="budi@toko.id"))
    drop = local(await add(client, owner.slug, phone="+6282222222222", name="Budi", email="budi@toko.id"))
    drop_id = drop.rsplit("/", 1)[1]
    assert "Possible duplicates" in (await client.get(keep)).text
    r = await client.get(f"{keep}/merge", params={"other": drop_id})
    assert r.status_code == 200 and "Preview" in r.text
    r = await form_post(client, f"{keep}/merge", {"other": drop_id, "phone": "keep"}, htmx=True)
    assert r.headers.get("hx-redirect") == keep
    assert (await client.get(drop)).status_code == 404


async def test_agents_work_with_contacts_but_cannot_delete_import_or_export(client, owner):
    path = (await add(client, owner.slug, phone="+6281234567890", name="Budi")).split("testserver.local")[1]
    await form_post(client, f"/w/{owner.slug}/contacts/groups", {"name": "VIP"}, htmx=True)
    agent = await join(client, await invite_link(client, owner.slug), "agent@shop.test")
    try:
        base = f"/w/{owner.slug}/contacts"
        assert (await agent.get(base)).status_code == 200
        page = (await agent.get(path)).text
        assert "Budi" in page and "/delete" not in page
        r = await form_post(agent, f"{path}/details", {"name": "Budi A", "phone": "+6281234567890", "email": ""},
                            htmx=True)
        assert r.status_code == 200
        for url in (f"{base}/import", f"{base}/export", f"{base}/setup"):
            assert (await agent.get(url)).status_code == 403, url
        assert (await form_post(agent, f"{path}/delete", {}, htmx=True)).status_code == 403
        contact_id = path.rsplit("/", 1)[1]
        r = await form_post(agent, f"{base}/bulk", {"action": "delete", "ids": [contact_id]}, htmx=True)
        assert r.status_code == 403
        r = await form_post(agent, f"{path}/groups/add", {"new_group": "Agents group"}, htmx=True)
        assert r.status_code == 403, "agents tag with existing groups only"
        group_id = re.search(r'<option value="(\d+)">VIP', (await agent.get(path)).text).group(1)
        r = await form_post(agent, f"{path}/groups/add", {"group_id": group_id}, htmx=True)
        assert r.status_code == 200 and "VIP" in r.text
    finally:
        await agent.__aexit__(None, None, None)


async def test_other_workspaces_contacts_stay_invisible(client, owner):
    path = (await add(client, owner.slug, phone="+6281234567890", name="Budi")).split("testserver.local")[1]
    r = await form_post(client, "/workspaces/new", {"name": "Cabang Dua"})
    other = re.search(r"/w/([a-z0-9-]+)/", str(r.url)).group(1)
    contact_id = path.rsplit("/", 1)[1]
    assert (await client.get(f"/w/{other}/contacts/{contact_id}")).status_code == 404
    assert "Budi" not in (await client.get(f"/w/{other}/contacts")).text


async def test_the_heartbeat_empties_the_bin_after_thirty_days(client, owner):
    from blazz import contacts

    path = local(await add(client, owner.slug, phone="+6281234567890", name="Budi"))
    await form_post(client, f"{path}/delete", {}, htmx=True)
    runtime = client.app.state.runtime
    ws = await runtime.workspace_by_slug(owner.slug)
    assert any(isinstance(job, contacts.PurgeJob) for job in runtime.tick_jobs)
    job = next(job for job in runtime.tick_jobs if isinstance(job, contacts.PurgeJob))
    await job()
    assert (await client.get(path)).status_code == 200, "29 days left: still restorable"
    await ws.db.execute_write("UPDATE contacts SET deleted_at = deleted_at - 31 * 86400")
    job.last = 0.0
    await job()
    assert (await client.get(path)).status_code == 404
