"""Toasts that services push to every open tab outside a request (a campaign that missed its start, a webhook turned
off) carry an English catalog id with its values, and each tab reads them in its own language."""

from __future__ import annotations

import time

from blazz import audit, campaigns, i18n
from blazz.bus import BusEvent
from blazz.web.events import render_event
from tests.web.test_campaigns import setup_shop
from tests.web.test_webhooks import _disabled, _next_toast, admin, fast_retries, receiver, subscribe, until

__all__ = ["admin", "fast_retries", "receiver"]  # fixtures borrowed from the webhook tests


def in_language(client, event: BusEvent, locale: str) -> str:
    with i18n.using(locale):
        return render_event(client.app.template_engine, event)


async def test_a_campaign_that_missed_its_start_is_told_in_each_tabs_language(client, owner):
    ws, account, group = await setup_shop(client, owner.slug, n=2, connect=False)
    rt = client.app.state.runtime
    c = await campaigns.create(ws, {"name": "Promo Lebaran", "account_id": account.id, "message": {"text": "Halo"},
                                    "audience": {"groups": [group.id]}, "scheduled_at": time.time() + 3600,
                                    "late_limit_s": 600})
    with rt.bus.subscribe(ws.id) as sub:
        await campaigns.launch(ws, c.id, audit.Actor(1, owner.email))
        # Blazz was not running at the start: two and a half hours passed.
        await ws.db.execute_write("UPDATE campaigns SET scheduled_at = ? WHERE id = ?", (time.time() - 9000, c.id))
        await rt.campaigns.tick()
        toast = await until(lambda: _next_toast(sub))
    assert toast.data["message"].startswith("Campaign “%(name)s” did not start")  # an id, not a finished sentence
    english, indonesian = in_language(client, toast, "en"), in_language(client, toast, "id")
    assert "Campaign “Promo Lebaran” did not start: it was 2.5 h late." in english and "toast-warning" in english
    assert "Kampanye “Promo Lebaran” tidak dimulai: terlambat 2,5 jam." in indonesian
    assert "did not start" not in indonesian and "toast-warning" in indonesian


async def test_a_webhook_turned_off_is_told_in_each_tabs_language(client, owner, admin, receiver,
                                                                   fast_retries):
    fast_retries.disable_min_failures, fast_retries.disable_after_s = 3, 0
    hook = await subscribe(client, admin, receiver.url)
    receiver.answer(*[500] * 20)
    rt = client.app.state.runtime
    ws = await rt.workspace_by_slug(owner.slug)
    with rt.bus.subscribe(ws.id) as sub:
        await client.post("/api/v1/contacts", headers=admin, json={"phone": "+6281234567893"})
        await until(lambda: _disabled(client, admin, hook["id"]))
        toast = await until(lambda: _next_toast(sub))
    english, indonesian = in_language(client, toast, "en"), in_language(client, toast, "id")
    assert f"The webhook to {receiver.url} kept failing and was turned off." in english
    assert f"Webhook ke {receiver.url} terus gagal dan dinonaktifkan. Periksa di Pengaturan → Webhook." in indonesian
    assert "kept failing" not in indonesian and "toast-error" in indonesian


async def test_a_pushed_toast_without_values_is_shown_as_written(client):
    """Text a service already finished (no params) is left alone, percent signs and markup escaping included."""
    event = BusEvent("toast", {"message": "<b>50%</b> paid", "level": "info"})
    assert "&lt;b&gt;50%&lt;/b&gt; paid" in in_language(client, event, "id")
