"""The contacts pages in Bahasa Indonesia when the browser asks for it, and still in English when it does not:
page text, validation messages, toasts, country names, import rejection reasons and opt-out reasons."""

from __future__ import annotations

import asyncio
import json
import re

from tests.conftest import csrf_of, form_post

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


async def post(client, url: str, data: dict, headers: dict, htmx: bool = False):
    if not csrf_of(client):
        await client.get("/login")
    extra = {"hx-request": "true"} if htmx else {}
    return await client.post(url, data=data, headers={"x-csrftoken": csrf_of(client), **extra, **headers})


async def test_the_contact_list_and_a_contact_page_follow_the_browser_language(client, owner):
    base = f"/w/{owner.slug}/contacts"
    r = await client.get(base, headers=ID)
    assert r.status_code == 200 and '<html lang="id">' in r.text
    assert "Tambah kontak" in r.text and "Masukkan pelanggan Anda" in r.text
    assert "Cari nama, nomor, atau email" in r.text
    assert "Add contact" not in r.text and "Bring in your customers" not in r.text
    r = await client.get(base, headers=EN)
    assert "Add contact" in r.text and "Bring in your customers" in r.text and "Tambah kontak" not in r.text

    r = await post(client, f"{base}/new", {"phone": "+62 812-3456-7890", "name": "Budi"}, ID)
    path = str(r.url).split("testserver.local")[1]
    page = (await client.get(path, headers=ID)).text
    assert "Berlangganan" in page and "Belum ada percakapan" in page and "Hentikan langganan" in page
    assert "Subscribed" not in page and "No conversations yet" not in page
    page = (await client.get(path, headers=EN)).text
    assert "Subscribed" in page and "No conversations yet" in page and "Berlangganan" not in page


async def test_errors_toasts_and_country_names_are_in_indonesian(client, owner):
    base = f"/w/{owner.slug}/contacts"
    r = await post(client, f"{base}/new", {"phone": "0812-ABC"}, ID)
    assert r.status_code == 422 and "Nomor telepon tidak boleh berisi huruf." in r.text
    assert "cannot contain letters" not in r.text
    r = await post(client, f"{base}/new", {"phone": "+49 301"}, ID)
    assert r.status_code == 422 and "Itu bukan nomor yang valid untuk Jerman." in r.text, "the country in Indonesian"
    r = await post(client, f"{base}/new", {"phone": "+49 301"}, EN)
    assert r.status_code == 422 and "That is not a valid number for Germany." in r.text

    for i in range(2):
        await post(client, f"{base}/new", {"phone": f"+62812345678{i}0", "name": f"Toko {i}"}, ID)
    r = await post(client, f"{base}/groups", {"name": "Grosir"}, ID, htmx=True)
    assert "Grup Grosir dibuat." in json.loads(r.headers["hx-trigger"])["toast"]["message"]
    group_id = re.search(r"/contacts/groups/(\d+)\"", r.text).group(1)
    r = await post(client, f"{base}/bulk", {"action": "add_group", "group_id": group_id, "all": "1"}, ID, htmx=True)
    trigger = json.loads(r.headers["hx-trigger"])
    assert trigger["toast"]["message"] == "2 kontak ditambahkan ke Grosir." and trigger["contacts:changed"] is True
    r = await post(client, f"{base}/bulk", {"action": "add_group", "group_id": group_id, "all": "1"}, EN, htmx=True)
    assert json.loads(r.headers["hx-trigger"])["toast"]["message"] == "Added 2 to Grosir."

    r = await client.get(f"{base}/setup", headers=ID)
    assert "1 grup" in r.text and "Tambah kolom" in r.text and "Angka" in r.text and "Numeric" not in r.text


async def test_an_opt_out_written_by_blazz_is_shown_in_the_readers_language(client, owner):
    base = f"/w/{owner.slug}/contacts"
    r = await post(client, f"{base}/new", {"phone": "+6281234567890", "name": "Budi"}, EN)
    path = str(r.url).split("testserver.local")[1]
    await form_post(client, f"{path}/opt-out", {"opted_out": "1", "reason": ""}, htmx=True)
    assert "Ditandai manual" in (await client.get(path, headers=ID)).text
    assert "Marked by hand" in (await client.get(path, headers=EN)).text


async def finished(client, url: str, headers: dict) -> str:
    for _ in range(100):
        r = await client.get(url, headers=headers)
        if "Mengimpor…" not in r.text and "Importing…" not in r.text:
            return r.text
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_an_import_in_indonesian_keeps_its_reasons_in_the_importers_language(client, owner):
    base = f"/w/{owner.slug}/contacts"
    await client.get(f"{base}/import", headers=ID)
    content = b"Nama;No HP\nBudi;0812-3456-7890\nSiti;0812-ABC\nBudi lagi;+62 812 3456 7890\n"
    r = await client.post(f"{base}/import", files={"file": ("kontak.csv", content, "text/csv")},
                          headers={"x-csrftoken": csrf_of(client), **ID})
    job_url = str(r.url).split("testserver.local")[1]
    assert "1. Cocokkan kolom" in r.text and "CSV, dipisahkan titik koma" in r.text and "3 baris" in r.text
    assert "Jerman (+49)" in r.text and "Germany" not in r.text, "countries named in Indonesian"
    r = await post(client, job_url, {"col0": "name", "col1": "phone", "region": "ID", "policy": "skip"}, ID)
    page = await finished(client, job_url, ID)
    assert "Impor selesai" in page and "Alasan baris ditolak" in page
    assert "Nomor telepon tidak boleh berisi huruf." in page
    assert "Nomornya sama dengan baris 2; hanya yang pertama yang diimpor." in page
    csv_body = (await client.get(f"{job_url}/rejected.csv", headers=EN)).text
    assert csv_body.lstrip("\ufeff").startswith("row,reason,"), "column names stay keys, as in an export"
    assert "Nomor telepon tidak boleh berisi huruf." in csv_body
    # Someone reading in English sees the page in English; the stored reasons stay as the importer read them.
    page = await finished(client, job_url, EN)
    assert "Import finished" in page and "Nomor telepon tidak boleh berisi huruf." in page
