"""`blazz demo`: a new workspace full of consistent, searchable generated history, also while a server runs."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import phonenumbers
import pytest

from blazz import auth
from blazz.config import Settings
from blazz.demo import DEMO_EMAIL, plan_sizes, run_demo
from blazz.errors import Invalid, NotFound
from blazz.store import messages as messages_store
from blazz.store import workspaces as ws_store
from blazz.store.registry import Databases
from tests.conftest import OWNER_EMAIL


def open_workspace(data_dir: Path, slug: str) -> sqlite3.Connection:
    app = sqlite3.connect(data_dir / "app.db")
    (workspace_id,) = app.execute("SELECT id FROM workspaces WHERE slug = ?", (slug,)).fetchone()
    app.close()
    return sqlite3.connect(data_dir / "workspaces" / str(workspace_id) / "workspace.db")


def fts_ids(db: sqlite3.Connection, table: str, query: str) -> set[int]:
    return {r[0] for r in db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (query,))}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", start_whatsapp=False)


@pytest.fixture
async def demo(settings: Settings) -> tuple[str, sqlite3.Connection]:
    slug = await run_demo(settings, contacts=120, messages=900)
    db = open_workspace(settings.data_dir, slug)
    yield slug, db
    db.close()


async def test_demo_creates_an_owner_and_a_filled_workspace(settings, capsys):
    slug = await run_demo(settings, contacts=120, messages=900, conversations=40)
    assert slug == "demo-shop"
    password = re.search(rf"{re.escape(DEMO_EMAIL)} with the password (\S+)", capsys.readouterr().err).group(1)
    dbs = Databases(settings.data_dir)
    await dbs.open()
    try:
        user = await auth.authenticate(dbs.app, DEMO_EMAIL, password, None)
        [membership] = await ws_store.memberships_of(dbs.app, user.id)
        assert (membership.workspace.slug, membership.workspace.name, membership.role) == (slug, "Demo shop", "owner")
    finally:
        await dbs.close()

    db = open_workspace(settings.data_dir, slug)
    count = lambda table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    assert (count("contacts"), count("conversations"), count("messages")) == (120, 40, 900)
    assert 5 <= count("groups") <= 8 and count("contact_groups") > 0 and count("custom_fields") >= 3
    assert db.execute("SELECT count(*) FROM contacts WHERE email != ''").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM contacts WHERE fields != '{}'").fetchone()[0] > 0
    assert db.execute("SELECT engine, name, status, keep_connected, is_default, phone IS NOT NULL FROM accounts"
                      ).fetchall() == [("sandbox", "Demo number (Sandbox)", "connected", 1, 1, 1)]
    assert {r[0] for r in db.execute("SELECT DISTINCT direction FROM messages")} == {"in", "out"}
    statuses = {r[0] for r in db.execute("SELECT DISTINCT status FROM messages WHERE direction = 'out'")}
    assert statuses <= {"sent", "delivered", "read", "failed"} and "read" in statuses
    assert db.execute("SELECT count(*) FROM messages WHERE status = 'failed' AND error IS NULL").fetchone()[0] == 0
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "CHECK and NOT NULL constraints hold"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(p.name for p in (settings.data_dir / "workspaces").iterdir()) == ["1"], "no build file left"


async def test_conversation_summaries_match_their_messages(demo):
    _, db = demo
    now = time.time()
    rows = db.execute(
        "SELECT c.id, c.status, c.unread, c.last_message_id, c.last_message_at, c.last_preview, c.last_inbound_at,"
        " c.created_at, c.resolved_at, ct.created_at FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
    ).fetchall()
    assert {r[1] for r in rows} == {"open", "pending", "resolved"}
    assert any(r[2] for r in rows), "some conversations have unread messages"
    for cid, status, unread, last_id, last_at, preview, last_in, created, resolved_at, contact_created in rows:
        msgs = db.execute("SELECT id, direction, body, created_at FROM messages WHERE conversation_id = ? ORDER BY id",
                          (cid,)).fetchall()
        assert msgs, cid
        assert (last_id, last_at) == (msgs[-1][0], msgs[-1][3]) and preview == msgs[-1][2][: len(preview)] != ""
        times = [m[3] for m in msgs]
        assert times == sorted(set(times)), "created_at increases within a conversation"
        assert contact_created <= created == times[0] and times[-1] <= now + 1
        assert now - times[0] <= 366 * 86_400
        inbound = [m[3] for m in msgs if m[1] == "in"]
        assert last_in == (inbound[-1] if inbound else None)
        trailing = len(msgs) - max((i + 1 for i, m in enumerate(msgs) if m[1] == "out"), default=0)
        assert unread in (0, trailing) and (unread == 0 or status != "resolved")
        assert (resolved_at is not None) == (status == "resolved")
    ids_by_time = [r[0] for r in db.execute("SELECT id FROM messages ORDER BY created_at, id")]
    assert ids_by_time == sorted(ids_by_time), "ids follow time, so newest-first search can walk rowids"
    providers = [r[0] for r in db.execute("SELECT provider_id FROM messages")]
    assert None not in providers and len(set(providers)) == len(providers)


async def test_contacts_have_unique_valid_e164_phones(demo):
    _, db = demo
    phones = [r[0] for r in db.execute("SELECT phone FROM contacts")] + [
        db.execute("SELECT phone FROM accounts").fetchone()[0]]
    assert len(set(phones)) == len(phones)
    for phone in phones:
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone
    indonesian = sum(p.startswith("+628") for p in phones)
    assert len(phones) / 2 < indonesian < len(phones), "mostly Indonesian mobiles, some from elsewhere"


async def test_search_finds_generated_messages_and_contacts(demo):
    _, db = demo
    mid, body = db.execute("SELECT id, body FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1").fetchone()
    word = max(re.findall(r"[A-Za-z]{4,}", body), key=len)
    assert mid in fts_ids(db, "messages_fts", word)
    assert len(fts_ids(db, "messages_fts", "kak")) > 0, "Indonesian phrases are there"
    cid, name = db.execute("SELECT id, name FROM contacts WHERE name LIKE '% %' LIMIT 1").fetchone()
    assert cid in fts_ids(db, "contacts_fts", f'"{name}"')


async def test_search_triggers_work_after_the_load(demo):
    _, db = demo
    db.execute("INSERT INTO messages (conversation_id, account_id, direction, body, created_at)"
               " VALUES (1, 1, 'in', 'zanzibar ginger syrup please', ?)", (int(time.time()),))
    mid = db.execute("SELECT last_insert_rowid()").fetchone()[0]
    assert fts_ids(db, "messages_fts", "zanzibar") == set(), "queued until its transaction commits"
    messages_store.index_queued(db)  # as the server's writer does before each commit
    assert fts_ids(db, "messages_fts", "zanzibar") == {mid}
    db.execute("UPDATE messages SET body = 'wasabi peas instead' WHERE id = ?", (mid,))
    assert fts_ids(db, "messages_fts", "zanzibar") == set() and fts_ids(db, "messages_fts", "wasabi") == {mid}
    db.execute("DELETE FROM messages WHERE id = ?", (mid,))
    assert fts_ids(db, "messages_fts", "wasabi") == set()
    now = int(time.time())
    db.execute("INSERT INTO contacts (phone, name, created_at, updated_at) VALUES ('+6281299887766', 'Quenby', ?, ?)",
               (now, now))
    cid = db.execute("SELECT last_insert_rowid()").fetchone()[0]
    assert fts_ids(db, "contacts_fts", "Quenby") == {cid}
    db.commit()


async def test_same_seed_same_people_and_a_second_demo_gets_its_own_address(settings, capsys):
    first = await run_demo(settings, contacts=30, messages=100)
    second = await run_demo(settings, contacts=30, messages=100)
    assert (first, second) == ("demo-shop", "demo-shop-2")
    assert capsys.readouterr().err.count("with the password") == 1, "the second demo reuses the first user"
    a, b = open_workspace(settings.data_dir, first), open_workspace(settings.data_dir, second)
    people = "SELECT phone, name, email, fields FROM contacts ORDER BY id"
    assert a.execute(people).fetchall() == b.execute(people).fetchall()
    a.close()
    b.close()


async def test_demo_for_a_named_owner(settings):
    dbs = Databases(settings.data_dir)
    await dbs.open()
    try:
        await auth.create_user(dbs.app, "first@shop.test", "a long secret phrase")
        owner = await auth.create_user(dbs.app, "sari@shop.test", "another secret phrase")
        with pytest.raises(NotFound):
            await run_demo(settings, contacts=10, messages=20, owner_email="ghost@shop.test")
        slug = await run_demo(settings, contacts=10, messages=20, owner_email="Sari@Shop.test")
        assert [m.workspace.slug for m in await ws_store.memberships_of(dbs.app, owner.id)] == [slug]
    finally:
        await dbs.close()


def test_sizes_are_checked():
    assert plan_sizes(500, 5000, None).conversations == 250
    assert plan_sizes(10, 3, None).conversations == 3, "never more conversations than messages"
    assert plan_sizes(1, 0, None).conversations == 0
    for args in ((0, 10, None), (10, -1, None), (10, 10, 11), (10, 10, 0)):
        with pytest.raises(Invalid):
            plan_sizes(*args)


async def test_demo_while_the_server_runs(client, owner, settings):
    slug = await run_demo(settings, contacts=40, messages=200)
    r = await client.get(f"/w/{slug}/inbox")
    assert r.status_code == 200 and "Demo shop" in r.text
    dbs = Databases(settings.data_dir)
    await dbs.open()
    try:
        first = await dbs.app.fetchval("SELECT email FROM users ORDER BY id LIMIT 1")
        assert first == OWNER_EMAIL
    finally:
        await dbs.close()


def test_cli_prints_the_slug_last(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "blazz", "demo", "--data-dir", str(tmp_path / "data"), "--contacts", "50",
         "--messages", "300"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "demo-shop"
    assert "300 messages stored" in r.stderr and "with the password" in r.stderr
