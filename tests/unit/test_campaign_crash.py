"""Crash safety of campaigns: SIGKILL a real Blazz runtime at random points of a 2,000-recipient sandbox campaign,
several times, restart it, and the campaign completes with every recipient messaged exactly once.

The driver below runs in a subprocess (the real runtime, SQLite files, scheduler and sandbox engine; nothing
replaced). Its feeding window is made small so that the campaign goes through the outbox in many windows and the
kills land while recipients are being fed as well as while messages are being sent. The sandbox's delivered log
(what the simulated network accepted) is the witness.

Run the driver by hand: python -m tests.unit.test_campaign_crash prepare|run <data dir>
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from blazz import audit, campaign_feed, campaigns
from blazz.store import campaigns as campaigns_store
from tests.unit.test_crash_once import accepted_count, read
from tests.unit.test_outbox_harness import customer, running

N = 2000
KILLS = 4
WINDOW = 150  # messages in the outbox ahead of the worker: ~13 windows, so kills catch feeding too
ROOT = Path(__file__).resolve().parents[2]


# -- the driver (subprocess) ----------------------------------------------------------------------------------------


async def prepare(data_dir: Path) -> None:
    """A group of N contacts and a launched campaign to them, while the number is not connected yet."""
    async with running(data_dir, connect=False) as h:
        def add_contacts(conn: sqlite3.Connection) -> None:
            group = conn.execute("INSERT INTO groups (name, created_at) VALUES ('Semua', 0)").lastrowid
            conn.executemany("INSERT INTO contacts (phone, name, first_name, created_at, updated_at)"
                             " VALUES (?, ?, ?, 0, 0)", [(customer(i), f"Budi {i}", f"Budi{i}") for i in range(N)])
            conn.execute("INSERT INTO contact_groups (contact_id, group_id) SELECT id, ? FROM contacts", (group,))

        await h.ws.db.execute_write_fn(add_contacts)
        c = await campaigns.create(h.ws, {"name": "Crash", "account_id": h.account_id,
                                          "message": {"text": "Halo {{first_name}}, promo!"},
                                          "audience": {"groups": [1]}})
        launched = await campaigns.launch(h.ws, c.id, audit.SYSTEM)
        assert launched.total == N, launched
    print("READY", flush=True)


async def run(data_dir: Path) -> None:
    """Connect (restored after the first time) and let the scheduler finish the campaign, then stop cleanly."""
    campaign_feed.WINDOW_UNPACED = WINDOW
    async with running(data_dir) as h:
        print("CONNECTED", flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            c = await campaigns_store.get(h.ws.db, 1)
            if c.status == "completed":
                break
            await asyncio.sleep(0.05)
    print("DONE", flush=True)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    phase, data_dir = argv[0], Path(argv[1])
    asyncio.run(prepare(data_dir) if phase == "prepare" else run(data_dir))


# -- the test -------------------------------------------------------------------------------------------------------


def driver(phase: str, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.unit.test_campaign_crash", phase, str(data_dir)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def recipient_counts(workspace_db: Path) -> dict[str, int]:
    return dict(read(workspace_db, "SELECT status, count(*) FROM campaign_recipients GROUP BY status"))


def test_sigkill_at_random_points_of_a_campaign_then_restart_messages_every_recipient_exactly_once(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data = tmp_path / "data"
    proc = driver("prepare", data)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0 and "READY" in out, err[-3000:]
    workspace_db = data / "workspaces" / "1" / "workspace.db"
    network = data / "workspaces" / "1" / "whatsapp" / "1" / "sandbox.db"

    targets = sorted(rng.sample(range(50, N - 100), KILLS))
    mid_feed = 0  # kills that landed with recipients still waiting to be fed and others already queued or sent
    for target in targets:
        proc = driver("run", data)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if accepted_count(network) >= target:
                break
            time.sleep(0.001)
        assert proc.poll() is None, f"seed {seed}: the driver ended before the kill: {proc.communicate()[1][-3000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        counts = recipient_counts(workspace_db)
        if counts.get("pending") and (counts.get("queued") or counts.get("sent")):
            mid_feed += 1

    proc = driver("run", data)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0 and "DONE" in out, f"seed {seed}: {err[-3000:]}"

    delivered = read(network, "SELECT provider_id, to_phone, text FROM delivered")
    assert len(delivered) == N, f"seed {seed}: {len(delivered)} deliveries for {N} recipients"
    assert sorted(to for _, to, _ in delivered) == sorted(customer(i) for i in range(N))  # each exactly once
    assert all(text == f"Halo Budi{int(to[-8:])}, promo!" for _, to, text in delivered)
    status, total = read(workspace_db, "SELECT status, total FROM campaigns WHERE id = 1")[0]
    assert (status, total) == ("completed", N), seed
    assert set(recipient_counts(workspace_db)) <= {"sent", "delivered", "read"}, seed
    messages = read(workspace_db, "SELECT count(*), count(DISTINCT conversation_id) FROM messages"
                                  " WHERE campaign_id = 1")[0]
    assert messages == (N, N), seed
    linked = read(workspace_db, "SELECT count(*) FROM campaign_recipients r JOIN messages m ON m.id = r.message_id"
                                " WHERE m.provider_id IS NOT NULL")[0][0]
    assert linked == N, seed
    assert read(workspace_db, "SELECT count(*) FROM outbox")[0][0] == 0
    assert mid_feed > 0, f"seed {seed}: no kill landed while the campaign was being fed"


if __name__ == "__main__":
    main(sys.argv[1:])
