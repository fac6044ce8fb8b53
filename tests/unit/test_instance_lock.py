"""One Blazz per data folder: the lock file, a second launch, a crashed previous instance, bad data folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from blazz.instance_lock import LOCK_NAME, AlreadyRunning, InstanceLock, LockError, pid_alive, read_holder
from tests.unit.blazz_process import blazz_env, lock_record, run, started

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from blazz.instance_lock import InstanceLock
    lock = InstanceLock(Path(sys.argv[1]))
    lock.acquire(sys.argv[3])
    time.sleep(float(sys.argv[4]))
    if sys.argv[2]:
        lock.publish(sys.argv[2])
    print("held", flush=True)
    time.sleep(120)
""")


def hold_lock(data_dir: Path, url: str = "http://127.0.0.1:9/", mode: str = "serve",
              publish_after: float = 0.0) -> subprocess.Popen[str]:
    """Another process holding the data folder's lock (its URL written after `publish_after` seconds)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(data_dir), url, mode, str(publish_after)],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while read_holder(data_dir) is None:
        assert proc.poll() is None and time.monotonic() < deadline, "the helper did not take the lock"
        time.sleep(0.02)
    return proc


def end(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    proc.send_signal(sig)
    proc.wait(10)


# -- the lock itself ----------------------------------------------------------------------------------------------


def test_second_holder_is_told_who_runs_and_where(tmp_path):
    first = InstanceLock(tmp_path)
    first.acquire("desktop")
    first.publish("http://127.0.0.1:4321/", focus_port=5555)
    with pytest.raises(AlreadyRunning) as raised:
        InstanceLock(tmp_path).acquire(wait_for_url_s=0)
    holder = raised.value.holder
    assert holder is not None
    assert (holder.pid, holder.url, holder.mode, holder.focus_port) == (os.getpid(), "http://127.0.0.1:4321/",
                                                                        "desktop", 5555)
    assert "http://127.0.0.1:4321/" in str(raised.value)
    first.release()
    assert (tmp_path / LOCK_NAME).read_text() == ""  # a clean stop leaves no record behind
    again = InstanceLock(tmp_path)
    again.acquire()
    assert again.stale is None
    again.release()
    again.release()  # twice is harmless


def test_lock_held_by_another_process_then_released_by_its_crash(tmp_path):
    holder = hold_lock(tmp_path, "http://127.0.0.1:4000/")
    try:
        with pytest.raises(AlreadyRunning) as raised:
            InstanceLock(tmp_path).acquire(wait_for_url_s=0)
        assert raised.value.holder.pid == holder.pid
        assert raised.value.holder.url == "http://127.0.0.1:4000/"
    finally:
        end(holder)  # SIGKILL: no cleanup runs, the record stays in the file
    assert read_holder(tmp_path).pid == holder.pid
    lock = InstanceLock(tmp_path)
    lock.acquire()  # the kernel dropped the dead process's lock
    assert lock.stale is not None and lock.stale.pid == holder.pid
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_a_starting_holder_is_waited_for_until_its_url_is_known(tmp_path):
    holder = hold_lock(tmp_path, "http://127.0.0.1:4001/", publish_after=0.5)
    try:
        assert read_holder(tmp_path).url is None
        started_at = time.monotonic()
        with pytest.raises(AlreadyRunning) as raised:
            InstanceLock(tmp_path).acquire(wait_for_url_s=10)
        assert raised.value.holder.url == "http://127.0.0.1:4001/"
        assert time.monotonic() - started_at >= 0.3  # it waited for the URL rather than report an unknown one
    finally:
        end(holder)


def test_holder_without_url_gives_up_after_the_wait(tmp_path):
    holder = hold_lock(tmp_path, url="")
    try:
        started_at = time.monotonic()
        with pytest.raises(AlreadyRunning) as raised:
            InstanceLock(tmp_path).acquire(wait_for_url_s=0.5)
        assert time.monotonic() - started_at >= 0.4
        assert raised.value.holder.url is None
        assert "not known yet" in str(raised.value)
    finally:
        end(holder)


def test_foreign_or_half_written_lock_content_is_no_record(tmp_path):
    (tmp_path / LOCK_NAME).write_text('{"pid": "not a number"')
    lock = InstanceLock(tmp_path)
    lock.acquire()
    assert lock.stale is None
    lock.release()


def test_lock_file_that_cannot_be_created_names_the_file(tmp_path):
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    with pytest.raises(LockError, match="plain-file"):
        InstanceLock(not_a_folder).acquire()


def test_pid_alive():
    assert pid_alive(os.getpid())
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not pid_alive(gone.pid)
    assert not pid_alive(0)


# -- through the command line -------------------------------------------------------------------------------------


def test_second_serve_on_the_same_data_folder_names_the_running_one(tmp_path):
    data = tmp_path / "data"
    with started("serve", "--port", "0", "--data-dir", str(data)) as first:
        record = json.loads(lock_record(data))
        assert record["url"] == first.url and record["pid"] == first.process.pid
        second = run("serve", "--port", "0", "--data-dir", str(data))
        assert second.returncode == 1
        assert "already running" in second.stderr and first.url in second.stderr
        assert "--data-dir" in second.stderr and "Traceback" not in second.stderr
        # Another folder is another Blazz: both run.
        with started("serve", "--port", "0", "--data-dir", str(tmp_path / "other")) as other:
            assert other.url != first.url
            assert other.stop() == 0
        assert first.stop() == 0
    assert lock_record(data) == ""


def test_restart_after_a_crash_clears_the_stale_lock_and_says_so(tmp_path):
    data = tmp_path / "data"
    with started("serve", "--port", "0", "--data-dir", str(data)) as crashed:
        crashed.process.kill()  # power cut, OOM killer, kill -9: no cleanup at all
        crashed.process.wait()
    assert json.loads(lock_record(data))["pid"] == crashed.process.pid
    with started("serve", "--port", "0", "--data-dir", str(data)) as restarted:
        assert f"(pid {crashed.process.pid}) did not stop cleanly last time" in restarted.output()
        assert "starts normally" in restarted.output()
        assert json.loads(lock_record(data))["pid"] == restarted.process.pid
        assert restarted.stop() == 0
    assert "Traceback" not in restarted.output()


def test_a_holder_that_does_not_answer_is_named_with_a_way_out(tmp_path):
    data = tmp_path / "data"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    closed.close()  # nothing listens there: the holder is stuck or was never serving
    holder = hold_lock(data, dead_url)
    try:
        r = run("serve", "--port", "0", "--data-dir", str(data))
        assert r.returncode == 1
        assert "does not answer" in r.stderr and f"kill {holder.pid}" in r.stderr and "--data-dir" in r.stderr
        r = run("desktop", "--data-dir", str(data))
        assert r.returncode == 1 and "does not answer" in r.stderr
    finally:
        end(holder)


def test_port_taken_by_another_program_releases_the_lock(tmp_path):
    data = tmp_path / "data"
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        for command in ("serve", "desktop"):
            r = run(command, "--port", str(port), "--data-dir", str(data))
            assert r.returncode == 1, (command, r.stderr)
            assert "already in use by another program" in r.stderr and "--port 0" in r.stderr
            assert "Traceback" not in r.stderr
            assert lock_record(data) == ""  # nothing left to trip the next start
    finally:
        busy.close()
    with started("serve", "--port", str(port), "--data-dir", str(data)) as now_free:
        assert now_free.url.endswith(f":{port}/")
        assert now_free.stop() == 0


def _can_mount_read_only() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o ro,size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and mount namespaces for a read-only disk")
@pytest.mark.parametrize("command", ["serve", "desktop"])
def test_data_folder_on_a_read_only_disk(tmp_path, command):
    data = tmp_path / "data"
    data.mkdir()
    (data / "app.db").write_bytes(b"")  # a folder that was in use before the disk went read-only
    script = (f'mount --bind "{data}" "{data}" && mount -o remount,bind,ro "{data}" && '
              f'exec "{sys.executable}" -m blazz {command} --port 0 --data-dir "{data}"')
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                       env=blazz_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(data) in r.stderr and "Read-only file system" in r.stderr
    assert "--data-dir" in r.stderr and "Traceback" not in r.stderr

