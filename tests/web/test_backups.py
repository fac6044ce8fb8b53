"""Backups from the running app: the owner's download, who may not download, the daily backup on the heartbeat,
and diagnostics while serving."""

from __future__ import annotations

import io
import json
import zipfile

from blazz import audit, backup
from blazz.diagnostics import diagnostics
from tests.conftest import form_post
from tests.web.test_workspaces_and_members import invite_link, join


async def test_owner_downloads_a_fresh_archive_of_the_workspace(client, owner, settings):
    r = await client.get(f"/w/{owner.slug}/settings/backup")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert f'filename="blazz-backup-{owner.slug}-' in r.headers["content-disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["scope"] == "workspace" and manifest["with_sessions"] is False
    assert [w["slug"] for w in manifest["workspaces"]] == [owner.slug]
    assert f"workspaces/{owner.slug}/workspace.db" in zf.namelist() and "app.db" not in zf.namelist()
    assert zf.testzip() is None
    leftovers = list(backup.backups_dir(settings.data_dir).glob(".blazz-*/*"))
    assert leftovers == [], "the scratch archive is deleted once sent"
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    entries = await audit.recent(ws, action="backup")
    assert entries[0].action == "backup.downloaded" and entries[0].actor == "owner@shop.test"


async def test_agents_get_403_and_other_workspaces_404(client, owner):
    agent = await join(client, await invite_link(client, owner.slug), "agent@shop.test")
    try:
        assert (await agent.get(f"/w/{owner.slug}/settings/backup")).status_code == 403
    finally:
        await agent.__aexit__(None, None, None)
    await form_post(client, "/workspaces/new", {"name": "Secret Branch"})
    admin = await join(client, await invite_link(client, "secret-branch", role="admin"), "admin@branch.test")
    try:
        assert (await admin.get("/w/secret-branch/settings/backup")).status_code == 200, "admins may download"
        r = await admin.get(f"/w/{owner.slug}/settings/backup")
        assert r.status_code == 404 and "zip" not in r.headers.get("content-type", "")
    finally:
        await admin.__aexit__(None, None, None)
    assert (await client.get("/w/no-such-place/settings/backup")).status_code == 404


async def test_the_heartbeat_makes_the_daily_backup_and_records_it(client, owner, settings):
    rt = client.app.state.runtime
    await rt.heartbeat()
    assert rt.daily_backups.task is not None
    result = await rt.daily_backups.task
    assert result is not None and result.path.parent == backup.backups_dir(settings.data_dir)
    assert result.path.name.startswith(backup.DAILY_PREFIX) and result.manifest.scope == "all"
    assert backup.read_status(settings.data_dir)["last_archive"] == result.path.name
    ws = await rt.workspace_by_slug(owner.slug)
    entries = await audit.recent(ws, action="backup")
    assert [(e.action, e.actor) for e in entries] == [("backup.created", "Blazz")]
    await rt.heartbeat()
    assert rt.daily_backups.task.done() and len(backup.daily_archives(settings.data_dir)) == 1, "one a day"


async def test_diagnostics_while_serving_see_the_server_and_healthy_databases(client, owner, settings):
    report = diagnostics(settings)
    assert report["server"]["running"] is True
    assert report["status"] in ("ok", "warning")
    assert [w["slug"] for w in report["workspaces"]] == [owner.slug]
    assert all(not d["problems"] for d in report["databases"])
