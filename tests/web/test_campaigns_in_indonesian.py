"""The campaign pages in Bahasa Indonesia when the browser asks for it, and still in English when it does not: the
list, each wizard step (with its errors and the estimated finish), the review, the campaign page with its counters,
chart and recipients, toasts, the reasons and waits Blazz stores in English read back in the reader's language, and
the recipients CSV (stable columns and status codes, reasons as the table says them)."""

from __future__ import annotations

import json
import os

from blazz import campaign_feed, campaign_stats, i18n, pacing
from blazz.store import campaigns as campaigns_store
from tests.conftest import csrf_of
from tests.web.test_campaigns import new_campaign, setup_shop, until

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


async def post(client, url: str, data: dict, headers: dict):
    if not csrf_of(client):
        await client.get("/login")
    return await client.post(url, data=data, headers={"x-csrftoken": csrf_of(client), "hx-request": "true",
                                                      **headers})


def keep(name: str, html: str) -> None:
    """With BLAZZ_KEEP_PAGES=dir, the pages are written there to be looked at."""
    folder = os.environ.get("BLAZZ_KEEP_PAGES")
    if folder:
        with open(os.path.join(folder, name + ".html"), "w") as f:
            f.write(html)


async def test_the_list_and_the_wizard_follow_the_browser_language(client, owner):
    _ws, account, group = await setup_shop(client, owner.slug, n=3, connect=False)
    base = f"/w/{owner.slug}/campaigns"
    r = await client.get(base, headers=ID)
    keep("list-id", r.text)
    assert r.status_code == 200 and '<html lang="id">' in r.text
    assert "Belum ada kampanye" in r.text and "Kampanye baru" in r.text and "mis. Promo Ramadan 2026" in r.text
    assert "No campaigns yet" not in r.text and "New campaign" not in r.text
    r = await client.get(base, headers=EN)
    assert "No campaigns yet" in r.text and "New campaign" in r.text and "Belum ada kampanye" not in r.text

    r = await post(client, f"{base}/", {"name": ""}, ID)
    assert r.status_code == 422 and "Beri nama kampanye" in r.text and "Give the campaign a name" not in r.text
    cid = await new_campaign(client, owner.slug)
    r = await client.get(f"{base}/{cid}/edit/account", headers=ID)
    assert "Nomor mana yang mengirimnya?" in r.text and "Langkah" in r.text and "Kecepatan kirim" in r.text
    assert "Which number sends it?" not in r.text and ">Pacing<" not in r.text
    await post(client, f"{base}/{cid}/edit/account", {"account_id": str(account.id)}, ID)

    r = await client.get(f"{base}/{cid}/edit/review", headers=ID)  # what stops the launch, step by step
    assert "Sebelum meluncurkan:" in r.text and ">Pesan</a>: Tulis pesannya (atau pilih template) dulu." in r.text
    assert ">Audiens</a>: Pilih siapa yang menerimanya" in r.text and "Before launching" not in r.text
    r = await client.get(f"{base}/{cid}/edit/message", headers=ID)
    keep("message-id", r.text)
    assert "Apa isi pesannya?" in r.text and "Teks alternatif" in r.text
    assert "Nama depan (klik untuk menyalin)" in r.text
    assert "What does it say?" not in r.text and "click to copy" not in r.text
    await post(client, f"{base}/{cid}/edit/message", {"kind": "text", "text": "Halo {{first_name|Kak}}"}, ID)

    r = await post(client, f"{base}/{cid}/audience-count", {"who": "groups", "groups": str(group.id)}, ID)
    assert "data-recipients>3<" in r.text and ">penerima<" in r.text and ">recipients<" not in r.text
    r = await post(client, f"{base}/{cid}/audience-count", {"who": "groups"}, ID)
    assert "Pilih siapa yang menerimanya" in r.text
    await post(client, f"{base}/{cid}/edit/audience", {"who": "all"}, ID)

    r = await post(client, f"{base}/{cid}/edit/schedule", {"when": "later", "scheduled_at": "2001-01-01T10:00"}, ID)
    assert r.status_code == 422 and "Waktu itu sudah lewat" in r.text and "That time has passed" not in r.text

    # The pacing step: 1,200 s between messages, so three recipients finish in about 40 minutes.
    form = {"mode": "custom", "enabled": "on", "gap_min_s": "1200", "gap_max_s": "1200", "pause_every": "0",
            "pause_min_m": "5", "pause_max_m": "10", "daily_cap": ""}
    r = await post(client, f"{base}/{cid}/pacing", form, ID)
    keep("pacing-id", r.text)
    assert r.status_code == 200 and "Kecepatan kirim kampanye ini disimpan." in json.loads(
        r.headers["hx-trigger"])["toast"]["message"]
    assert "1.200–1.200 dtk" in r.text, "numbers with Indonesian separators"
    assert "3 pesan, selesai sekitar <strong data-estimate>" in r.text and "dalam 40 menit" in r.text
    assert "Between messages" not in r.text and "finishing around" not in r.text
    r = await post(client, f"{base}/{cid}/pacing", {**form, "gap_min_s": "2400"}, ID)
    assert r.status_code == 422 and "Jeda terpendek tidak boleh lebih lama dari jeda terpanjang." in r.text
    r = await post(client, f"{base}/{cid}/pacing", {**form, "gap_min_s": "x"}, ID)
    assert r.status_code == 422 and "Jeda terpendek (detik) harus berupa angka." in r.text
    r = await post(client, f"{base}/{cid}/pacing", {**form, "gap_min_s": "x"}, EN)
    assert r.status_code == 422 and "The shortest gap (seconds) must be a number." in r.text
    r = await post(client, f"{base}/{cid}/pacing", form, EN)
    assert "1,200–1,200 s" in r.text and "3 messages, finishing around" in r.text and "in 40 minutes" in r.text

    r = await client.get(f"{base}/{cid}/edit/review", headers=ID)
    keep("review-id", r.text)
    assert "Periksa dan luncurkan" in r.text and "<strong>3</strong> penerima" in r.text
    assert "Luncurkan sekarang" in r.text and 'data-confirm="Mulai kirim sekarang?"' in r.text
    assert "Review and launch" not in r.text and "Launch now" not in r.text
    r = await client.get(f"{base}/{cid}/edit/review", headers=EN)
    assert "Review and launch" in r.text and "<strong>3</strong> recipients" in r.text


async def test_a_running_campaign_its_reasons_and_toasts_read_in_the_readers_language(client, owner):
    ws, account, _group = await setup_shop(client, owner.slug, n=3, connect=False)
    base = f"/w/{owner.slug}/campaigns"
    cid = await new_campaign(client, owner.slug)
    await post(client, f"{base}/{cid}/edit/account", {"account_id": str(account.id)}, EN)
    await post(client, f"{base}/{cid}/edit/message", {"kind": "text", "text": "Halo {{first_name}}"}, EN)
    await post(client, f"{base}/{cid}/edit/audience", {"who": "all"}, EN)
    r = await post(client, f"{base}/{cid}/launch", {}, ID)  # launched by an Indonesian reader
    assert r.status_code == 200, r.text

    async def waiting() -> bool:
        return "Waiting for Shop front to connect" in (await campaigns_store.get(ws.db, cid)).detail
    await until(waiting)  # stored in English whoever launched it

    r = await client.get(f"{base}/{cid}", headers=ID)
    keep("campaign-id", r.text)
    assert "Menunggu Shop front terhubung; pengiriman dimulai begitu terhubung." in r.text
    assert "Mengirim" in r.text and ">Jeda<" in r.text and "Penerima" in r.text and "Ekspor CSV" in r.text
    assert "0 dari 3 selesai (0%) · 3 lagi" in r.text and '<span class="badge badge-grey">Menunggu</span>' in r.text
    assert "Waiting for Shop front" not in r.text and ">Pause<" not in r.text
    r = await client.get(f"{base}/{cid}", headers=EN)
    assert "Waiting for Shop front to connect" in r.text and "0 of 3 done (0%)" in r.text
    listing = await client.get(base, headers=ID)
    assert "Menunggu Shop front terhubung" in listing.text and "Mengirim" in listing.text

    r = await post(client, f"{base}/{cid}/pause", {}, ID)
    assert json.loads(r.headers["hx-trigger"])["toast"]["message"].startswith("Dijeda.")
    assert ">Lanjutkan<" in r.text and "Dijeda" in r.text
    r = await post(client, f"{base}/{cid}/pause", {}, ID)
    assert r.status_code == 409 and "Kampanye berstatus dijeda tidak bisa dijeda." in r.text
    r = await post(client, f"{base}/{cid}/cancel", {}, ID)
    assert json.loads(r.headers["hx-trigger"])["toast"]["message"] == \
        "Dibatalkan. Pesan yang sudah terkirim tetap terkirim."

    # Reasons stored in English: one of ours, one with a value, Meta's error, and words Blazz does not know.
    reasons = {1: campaign_feed.CANCELLED,
               2: "Campaigns paused after 5 failed messages in a row (last: The contact opted out.)",
               3: "Meta rejected the template message: (#132000) Number of parameters does not match"}
    for rid, why in reasons.items():
        await ws.db.execute_write("UPDATE campaign_recipients SET status = 'failed', reason = ? WHERE id = ?",
                                  (why, rid))
    page = await client.get(f"{base}/{cid}?status=failed", headers=ID)
    keep("failed-id", page.text)
    assert "Kampanye dibatalkan sebelum pesan ini terkirim." in page.text
    assert "Kampanye dijeda setelah 5 pesan gagal berturut-turut (terakhir: Kontak sudah berhenti berlangganan.)" \
        in page.text
    assert "(kode error Meta 132000)" in page.text
    assert "The campaign was cancelled before" not in page.text and ">Gagal<" in page.text
    page = await client.get(f"{base}/{cid}?status=delivered", headers=ID)
    assert "Tidak ada penerima yang berstatus diterima." in page.text
    page = await client.get(f"{base}/{cid}?status=failed", headers=EN)
    assert "The campaign was cancelled before this message was sent." in page.text

    csv = await client.get(f"{base}/{cid}/recipients.csv?status=failed", headers=ID)
    lines = csv.text.strip().splitlines()
    assert lines[0] == "name,phone,status,reason,sent_at,delivered_at,read_at,replied_at"
    assert ",failed,Kampanye dibatalkan sebelum pesan ini terkirim.," in csv.text
    csv = await client.get(f"{base}/{cid}/recipients.csv?status=failed", headers=EN)
    assert ",failed,The campaign was cancelled before this message was sent.," in csv.text


def test_stored_sentences_read_back_with_their_values_in_the_readers_language():
    late = campaign_feed.LATE % {"hours": "1.5"}
    window = pacing.OUTSIDE_WINDOW % {"when": "Thu 09:00"}
    cap = pacing.DAILY_LIMIT % {"cap": 1200}
    with i18n.using("id"):
        assert campaign_stats.in_words(late).startswith("Tidak terkirim: Blazz tidak berjalan")
        assert "terlambat 1,5 jam" in campaign_stats.in_words(late)
        assert campaign_stats.in_words(window) == "Di luar jam kirim; pengiriman berlanjut Kam 09:00."
        assert campaign_stats.in_words(cap) == "Batas harian 1.200 pesan kampanye tercapai; pengiriman berlanjut besok."
        assert campaign_stats.in_words("WhatsApp said no") == "WhatsApp said no"  # not ours: as stored
        assert campaign_stats.in_words(None) == ""
    assert campaign_stats.in_words(late) == late and campaign_stats.in_words(cap) == (
        "Daily limit of 1,200 campaign messages reached; sending resumes tomorrow.")


def test_the_chart_says_its_bucket_in_the_readers_language():
    one_minute, five_minutes, a_day = (campaign_stats.Chart(s, [], 0) for s in (60, 300, 86400))
    assert (one_minute.bucket_label, five_minutes.bucket_label, a_day.bucket_label) == ("minute", "5 minutes", "day")
    with i18n.using("id"):
        assert (one_minute.bucket_label, five_minutes.bucket_label, a_day.bucket_label) == ("menit", "5 menit", "hari")
