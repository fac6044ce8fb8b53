"""The automation pages in Bahasa Indonesia when the browser asks for it, and still in English when it does not:
texts, weekday names and durations, toasts, validation messages and the suggested away message."""

from __future__ import annotations

import json

from blazz import audit, auto_replies
from tests.conftest import form_post
from tests.web.test_automation_pages import workspace_of

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}


async def test_the_rules_page_speaks_the_browsers_language(client, owner):
    ws = await workspace_of(client, owner.slug)
    await auto_replies.create(ws, audit.Actor(None, "t"), trigger="contains", pattern="harga", name="Harga",
                              reply={"text": "Cek shop.example"}, cooldown_s=900)
    url = f"/w/{owner.slug}/automation"

    english = (await client.get(url)).text
    assert "Test a message" in english and "Once per 15 minutes per person" in english and "Uji pesan" not in english

    client.headers.update(ID)
    page = (await client.get(url)).text
    assert "Uji pesan" in page and "Sekali per 15 menit untuk setiap orang" in page and "Cara kerja aturan" in page
    assert "Test a message" not in page and "How rules work" not in page and "per person" not in page
    # Trigger labels come from Python constants and are translated per request.
    assert '<span class="ar-trigger">Berisi</span>' in page

    r = await form_post(client, url + "/test", {"text": "Berapa harganya?"}, htmx=True)
    assert "Dijawab oleh" in r.text and "dalam 15 menit terakhir" in r.text and "Answered by" not in r.text


async def test_business_hours_in_indonesian_use_localised_days_toasts_and_errors(client, owner):
    url = f"/w/{owner.slug}/automation/hours"
    english = (await client.get(url)).text
    assert "Monday" in english and "Opening hours" in english and "Senin" not in english
    assert "thanks for your message" in english

    client.headers.update(ID)
    page = (await client.get(url)).text
    assert "Senin" in page and "Minggu" in page and "Jam buka" in page and "Tambah hari libur" in page
    assert "Monday" not in page and "Opening hours" not in page
    # Nothing saved yet: the suggested away message is in the reader's language.
    assert "Halo {{first_name|Kak}}, terima kasih atas pesannya!" in page and "thanks for your message" not in page

    form = {"timezone": "Asia/Jakarta", "mon_open": "on", "mon_from_0": "08:00", "mon_to_0": "",
            "away_text": "Kami tutup.", "away_period_s": "3600", "greeting_text": "Halo!", "greeting_period_s": "86400"}
    r = await form_post(client, url, form, htmx=True)
    assert r.status_code == 422 and "Senin: isi jam buka dan jam tutup." in r.text and "give both" not in r.text
    r = await form_post(client, url, {**form, "mon_to_0": "17:00"}, htmx=True)
    assert r.status_code == 200
    assert json.loads(r.headers["hx-trigger"])["toast"]["message"] == "Jam operasional disimpan."

    r = await form_post(client, url + "/holidays", {"date": "2026-12-25", "name": ""}, htmx=True)
    assert r.status_code == 200 and "<small>Des</small>" in r.text and 'aria-label="Hapus 25 Desember 2026"' in r.text
