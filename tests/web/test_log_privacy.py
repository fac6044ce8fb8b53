"""A normal day through the front door, logged as `blazz serve --log-format json` logs it: the file holds useful
lines with context, and no password, token, secret or message text."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from blazz import logs
from blazz.whatsapp.protocol import OutgoingMessage
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, form_post, login
from tests.fakes.graph_api import FakeGraphApi
from tests.web.test_accounts_page import cloud_form
from tests.web.test_api_accounts import Api, eventually
from tests.web.test_api_base import make_token

CUSTOMER_TEXT = "Pesanan 7781 atas nama Bu Rina, alamat Jl. Melati 12"
REPLY_TEXT = "Baik Bu Rina, pesanan 7781 dikirim besok pagi"
PICTURE = b"\x89PNG private family photo"


@pytest.fixture
def json_log(settings):
    """Console and rotated file logging exactly as `blazz serve --log-format json` sets it up; undone afterwards."""
    root = logging.getLogger()
    level = root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    logs.configure("json", logging.INFO)
    path = logs.log_path(settings.data_dir)
    logs.add_file(path, "json")
    yield path
    for handler in [h for h in root.handlers if getattr(h, "_blazz_handler", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


async def test_a_normal_day_logs_no_secrets_and_no_message_text(json_log, client, owner, settings):
    rt = client.app.state.runtime
    # People: a failed login, a good one.
    await client.get("/logout")
    r = await login(client, OWNER_EMAIL, "wrong horse battery staple")
    r = await login(client, OWNER_EMAIL, OWNER_PASSWORD)
    assert r.status_code == 200
    token = await make_token(client, owner.slug, "admin")
    api = Api(client, token)

    with FakeGraphApi() as graph:  # an official number with its secrets
        r = await api.post("/accounts", json={"name": "Official", "engine": "cloud_api", **cloud_form(graph)})
        assert r.status_code == 201, r.text
        assert (await api.post("/accounts/1/connect")).json()["status"] == "connected"
        webhook_key = (await api.get("/accounts/1")).json()["webhook_url"].rsplit("/", 1)[1]
        await api.post("/accounts/1/disconnect")

    # A simulated number: a customer writes (text and a picture), we answer.
    await api.post("/accounts", json={"name": "Shop", "engine": "sandbox"})
    await api.post("/accounts/2/connect")
    await api.post("/sandbox/accounts/2/scan")
    r = await api.post("/sandbox/accounts/2/inbound", json={"from": "+62 812 3456 7890", "text": CUSTOMER_TEXT})
    assert r.status_code == 202
    media = {"mime": "image/png", "filename": "keluarga.png", "base64": base64.b64encode(PICTURE).decode()}
    r = await api.post("/sandbox/accounts/2/inbound", json={"from": "+6281234567890", "media": media})
    assert r.status_code == 202
    ws = await rt.workspace_by_slug(owner.slug)
    await eventually(lambda: ws.db.fetchval("SELECT count(*) >= 2 FROM messages"))
    reply = rt.sessions.send((ws.id, 2), OutgoingMessage(to="+6281234567890", text=REPLY_TEXT))
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(reply, rt.loop))  # on the app's own loop
    await form_post(client, f"/w/{owner.slug}/settings/", {"name": "Toko Sinar Jaya"}, htmx=True)
    assert (await client.get(f"/w/{owner.slug}/settings/backup")).status_code == 200
    await rt.heartbeat()
    await rt.daily_backups.task

    for handler in logging.getLogger().handlers:
        handler.flush()
    text = json_log.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries, "the day was logged"
    messages = [e["message"] for e in entries]
    assert any("started" in m for m in messages) and any("backup written" in m for m in messages)
    assert any(e.get("workspace") == owner.slug and "downloaded" in e["message"] for e in entries)
    assert any(e.get("workspace") == owner.slug and e["message"].startswith("backup written") for e in entries), \
        "a line logged deep inside a request (here in a worker thread) carries the request's workspace"
    assert all(e["level"] != "debug" for e in entries)
    secrets = {
        "password": OWNER_PASSWORD, "wrong password": "wrong horse battery staple", "API token": token,
        "Cloud API access token": graph.token, "app secret": "app-secret-1234", "verify token": "kopi-susu-9876",
        "webhook key": webhook_key.split(".", 1)[1], "session cookie": client.cookies.get("blazz_session"),
        "customer text": CUSTOMER_TEXT, "customer text part": "Jl. Melati", "reply": REPLY_TEXT,
        "picture": base64.b64encode(PICTURE).decode(), "picture bytes": PICTURE.decode("latin-1"),
    }
    leaked = [what for what, value in secrets.items() if value and value in text]
    assert leaked == [], f"logged at info level: {leaked}"
