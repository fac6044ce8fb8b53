"""Connecting a WhatsApp number in a real browser: add a sandbox number, see its QR, scan it, watch it turn live."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningServer
from tests.fakes.graph_api import FakeGraphApi

pytestmark = pytest.mark.e2e

OWNER = {"name": "Sari Wulandari", "email": "sari@tokosinar.test", "password": "kopi susu gula aren"}


def set_up_owner(page: Page, base_url: str) -> str:
    page.goto(base_url)
    page.get_by_label("Your name").fill(OWNER["name"])
    page.get_by_label("Email").fill(OWNER["email"])
    page.get_by_label("Password").fill(OWNER["password"])
    page.get_by_label("Business name").fill("Toko Sinar Jaya")
    page.get_by_role("button", name="Create and continue").click()
    expect(page).to_have_url(re.compile(r"/w/[a-z0-9-]+/inbox$"))
    return re.search(r"/w/([a-z0-9-]+)/inbox$", page.url).group(1)


def api_token(server: RunningServer, slug: str) -> str:
    """An admin API token, made with the CLI while the server runs (as an integrator would)."""
    r = subprocess.run([sys.executable, "-m", "blazz", "admin", "create-token", "--workspace", slug, "--name", "e2e",
                        "--role", "admin", "--data-dir", str(server.data_dir)],
                       capture_output=True, text=True, timeout=60, check=True)
    return r.stdout.strip()


def api_post(server: RunningServer, token: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{server.url}/api/v1{path}", data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def card(page: Page, name: str):
    return page.locator("article.account-card").filter(has=page.get_by_role("heading", name=name))


def test_a_sandbox_number_is_added_connected_and_scanned_without_a_reload(
    blazz_server: RunningServer, base_url: str, page: Page, shots
) -> None:
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))
    slug = set_up_owner(page, base_url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Numbers").click()
    expect(page).to_have_url(f"{base_url}/w/{slug}/accounts")
    expect(page.get_by_role("heading", name="No WhatsApp numbers yet")).to_be_visible()
    expect(page.locator("[data-live-indicator]")).to_have_attribute("data-live", "open")
    shots(page, "accounts-empty")

    # Add a number: the dialog; Cloud API reveals its own fields.
    page.get_by_role("button", name="Add a number").first.click()
    dialog = page.get_by_role("dialog", name="Add a WhatsApp number")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Phone number ID", exact=True)).to_be_hidden()
    dialog.get_by_text("WhatsApp Cloud API", exact=True).click()
    expect(dialog.get_by_label("Phone number ID", exact=True)).to_be_visible()
    expect(dialog.get_by_label("Verify token", exact=True)).to_be_visible()
    shots(page, "accounts-add-cloud")
    dialog.get_by_role("button", name="Add number").click()
    expect(dialog.locator("#e-name")).to_contain_text("Give the number a name")  # nothing created
    expect(dialog.get_by_label("Phone number ID", exact=True)).to_be_visible()  # still the Cloud API choice
    dialog.get_by_label("Name").fill("Shop front")
    dialog.get_by_text("Sandbox", exact=True).click()
    expect(dialog.get_by_label("Phone number ID", exact=True)).to_be_hidden()
    dialog.get_by_role("button", name="Add number").click()
    expect(dialog).to_be_hidden()

    shop = card(page, "Shop front")
    expect(shop).to_have_attribute("data-state", "stopped")
    expect(shop.get_by_text("Sandbox", exact=True)).to_be_visible()
    expect(shop.get_by_role("status")).to_have_text("Not connected")
    page.evaluate("window.__samePage = true")

    # Connect: a QR code drawn as SVG, with its countdown.
    shop.get_by_role("button", name="Connect").click()
    expect(shop).to_have_attribute("data-state", "qr")
    qr = shop.get_by_role("img", name="QR code to link Shop front")
    expect(qr).to_be_visible()
    expect(shop.locator("[data-countdown]")).to_have_text(re.compile(r"^0:[0-2]\d$"))
    first_code = qr.inner_html()
    shots(page, "accounts-qr")

    # Another tab sees the same card; an integrator's scan through the API turns both Connected live.
    other = page.context.new_page()
    other.goto(f"{base_url}/w/{slug}/accounts")
    expect(other.locator("[data-live-indicator]")).to_have_attribute("data-live", "open")
    other.evaluate("window.__samePage = true")
    expect(card(other, "Shop front")).to_have_attribute("data-state", "qr")
    token = api_token(blazz_server, slug)
    assert api_post(blazz_server, token, "/sandbox/accounts/1/scan")["status"] == "connected"
    for tab in (page, other):
        expect(card(tab, "Shop front")).to_have_attribute("data-state", "connected")
        expect(card(tab, "Shop front").get_by_role("status")).to_have_text("Connected")
        assert tab.evaluate("window.__samePage === true"), "the card turned connected by a reload"
    assert first_code, "the QR was there before the scan"

    # A number added elsewhere (here by the API) appears in every open tab.
    api_post(blazz_server, token, "/accounts", {"name": "Warehouse", "engine": "sandbox"})
    for tab in (page, other):
        expect(card(tab, "Warehouse")).to_have_attribute("data-state", "stopped")
        assert tab.evaluate("window.__samePage === true")
    shots(page, "accounts-connected")

    # Log out, link again, and this time use the Simulate scan button.
    shop.get_by_label("More actions for Shop front").click()
    shop.get_by_role("menuitem", name="Log out").click()
    page.get_by_role("dialog").get_by_role("button", name="Log out").click()
    expect(shop).to_have_attribute("data-state", "logged_out")
    shop.get_by_role("button", name="Link again").click()
    expect(shop).to_have_attribute("data-state", "qr")
    shop.get_by_role("button", name="Simulate scan").click()
    expect(shop).to_have_attribute("data-state", "connected")
    expect(card(other, "Shop front")).to_have_attribute("data-state", "connected")
    assert page.evaluate("window.__samePage === true")
    assert errors == [], errors


def test_pairing_by_phone_number_and_deleting_a_number(base_url: str, page: Page, shots) -> None:
    slug = set_up_owner(page, base_url)
    page.goto(f"{base_url}/w/{slug}/accounts")
    expect(page.locator("[data-live-indicator]")).to_have_attribute("data-live", "open")
    page.get_by_role("button", name="Add a number").first.click()
    dialog = page.get_by_role("dialog", name="Add a WhatsApp number")
    dialog.get_by_label("Name").fill("Front desk")
    dialog.get_by_text("Sandbox", exact=True).click()
    dialog.get_by_role("button", name="Add number").click()
    front = card(page, "Front desk")
    front.get_by_role("button", name="Connect").click()
    front.get_by_role("button", name="Link with phone number instead").click()

    pair = page.get_by_role("dialog", name="Link Front desk with a phone number")
    pair.get_by_label("WhatsApp number of the phone").fill("0812")
    pair.get_by_role("button", name="Get a code").click()
    expect(pair.locator("#e-phone")).to_contain_text("country code")
    pair.get_by_label("WhatsApp number of the phone").fill("+62 812 3456 7890")
    pair.get_by_role("button", name="Get a code").click()
    code_dialog = page.get_by_role("dialog", name="Your code for Front desk")
    expect(code_dialog.locator(".pair-code")).to_have_text(re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$"))
    expect(front).to_have_attribute("data-state", "pairing")
    shots(page, "accounts-pair-code")
    code_dialog.get_by_role("button", name="Done").click()
    expect(front.locator(".pair-code")).to_be_visible()
    front.get_by_role("button", name="Simulate scan").click()
    expect(front).to_have_attribute("data-state", "connected")
    expect(front).to_contain_text("+6281234567890")

    front.get_by_label("More actions for Front desk").click()
    front.get_by_role("menuitem", name="Delete…").click()
    confirm = page.get_by_role("dialog").filter(has_text="Delete Front desk?")
    expect(confirm).to_contain_text("conversations and messages stay in the inbox")
    confirm.get_by_role("button", name="Delete number").click()
    expect(front).to_have_count(0)
    expect(page.get_by_role("heading", name="No WhatsApp numbers yet")).to_be_visible()


def test_a_cloud_api_number_with_a_wrong_token_says_so_and_connects_once_fixed(base_url: str, page: Page,
                                                                                 shots) -> None:
    slug = set_up_owner(page, base_url)
    page.goto(f"{base_url}/w/{slug}/accounts")
    with FakeGraphApi() as graph:
        page.get_by_role("button", name="Add a number").first.click()
        dialog = page.get_by_role("dialog", name="Add a WhatsApp number")
        dialog.get_by_label("Name").fill("Official line")
        dialog.get_by_text("WhatsApp Cloud API", exact=True).click()
        fields = (("Phone number ID", graph.phone_number_id), ("WhatsApp Business Account ID", graph.waba_id),
                  ("Access token", "EAAG-not-the-token"), ("App secret", "app-secret-1234"),
                  ("Verify token", "kopi-susu-9876"), ("Graph API address (optional)", graph.base_url))
        for label, value in fields:
            dialog.get_by_label(label, exact=True).fill(value)
        dialog.get_by_role("button", name="Add number").click()

        settings = page.get_by_role("dialog", name="Official line: Cloud API settings")
        expect(settings.get_by_role("alert")).to_contain_text("The number was added but is not connected")
        expect(settings.locator("#e-access_token")).to_contain_text("Meta rejected the access token")
        official = card(page, "Official line")
        expect(official).to_have_attribute("data-state", "failed")
        expect(official.get_by_role("alert")).to_contain_text("Meta rejected the access token")
        shots(page, "accounts-cloud-wrong-token")

        settings.get_by_label("Access token", exact=True).fill(graph.token)
        settings.get_by_role("button", name="Save and connect").click()
        expect(settings).to_be_hidden()
        expect(official).to_have_attribute("data-state", "connected")
        expect(official).to_contain_text("+15550783881")
        webhook = re.compile(re.escape(base_url) + r"/webhooks/cloud/\d+\.[A-Za-z0-9_-]+$")
        expect(official.locator(".webhook-box code")).to_have_text(webhook)
        shots(page, "accounts-cloud-connected")
        official.get_by_role("button", name="Disconnect").click()
        expect(official).to_have_attribute("data-state", "stopped")
        page.wait_for_timeout(300)  # let the pushed card (which carries no webhook key) arrive too
        expect(official.locator(".webhook-box code")).to_have_text(webhook)
