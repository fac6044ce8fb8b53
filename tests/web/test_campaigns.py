"""The campaigns pages through the front door: the wizard step by step (with its bad inputs), the live count of
recipients, the preview with an unknown variable, launch, the campaign page with progress, chart, recipients and
CSV, the controls, the SSE progress event, and agents seeing results but not controls."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

from blazz import accounts, contact_groups, contacts, pacing
from blazz.store import campaigns as campaigns_store
from tests.conftest import form_post
from tests.web.test_accounts_page import workspace


async def setup_shop(client, slug: str, n: int = 3, connect: bool = True) -> tuple:
    """A sandbox number (added and connected through the pages, which run on the app's own loop), unpaced, and a
    group of n contacts."""
    ws = await workspace(client, slug)
    r = await form_post(client, f"/w/{slug}/accounts/", {"name": "Shop front", "engine": "sandbox"}, htmx=True)
    assert r.status_code == 200, r.text
    account = (await accounts.list_views(ws))[0].account
    await pacing.update(ws, account.id, enabled=False)
    if connect:
        await form_post(client, f"/w/{slug}/accounts/{account.id}/connect", {}, htmx=True)
        await form_post(client, f"/w/{slug}/accounts/{account.id}/scan", {}, htmx=True)
    group = await contact_groups.create_group(ws, "Pelanggan")
    for i in range(n):
        await contacts.create(ws, {"phone": f"+62812{i:08d}", "name": f"Budi{i} Santoso", "groups": [group.id]})
    return ws, account, group


async def step(client, slug: str, cid: int, name: str, data: dict):
    return await form_post(client, f"/w/{slug}/campaigns/{cid}/edit/{name}", data, htmx=True)


async def new_campaign(client, slug: str, name: str = "Promo Lebaran") -> int:
    r = await form_post(client, f"/w/{slug}/campaigns/", {"name": name}, htmx=True)
    assert r.status_code == 200 and "hx-redirect" in r.headers, r.text
    return int(re.search(r"/campaigns/(\d+)/edit/account", r.headers["hx-redirect"]).group(1))


async def until(check, within: float = 15.0):
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_the_wizard_walks_from_name_to_launch_and_the_page_shows_the_results(client, owner):
    ws, account, group = await setup_shop(client, owner.slug)
    page = await client.get(f"/w/{owner.slug}/campaigns")
    assert page.status_code == 200 and "No campaigns yet" in page.text and "New campaign" in page.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/", {"name": "  "}, htmx=True)
    assert r.status_code == 422 and "Give the campaign a name" in r.text
    cid = await new_campaign(client, owner.slug)
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/account")
    assert page.status_code == 200 and "Shop front" in page.text and 'aria-current="step"' in page.text
    r = await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    assert r.headers["hx-redirect"].endswith(f"/campaigns/{cid}/edit/message")
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/message")
    assert "{{first_name}}" in page.text and "Budi0 Santoso" in page.text  # variable chips, preview contacts
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/preview",
                        {"kind": "text", "text": "Halo {{first_name|Kak}} dari {{kota}}", "variant_2": "Hai {{name}}"},
                        htmx=True)
    assert "data-unknown" in r.text and "{{kota}}" in r.text and "2 versions" in r.text
    r = await step(client, owner.slug, cid, "message", {"kind": "text", "text": "Halo {{first_name|Kak}}, promo!",
                                                          "variant_2": "Hai {{first_name|Kak}}, ada promo!"})
    assert r.headers["hx-redirect"].endswith("/edit/audience")
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/audience-count",
                        {"who": "groups", "groups": str(group.id)}, htmx=True)
    assert 'data-recipients>3<' in r.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/audience-count", {"who": "groups"}, htmx=True)
    assert "data-audience-error" in r.text and "Choose who gets it" in r.text
    r = await step(client, owner.slug, cid, "audience", {"who": "groups"})
    assert r.status_code == 422 and "Choose who gets it" in r.text
    r = await step(client, owner.slug, cid, "audience", {"who": "groups", "groups": str(group.id)})
    assert r.headers["hx-redirect"].endswith("/edit/schedule")
    r = await step(client, owner.slug, cid, "schedule", {"when": "later", "scheduled_at": "2020-01-01T09:00"})
    assert r.status_code == 422 and "That time has passed" in r.text
    r = await step(client, owner.slug, cid, "schedule", {"when": "later", "scheduled_at": ""})
    assert r.status_code == 422 and "Choose the date and time" in r.text
    r = await step(client, owner.slug, cid, "schedule", {"when": "now", "late_limit_h": "lots"})
    assert r.status_code == 422 and "number of hours" in r.text
    r = await step(client, owner.slug, cid, "schedule", {"when": "now", "late_limit_h": "6"})
    assert r.headers["hx-redirect"].endswith("/edit/pacing")
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/pacing")
    assert "As fast as WhatsApp takes them" in page.text and "data-estimate" in page.text
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/review")
    assert "Before launching" not in page.text and "Launch now" in page.text and ">3</strong> recipients" in page.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
    assert r.headers["hx-redirect"].endswith(f"/campaigns/{cid}")

    async def completed():
        return (await campaigns_store.get(ws.db, cid)).status == "completed"
    await until(completed)
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}")
    assert page.status_code == 200 and "Completed" in page.text
    assert 'data-count="sent">3<' in page.text and "<svg" in page.text and "Messages sent per" in page.text
    assert page.text.count("data-recipient=") == 3
    r = await client.get(f"/w/{owner.slug}/campaigns/{cid}/recipients.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("name,phone,status,reason,sent_at") and len(lines) == 4
    r = await client.get(f"/w/{owner.slug}/campaigns/{cid}?status=failed")
    assert "No recipient is failed" in r.text
    # A launched campaign's wizard sends you to its page; a second launch is refused.
    r = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/message", follow_redirects=False)
    assert r.status_code in (302, 303) and r.headers["location"].endswith(f"/campaigns/{cid}")
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
    assert r.status_code == 409
    listing = await client.get(f"/w/{owner.slug}/campaigns")
    assert f'id="campaign-row-{cid}"' in listing.text and "Promo Lebaran" in listing.text


async def test_launch_refuses_an_unknown_variable_and_an_empty_audience_on_the_review_step(client, owner):
    ws, account, _ = await setup_shop(client, owner.slug, connect=False)
    empty = await contact_groups.create_group(ws, "Kosong")
    cid = await new_campaign(client, owner.slug)
    await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    await step(client, owner.slug, cid, "message", {"kind": "text", "text": "Halo {{frist_name}}"})
    await step(client, owner.slug, cid, "audience", {"who": "groups", "groups": str(empty.id)})
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/review")
    assert "Before launching" in page.text and "{{frist_name}}" in page.text
    assert "Nobody is in this audience" in page.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
    assert r.status_code == 422 and "data-launch-error" in r.text and "{{frist_name}}" in r.text
    await step(client, owner.slug, cid, "message", {"kind": "text", "text": "Halo {{first_name}}"})
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
    assert r.status_code == 422 and "Nobody is in this audience" in r.text
    assert (await campaigns_store.get(ws.db, cid)).status == "draft"


async def test_controls_pause_resume_cancel_and_duplicate_from_the_page(client, owner):
    ws, account, _ = await setup_shop(client, owner.slug, connect=False)
    cid = await new_campaign(client, owner.slug)
    await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    await step(client, owner.slug, cid, "message", {"kind": "text", "text": "Halo {{first_name}}"})
    await step(client, owner.slug, cid, "audience", {"who": "all"})
    await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)

    async def waiting():
        return "Waiting for Shop front to connect" in (await campaigns_store.get(ws.db, cid)).detail
    await until(waiting)
    live = await client.get(f"/w/{owner.slug}/campaigns/{cid}/live")
    assert "Waiting for Shop front to connect" in live.text and ">Pause<" in live.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pause", {}, htmx=True)
    assert r.status_code == 200 and 'data-campaign-status="paused"' in r.text and "Paused" in r.headers["hx-trigger"]
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pause", {}, htmx=True)
    assert r.status_code == 409
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/resume", {}, htmx=True)
    assert 'data-campaign-status="running"' in r.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/cancel", {}, htmx=True)
    assert 'data-campaign-status="cancelled"' in r.text and ">Pause<" not in r.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/duplicate", {}, htmx=True)
    copy = int(re.search(r"/campaigns/(\d+)/edit/name", r.headers["hx-redirect"]).group(1))
    assert (await campaigns_store.get(ws.db, copy)).name == "Promo Lebaran (copy)"
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/explode", {}, htmx=True)
    assert r.status_code == 422
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{copy}/delete", {}, htmx=True)
    assert r.status_code == 200 and await campaigns_store.get(ws.db, copy) is None
    assert (await client.get(f"/w/{owner.slug}/campaigns/999")).status_code == 404


async def test_the_progress_event_makes_the_page_fetch_fresh_numbers(client, owner):
    from blazz.bus import BusEvent
    from blazz.web.events import render_event

    html = render_event(client.app.template_engine,
                        BusEvent("campaign.progress", {"slug": owner.slug, "campaign_id": 7}))
    assert 'id="campaign-poke-7" hidden hx-swap-oob="true"' in html and f"/w/{owner.slug}/campaigns/7/live" in html
    assert 'hx-target="#campaign-live-7"' in html
    assert 'hx-target="#campaign-row-7"' in html and f"/w/{owner.slug}/campaigns/7/row" in html


async def test_the_pacing_step_changes_the_numbers_pacing_and_refuses_bad_values(client, owner):
    ws, account, _ = await setup_shop(client, owner.slug, connect=False)
    cid = await new_campaign(client, owner.slug)
    await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    await step(client, owner.slug, cid, "audience", {"who": "all"})
    form = {"enabled": "on", "gap_min_s": "10", "gap_max_s": "20", "pause_every": "0", "pause_min_m": "5",
            "pause_max_m": "10", "daily_cap": "2", "typing": "on"}
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", form, htmx=True)
    assert r.status_code == 200 and "Between messages" in r.text and "10–20 s" in r.text
    assert "2 today" in r.text  # the daily limit, and 3 recipients finish tomorrow
    assert (await pacing.get_settings(ws, account.id)).daily_cap == 2
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", {**form, "gap_min_s": "30"}, htmx=True)
    assert r.status_code == 422 and "shortest gap" in r.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing",
                        {**form, "window_start": "25:00", "window_end": "10:00"}, htmx=True)
    assert r.status_code == 422 and "HH:MM" in r.text


async def test_agents_see_results_but_not_the_controls_or_the_wizard(client, owner):
    from tests.web.test_workspaces_and_members import invite_link, join

    await setup_shop(client, owner.slug, connect=False)
    cid = await new_campaign(client, owner.slug)
    link = await invite_link(client, owner.slug, "agent")
    agent = await join(client, link, "agent@shop.test")
    try:
        page = await agent.get(f"/w/{owner.slug}/campaigns")
        assert page.status_code == 200 and "New campaign" not in page.text
        r = await agent.get(f"/w/{owner.slug}/campaigns/{cid}/edit/name")
        assert r.status_code == 403
        r = await form_post(agent, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
        assert r.status_code == 403
    finally:
        await agent.aclose()


async def test_a_meta_parameter_mismatch_reads_as_a_clear_reason_per_recipient(client, owner):
    ws, account, _ = await setup_shop(client, owner.slug, n=2, connect=False)
    cid = await new_campaign(client, owner.slug)
    await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    await step(client, owner.slug, cid, "message", {"kind": "text", "text": "Halo"})
    await step(client, owner.slug, cid, "audience", {"who": "all"})
    await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
    await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/cancel", {}, htmx=True)
    meta = "Meta rejected the template message: (#132000) Number of parameters does not match the expected number"
    await ws.db.execute_write("UPDATE campaign_recipients SET status = 'failed', reason = ? WHERE id = 1", (meta,))
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}?status=failed")
    assert "different number of values" in page.text and "Meta error 132000" in page.text
    csv = await client.get(f"/w/{owner.slug}/campaigns/{cid}/recipients.csv?status=failed")
    assert "different number of values" in csv.text


def estimate_in(html: str) -> dt.datetime:
    return dt.datetime.strptime(re.search(r"data-estimate>([^<]+)<", html).group(1), "%a %d %b %Y, %H:%M")


async def test_the_pacing_step_gives_the_campaign_its_own_pace_and_the_estimate_follows_it(client, owner):
    ws, account, _ = await setup_shop(client, owner.slug, connect=False)  # the number is not paced
    cid = await new_campaign(client, owner.slug)
    await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    await step(client, owner.slug, cid, "audience", {"who": "all"})
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/pacing")
    assert 'data-pacing="number"' in page.text and "Use the number's pacing" in page.text
    at_numbers_pace = estimate_in(page.text)
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", {"mode": "custom"}, htmx=True)
    assert r.status_code == 200 and 'data-pacing="own"' in r.text and "As fast as WhatsApp takes them" in r.text
    assert (await campaigns_store.get(ws.db, cid)).pacing["gap_max_s"] == 0  # it starts from the number's
    form = {"mode": "custom", "enabled": "on", "gap_min_s": "3600", "gap_max_s": "3600", "pause_every": "0",
            "pause_min_m": "5", "pause_max_m": "10", "daily_cap": ""}
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", form, htmx=True)
    assert r.status_code == 200 and "3,600–3,600 s" in r.text, r.text
    gap = estimate_in(r.text) - at_numbers_pace
    assert dt.timedelta(hours=1, minutes=58) <= gap <= dt.timedelta(hours=2, minutes=2)  # 3 recipients, 2 gaps
    assert (await pacing.get_settings(ws, account.id)).enabled is False  # the number's pacing is untouched
    review = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/review")
    assert "at this campaign's own pace" in review.text
    saved = (await campaigns_store.get(ws.db, cid)).pacing
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", {**form, "gap_min_s": "7200"}, htmx=True)
    assert r.status_code == 422 and "shortest gap" in r.text
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing",
                        {**form, "window_start": "25:00", "window_end": "10:00"}, htmx=True)
    assert r.status_code == 422 and "HH:MM" in r.text
    assert (await campaigns_store.get(ws.db, cid)).pacing == saved
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", {"mode": "number"}, htmx=True)
    assert r.status_code == 200 and 'data-pacing="number"' in r.text
    assert (await campaigns_store.get(ws.db, cid)).pacing is None


async def test_a_paused_campaign_changes_its_pace_from_its_page_and_a_running_one_must_pause_first(client, owner):
    ws, account, _ = await setup_shop(client, owner.slug, connect=False)
    cid = await new_campaign(client, owner.slug)
    await step(client, owner.slug, cid, "account", {"account_id": str(account.id)})
    await step(client, owner.slug, cid, "message", {"kind": "text", "text": "Halo {{first_name}}"})
    await step(client, owner.slug, cid, "audience", {"who": "all"})
    await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/launch", {}, htmx=True)
    await until(lambda: campaigns_store.get(ws.db, cid), within=5)
    live = await client.get(f"/w/{owner.slug}/campaigns/{cid}/live")
    assert f'href="/w/{owner.slug}/campaigns/{cid}/edit/pacing"' not in live.text, "running: pause first"
    r = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/pacing", follow_redirects=False)
    assert r.status_code in (301, 302, 303) and r.headers["location"].endswith(f"/campaigns/{cid}")
    form = {"mode": "custom", "enabled": "on", "gap_min_s": "30", "gap_max_s": "40", "pause_every": "0",
            "pause_min_m": "5", "pause_max_m": "10", "daily_cap": ""}
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", form, htmx=True)
    assert r.status_code == 409 and (await campaigns_store.get(ws.db, cid)).pacing is None

    await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pause", {}, htmx=True)
    live = await client.get(f"/w/{owner.slug}/campaigns/{cid}/live")
    assert f'href="/w/{owner.slug}/campaigns/{cid}/edit/pacing"' in live.text
    page = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/pacing")
    assert page.status_code == 200 and "Back to the campaign" in page.text and "Delete draft" not in page.text
    assert 'class="wizard-steps"' not in page.text, "no wizard steps for a launched campaign"
    r = await form_post(client, f"/w/{owner.slug}/campaigns/{cid}/pacing", form, htmx=True)
    assert r.status_code == 200 and 'data-pacing="own"' in r.text
    saved = (await campaigns_store.get(ws.db, cid))
    assert saved.status == "paused" and saved.pacing["gap_min_s"] == 30 and saved.pacing["gap_max_s"] == 40
    # Other steps of a launched campaign stay closed.
    r = await client.get(f"/w/{owner.slug}/campaigns/{cid}/edit/message", follow_redirects=False)
    assert r.status_code in (301, 302, 303)
