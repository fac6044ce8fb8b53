"""Settings → General: name, timezone, phone region and opt-out words saved together or not at all."""

from __future__ import annotations

from blazz import audit, workspace_settings
from tests.conftest import form_post
from tests.web.test_workspaces_and_members import invite_link, join


async def _ws(client, slug: str):
    return await client.app.state.runtime.workspace_by_slug(slug)


async def test_general_page_shows_settings_lan_and_backup_link(client, owner):
    r = await client.get(f"/w/{owner.slug}/settings")
    assert r.status_code == 200
    assert 'name="timezone"' in r.text and 'value="UTC"' in r.text
    assert "STOP, BERHENTI, UNSUBSCRIBE" in r.text
    assert f'href="/w/{owner.slug}/settings/backup"' in r.text
    assert "Audit log" in r.text and "Diagnostics" in r.text
    assert "only reachable from this computer" in r.text  # tests bind to loopback


async def test_saving_changes_everything_and_is_audited(client, owner):
    r = await form_post(client, f"/w/{owner.slug}/settings/", {
        "name": "Toko Sinar Jaya", "timezone": "Asia/Jakarta", "default_region": "id",
        "opt_out_words": "stop, berhenti\nkeluar"}, htmx=True)
    assert r.status_code == 200 and "Saved" in r.text
    ws = await _ws(client, owner.slug)
    assert ws.name == "Toko Sinar Jaya"
    current = await workspace_settings.load(ws.db)
    assert (current.timezone, current.default_region) == ("Asia/Jakarta", "ID")
    assert current.opt_out_words == ("STOP", "BERHENTI", "KELUAR")
    entries = await audit.recent(ws)
    assert [e.action for e in entries[:2]] == ["workspace.renamed", "workspace.settings_changed"]
    assert entries[1].details["fields"] == ["default_region", "opt_out_words", "timezone"]
    assert entries[1].details["timezone"] == {"old": "UTC", "new": "Asia/Jakarta"}


async def test_a_timezone_that_does_not_exist_changes_nothing(client, owner):
    r = await form_post(client, f"/w/{owner.slug}/settings/", {
        "name": "Another name", "timezone": "Asia/Atlantis", "default_region": "ID", "opt_out_words": "STOP"},
        htmx=True)
    assert r.status_code == 422
    assert "Choose a timezone such as Asia/Jakarta." in r.text and "Nothing was changed" in r.text
    assert 'value="Asia/Atlantis"' in r.text  # what was typed stays in the field to correct
    ws = await _ws(client, owner.slug)
    assert ws.name == "Toko Sinar"
    current = await workspace_settings.load(ws.db)
    assert (current.timezone, current.default_region) == ("UTC", None)
    assert not [e for e in await audit.recent(ws) if e.action.startswith("workspace.")]


async def test_bad_region_and_empty_name_are_reported_together(client, owner):
    r = await form_post(client, f"/w/{owner.slug}/settings/", {
        "name": "  ", "timezone": "UTC", "default_region": "XX", "opt_out_words": ""}, htmx=True)
    assert r.status_code == 422
    assert "Give the workspace a name." in r.text and "Choose a country from the list" in r.text


async def test_agents_cannot_open_or_change_general_settings(client, owner):
    link = await invite_link(client, owner.slug, role="agent")
    agent = await join(client, link, "agent@shop.test")
    try:
        assert (await agent.get(f"/w/{owner.slug}/settings")).status_code == 403
        r = await form_post(agent, f"/w/{owner.slug}/settings/", {"timezone": "Asia/Jakarta"})
        assert r.status_code == 403
    finally:
        await agent.aclose()
    assert (await workspace_settings.load((await _ws(client, owner.slug)).db)).timezone == "UTC"
