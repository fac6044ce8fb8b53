"""Automation pages in the browser: the rule list and form (files, errors), on/off, order, delete, the test box,
business hours with holidays, and what agents may do."""

from __future__ import annotations

import re

from blazz import auto_replies, business_hours
from tests.conftest import csrf_of, form_post
from tests.web.test_workspaces_and_members import invite_link, join

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00"
       b"\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


async def workspace_of(client, slug: str):
    rt = client.app.state.runtime
    from blazz.store import workspaces as ws_store
    return await rt.workspace(await ws_store.by_slug(rt.app_db, slug))


def rule_form(**overrides) -> dict:
    form = {"name": "Prices", "trigger": "contains", "pattern": "price, harga", "reply_kind": "text",
            "reply_text": "Hi {{first_name|there}}, prices: shop.example", "scope": "all", "cooldown_s": "3600",
            "active": "on"}
    form.update(overrides)
    return form


async def test_the_section_is_a_real_page_with_an_empty_state(client, owner):
    r = await client.get(f"/w/{owner.slug}/automation")
    assert r.status_code == 200
    assert "No auto-replies yet" in r.text and "not built yet" not in r.text
    assert f'href="/w/{owner.slug}/automation/rules/new"' in r.text and "Test a message" in r.text


async def test_owner_creates_a_rule_with_a_file_and_sees_it_listed(client, owner):
    base = f"/w/{owner.slug}/automation"
    assert (await client.get(base + "/rules/new")).status_code == 200
    r = await form_post(client, base + "/rules", rule_form(reply_text="Our menu for {{first_name}}"),
                        files={"file": ("menu.png", PNG, "image/png")}, follow_redirects=False)
    assert r.status_code in (302, 303), r.text
    rule_id = int(re.search(r"saved=(\d+)", r.headers["location"]).group(1))
    page = (await client.get(r.headers["location"])).text
    assert "Prices" in page and 'class="ar-kw">price<' in page and 'class="ar-kw">harga<' in page
    assert f'id="rule-{rule_id}"' in page and "Rule saved" in page
    ws = await workspace_of(client, owner.slug)
    rule = await auto_replies.get(ws, rule_id)
    assert rule.reply_media_id is not None and rule.cooldown_s == 3600 and rule.active
    edit = (await client.get(f"{base}/rules/{rule_id}")).text
    assert "menu.png" in edit and "Remove" in edit and 'value="price, harga"' in edit
    # Saving again without a new file keeps it; ticking "Remove" drops it.
    await form_post(client, f"{base}/rules/{rule_id}", rule_form(name="Menu"), follow_redirects=False)
    assert (await auto_replies.get(ws, rule_id)).reply_media_id == rule.reply_media_id
    await form_post(client, f"{base}/rules/{rule_id}", rule_form(remove_media="on"), follow_redirects=False)
    assert (await auto_replies.get(ws, rule_id)).reply_media_id is None


async def test_the_form_shows_errors_beside_their_fields_and_keeps_what_was_typed(client, owner):
    base = f"/w/{owner.slug}/automation"
    r = await form_post(client, base + "/rules", rule_form(pattern=" , "))
    assert r.status_code == 422 and "Say which words" in r.text and 'value="Prices"' in r.text
    r = await form_post(client, base + "/rules", rule_form(trigger="regex", pattern="(a+)+$"))
    assert r.status_code == 422 and "takes too long" in r.text and 'value="(a+)+$"' in r.text
    r = await form_post(client, base + "/rules", rule_form(reply_text="Hi {{nickname}}"))
    assert r.status_code == 422 and "Unknown variable" in r.text
    r = await form_post(client, base + "/rules", rule_form(reply_text=""))
    assert r.status_code == 422 and "Write the reply" in r.text
    r = await form_post(client, base + "/rules", rule_form(scope="some"))
    assert r.status_code == 422 and "at least one number" in r.text
    r = await form_post(client, base + "/rules", rule_form(cooldown_s="soon"))
    assert r.status_code == 422 and "how long to wait" in r.text
    r = await form_post(client, base + "/rules", rule_form(), files={"file": ("notes.exe", b"MZ\x90\x00" * 50,
                                                                                "application/octet-stream")})
    assert r.status_code == 422 and 'class="field invalid"' in r.text
    assert await auto_replies.list_rules(await workspace_of(client, owner.slug)) == []


async def test_rules_turn_off_move_and_delete_in_place(client, owner):
    ws = await workspace_of(client, owner.slug)
    from blazz import audit
    me = audit.Actor(None, "test")
    first = await auto_replies.create(ws, me, trigger="contains", pattern="price", reply={"text": "prices"}, name="A")
    second = await auto_replies.create(ws, me, trigger="any", reply={"text": "soon"}, name="B")
    base = f"/w/{owner.slug}/automation/rules"
    r = await form_post(client, f"{base}/{first.id}/active", {}, htmx=True)
    assert r.status_code == 200 and "is off" in r.headers["hx-trigger"] and 'id="rules"' in r.text
    assert not (await auto_replies.get(ws, first.id)).active
    r = await form_post(client, f"{base}/{second.id}/move", {"direction": "up"}, htmx=True)
    assert r.status_code == 200 and r.text.index(f'id="rule-{second.id}"') < r.text.index(f'id="rule-{first.id}"')
    r = await form_post(client, f"{base}/{second.id}/move", {"direction": "sideways"}, htmx=True)
    assert r.status_code == 422
    r = await form_post(client, f"{base}/{first.id}/delete", {}, htmx=True)
    assert r.status_code == 200 and f'id="rule-{first.id}"' not in r.text and "deleted" in r.headers["hx-trigger"]
    assert (await client.get(f"{base}/{first.id}")).status_code == 404


async def test_the_test_box_names_the_rule_and_shows_the_reply(client, owner):
    ws = await workspace_of(client, owner.slug)
    from blazz import audit
    rule = await auto_replies.create(ws, audit.Actor(None, "t"), trigger="contains", pattern="harga", name="Prices",
                                   reply={"text": "Halo {{first_name}}, cek shop.example"}, cooldown_s=900)
    url = f"/w/{owner.slug}/automation/test"
    r = await form_post(client, url, {"text": "Berapa harganya?"}, htmx=True)
    assert r.status_code == 200 and "Answered by" in r.text and f"/rules/{rule.id}" in r.text
    assert "Halo Budi, cek shop.example" in r.text and "15 minutes" in r.text
    r = await form_post(client, url, {"text": "Halo"}, htmx=True)
    assert "No rule answers this message" in r.text
    r = await form_post(client, url, {"text": "x" * 5000}, htmx=True)
    assert r.status_code == 422 and "at most" in r.text


async def test_business_hours_are_saved_from_the_form(client, owner):
    url = f"/w/{owner.slug}/automation/hours"
    page = (await client.get(url)).text
    assert "Opening hours" in page and "Away message" in page and 'name="mon_open" checked' in page.replace(
        'type="checkbox" ', "")
    form = {"timezone": "Asia/Jakarta", "mon_open": "on", "mon_from_0": "08:00", "mon_to_0": "12:00",
            "mon_from_1": "13:00", "mon_to_1": "00:00", "sat_open": "on", "sat_from_0": "10:00", "sat_to_0": "14:00",
            "away_active": "on", "away_text": "We are closed, {{first_name|Kak}}.", "away_period_s": "3600",
            "greeting_text": "Welcome!", "greeting_period_s": "86400"}
    r = await form_post(client, url, form, htmx=True)
    assert r.status_code == 200 and "Business hours saved" in r.headers["hx-trigger"]
    assert 'id="bh-status" class="card" hx-swap-oob="true"' in r.text
    ws = await workspace_of(client, owner.slug)
    hours = await business_hours.load(ws)
    assert [i.as_dict() for i in hours.week["mon"]] == [{"from": "08:00", "to": "12:00"}, {"from": "13:00",
                                                                                            "to": "24:00"}]
    assert hours.week["tue"] == () and hours.away.active and hours.away.period_s == 3600
    assert not hours.greeting.active and hours.greeting.text == "Welcome!"
    assert (await business_hours.status(ws)).now.tzinfo.key == "Asia/Jakarta"

    bad = {**form, "mon_to_0": ""}
    r = await form_post(client, url, bad, htmx=True)
    assert r.status_code == 422 and "Monday: give both" in r.text and 'value="13:00"' in r.text
    r = await form_post(client, url, {**form, "tue_open": "on"}, htmx=True)
    assert r.status_code == 422 and "Tuesday: add opening hours" in r.text
    r = await form_post(client, url, {**form, "timezone": "Mars/Olympus"}, htmx=True)
    assert r.status_code == 422 and "timezone" in r.text
    r = await form_post(client, url, {**form, "away_text": ""}, htmx=True)
    assert r.status_code == 422 and "before turning it on" in r.text
    assert (await business_hours.load(ws)) == hours


async def test_holidays_are_added_replaced_and_removed(client, owner):
    url = f"/w/{owner.slug}/automation/hours/holidays"
    r = await form_post(client, url, {"date": "2026-12-25", "name": "Christmas"}, htmx=True)
    assert r.status_code == 200 and "Christmas" in r.text and ">25<" in r.text
    r = await form_post(client, url, {"date": "2026-12-25", "name": "Natal"}, htmx=True)
    assert "Natal" in r.text and "Christmas" not in r.text
    r = await form_post(client, url, {"date": "25/12"}, htmx=True)
    assert r.status_code == 422 and "2026-12-25" in r.text
    r = await form_post(client, url + "/delete", {"date": "2026-12-25"}, htmx=True)
    assert r.status_code == 200 and "No holidays yet" in r.text


async def test_agents_see_the_pages_but_cannot_change_them(client, owner):
    link = await invite_link(client, owner.slug)
    agent = await join(client, link, "agent@shop.test")
    try:
        base = f"/w/{owner.slug}/automation"
        page = await agent.get(base)
        assert page.status_code == 200 and "New rule" not in page.text
        hours = await agent.get(base + "/hours")
        assert hours.status_code == 200 and "<fieldset" in hours.text and " disabled" in hours.text
        assert (await agent.get(base + "/rules/new")).status_code == 403
        r = await form_post(agent, base + "/rules", rule_form(), follow_redirects=False)
        assert r.status_code == 403
        r = await form_post(agent, base + "/hours", {"timezone": "UTC"}, htmx=True)
        assert r.status_code == 403
        r = await form_post(agent, base + "/test", {"text": "hi"}, htmx=True)
        assert r.status_code == 200 and csrf_of(agent)
    finally:
        await agent.__aexit__(None, None, None)
