"""Settings → General: how long message files are kept. 0 needs an explicit confirmation (web and API); bad values
change nothing; a thread shows a removed file as removed."""

from __future__ import annotations

import io
import time

from PIL import Image

from blazz import audit, media, workspace_settings
from tests.conftest import form_post
from tests.web.test_api_accounts import Api
from tests.web.test_api_base import make_token
from tests.web.test_inbox import CUSTOMER, Shop, eventually
from tests.web.test_inbox import shop as shop  # the fixture, shared

FORM = {"name": "Toko Sinar", "timezone": "UTC", "default_region": "", "opt_out_words": "STOP"}


async def retention(client, slug: str) -> int | None:
    ws = await client.app.state.runtime.workspace_by_slug(slug)
    return (await workspace_settings.load(ws.db)).media_retention_days


async def test_days_are_saved_audited_and_zero_needs_the_box_ticked(client, owner):
    url = f"/w/{owner.slug}/settings/"
    r = await form_post(client, url, {**FORM, "media_retention_days": "180"}, htmx=True)
    assert r.status_code == 200 and 'value="180"' in r.text
    assert await retention(client, owner.slug) == 180
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    [entry] = [e for e in await audit.recent(ws) if e.action == "workspace.settings_changed"]
    assert entry.details["media_retention_days"] == {"old": None, "new": 180}

    r = await form_post(client, url, {**FORM, "name": "Renamed", "media_retention_days": "0"}, htmx=True)
    assert r.status_code == 422 and "Confirm that you want that." in r.text and 'name="confirm_delete_all"' in r.text
    assert await retention(client, owner.slug) == 180 and ws.name == "Toko Sinar", "nothing changed"
    r = await form_post(client, url, {**FORM, "media_retention_days": "0", "confirm_delete_all": "on"}, htmx=True)
    assert r.status_code == 200 and await retention(client, owner.slug) == 0

    for bad in ("-3", "two weeks", "4000", "1.5"):
        r = await form_post(client, url, {**FORM, "media_retention_days": bad}, htmx=True)
        assert r.status_code == 422 and "whole number of days" in r.text, bad
    assert await retention(client, owner.slug) == 0
    r = await form_post(client, url, {**FORM, "media_retention_days": ""}, htmx=True)
    assert r.status_code == 200 and await retention(client, owner.slug) is None, "empty keeps files forever"


async def test_the_api_sets_it_and_zero_needs_confirm_delete_all(client, owner):
    api = Api(client, await make_token(client, owner.slug, "admin"))
    assert (await api.get("/workspace")).json()["media_retention_days"] is None
    r = await api.patch("/workspace", json={"media_retention_days": 0})
    assert r.status_code == 422 and "media_retention_days" in r.json()["error"]["details"]
    r = await api.patch("/workspace", json={"media_retention_days": "soon"})
    assert r.status_code == 422
    assert await retention(client, owner.slug) is None
    r = await api.patch("/workspace", json={"media_retention_days": 0, "confirm_delete_all": True})
    assert r.status_code == 200 and r.json()["media_retention_days"] == 0


async def test_a_removed_file_shows_as_removed_in_the_thread(shop: Shop):
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 90, 10)).save(out, "JPEG")
    stored = (await shop.api.post("/media", files={"file": ("nota.jpg", out.getvalue(), "image/jpeg")})).json()
    r = await shop.api.post("/messages", json={"to": CUSTOMER, "media_id": stored["id"]})
    assert r.status_code == 202
    sent = r.json()["id"]

    async def gone_out() -> bool:
        return await shop.status(sent) in ("sent", "delivered", "read")
    await eventually(gone_out)
    conversation_id = await shop.ws.db.fetchval("SELECT conversation_id FROM messages WHERE id = ?", (sent,))
    await shop.ws.db.execute_write_fn(lambda conn: conn.execute(
        "UPDATE messages SET created_at = ? WHERE id = ?", (int(time.time()) - 10 * 86_400, sent)))
    assert await media.expire_older_than(shop.ws, 7) == 1
    thread = await shop.get(f"/{conversation_id}")
    assert "nota.jpg" in thread.text and "Removed after the days set in Settings to keep files" in thread.text
    assert (await shop.client.get(f"/w/{shop.slug}/inbox/media/{stored['id']}")).status_code == 404
