"""Settings → Audit log: actions and sign-ins of this workspace, filtered, exported as CSV, for owners and admins."""

from __future__ import annotations

import csv
import io

from tests.conftest import OWNER_EMAIL, form_post, login, second_client
from tests.web.test_workspaces_and_members import invite_link, join


async def test_log_shows_actions_and_sign_ins_with_filters(client, owner):
    await form_post(client, f"/w/{owner.slug}/settings/", {"name": "Toko Baru", "timezone": "Asia/Jakarta"},
                    htmx=True)
    async with second_client(client) as other:
        r = await login(other, OWNER_EMAIL, "wrong password entirely")
        assert r.status_code in (200, 401, 422)
    r = await client.get(f"/w/{owner.slug}/settings/audit")
    assert r.status_code == 200
    text = r.text
    assert "workspace.renamed" in text and "workspace.settings_changed" in text
    assert "login.failed" in text and "login.succeeded" in text
    assert 'value="workspace"' in text  # the action groups come from what was recorded

    r = await client.get(f"/w/{owner.slug}/settings/audit?action=login", headers={"hx-request": "true"})
    assert "login.failed" in r.text and "workspace.renamed" not in r.text
    assert "<html" not in r.text  # htmx gets the rows only

    r = await client.get(f"/w/{owner.slug}/settings/audit?action=workspace.renamed")
    assert "workspace.renamed" in r.text and "login.failed" not in r.text


async def test_person_filter_and_other_workspaces_logins_stay_out(client, owner):
    link = await invite_link(client, owner.slug, role="agent")
    agent = await join(client, link, "agent@shop.test")
    await agent.aclose()
    # A stranger's failed sign-in is not this workspace's business.
    async with second_client(client) as other:
        await login(other, "stranger@elsewhere.test", "whatever it may be")
    r = await client.get(f"/w/{owner.slug}/settings/audit")
    assert "stranger@elsewhere.test" not in r.text and "member.invited" in r.text
    from blazz.store import workspaces as ws_store
    agent_id = next(m.user_id for m in await ws_store.members(client.app.state.runtime.app_db, 1)
                    if m.role == "agent")
    r = await client.get(f"/w/{owner.slug}/settings/audit?person={agent_id}&action=login")
    assert "agent@shop.test" in r.text and OWNER_EMAIL not in r.text.split("<tbody>")[1]


async def test_csv_export_follows_filters_and_is_itself_audited(client, owner):
    await form_post(client, f"/w/{owner.slug}/settings/", {"name": "Toko, \"Baru\""}, htmx=True)
    r = await client.get(f"/w/{owner.slug}/settings/audit/export.csv?action=workspace")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "time_utc", "who", "action", "target", "details", "description"]
    assert [row[3] for row in rows[1:]] == ["workspace.renamed"]
    assert rows[1][6] == "Workspace renamed"  # the code stays stable; the description is for people
    assert 'new: Toko, "Baru"' in rows[1][5] and rows[1][2] == OWNER_EMAIL
    r = await client.get(f"/w/{owner.slug}/settings/audit?action=audit")
    assert "audit.exported" in r.text


async def test_agents_cannot_see_the_audit_log(client, owner):
    agent = await join(client, await invite_link(client, owner.slug), "agent@shop.test")
    try:
        assert (await agent.get(f"/w/{owner.slug}/settings/audit")).status_code == 403
        assert (await agent.get(f"/w/{owner.slug}/settings/audit/export.csv")).status_code == 403
    finally:
        await agent.aclose()
