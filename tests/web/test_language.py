"""Languages through the real app: the browser's Accept-Language by default, a person's saved choice beating it,
and the pages of the account area and the shared layout (errors, numbers, dates, the scripts' strings) following."""

from __future__ import annotations

import json
import re

from blazz.store import users as users_store
from tests.conftest import OWNER_EMAIL, csrf_of, form_post, login

ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


async def post(client, url: str, data: dict, headers: dict | None = None, **kw):
    """A browser form post (with the CSRF token) that also sends a language header."""
    if not csrf_of(client):
        await client.get("/login")
    return await client.post(url, data=data, headers={"x-csrftoken": csrf_of(client), **(headers or {})}, **kw)


async def saved_locale(client) -> str | None:
    return (await users_store.by_email(client.app.state.runtime.app_db, OWNER_EMAIL)).locale


def js_catalog(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="blazz-i18n">(.*?)</script>', html, re.S)
    assert match, "every page carries the scripts' catalog"
    return json.loads(match.group(1))


async def test_setup_and_login_pages_follow_the_browser(client):
    r = await client.get("/setup", headers=ID)
    assert r.status_code == 200 and "Selamat datang di Blazz" in r.text and "Welcome to Blazz" not in r.text
    assert '<html lang="id">' in r.text and "Nama usaha" in r.text
    r = await client.get("/setup")
    assert "Welcome to Blazz" in r.text and "Selamat datang" not in r.text and '<html lang="en">' in r.text

    await post(client, "/setup", {"name": "Sari", "email": OWNER_EMAIL, "password": "correct horse battery",
                                  "workspace": "Toko Sinar"})
    await post(client, "/logout", {})
    r = await client.get("/login", headers=ID)
    assert "Lupa kata sandi?" in r.text and "Forgot your password?" not in r.text
    r = await client.get("/login", headers=EN)
    assert "Forgot your password?" in r.text and "Lupa kata sandi?" not in r.text
    r = await client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Forgot your password?" in r.text, "a language Blazz does not speak falls back to English"


async def test_error_messages_and_numbers_in_indonesian(client, owner):
    await post(client, "/logout", {})
    r = await post(client, "/login", {"email": OWNER_EMAIL, "password": "wrong password!"}, ID)
    assert r.status_code == 401 and "Email atau kata sandi salah." in r.text and "Wrong email" not in r.text
    r = await post(client, "/login", {"email": OWNER_EMAIL, "password": "wrong password!"})
    assert r.status_code == 401 and "Wrong email or password." in r.text

    await login(client, OWNER_EMAIL, owner.password)
    long = "Ab1-" * 300  # 1,200 characters: over the limit, which reads as a localised number
    r = await post(client, "/account/password", {"current_password": owner.password, "new_password": long,
                                                 "confirm_password": long}, {**ID, "hx-request": "true"})
    assert r.status_code == 422 and "Gunakan paling banyak 1.024 karakter." in r.text
    r = await post(client, "/account/password", {"current_password": owner.password, "new_password": long,
                                                 "confirm_password": long}, {"hx-request": "true"})
    assert r.status_code == 422 and "Use at most 1,024 characters." in r.text


async def test_a_saved_language_beats_the_browser_and_browser_default_clears_it(client, owner):
    r = await client.get("/account", headers=EN)
    assert r.status_code == 200 and "Your account" in r.text and "Browser default (English)" in r.text
    assert await saved_locale(client) is None

    r = await post(client, "/account/language", {"locale": "id"}, EN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert await saved_locale(client) == "id"
    r = await client.get("/account", headers=EN)
    assert "Akun Anda" in r.text and "Your account" not in r.text and '<html lang="id">' in r.text
    assert 'value="id" lang="id" selected' in r.text
    r = await client.get(f"/w/{owner.slug}/settings/members", headers=EN)
    assert "Kotak masuk" in r.text and "Undang rekan tim" in r.text and "Invite a teammate" not in r.text

    await post(client, "/account/language", {"locale": "en"}, ID)
    assert await saved_locale(client) == "en"
    r = await client.get("/account", headers=ID)
    assert "Your account" in r.text and "Akun Anda" not in r.text

    await post(client, "/account/language", {"locale": ""}, ID)
    assert await saved_locale(client) is None
    r = await client.get("/account", headers=ID)
    assert "Akun Anda" in r.text and "Ikuti browser (Bahasa Indonesia)" in r.text
    r = await client.get("/account", headers=EN)
    assert "Your account" in r.text


async def test_an_unknown_language_is_refused_and_nothing_changes(client, owner):
    await post(client, "/account/language", {"locale": "id"})
    for bad in ("fr", "xx-YY", "ID ", "<script>"):
        r = await post(client, "/account/language", {"locale": bad}, EN)
        assert r.status_code == 422, bad
        assert "Pilih bahasa dari daftar." in r.text, "the error speaks the person's language"
        assert await saved_locale(client) == "id"


async def test_changing_the_language_needs_the_csrf_token(client, owner):
    r = await client.post("/account/language", data={"locale": "id"})
    assert r.status_code == 403
    assert await saved_locale(client) is None
    r = await client.post("/account/language", data={"locale": "id"}, headers={"x-csrftoken": "forged", **ID})
    assert r.status_code == 403 and "Formulir ini sudah kedaluwarsa" in r.text, "a stale form, said in Indonesian"
    assert await saved_locale(client) is None


async def test_dates_and_roles_on_the_team_page_follow_the_language(client, owner):
    r = await form_post(client, f"/w/{owner.slug}/settings/members/invite", {"role": "agent", "email": ""}, htmx=True)
    assert r.status_code == 200
    r = await client.get(f"/w/{owner.slug}/settings/members", headers=ID)
    assert "dalam 1 minggu" in r.text and "in 1 week" not in r.text, "the invitation's expiry, in words"
    assert "baru saja" in r.text or "yang lalu" in r.text, "the owner's last login"
    assert ">agen</td>" in r.text and ">pemilik</option>" in r.text
    assert "Keluarkan" not in r.text, "the only owner cannot be removed, so no confirm text"
    r = await client.get(f"/w/{owner.slug}/settings/members", headers=EN)
    assert "in 1 week" in r.text and ">agent</td>" in r.text and "dalam 1 minggu" not in r.text


async def test_error_pages_speak_the_browser_language(client, owner):
    r = await client.get("/w/no-such-shop/inbox", headers=ID)
    assert r.status_code == 404 and "Halaman tidak ditemukan" in r.text and "Ke beranda" in r.text
    assert "Page not found" not in r.text
    r = await client.get("/w/no-such-shop/inbox")
    assert r.status_code == 404 and "Page not found" in r.text and "Go home" in r.text


async def test_the_scripts_catalog_holds_indonesian_strings(client, owner):
    r = await client.get("/account", headers=ID)
    catalog = js_catalog(r.text)
    assert catalog["Are you sure?"] == "Anda yakin?" and catalog["Copied to clipboard"] == "Disalin ke papan klip"
    assert catalog["Reconnecting…"] == "Menyambung ulang…"
    assert "%(status)s" in catalog["Something went wrong (%(status)s). Please try again."]
    r = await client.get("/account")
    assert js_catalog(r.text) == {}, "English pages need no catalog: the scripts are written in English"
