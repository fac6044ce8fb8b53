"""A campaign in Chromium from the wizard to its results: the preview marks an unknown variable, the audience count
updates as groups are ticked, launch asks first, and the campaign page's progress, counters and chart move live
(over SSE) to completed without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningServer
from tests.e2e.test_accounts import api_post, api_token, set_up_owner
from tests.e2e.test_inbox import api

pytestmark = pytest.mark.e2e

N = 6


def test_a_campaign_from_the_wizard_to_live_results(blazz_server: RunningServer, base_url: str, page: Page,
                                                     shots) -> None:
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))
    slug = set_up_owner(page, base_url)
    token = api_token(blazz_server, slug)
    account = api_post(blazz_server, token, "/accounts", {"name": "Toko", "engine": "sandbox",
                                                          "phone": "+6281100000001"})
    # Paced just enough (0.4 s between messages) that the page can be watched moving.
    api(blazz_server, token, "PATCH", f"/accounts/{account['id']}",
        {"pacing": {"gap_s": [0.4, 0.4], "pause_every": 0, "daily_cap": None, "warmup": False, "window": None,
                    "typing": False}})
    api_post(blazz_server, token, f"/accounts/{account['id']}/connect")
    api_post(blazz_server, token, f"/sandbox/accounts/{account['id']}/scan")
    for i in range(N):
        api_post(blazz_server, token, "/contacts", {"phone": f"+62812{i:08d}", "name": f"Budi{i} Santoso",
                                                   "groups": ["Pelanggan"]})
    api_post(blazz_server, token, "/groups", {"name": "Kosong"})

    page.goto(f"{base_url}/w/{slug}/campaigns")
    expect(page.get_by_role("heading", name="No campaigns yet")).to_be_visible()
    page.get_by_label("New campaign").fill("Promo Lebaran")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit/account$"))
    page.get_by_role("radio", name=re.compile("Toko")).check()
    page.get_by_role("button", name="Next").click()

    expect(page).to_have_url(re.compile(r"/edit/message$"))
    message = page.get_by_role("textbox", name="Message")
    message.fill("Halo {{first_name|Kak}} dari {{kota}}")
    expect(page.locator("[data-unknown]")).to_contain_text("{{kota}}")
    message.fill("Halo {{first_name|Kak}}, promo Lebaran!")
    expect(page.locator("[data-preview]")).to_contain_text("Halo Budi, promo Lebaran!")
    expect(page.locator("[data-unknown]")).to_have_count(0)
    page.get_by_role("button", name="Next").click()

    expect(page).to_have_url(re.compile(r"/edit/audience$"))
    page.get_by_role("checkbox", name=re.compile("Kosong")).check()
    expect(page.locator(".audience-count")).to_contain_text("Nobody is in this audience")
    page.get_by_role("checkbox", name=re.compile("Pelanggan")).check()
    expect(page.locator("[data-recipients]")).to_have_text(str(N))
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"/edit/schedule$"))
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"/edit/pacing$"))
    expect(page.locator("[data-estimate]")).to_be_visible()
    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"/edit/review$"))
    shots(page, "campaign-review")
    page.get_by_role("button", name="Launch now").click()
    page.locator("dialog[open]").get_by_role("button", name="Launch").click()

    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
    page.evaluate("window.__samePage = true")
    live = page.locator(".campaign-live")
    expect(live.locator("[data-status]")).to_have_attribute("data-status", "running")
    expect(live.locator('[data-count="sent"]')).not_to_have_text("0", timeout=8000)
    expect(live.locator("[data-status]")).to_have_attribute("data-status", "completed", timeout=15000)
    expect(live.locator('[data-count="sent"]')).to_have_text(str(N))
    expect(live.locator(".sends-chart svg rect").first).to_be_attached()
    assert page.evaluate("window.__samePage === true"), "the progress updated by reloading the page"
    page.reload()
    expect(page.locator("[data-recipient]")).to_have_count(N)
    shots(page, "campaign-completed")
    assert not errors, errors
