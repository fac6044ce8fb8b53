"""A new owner's first run in a real browser: setup, login, inviting an agent, and what each role may reach."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

OWNER = {"name": "Sari Wulandari", "email": "sari@tokosinar.test", "password": "kopi susu gula aren"}
AGENT = {"name": "Budi Santoso", "email": "budi@tokosinar.test", "password": "nasi goreng pedas"}
WORKSPACE = "Toko Sinar Jaya"


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def fill_login(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_new_owner_sets_up_logs_in_and_invites_an_agent_who_gets_only_agent_access(
    base_url: str, page: Page, new_context, shots
) -> None:
    # First visit: an empty install sends everyone to setup.
    page.goto(base_url)
    expect(page).to_have_url(f"{base_url}/setup")
    expect(page.get_by_role("heading", name="Welcome to Blazz")).to_be_visible()
    shots(page, "setup")

    # A weak password is refused with the rule it breaks; the other answers stay, and nothing is created.
    page.get_by_label("Your name").fill(OWNER["name"])
    page.get_by_label("Email").fill(OWNER["email"])
    page.get_by_label("Password").fill("kopi123")
    page.get_by_label("Business name").fill(WORKSPACE)
    page.get_by_role("button", name="Create and continue").click()
    expect(page.locator("#e-password")).to_have_text("Use at least 10 characters.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_have_value(OWNER["email"])
    expect(page.get_by_label("Business name")).to_have_value(WORKSPACE)
    page.goto(f"{base_url}/login")
    expect(page).to_have_url(f"{base_url}/setup")  # still no owner, so login is not offered yet

    page.get_by_label("Your name").fill(OWNER["name"])
    page.get_by_label("Email").fill(OWNER["email"])
    page.get_by_label("Password").fill(OWNER["password"])
    page.get_by_label("Business name").fill(WORKSPACE)
    page.get_by_role("button", name="Create and continue").click()

    # The workspace shell: the owner sees the whole navigation, Settings included.
    expect(page).to_have_url(re.compile(re.escape(base_url) + r"/w/[a-z0-9-]+/inbox$"))
    slug = re.search(r"/w/([a-z0-9-]+)/inbox$", page.url).group(1)
    nav = main_nav(page)
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="Inbox")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Settings")).to_be_visible()
    expect(page.get_by_text(WORKSPACE).first).to_be_visible()
    shots(page, "shell")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base_url}/login")
    page.goto(f"{base_url}/w/{slug}/inbox")
    expect(page).to_have_url(re.compile(re.escape(f"{base_url}/login")))  # the session is really gone

    page.goto(f"{base_url}/login")
    fill_login(page, OWNER["email"], "kopi susu gula merah")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(f"{base_url}/login")

    fill_login(page, OWNER["email"], OWNER["password"])
    expect(page).to_have_url(f"{base_url}/w/{slug}/inbox")

    # Settings → Team, then an invitation link for an agent, swapped in by htmx without a page load.
    main_nav(page).get_by_role("link", name="Settings").click()
    expect(page).to_have_url(f"{base_url}/w/{slug}/settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Team").click()
    expect(page).to_have_url(f"{base_url}/w/{slug}/settings/members")
    expect(page.get_by_role("heading", name="Invite a teammate")).to_be_visible()
    page.evaluate("window.__samePage = true")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Create link").click()
    invite = page.locator("[data-invite-link]")
    link_pattern = re.escape(base_url) + r"/invite/[A-Za-z0-9_-]+"
    expect(invite).to_contain_text(re.compile(link_pattern))
    assert page.evaluate("window.__samePage === true"), "creating the link reloaded the page instead of swapping"
    expect(page.get_by_role("heading", name="Open invitations")).to_be_visible()
    link = re.search(link_pattern, invite.inner_text()).group(0)
    shots(page, "team")

    # The agent, in a browser of their own, registers through the link and lands in the same workspace.
    agent = new_context().new_page()
    agent.goto(link)
    expect(agent.get_by_role("heading", name=f"Join {WORKSPACE}")).to_be_visible()
    expect(agent.get_by_text("agent", exact=True)).to_be_visible()
    agent.get_by_label("Your name").fill(AGENT["name"])
    agent.get_by_label("Email").fill(AGENT["email"])
    agent.get_by_label("Choose a password").fill(AGENT["password"])
    agent.get_by_role("button", name="Create account and join").click()
    expect(agent).to_have_url(f"{base_url}/w/{slug}/inbox")
    agent_nav = main_nav(agent)
    expect(agent_nav.get_by_role("link", name="Inbox")).to_be_visible()
    expect(agent_nav.get_by_role("link", name="Settings")).to_have_count(0)

    # The owner sees the new teammate; the used link is no longer open.
    page.reload()
    expect(page.locator(f'tr[data-member="{AGENT["email"]}"]')).to_be_visible()
    expect(page.get_by_role("heading", name="Open invitations")).to_have_count(0)

    # Roles and workspaces are enforced on the server, not only hidden in the menu.
    response = agent.goto(f"{base_url}/w/{slug}/settings")
    assert response is not None and response.status == 403
    response = agent.goto(f"{base_url}/w/{slug}/settings/members")
    assert response is not None and response.status == 403

    page.goto(f"{base_url}/workspaces/new")
    page.get_by_label("Name").fill("Gudang Sinar")
    page.get_by_role("button", name="Create workspace").click()
    expect(page).to_have_url(re.compile(re.escape(base_url) + r"/w/[a-z0-9-]+/inbox$"))
    other_slug = re.search(r"/w/([a-z0-9-]+)/inbox$", page.url).group(1)
    assert other_slug != slug

    for path in (f"/w/{other_slug}/inbox", f"/w/{other_slug}/settings", "/w/no-such-shop/inbox"):
        response = agent.goto(base_url + path)
        assert response is not None and response.status == 404, path
    response = agent.goto(f"{base_url}/w/{slug}/inbox")
    assert response is not None and response.status == 200
