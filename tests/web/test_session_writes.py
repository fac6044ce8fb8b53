"""An unchanged session is not rewritten on every request (only to renew it now and then); a changed one always is,
and logging out still ends it."""

from __future__ import annotations

import asyncio

from blazz.web import sessions
from tests.conftest import form_post


def session_file(settings, client):
    [path] = [p for p in (settings.data_dir / "sessions").iterdir() if ".tmp" not in p.name]  # one person logged in
    return path


async def test_an_unchanged_session_is_renewed_now_and_then_not_on_every_request(client, owner, settings,
                                                                                 monkeypatch):
    await client.get(f"/w/{owner.slug}/inbox")  # remembers the workspace: a change, written
    path = session_file(settings, client)
    written = path.stat().st_mtime_ns
    await asyncio.sleep(0.02)
    for _ in range(3):
        assert (await client.get(f"/w/{owner.slug}/inbox")).status_code == 200
    assert path.stat().st_mtime_ns == written, "the same session was written again"

    monkeypatch.setattr(sessions, "RENEW_EVERY_S", 0)  # time to renew its expiry
    assert (await client.get(f"/w/{owner.slug}/inbox")).status_code == 200
    assert path.stat().st_mtime_ns > written

    monkeypatch.setattr(sessions, "RENEW_EVERY_S", 3600)
    renewed = path.stat().st_mtime_ns
    await asyncio.sleep(0.02)
    r = await client.get("/account")  # a page that changes nothing in the session
    assert r.status_code == 200 and path.stat().st_mtime_ns == renewed


async def test_a_changed_session_is_written_and_logging_out_ends_it(client, owner, settings):
    await client.get(f"/w/{owner.slug}/inbox")
    path = session_file(settings, client)
    before = path.read_bytes()
    r = await client.get(f"/w/{owner.slug}/contacts")  # another page that remembers the workspace: same data
    assert r.status_code == 200 and path.read_bytes() == before
    r = await form_post(client, "/logout", {})
    assert r.status_code in (200, 302, 303)
    assert not path.exists(), "logging out deletes the session"
    r = await client.get(f"/w/{owner.slug}/inbox", follow_redirects=False)
    assert r.status_code in (302, 303, 401) or "/login" in r.headers.get("location", "")
