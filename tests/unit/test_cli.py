"""The `blazz` command as a person uses it: real subprocesses, real data dirs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from blazz import __version__


def blazz(*args: str, data_dir=None, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "blazz", *args]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)


def test_version_and_help():
    r = blazz("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"blazz {__version__}"
    for args in (["--help"], ["serve", "--help"], ["admin", "--help"], ["admin", "create-user", "--help"],
                 ["demo", "--help"]):
        r = blazz(*args)
        assert r.returncode == 0 and "usage:" in r.stdout, args


def test_admin_create_user_workspace_and_reset_password(tmp_path):
    d = tmp_path / "data"
    r = blazz("admin", "create-user", "--email", "Owner@Shop.test", "--password", "a long password", "--name", "Sari",
              data_dir=d)
    assert r.returncode == 0 and "owner@shop.test" in r.stdout
    r = blazz("admin", "create-user", "--email", "owner@shop.test", "--password", "a long password", data_dir=d)
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = blazz("admin", "create-user", "--email", "weak@shop.test", "--password", "short", data_dir=d)
    assert r.returncode == 1 and "at least 10 characters" in r.stderr
    r = blazz("admin", "create-workspace", "--name", "Toko Maju", "--owner", "owner@shop.test", data_dir=d)
    assert r.returncode == 0 and r.stdout.strip() == "toko-maju"
    assert (d / "workspaces" / "1" / "workspace.db").exists()
    r = blazz("admin", "create-workspace", "--name", "X", "--owner", "ghost@shop.test", data_dir=d)
    assert r.returncode == 1 and "No user with the email" in r.stderr
    r = blazz("admin", "create-workspace", "--name", "Y", "--owner", "owner@shop.test", "--slug", "toko-maju",
              data_dir=d)
    assert r.returncode == 1 and "taken" in r.stderr
    r = blazz("admin", "reset-password", "--email", "owner@shop.test", data_dir=d, input="another long one\n")
    assert r.returncode == 0 and "Password changed" in r.stdout
    r = blazz("admin", "reset-password", "--email", "owner@shop.test", data_dir=d, input="tiny\n")
    assert r.returncode == 1 and "at least 10" in r.stderr


def test_unwritable_data_dir_is_named_and_exits_nonzero(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/blazz-data"  # even root cannot create folders in /proc
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "data")
    r = blazz("admin", "create-user", "--email", "a@b.co", "--password", "a long password", data_dir=target)
    assert r.returncode == 1 and target in r.stderr and "Traceback" not in r.stderr


def test_port_in_use_is_explained(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = blazz("serve", "--port", str(port), data_dir=tmp_path / "d", timeout=30)
    finally:
        busy.close()
    assert r.returncode == 1 and "already in use" in r.stderr and "--port 0" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_on_free_port_prints_url_and_ctrl_c_stops_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "blazz", "--port", "0", "--data-dir", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "running at http://127.0.0.1:" in line
        url = line.split("running at ")[1].split()[0]
        deadline = time.time() + 15
        while True:
            try:
                if httpx.get(url + "health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "server did not become healthy"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Blazz stopped" in out


@pytest.mark.parametrize("env_var", [True, False])
def test_data_dir_from_env_or_flag(tmp_path, env_var):
    d = tmp_path / "via"
    env = {**os.environ, "BLAZZ_DATA_DIR": str(d)} if env_var else None
    cmd = [sys.executable, "-m", "blazz", "admin", "create-user", "--email", "e@shop.test", "--password",
           "a long password"]
    if not env_var:
        cmd += ["--data-dir", str(d)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (d / "app.db").exists()
