"""Settings → the LAN switch: the owner's choice for the next start, saved in the data folder and audited; the page
says what is true now and what happens at the next start; admins see it without the switch, agents not at all."""

from __future__ import annotations

from blazz import audit, lan
from tests.conftest import form_post
from tests.web.test_workspaces_and_members import invite_link, join


def _data_dir(client):
    return client.app.state.runtime.settings.data_dir


async def test_owner_switches_lan_on_for_the_next_start_and_off_again(client, owner):
    page = await client.get(f"/w/{owner.slug}/settings")
    assert page.status_code == 200
    assert "Allow phones and other computers on this Wi-Fi to open Blazz" in page.text
    assert "Off now" in page.text and "only reachable from this computer" in page.text  # tests bind to loopback
    assert 'name="lan" value="on" aria-describedby="lan-next">' in page.text, "unchecked: never switched on"
    assert "From the next start, only this computer can open Blazz." in page.text

    r = await form_post(client, f"/w/{owner.slug}/settings/lan", {"lan": "on"}, htmx=True)
    assert r.status_code == 200 and r.text.lstrip().startswith('<div class="card" id="lan-access">')
    assert lan.remembered(_data_dir(client)) is True
    assert "Saved" in r.text and " checked>" in r.text
    assert "Off now" in r.text, "this start keeps listening where it listens"
    assert "From the next start, Blazz listens on your network." in r.text
    assert "quit Blazz and open it again" in r.text and "--no-lan" in r.text
    page = await client.get(f"/w/{owner.slug}/settings")
    assert " checked>" in page.text and 'id="lan-restart"' in page.text

    r = await form_post(client, f"/w/{owner.slug}/settings/lan", {}, htmx=True)  # a cleared checkbox sends nothing
    assert r.status_code == 200 and lan.remembered(_data_dir(client)) is False
    assert 'id="lan-restart"' not in r.text, "the switch and this start agree again"

    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    changes = [e.details for e in await audit.recent(ws) if e.action == "workspace.settings_changed"]
    assert [c["lan"] for c in changes] == [{"old": True, "new": False}, {"old": False, "new": True}]


async def test_a_strange_value_or_a_missing_csrf_token_changes_nothing(client, owner):
    r = await form_post(client, f"/w/{owner.slug}/settings/lan", {"lan": "maybe"}, htmx=True)
    assert r.status_code == 422 and "Choose on or off." in r.text
    assert not (_data_dir(client) / lan.PREFERENCE_FILE).exists()
    r = await client.post(f"/w/{owner.slug}/settings/lan", data={"lan": "on"}, headers={"hx-request": "true"})
    assert r.status_code == 403
    assert lan.remembered(_data_dir(client)) is False


async def test_only_the_owner_has_the_switch(client, owner):
    admin = await join(client, await invite_link(client, owner.slug, role="admin"), "admin@shop.test")
    agent = await join(client, await invite_link(client, owner.slug, role="agent"), "agent@shop.test")
    try:
        page = await admin.get(f"/w/{owner.slug}/settings")
        assert page.status_code == 200 and "Only the workspace owner can change this." in page.text
        assert 'name="lan"' not in page.text and "Off now" in page.text
        assert (await form_post(admin, f"/w/{owner.slug}/settings/lan", {"lan": "on"}, htmx=True)).status_code == 403
        assert (await form_post(agent, f"/w/{owner.slug}/settings/lan", {"lan": "on"}, htmx=True)).status_code == 403
        assert (await form_post(admin, "/w/no-such-shop/settings/lan", {"lan": "on"}, htmx=True)).status_code == 404
    finally:
        await admin.aclose()
        await agent.aclose()
    assert lan.remembered(_data_dir(client)) is False
