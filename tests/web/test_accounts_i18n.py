"""The WhatsApp numbers page in Bahasa Indonesia when the browser asks for it (and in English when it does not),
including what the engines say about a number: blazz/whatsapp speaks English, the page translates it."""

from __future__ import annotations

import json

from blazz import accounts, i18n
from tests.web.test_accounts_page import act, add, card_of, state_of, until, workspace
from tests.web.test_api_base import make_token
from tests.web.test_events_stream import live_server, logged_in, read_events  # noqa: F401 (fixture)

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}


async def test_the_numbers_page_speaks_the_browsers_language(client, owner):
    url = f"/w/{owner.slug}/accounts"
    english = (await client.get(url)).text
    assert "No WhatsApp numbers yet" in english and "Belum ada nomor WhatsApp" not in english

    client.headers.update(ID)
    page = (await client.get(url)).text
    assert "Belum ada nomor WhatsApp" in page and "Tambah nomor" in page
    assert "No WhatsApp numbers yet" not in page and "Add a number" not in page
    form = (await client.get(url + "/new", headers={"hx-request": "true"})).text
    assert "Cara tersambung" in form and "ID nomor telepon" in form and "How it connects" not in form

    r = await add(client, owner.slug)
    assert json.loads(r.headers["hx-trigger"])["toast"]["message"] == "Shop front ditambahkan."
    assert "Tidak tersambung" in card_of(r.text, 1) and "Not connected" not in card_of(r.text, 1)
    r = await act(client, owner.slug, 1, "connect")
    card = card_of(r.text, 1)
    assert 'aria-label="Kode QR untuk menautkan Shop front"' in card and "Simulasikan pindaian" in card
    assert "Tautkan dengan nomor telepon saja" in card and "Link with phone number instead" not in card


async def test_engine_reasons_and_refusals_are_shown_in_indonesian(client, owner):
    client.headers.update(ID)
    await add(client, owner.slug)
    r = await act(client, owner.slug, 1, "pair", {"phone": "0812"})
    assert r.status_code == 422 and "&#39;0812&#39; bukan nomor telepon dengan kode negara" in r.text
    assert "is not a phone number" not in r.text

    await act(client, owner.slug, 1, "connect")
    r = await act(client, owner.slug, 1, "connect")
    assert r.status_code == 409 and "Nomor WhatsApp ini sudah tersambung" in r.text

    await act(client, owner.slug, 1, "scan")
    token = await make_token(client, owner.slug, "admin")
    r = await client.patch("/api/v1/sandbox/accounts/1", json={"unlink": True},
                           headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    await until(lambda: _logged_out(client, owner.slug))
    page = (await client.get(f"/w/{owner.slug}/accounts")).text
    card = card_of(page, 1)
    assert state_of(page, 1) == "logged_out" and "Sudah keluar" in card and "Tautkan lagi" in card
    assert "Ponsel menghapus perangkat tertaut ini." in card and "The phone removed this linked device." not in card

    client.headers.pop("Accept-Language")
    card = card_of((await client.get(f"/w/{owner.slug}/accounts")).text, 1)
    assert "The phone removed this linked device." in card and "Link again" in card


async def _logged_out(client, slug: str) -> bool:
    ws = await workspace(client, slug)
    return ws.sessions.state((ws.id, 1)).state == "logged_out"


def test_engine_sentences_are_translated_with_their_details():
    with i18n.using("id"):
        assert accounts.engine_text("WhatsApp refused the connection. Reconnecting.") == (
            "WhatsApp menolak koneksi. Menyambungkan ulang.")
        assert accounts.engine_text("Meta rejected the access token: Invalid OAuth access token") == (
            "Meta menolak token akses: Invalid OAuth access token")
        # A known sentence inside another is translated too; an unknown detail (Go's words) stays as it is.
        assert accounts.engine_text("Logged out here; the phone may still list this device (Could not connect to "
                                    "WhatsApp (EOF).)") == ("Sudah keluar di sini; ponsel mungkin masih menampilkan "
                                                            "perangkat ini (Tidak dapat tersambung ke WhatsApp (EOF).)")
        assert accounts.engine_text("something only Go says") == "something only Go says"
        message, params = accounts.engine_message("'0812' is not a phone number with its country code; enter it "
                                                  "like +62 812 3456 7890 (no leading 0).")
        assert params == {"phone": "'0812'"} and message in accounts.ENGINE_TEXTS
    assert accounts.engine_text("WhatsApp refused the connection. Reconnecting.") == (
        "WhatsApp refused the connection. Reconnecting.")
    assert accounts.engine_text(None) == ""


async def test_live_cards_reach_each_tab_in_its_own_language(live_server):  # noqa: F811
    base, app = live_server
    owner = await logged_in(base, True, "owner@shop.test")
    rt = app.state.runtime
    ws = await rt.workspace_by_slug("shop-a")
    async with owner.stream("GET", "/w/shop-a/events", headers=ID) as indonesian, \
            owner.stream("GET", "/w/shop-a/events", headers={"Accept-Language": "en"}) as english:
        id_lines, en_lines = indonesian.aiter_lines(), english.aiter_lines()
        assert (await read_events(id_lines, 1, 5))[0][0] == "hello"
        assert (await read_events(en_lines, 1, 5))[0][0] == "hello"
        await until(lambda: _subscribed(rt, ws.id, 2))
        r = await owner.post("/w/shop-a/accounts/", data={"name": "Shop front", "engine": "sandbox"},
                             headers={"x-csrftoken": owner.cookies["blazz_csrf"], "hx-request": "true"})
        assert r.status_code == 200, r.text
        id_cards = [data for name, data in await read_events(id_lines, 1, 5) if name == "account.state"]
        en_cards = [data for name, data in await read_events(en_lines, 1, 5) if name == "account.state"]
        assert id_cards and "Tidak tersambung" in id_cards[0] and "Not connected" not in id_cards[0]
        assert en_cards and "Not connected" in en_cards[0] and "Tidak tersambung" not in en_cards[0]
    await owner.aclose()


async def _subscribed(rt, workspace_id: int, count: int) -> bool:
    return rt.bus.subscribers(workspace_id) >= count
