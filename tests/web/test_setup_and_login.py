"""First run, logging in and out, the rate limit, and the second factor — through the real app and its lifespan."""

from __future__ import annotations

import re

import pyotp

from blazz.store import users as users_store
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, csrf_of, do_setup, form_post, login


async def test_first_visit_goes_to_setup_then_setup_creates_owner_and_workspace(client):
    r = await client.get("/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/setup"
    owner = await do_setup(client, workspace="Toko Sinar Jaya")
    assert owner.slug == "toko-sinar-jaya"
    r = await client.get(f"/w/{owner.slug}/inbox")
    assert r.status_code == 200 and "Toko Sinar Jaya" in r.text and "Inbox" in r.text


async def test_setup_with_weak_password_names_the_rule_and_creates_nothing(client):
    await client.get("/setup")
    r = await form_post(client, "/setup", {"email": "a@b.co", "password": "short", "workspace": "Shop"})
    assert r.status_code == 422 and "at least 10 characters" in r.text
    r = await form_post(client, "/setup", {"email": "a@b.co", "password": "aaaaaaaaaaaa", "workspace": "Shop"})
    assert r.status_code == 422 and "too easy to guess" in r.text
    r = await form_post(client, "/setup", {"email": "not-an-email", "password": "long enough pw", "workspace": "S"})
    assert r.status_code == 422 and "valid email" in r.text
    r = await form_post(client, "/setup", {"email": "a@b.co", "password": "long enough pw", "workspace": "  "})
    assert r.status_code == 422 and "name" in r.text
    rt = client.app.state.runtime
    assert await users_store.count(rt.app_db) == 0


async def test_setup_is_closed_once_done(client, owner):
    r = await client.get("/setup", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/login"
    r = await form_post(client, "/setup", {"email": "x@y.co", "password": "another long pw", "workspace": "Other"},
                        follow_redirects=False)
    assert r.status_code == 302
    assert await users_store.count(client.app.state.runtime.app_db) == 1


async def test_unsafe_request_without_csrf_token_is_refused(client):
    await client.get("/setup")
    r = await client.post("/setup", data={"email": "a@b.co", "password": "long enough pw", "workspace": "Shop"})
    assert r.status_code == 403
    assert await users_store.count(client.app.state.runtime.app_db) == 0


async def test_login_wrong_password_then_right_and_logout(client, owner):
    await form_post(client, "/logout", {})
    r = await client.get(f"/w/{owner.slug}/inbox", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("/login")
    r = await login(client, OWNER_EMAIL, "wrong password!")
    assert r.status_code == 401 and "Wrong email or password" in r.text
    r = await login(client, "nobody@shop.test", "wrong password!")
    assert r.status_code == 401 and "Wrong email or password" in r.text
    r = await login(client, OWNER_EMAIL.upper(), OWNER_PASSWORD)
    assert r.status_code == 200 and f"/w/{owner.slug}/inbox" in str(r.url)


async def test_login_issues_a_new_session_id(client, owner):
    await form_post(client, "/logout", {})
    await client.get("/login")
    before = client.cookies.get("blazz_session")
    await login(client, OWNER_EMAIL, OWNER_PASSWORD)
    assert client.cookies.get("blazz_session") not in (None, before)


async def test_login_rate_limit_is_five_per_minute_per_address(client, owner):
    await form_post(client, "/logout", {})
    codes = [(await login(client, OWNER_EMAIL, "wrong password!")).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    r = await login(client, OWNER_EMAIL, OWNER_PASSWORD)
    assert r.status_code == 429, "even the right password waits out the minute"


async def test_next_parameter_only_allows_local_paths(client, owner):
    await form_post(client, "/logout", {})
    await client.get("/login")
    r = await form_post(client, "/login", {"email": OWNER_EMAIL, "password": OWNER_PASSWORD,
                                           "next": "//evil.example/steal"}, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("/w/")


async def test_two_factor_setup_and_login(client, owner):
    r = await form_post(client, "/account/2fa/start", {}, htmx=True)
    assert r.status_code == 200 and "<svg" in r.text
    key = re.search(r'class="code">([A-Z2-7]+)<', r.text).group(1)
    r = await form_post(client, "/account/2fa/enable", {"code": "000000"}, htmx=True)
    assert r.status_code == 422 and "does not match" in r.text
    r = await form_post(client, "/account/2fa/enable", {"code": pyotp.TOTP(key).now()}, htmx=True)
    assert r.status_code == 200 and "Two-step login is on" in r.text

    await form_post(client, "/logout", {})
    r = await login(client, OWNER_EMAIL, OWNER_PASSWORD)
    assert "/login/2fa" in str(r.url)
    r = await client.get(f"/w/{owner.slug}/inbox", follow_redirects=False)
    assert r.status_code == 302, "a password alone does not log in when 2FA is on"
    r = await login(client, OWNER_EMAIL, OWNER_PASSWORD)
    assert "/login/2fa" in str(r.url)
    r = await form_post(client, "/login/2fa", {"code": "123456"})
    assert r.status_code == 401 and "not right" in r.text
    r = await form_post(client, "/login/2fa", {"code": pyotp.TOTP(key).now()})
    assert r.status_code == 200 and f"/w/{owner.slug}/inbox" in str(r.url)


async def test_change_password_checks_current_and_rules(client, owner):
    r = await form_post(client, "/account/password", {"current_password": "nope nope nope", "new_password": "x",
                                                       "confirm_password": "x"}, htmx=True)
    assert r.status_code == 422 and "current password" in r.text
    r = await form_post(client, "/account/password", {"current_password": OWNER_PASSWORD, "new_password": "short",
                                                       "confirm_password": "short"}, htmx=True)
    assert r.status_code == 422 and "at least 10" in r.text
    r = await form_post(client, "/account/password", {"current_password": OWNER_PASSWORD,
                                                       "new_password": "a brand new secret",
                                                       "confirm_password": "a brand new secret"}, htmx=True)
    assert r.status_code == 200 and "Password changed" in r.text
    await form_post(client, "/logout", {})
    assert (await login(client, OWNER_EMAIL, OWNER_PASSWORD)).status_code == 401
    assert (await login(client, OWNER_EMAIL, "a brand new secret")).status_code == 200
    assert csrf_of(client)


async def test_health_reports_version_uptime_and_components(client):
    r = await client.get("/health")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["version"] and body["uptime_s"] >= 0
    assert body["components"]["app_db"] == "ok" and body["components"]["scheduler"] == "running"
