"""Settings pages (API tokens, webhooks, audit log, diagnostics) in Bahasa Indonesia when the browser asks for it,
and still in English otherwise; messages from the services follow the same language."""

from __future__ import annotations

import re
from ipaddress import ip_address

from blazz import i18n, webhook_delivery, webhooks
from tests.conftest import csrf_of, form_post
from tests.web.test_webhooks import until

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}


async def post_in_indonesian(client, url: str, data: dict):
    """An htmx form post from a browser set to Indonesian."""
    if not csrf_of(client):
        await client.get("/login")
    return await client.post(url, data=data, headers={"x-csrftoken": csrf_of(client), "hx-request": "true", **ID})


async def test_api_tokens_page_and_its_errors_in_indonesian(client, owner):
    base = f"/w/{owner.slug}/settings/api-tokens"
    await form_post(client, base + "/", {"name": "Sistem gudang", "role": "agent"}, htmx=True)
    r = await client.get(base, headers=ID)
    assert r.status_code == 200
    assert "Buat token API" in r.text and "Create an API token" not in r.text
    assert "Terakhir dipakai" in r.text and "Last used" not in r.text
    assert "Cabut token Sistem gudang?" in r.text  # the confirmation names the token inside the sentence
    r = await post_in_indonesian(client, base + "/", {"name": "", "role": "agent"})
    assert r.status_code == 422 and "Beri token nama sepanjang 1-80 karakter" in r.text

    r = await client.get(base)
    assert "Create an API token" in r.text and "Buat token API" not in r.text


async def test_webhooks_page_refusal_and_event_descriptions_in_indonesian(client, owner):
    base = f"/w/{owner.slug}/settings/webhooks"
    r = await client.get(base + "/", headers=ID)
    assert r.status_code == 200
    assert "Tambah webhook" in r.text and "Add a webhook" not in r.text
    assert "Pelanggan mengirim pesan ke salah satu nomor Anda" in r.text  # event descriptions are translated
    assert "A customer wrote to one of your numbers" not in r.text
    assert "def verify(secret: str" in r.text  # code examples stay code
    r = await post_in_indonesian(client, base + "/", {"url": "http://192.168.1.20/hook", "events": ["contact.created"]})
    assert r.status_code == 422
    assert "192.168.1.20 adalah alamat privat" in r.text and "izinkan tujuan LAN" in r.text

    r = await client.get(base + "/")
    assert "Add a webhook" in r.text and "A customer wrote to one of your numbers" in r.text


async def test_audit_log_shows_actions_in_words_and_keeps_codes(client, owner):
    await form_post(client, f"/w/{owner.slug}/settings/", {"name": "Toko Baru", "timezone": "Asia/Jakarta"},
                    htmx=True)
    r = await form_post(client, f"/w/{owner.slug}/settings/api-tokens/", {"name": "Kasir", "role": "admin"}, htmx=True)
    token = re.search(r"blz_[\w-]+", r.text).group(0)
    r = await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {token}"},
                          json={"url": "http://127.0.0.1:9/hook", "events": ["contact.created"], "allow_private": True})
    assert r.status_code == 201, r.text
    r = await client.get(f"/w/{owner.slug}/settings/audit", headers=ID)
    assert r.status_code == 200
    assert "Nama ruang kerja diubah" in r.text and "Workspace renamed" not in r.text
    assert "token API &#39;Kasir&#39;" in r.text and "Webhook ditambahkan" in r.text  # the API as the actor
    assert "Berhasil masuk" in r.text  # the owner's own sign-in
    assert 'title="workspace.renamed"' in r.text and 'value="workspace"' in r.text  # codes stay for filters
    r = await client.get(f"/w/{owner.slug}/settings/audit")
    assert "Workspace renamed" in r.text and "Signed in" in r.text and "Nama ruang kerja diubah" not in r.text

    r = await client.get(f"/w/{owner.slug}/settings/audit/export.csv?action=workspace.renamed", headers=ID)
    lines = r.text.splitlines()
    assert lines[0] == "time,time_utc,who,action,target,details,description"
    assert ",workspace.renamed," in lines[1] and lines[1].endswith(",Nama ruang kerja diubah")


async def test_diagnostics_in_indonesian_with_local_numbers(client, owner):
    r = await client.get(f"/w/{owner.slug}/settings/diagnostics", headers=ID)
    assert r.status_code == 200
    assert "Pemeriksaan" in r.text and "Komputer ini" in r.text and "Checks" not in r.text
    assert f"ruang kerja {owner.slug}" in r.text and "sehat, skema sudah terbaru" in r.text
    assert "healthy, schema up to date" not in r.text
    free = re.search(r"<dt>Ruang kosong</dt><dd>([^<]*)</dd>", r.text).group(1)
    assert re.fullmatch(r"[\d.]+(,\d)? [KMG]?B dari [\d.]+(,\d)? [KMG]?B", free), free  # 1,5 GB, not 1.5 GB

    r = await client.get(f"/w/{owner.slug}/settings/diagnostics")
    assert "Checks" in r.text and "healthy, schema up to date" in r.text and "Pemeriksaan" not in r.text


async def test_delivery_errors_are_stored_in_english_and_shown_in_the_readers_language(client, owner):
    base = f"/w/{owner.slug}/settings/webhooks"
    await form_post(client, base + "/", {"url": "http://127.0.0.1:9/hook", "events": ["contact.created"],
                                         "allow_private": "on"}, htmx=True)
    await form_post(client, f"{base}/1/test", {}, htmx=True)  # nothing listens on port 9: the attempt fails

    async def failed_once():
        text = (await client.get(f"{base}/1/log", headers=ID)).text
        return text if "mencoba lagi" in text else None

    log = await until(failed_once)
    assert "Tidak dapat terhubung:" in log and "Could not connect" not in log
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    stored = await webhooks.deliveries(ws, 1)
    assert stored[0].error.startswith("Could not connect: ")  # the API and the log keep English
    assert "Could not connect" in (await client.get(f"{base}/1/log")).text


def test_a_turn_off_reason_is_read_back_with_its_nested_reasons():
    reason = webhook_delivery.TURNED_OFF % {
        "count": 21, "since": "2026-11-25 10:00 UTC",
        "error": webhook_delivery.REFUSED % {"reason": webhooks.address_problem(ip_address("10.0.0.7"), False)}}
    with i18n.using("id"):
        said = webhook_delivery.in_words(reason)
        assert said == ("Dimatikan setelah 21 percobaan gagal berturut-turut sejak 2026-11-25 10:00 UTC. Terakhir: "
                        "Ditolak: 10.0.0.7 adalah alamat privat, loopback, atau link-local; izinkan tujuan LAN untuk "
                        "webhook ini agar dapat memakainya.")
        assert webhook_delivery.in_words("HTTP 418 from a teapot") == "HTTP 418 from a teapot"  # not ours: as is
    assert webhook_delivery.in_words(reason) == reason
