"""A browser set to Indonesian gets Blazz in Bahasa Indonesia from the first page, including what the scripts say;
switching to English on the Account page wins over the browser from then on."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e


def test_an_indonesian_browser_sees_indonesian_and_a_saved_choice_wins(
    blazz_server: RunningServer, base_url: str, new_context, shots
) -> None:
    page = new_context(locale="id-ID").new_page()
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))
    page.goto(base_url)
    expect(page.locator("html")).to_have_attribute("lang", "id")
    page.get_by_label("Nama Anda").fill("Sari Wulandari")
    page.get_by_label("Email").fill("sari@tokosinar.test")
    page.get_by_label("Kata sandi").fill("kopi susu gula aren")
    page.get_by_label("Nama usaha").fill("Toko Sinar Jaya")
    page.get_by_role("button", name="Buat dan lanjutkan").click()
    expect(page).to_have_url(re.compile(r"/w/[a-z0-9-]+/inbox$"))
    nav = page.get_by_role("navigation", name=re.compile("Utama|Main"))
    expect(nav.get_by_role("link", name="Kontak")).to_be_visible()
    expect(page.get_by_role("heading", name="Belum ada percakapan di sini")).to_be_visible()
    expect(page.locator("[data-live-indicator]")).to_have_attribute("data-live", "open")

    # What app.js writes itself comes from the page's catalog: the shortcut help.
    page.locator("body").press("?")
    help_dialog = page.get_by_role("dialog")
    expect(help_dialog.get_by_role("heading", name="Pintasan keyboard")).to_be_visible()
    expect(help_dialog).to_contain_text("Tampilkan pintasan keyboard")
    shots(page, "indonesian-shortcuts")
    page.keyboard.press("Escape")

    # The person picks English: it wins over the browser's Indonesian from now on.
    page.goto(f"{base_url}/account")
    language = page.locator("form#language")
    language.get_by_label("Bahasa Blazz untuk Anda").select_option("en")
    language.get_by_role("button", name="Simpan").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(base_url)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts")).to_be_visible()
    assert not errors, errors
