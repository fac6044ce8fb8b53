"""The inbox in Chromium with two agents in two browsers: a sandbox customer writes, both see it live, one
replies, the other sees the reply arrive and its ticks move to read. Message text is shown as text, never run."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningServer
from tests.e2e.test_accounts import api_post, api_token, set_up_owner

pytestmark = pytest.mark.e2e

AGENT = {"name": "Budi Santoso", "email": "budi@tokosinar.test", "password": "teh manis hangat"}
CUSTOMER = "+6281234567890"
UNTRUSTED = '<img src=x onerror="window.__xss = 1">Halo <b>kak</b><script>window.__xss = 2</script>'


def api(server: RunningServer, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{server.url}/api/v1{path}", data=json.dumps(body or {}).encode(), method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def invite_agent(owner: Page, base_url: str, slug: str, new_context) -> Page:
    owner.goto(f"{base_url}/w/{slug}/settings/members")
    owner.get_by_label("Role", exact=True).select_option("agent")
    owner.get_by_role("button", name="Create link").click()
    link = re.search(re.escape(base_url) + r"/invite/[A-Za-z0-9_-]+",
                     owner.locator("[data-invite-link]").inner_text()).group(0)
    agent = new_context().new_page()
    agent.goto(link)
    agent.get_by_label("Your name").fill(AGENT["name"])
    agent.get_by_label("Email").fill(AGENT["email"])
    agent.get_by_label("Choose a password").fill(AGENT["password"])
    agent.get_by_role("button", name="Create account and join").click()
    expect(agent).to_have_url(f"{base_url}/w/{slug}/inbox")
    return agent


def live(page: Page) -> None:
    expect(page.locator("[data-live-indicator]")).to_have_attribute("data-live", "open")


def test_two_agents_see_a_customer_live_one_replies_and_the_other_sees_it_read(
    blazz_server: RunningServer, base_url: str, page: Page, new_context, shots
) -> None:
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))
    slug = set_up_owner(page, base_url)
    token = api_token(blazz_server, slug)
    account = api_post(blazz_server, token, "/accounts", {"name": "Toko", "engine": "sandbox",
                                                          "phone": "+6281100000001"})
    api_post(blazz_server, token, f"/accounts/{account['id']}/connect")
    api_post(blazz_server, token, f"/sandbox/accounts/{account['id']}/scan")
    api(blazz_server, token, "PATCH", f"/sandbox/accounts/{account['id']}", {"receipt_delay_ms": 100,
                                                                             "read_delay_ms": 600})
    agent = invite_agent(page, base_url, slug, new_context)
    agent.on("pageerror", lambda exc: errors.append(exc))

    page.goto(f"{base_url}/w/{slug}/inbox")
    for p in (page, agent):
        live(p)
        expect(p.get_by_role("heading", name="No conversations here")).to_be_visible()
        p.evaluate("window.__samePage = true")

    # A customer writes: both lists show the conversation, unread, without a reload.
    api_post(blazz_server, token, f"/sandbox/accounts/{account['id']}/inbound",
             {"from": CUSTOMER, "text": UNTRUSTED})
    for p in (page, agent):
        item = p.locator(".conv-item").first
        expect(item).to_contain_text("+62 812-3456-7890")
        expect(item.locator(".unread-count")).to_have_text("1")
        expect(item.locator(".conv-preview")).to_contain_text("Halo <b>kak</b>")
        assert p.evaluate("window.__samePage === true"), "the list updated by reloading the page"
    shots(page, "inbox-new-message")

    # The owner starts a reply and leaves it half-typed while the agent works the conversation.
    page.locator(".conv-item").first.click()
    expect(page.locator("#thread-messages .bubble.in .text")).to_have_text(UNTRUSTED)
    page.locator("#composer textarea").fill("Sebentar ya")

    agent.locator(".conv-item").first.click()
    bubble = agent.locator("#thread-messages .bubble.in")
    expect(bubble.locator(".text")).to_have_text(UNTRUSTED)
    expect(bubble.locator("img, b, script")).to_have_count(0)
    expect(agent.locator(".conv-item").first.locator(".unread-count")).to_have_count(0)
    expect(page.locator(".conv-item").first.locator(".unread-count")).to_have_count(0)

    agent.locator("#composer textarea").fill("Halo kak, ada yang bisa dibantu?")
    agent.locator("#composer textarea").press("Enter")
    mine = agent.locator("#thread-messages .bubble.out")
    expect(mine.locator(".text")).to_have_text("Halo kak, ada yang bisa dibantu?")
    expect(agent.locator("#composer textarea")).to_have_value("")
    expect(mine.locator(".ticks")).to_have_class(re.compile(r"\bread\b"), timeout=15_000)

    # The owner's open thread shows the reply arrive and its ticks reach read; the draft is untouched.
    theirs = page.locator("#thread-messages .bubble.out")
    expect(theirs.locator(".text")).to_have_text("Halo kak, ada yang bisa dibantu?")
    expect(theirs.locator(".ticks")).to_have_class(re.compile(r"\bread\b"), timeout=15_000)
    expect(page.locator("#composer textarea")).to_have_value("Sebentar ya")
    expect(page.locator(".conv-item").first.locator(".conv-preview")).to_contain_text("Halo kak, ada yang")
    shots(agent, "inbox-thread")

    # The agent takes the conversation and resolves it; the owner's header and thread follow.
    agent.locator("#thread-header summary").click()
    agent.get_by_role("menuitem", name="Assign to me").click()
    expect(page.locator("#thread-header .who small")).to_contain_text("assigned to Budi Santoso")
    agent.keyboard.press("Escape")
    agent.locator("#thread-messages").click()
    agent.keyboard.press("e")
    expect(agent.locator("#thread-header [data-status-badge]")).to_have_text("Resolved")
    expect(page.locator("#thread-header [data-status-badge]")).to_have_text("Resolved")
    expect(page.locator("#thread-messages .bubble.event").last).to_contain_text("Budi Santoso resolved")
    for p in (page, agent):
        assert p.evaluate("window.__xss === undefined"), "message text ran as code"
        assert p.evaluate("window.__samePage === true")
    assert not errors, errors


def test_the_list_scrolls_for_more_and_keeps_its_place_when_a_chat_jumps_to_the_top(
    blazz_server: RunningServer, base_url: str, page: Page
) -> None:
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))
    slug = set_up_owner(page, base_url)
    token = api_token(blazz_server, slug)
    account = api_post(blazz_server, token, "/accounts", {"name": "Toko", "engine": "sandbox",
                                                          "phone": "+6281100000001"})
    api_post(blazz_server, token, f"/accounts/{account['id']}/connect")
    api_post(blazz_server, token, f"/sandbox/accounts/{account['id']}/scan")
    for i in range(60):
        api_post(blazz_server, token, f"/sandbox/accounts/{account['id']}/inbound",
                 {"from": f"+62812555{i:05d}", "text": f"pesan nomor {i}"})
    page.goto(f"{base_url}/w/{slug}/inbox")
    live(page)
    items = page.locator("#conv-list .conv-item")
    expect(items).to_have_count(50)
    expect(items.first).to_contain_text("pesan nomor 59")
    page.locator("#conv-list").evaluate("el => el.scrollTop = el.scrollHeight")
    expect(items).to_have_count(60)  # the next page came in as the list scrolled

    # Reading the middle of the list: the oldest chat gets a message and jumps to the top, above the fold.
    page.locator("#conv-list").evaluate("el => el.scrollTop = el.scrollHeight / 2")
    anchor = page.evaluate("""() => { const list = document.getElementById('conv-list');
        const top = list.getBoundingClientRect().top;
        const item = [...list.querySelectorAll('.conv-item')].find(i => i.getBoundingClientRect().top >= top);
        return {id: item.id, y: item.getBoundingClientRect().top}; }""")
    api_post(blazz_server, token, f"/sandbox/accounts/{account['id']}/inbound",
             {"from": "+6281255500000", "text": "masih ada stok?"})
    expect(items.first).to_contain_text("masih ada stok?")
    expect(items).to_have_count(60)
    y = page.evaluate(f"document.getElementById('{anchor['id']}').getBoundingClientRect().top")
    assert abs(y - anchor["y"]) < 3, f"the list moved under the reader: {anchor['y']} → {y}"

    # Keyboard: j opens the next conversation, k goes back.
    page.locator("#conv-list").evaluate("el => el.scrollTop = 0")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    expect(page.locator("#thread-header .who strong")).to_contain_text("+62 812-5550-0000")
    page.keyboard.press("j")
    expect(page.locator("#conv-list .conv-item.active")).to_contain_text("pesan nomor 59")
    page.keyboard.press("k")
    expect(page.locator("#conv-list .conv-item.active")).to_contain_text("masih ada stok?")
    assert not errors, errors
