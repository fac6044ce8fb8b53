"""Workspaces, invitations, roles and isolation: a member of A sees nothing of B."""

from __future__ import annotations

import re
import time

from blazz.store import workspaces as ws_store
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, form_post, login, second_client


async def invite_link(client, slug: str, role: str = "agent", email: str = "") -> str:
    r = await form_post(client, f"/w/{slug}/settings/members/invite", {"role": role, "email": email}, htmx=True)
    assert r.status_code == 200, r.text
    return re.search(r'data-copy="(http[^"]+/invite/[^"]+)"', r.text).group(1)


async def join(client, link: str, email: str, password: str = "budi rahasia 2026"):
    other = second_client(client)
    await other.__aenter__()
    path = link.split("testserver.local")[1]
    await other.get(path)
    r = await form_post(other, path, {"name": "Budi", "email": email, "password": password})
    assert r.status_code == 200 and "/inbox" in str(r.url), r.text
    return other


async def test_owner_creates_and_renames_workspaces(client, owner):
    r = await form_post(client, "/workspaces/new", {"name": "Cabang Dua"})
    assert r.status_code == 200 and "/w/cabang-dua/inbox" in str(r.url)
    r = await form_post(client, "/workspaces/new", {"name": "Cabang Dua"})
    assert "/w/cabang-dua-2/inbox" in str(r.url), "same name gets a new address"
    r = await form_post(client, "/workspaces/new", {"name": ""})
    assert r.status_code == 422
    r = await form_post(client, "/w/cabang-dua/settings/", {"name": "Cabang Utama"}, htmx=True)
    assert r.status_code == 200 and "Saved" in r.text
    r = await client.get("/w/cabang-dua/inbox")
    assert "Cabang Utama" in r.text and "Toko Sinar" in r.text, "the switcher lists both workspaces"
    r = await form_post(client, "/w/cabang-dua/settings/", {"name": "x" * 81}, htmx=True)
    assert r.status_code == 422 and "at most 80" in r.text


async def test_invited_agent_joins_and_roles_are_enforced(client, owner):
    link = await invite_link(client, owner.slug)
    agent = await join(client, link, "agent@shop.test")
    try:
        assert (await agent.get(f"/w/{owner.slug}/inbox")).status_code == 200
        page = (await agent.get(f"/w/{owner.slug}/contacts")).text
        assert f"/w/{owner.slug}/settings" not in page, "agents don't see Settings in the nav"
        assert (await agent.get(f"/w/{owner.slug}/settings/")).status_code == 403
        r = await form_post(agent, f"/w/{owner.slug}/settings/members/invite", {"role": "admin"}, htmx=True)
        assert r.status_code == 403
        # the link worked once only
        async with second_client(client) as anon:
            r = await form_post(anon, link.split("testserver.local")[1],
                                {"email": "x@shop.test", "password": "budi rahasia 2026"})
        assert r.status_code in (404, 410, 422)
    finally:
        await agent.__aexit__(None, None, None)


async def test_member_of_one_workspace_gets_404_everywhere_in_another(client, owner):
    link = await invite_link(client, owner.slug)
    agent = await join(client, link, "agent@shop.test")
    await form_post(client, "/workspaces/new", {"name": "Secret Branch"})
    try:
        for path in ["/w/secret-branch/inbox", "/w/secret-branch/settings/", "/w/secret-branch/settings/members",
                     "/w/secret-branch/events", "/w/secret-branch/contacts", "/w/no-such-ws/inbox"]:
            r = await agent.get(path)
            assert r.status_code == 404, path
        r = await form_post(agent, "/w/secret-branch/settings/", {"name": "pwned"}, htmx=True)
        assert r.status_code == 404
        row = await ws_store.by_slug(client.app.state.runtime.app_db, "secret-branch")
        assert row.name == "Secret Branch"
    finally:
        await agent.__aexit__(None, None, None)


async def test_roles_change_and_last_owner_is_protected(client, owner):
    link = await invite_link(client, owner.slug, role="admin")
    admin = await join(client, link, "admin@shop.test")
    rt = client.app.state.runtime
    members = await ws_store.members(rt.app_db, 1)
    owner_id = next(m.user_id for m in members if m.role == "owner")
    admin_id = next(m.user_id for m in members if m.role == "admin")
    try:
        # an admin cannot demote or remove the owner, nor promote to owner
        r = await form_post(admin, f"/w/{owner.slug}/settings/members/{owner_id}/role", {"role": "agent"}, htmx=True)
        assert r.status_code == 403
        r = await form_post(admin, f"/w/{owner.slug}/settings/members/{owner_id}/remove", {}, htmx=True)
        assert r.status_code == 403
        r = await form_post(admin, f"/w/{owner.slug}/settings/members/{admin_id}/role", {"role": "owner"}, htmx=True)
        assert r.status_code == 403
        # the only owner cannot demote themself
        r = await form_post(client, f"/w/{owner.slug}/settings/members/{owner_id}/role", {"role": "agent"}, htmx=True)
        assert r.status_code == 409 and "at least one owner" in r.text
        r = await form_post(client, f"/w/{owner.slug}/settings/members/{admin_id}/role", {"role": "wizard"},
                            htmx=True)
        assert r.status_code == 422
        r = await form_post(client, f"/w/{owner.slug}/settings/members/{admin_id}/role", {"role": "agent"}, htmx=True)
        assert r.status_code == 200
        assert (await admin.get(f"/w/{owner.slug}/settings/")).status_code == 403
        r = await form_post(client, f"/w/{owner.slug}/settings/members/{admin_id}/remove", {}, htmx=True)
        assert r.status_code == 200 and "admin@shop.test" not in r.text
        assert (await admin.get(f"/w/{owner.slug}/inbox")).status_code == 404
    finally:
        await admin.__aexit__(None, None, None)


async def test_expired_withdrawn_and_unknown_invitations_are_refused(client, owner):
    rt = client.app.state.runtime
    link = await invite_link(client, owner.slug)
    path = link.split("testserver.local")[1]
    await rt.app_db.execute_write("UPDATE invitations SET expires_at = ?", (int(time.time()) - 1,))
    anon = second_client(client)
    async with anon:
        r = await anon.get(path)
        assert r.status_code == 410 and "expired" in r.text
        r = await form_post(anon, path, {"email": "late@shop.test", "password": "budi rahasia 2026"})
        assert r.status_code == 410 and "expired" in r.text
        r = await anon.get("/invite/not-a-real-token")
        assert r.status_code == 404 and "not valid" in r.text
    link2 = await invite_link(client, owner.slug)
    inv_id = (await rt.app_db.fetchone("SELECT max(id) FROM invitations"))[0]
    r = await form_post(client, f"/w/{owner.slug}/settings/invitations/{inv_id}/revoke", {}, htmx=True)
    assert r.status_code == 200
    async with second_client(client) as anon2:
        r = await anon2.get(link2.split("testserver.local")[1])
        assert r.status_code == 410 and "withdrawn" in r.text
    assert len(await ws_store.members(rt.app_db, 1)) == 1


async def test_invitation_with_duplicate_email_shows_error_and_keeps_link_usable(client, owner):
    link = await invite_link(client, owner.slug)
    path = link.split("testserver.local")[1]
    async with second_client(client) as anon:
        await anon.get(path)
        r = await form_post(anon, path, {"email": OWNER_EMAIL, "password": "budi rahasia 2026"})
        assert r.status_code == 422 and "already exists" in r.text
        r = await form_post(anon, path, {"email": "new@shop.test", "password": "budi rahasia 2026"})
        assert r.status_code == 200 and "/inbox" in str(r.url)


async def test_existing_user_accepts_invitation_while_logged_in(client, owner):
    await form_post(client, "/workspaces/new", {"name": "Second"})
    link = await invite_link(client, "second")
    async with second_client(client) as other:
        r = await login(other, OWNER_EMAIL, OWNER_PASSWORD)
        assert r.status_code == 200
        path = link.split("testserver.local")[1]
        r = await other.get(path)
        assert "logged in as" in r.text
        r = await form_post(other, path, {})
        assert r.status_code == 200 and "/w/second/inbox" in str(r.url)


async def test_member_changes_are_audited(client, owner):
    from blazz import audit

    link = await invite_link(client, owner.slug, role="admin")
    other = await join(client, link, "admin@shop.test")
    await other.aclose()
    rt = client.app.state.runtime
    admin_id = next(m.user_id for m in await ws_store.members(rt.app_db, 1) if m.role == "admin")
    await form_post(client, f"/w/{owner.slug}/settings/members/{admin_id}/role", {"role": "agent"}, htmx=True)
    await form_post(client, f"/w/{owner.slug}/settings/", {"name": "Toko Baru"}, htmx=True)
    ws = await rt.workspace_by_slug(owner.slug)
    entries = await audit.recent(ws)
    actions = [e.action for e in entries]
    assert actions[:3] == ["workspace.renamed", "member.role_changed", "member.invited"]
    assert entries[1].actor == OWNER_EMAIL and entries[1].details == {"role": "agent"}
    assert [e.action for e in await audit.recent(ws, action="member")] == ["member.role_changed", "member.invited"]
