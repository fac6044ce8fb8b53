"""Settings → Diagnostics: the doctor's report for this workspace, other workspaces left out."""

from __future__ import annotations

from tests.conftest import form_post
from tests.web.test_workspaces_and_members import invite_link, join


async def test_diagnostics_shows_checks_versions_and_only_this_workspace(client, owner):
    r = await form_post(client, "/workspaces/new", {"name": "Cabang Rahasia"})
    assert r.status_code in (200, 302)
    r = await client.get(f"/w/{owner.slug}/settings/diagnostics")
    assert r.status_code == 200
    assert "Checks" in r.text and "app.db" in r.text and "python" in r.text.lower()
    assert f"workspace {owner.slug}" in r.text
    checks = r.text.split("<h2>Checks</h2>")[1]
    assert "cabang-rahasia" not in checks and "Cabang Rahasia" not in checks
    assert "Last log lines" in r.text  # the owner sees the log tail


async def test_admins_see_no_log_tail_and_agents_nothing(client, owner):
    admin = await join(client, await invite_link(client, owner.slug, role="admin"), "admin@shop.test")
    agent = await join(client, await invite_link(client, owner.slug), "agent@shop.test")
    try:
        r = await admin.get(f"/w/{owner.slug}/settings/diagnostics")
        assert r.status_code == 200 and "Checks" in r.text and "Last log lines" not in r.text
        assert (await agent.get(f"/w/{owner.slug}/settings/diagnostics")).status_code == 403
    finally:
        await admin.aclose()
        await agent.aclose()
