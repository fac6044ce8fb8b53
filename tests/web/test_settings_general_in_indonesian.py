"""Settings → General in Bahasa Indonesia when the browser asks for it, and still in English otherwise: the workspace
form with its errors, the LAN card with its switch, and the backup card (its date in the workspace's timezone, a
daily backup's failure in the reader's language)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections import namedtuple

import pytest

from blazz import backup, i18n, lan
from tests.conftest import csrf_of, form_post

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


async def post(client, url: str, data: dict, headers: dict):
    if not csrf_of(client):
        await client.get("/login")
    return await client.post(url, data=data, headers={"x-csrftoken": csrf_of(client), "hx-request": "true",
                                                      **headers})


async def test_general_page_form_and_lan_card_in_indonesian(client, owner):
    url = f"/w/{owner.slug}/settings"
    r = await client.get(url, headers=ID)
    assert r.status_code == 200 and '<html lang="id">' in r.text
    page = r.text
    assert "<h1>Pengaturan</h1>" in page and "Nama ruang kerja" in page and "Negara nomor telepon" in page
    assert "Tidak ada: nomor selalu diawali +" in page and "Kata untuk berhenti berlangganan" in page
    assert "Ponsel dan komputer di jaringan Anda" in page and "Sekarang nonaktif" in page
    assert "Izinkan ponsel dan komputer lain di Wi-Fi ini membuka Blazz" in page
    assert "Unduh cadangan" in page and "Cadangan otomatis terakhir" in page and "belum ada" in page
    for english in ("Workspace name", "Country of phone numbers", "Off now", "Download a backup", "none yet",
                    "Opt-out words", ">Save<"):
        assert english not in page, english

    r = await post(client, url + "/", {"name": " ", "timezone": "Asia/Atlantis"}, ID)
    assert r.status_code == 422 and "Tidak ada yang diubah" in r.text and "Nothing was changed" not in r.text
    r = await post(client, url + "/lan", {"lan": "maybe"}, ID)
    assert r.status_code == 422 and "Pilih aktif atau nonaktif." in r.text and "Choose on or off." not in r.text
    r = await post(client, url + "/lan", {"lan": "on"}, ID)
    assert r.status_code == 200 and "Tersimpan" in r.text
    assert "Mulai saat Blazz dibuka berikutnya, Blazz terbuka di jaringan Anda." in r.text
    assert "Agar ponsel bisa masuk sekarang, tutup Blazz lalu buka lagi." in r.text

    r = await client.get(url, headers=EN)
    assert "Workspace name" in r.text and "Off now" in r.text and "Download a backup" in r.text
    assert "From the next start, Blazz listens on your network." in r.text
    assert "Nama ruang kerja" not in r.text and "Pengaturan" not in r.text


async def test_backup_date_and_failure_follow_the_reader(client, owner, monkeypatch: pytest.MonkeyPatch):
    data_dir = client.app.state.runtime.settings.data_dir
    await form_post(client, f"/w/{owner.slug}/settings/", {"timezone": "Asia/Jakarta"}, htmx=True)
    made = backup.create_backup(data_dir)
    at = dt.datetime(2026, 3, 5, 2, 30, tzinfo=dt.UTC).timestamp()  # 09:30 in Jakarta
    os.utime(made.path, (at, at))
    # A full disk: the daily backup refuses and records why (English for the terminal, its id for the page).
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(1 << 30, (1 << 30) - (1 << 20), 1 << 20))
    with pytest.raises(backup.BackupError):
        backup.run_daily(data_dir)
    assert backup.read_status(data_dir)["last_error"].startswith("Not enough free disk space")

    r = await client.get(f"/w/{owner.slug}/settings", headers=ID)
    assert "Kegagalan terakhir" in r.text and "Ruang disk di " in r.text and "tersedia 1 MB" in r.text
    assert "Not enough free disk space" not in r.text
    assert "5 Mar 2026, 09:30" in r.text, "the newest archive's time in the workspace's timezone"
    r = await client.get(f"/w/{owner.slug}/settings", headers=EN)
    assert "Last failure" in r.text and "Not enough free disk space" in r.text and "1 MB free." in r.text
    assert "5 Mar 2026, 09:30" in r.text


async def test_lan_addresses_and_the_staff_warning_in_indonesian(client, owner):
    """While Blazz listens on the network (tests bind to loopback, so the card is drawn as the page draws it)."""
    on = lan.LanStatus(enabled=True, remembered=True, urls=[lan.LanUrl("http://192.168.1.5:8000/", "<svg></svg>")])
    template = client.app.template_engine.get_template("settings/_lan.html")
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    with i18n.using("id"):
        html = template.render(ws=ws, lan=on, can_switch_lan=True, lan_saved=False, lan_error=None)
    assert "Sekarang aktif" in html and "http://192.168.1.5:8000/" in html
    assert "Siapa pun di jaringan ini bisa membuka halaman masuk Blazz" in html and "(Pengaturan → Anggota)" in html
    assert "Anyone on this network" not in html
    html = template.render(ws=ws, lan=on, can_switch_lan=True, lan_saved=False, lan_error=None)
    assert "Anyone on this network can open the Blazz login page." in html and "Sekarang aktif" not in html
