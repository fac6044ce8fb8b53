"""A Cloud API conversation whose 24-hour window is closed, in Chromium: the composer says only a template can reach
the customer, offers the number's approved Meta template filled in for the contact, and sending it puts the line in
the thread at once while the call reaches (the local fake of) Meta's Graph API."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningServer
from tests.e2e.test_accounts import api_post, api_token, set_up_owner
from tests.fakes.graph_api import FakeGraphApi

pytestmark = pytest.mark.e2e

CUSTOMER = "+6281234567891"
ORDER = {"name": "order_update", "language": "id", "category": "UTILITY", "status": "APPROVED", "id": "111",
         "components": [{"type": "BODY", "text": "Halo {{1}}, pesanan {{2}} sudah dikirim.",
                         "example": {"body_text": [["Budi", "#123"]]}}]}


def template_posts(graph: FakeGraphApi) -> list[dict]:
    return [r.json for r in graph.calls("POST", f"/{graph.phone_number_id}/messages")
            if r.json.get("type") == "template"]


def until(condition, within: float = 10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_the_composer_sends_an_approved_template_once_the_window_closed(
    blazz_server: RunningServer, base_url: str, page: Page, shots
) -> None:
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))
    with FakeGraphApi() as graph:
        graph.templates.append(ORDER)
        slug = set_up_owner(page, base_url)
        token = api_token(blazz_server, slug)
        number = api_post(blazz_server, token, "/accounts", {
            "name": "Official", "engine": "cloud_api", "phone_number_id": graph.phone_number_id,
            "waba_id": graph.waba_id, "access_token": graph.token, "app_secret": "app-secret-1234",
            "verify_token": "kopi-susu-9876", "graph_base_url": graph.base_url})["id"]
        api_post(blazz_server, token, f"/accounts/{number}/connect")

        # The owner syncs the number's templates from Meta on the Templates page.
        page.goto(f"{base_url}/w/{slug}/templates")
        page.get_by_role("button", name="Sync from Meta").click()
        expect(page.locator(f"#cloud-number-{number}")).to_contain_text("order_update")

        # A first template to a new customer (the API), which opens the conversation; they never wrote back.
        api_post(blazz_server, token, "/contacts", {"phone": CUSTOMER, "name": "Rina Wati"})
        api_post(blazz_server, token, "/messages", {"to": CUSTOMER, "account_id": number, "template": {
            "name": "order_update", "variables": {"body.1": "Rina", "body.2": "#778"}}})
        until(lambda: len(template_posts(graph)) == 1)

        page.goto(f"{base_url}/w/{slug}/inbox")
        page.locator(".conv-item").first.click()
        thread = page.locator("#thread")
        expect(thread).to_contain_text("Halo Rina, pesanan #778 sudah dikirim.")
        expect(page.get_by_text("Only a template can reach this customer now")).to_be_visible()
        form = page.locator("#composer-template")
        expect(form).to_be_visible()
        expect(form.locator("[data-template-preview]")).to_contain_text("pesanan")
        inputs = form.locator("[data-template-param]")
        expect(inputs).to_have_count(2)
        inputs.nth(0).fill("Rina")
        inputs.nth(1).fill("#779")
        shots(page, "composer-template")
        form.get_by_role("button", name="Send template").click()

        expect(thread).to_contain_text("Halo Rina, pesanan #779 sudah dikirim.")
        expect(inputs.nth(1)).to_have_value("")
        sent = until(lambda: template_posts(graph)[1:])
        assert sent[0]["to"].lstrip("+") == CUSTOMER.lstrip("+")
        assert sent[0]["template"]["components"] == [{"type": "body", "parameters": [
            {"type": "text", "text": "Rina"}, {"type": "text", "text": "#779"}]}]
        expect(page.get_by_text("Only a template can reach this customer now")).to_be_visible()
    assert not errors, errors
