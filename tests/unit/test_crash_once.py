"""Crash safety: SIGKILL a real Blazz runtime in the middle of sending, restart it, and every message is sent once.

The driver below runs in a subprocess (the real runtime, SQLite files and the sandbox engine; nothing replaced).
It is SIGKILLed three times while it sends: once by itself at a moment when the engine has taken messages whose
result is not recorded yet (the hardest case, made certain), then twice by the test at whatever point the process
happens to be (inside a transaction, between sends...). Each restart must settle what was left without a second
copy. The sandbox's delivered log (what the simulated network accepted) is the witness.

Run the driver by hand: python -m tests.unit.test_crash_once prepare|run <data dir> [die at N deliveries]
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blazz import outbox
from blazz.outbox import CampaignItem
from tests.unit.test_outbox_harness import customer, running

N = 3000  # half through the urgent lane (API sends), half through a campaign (pacing off)
ROOT = Path(__file__).resolve().parents[2]


# -- the driver (subprocess) ----------------------------------------------------------------------------------------


async def prepare(data_dir: Path) -> None:
    """Queue N messages while the number is not connected yet, then stop cleanly."""
    async with running(data_dir, connect=False) as h:
        for i in range(N // 2):
            await outbox.send_text(h.ws, to=customer(i), text=f"message {i}", source="api",
                                   idempotency_key=f"crash-{i}")

        def add_contacts(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO contacts (phone, name, created_at, updated_at) VALUES (?, '', 0, 0)",
                             [(customer(i),) for i in range(N // 2, N)])

        await h.ws.db.execute_write_fn(add_contacts)
        rows = await h.ws.db.fetchall("SELECT id, phone FROM contacts WHERE id > ? ORDER BY id", (N // 2,))
        index = {phone: i for i in range(N // 2, N) for phone in [customer(i)]}
        items = [CampaignItem(row[0], f"message {index[row[1]]}") for row in rows]
        result = await outbox.enqueue_many(h.ws, items, campaign_id=1)
        assert len(result.queued) == N - N // 2, result.skipped[:3]
    print("READY", flush=True)


async def run(data_dir: Path, die_at: int | None = None) -> None:
    """Connect (restored after the first time) and send until nothing is left, then stop cleanly; with `die_at`,
    SIGKILL this very process once the network holds that many messages and sends are awaiting their record."""
    async with running(data_dir) as h:
        print("CONNECTED", flush=True)
        if die_at is not None:
            asyncio.get_running_loop().create_task(_die_mid_send(h, die_at))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE status NOT IN ('sent', 'delivered',"
                                          " 'read', 'failed')")
            if not left:
                break
            await asyncio.sleep(0.05)
    print("DONE", flush=True)


async def _die_mid_send(h, die_at: int) -> None:
    network = sqlite3.connect(h.engine.spec.folder / "sandbox.db")
    flying = h.rt.delivery.in_flight(h.key)
    while True:
        if flying and network.execute("SELECT count(*) FROM delivered").fetchone()[0] >= die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(0)  # runs whenever the worker waits, e.g. for the transaction recording a batch


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    phase, data_dir = argv[0], Path(argv[1])
    die_at = int(argv[2]) if len(argv) > 2 else None
    asyncio.run(prepare(data_dir) if phase == "prepare" else run(data_dir, die_at))


# -- the test -------------------------------------------------------------------------------------------------------


def driver(phase: str, data_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.unit.test_crash_once", phase, str(data_dir), *extra],
                            cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def accepted_count(network: Path) -> int:
    try:
        return read(network, "SELECT count(*) FROM delivered")[0][0]
    except sqlite3.OperationalError:  # the engine has not created its tables yet
        return 0


def in_flight_at_death(workspace_db: Path, network: Path) -> int:
    """Entries a killed driver left `sending` although the network had already taken them."""
    accepted = {r[0] for r in read(network, "SELECT provider_id FROM delivered")}
    sending = read(workspace_db, "SELECT provider_msg_id FROM outbox WHERE state = 'sending'")
    return sum(1 for (pid,) in sending if pid in accepted)


@pytest.mark.timeout(300)  # four process starts; generous for a busy machine
def test_sigkill_mid_send_then_restart_sends_every_message_exactly_once(tmp_path):
    data = tmp_path / "data"
    proc = driver("prepare", data)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0 and "READY" in out, err[-3000:]
    workspace_db = data / "workspaces" / "1" / "workspace.db"
    network = data / "workspaces" / "1" / "whatsapp" / "1" / "sandbox.db"

    # 1. The process kills itself while the engine holds sends whose result is not recorded.
    proc = driver("run", data, str(N // 4))
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == -signal.SIGKILL, f"the driver was not killed: {err[-3000:]}"
    assert in_flight_at_death(workspace_db, network) > 0
    # 2. and 3. The test kills it from outside, wherever it happens to be.
    for target in (N // 2, 3 * N // 4):
        proc = driver("run", data)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and accepted_count(network) < target:
            time.sleep(0.002)
        if proc.poll() is None:  # on a very busy machine it may have finished everything first: nothing to kill
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    proc = driver("run", data)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "DONE" in out, err[-3000:]

    delivered = read(network, "SELECT provider_id, to_phone, text FROM delivered")
    assert len(delivered) == N, f"{len(delivered)} deliveries for {N} messages"
    assert len({text for _, _, text in delivered}) == N  # each message exactly once
    assert sorted(text for _, _, text in delivered) == sorted(f"message {i}" for i in range(N))
    assert all(to == customer(int(text.split()[1])) for _, to, text in delivered)
    messages = read(workspace_db, "SELECT status, provider_id FROM messages")
    assert len(messages) == N
    assert {status for status, _ in messages} <= {"sent", "delivered", "read"}
    assert {pid for _, pid in messages} == {pid for pid, _, _ in delivered}
    assert read(workspace_db, "SELECT count(*) FROM outbox")[0][0] == 0


if __name__ == "__main__":
    main(sys.argv[1:])
