"""The API's front door: bearer tokens scoped to one workspace, the error format, malformed bodies."""

from __future__ import annotations

import subprocess
import sys

from blazz import api_tokens
from blazz.store import workspaces as ws_store
from tests.conftest import form_post


async def make_token(client, slug: str, role: str = "agent") -> str:
    rt = client.app.state.runtime
    ws = await ws_store.by_slug(rt.app_db, slug)
    token, _ = await api_tokens.create(rt.app_db, ws.id, "Order system", role)
    return token


async def test_me_shows_the_tokens_workspace_and_role(client, owner):
    token = await make_token(client, owner.slug, "admin")
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json() == {"workspace": {"id": 1, "slug": owner.slug, "name": "Toko Sinar"}, "role": "admin",
                        "token_name": "Order system"}


async def test_missing_invalid_and_revoked_tokens_get_401_json(client, owner):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer blz_" + "x" * 43}):
        r = await client.get("/api/v1/me", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthorized"
    token = await make_token(client, owner.slug)
    rt = client.app.state.runtime
    stored = (await api_tokens.for_workspace(rt.app_db, 1))[0]
    await api_tokens.revoke(rt.app_db, 1, stored.id)
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_api_ignores_browser_sessions_and_needs_no_csrf(client, owner):
    r = await client.get("/api/v1/me")  # logged-in browser session, no token
    assert r.status_code == 401
    token = await make_token(client, owner.slug)
    r = await client.post("/api/v1/me", headers={"Authorization": f"Bearer {token}"}, json={})
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_unknown_api_path_is_json_404(client, owner):
    token = await make_token(client, owner.slug)
    r = await client.get("/api/v1/nothing-here", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_tokens_are_stored_hashed(client, owner):
    token = await make_token(client, owner.slug)
    rows = await client.app.state.runtime.app_db.fetchall("SELECT token_hash FROM api_tokens")
    assert token not in str([tuple(r) for r in rows]) and rows[0][0] == api_tokens.hash_token(token)


def test_cli_create_token_prints_only_the_token(tmp_path):
    d = str(tmp_path / "d")
    run = lambda *a: subprocess.run([sys.executable, "-m", "blazz", *a, "--data-dir", d],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    assert run("admin", "create-user", "--email", "o@shop.test", "--password", "a long password").returncode == 0
    assert run("admin", "create-workspace", "--name", "Shop", "--owner", "o@shop.test").stdout.strip() == "shop"
    r = run("admin", "create-token", "--workspace", "shop", "--name", "Zap", "--role", "admin")
    assert r.returncode == 0 and r.stdout.startswith("blz_") and len(r.stdout.strip().splitlines()) == 1
    r = run("admin", "create-token", "--workspace", "nope", "--name", "Zap")
    assert r.returncode == 1 and "No workspace" in r.stderr
    r = run("admin", "create-token", "--workspace", "shop", "--name", "")
    assert r.returncode == 1 and "name" in r.stderr


async def test_html_form_posts_still_need_csrf(client, owner):
    r = await client.post("/workspaces/new", data={"name": "No token"})
    assert r.status_code == 403
    r = await form_post(client, "/workspaces/new", {"name": "With token"})
    assert r.status_code == 200
