"""`blazz desktop`: the display check, the one-line fallback to the browser, a second launch, the real window."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from blazz import desktop
from blazz.instance_lock import Holder
from tests.unit.blazz_process import (
    blazz_env,
    fake_display,
    lock_record,
    recording_browser,
    run,
    started,
    wait_file,
    wait_health,
)

HIDE_PYWEBVIEW = "import sys\nsys.modules['webview'] = None  # as if the desktop extra were not installed"


@pytest.fixture
def fake_x_display() -> Iterator[str]:
    with fake_display() as display:
        yield display


@pytest.fixture
def browser_recorder(tmp_path: Path) -> tuple[str, Path]:
    return recording_browser(tmp_path)


# -- is there a display? ------------------------------------------------------------------------------------------


def test_no_display_variables_is_no_display():
    assert "No display found" in desktop.display_problem({})


def test_a_display_nobody_listens_on_does_not_answer():
    assert desktop.display_problem({"DISPLAY": ":59999"}) == "The display :59999 does not answer"
    assert "does not answer" in desktop.display_problem({"DISPLAY": "127.0.0.1:59999.0"})
    assert "does not answer" in desktop.display_problem({"DISPLAY": "garbage"})


def test_a_listening_x_server_socket_is_a_display(fake_x_display):
    assert desktop.display_problem({"DISPLAY": fake_x_display}) is None
    assert desktop.display_problem({"DISPLAY": f"unix{fake_x_display}.0"}) is None


def test_wayland_socket_is_a_display(tmp_path):
    assert "not running" in desktop.display_problem({"WAYLAND_DISPLAY": "wayland-9", "XDG_RUNTIME_DIR": str(tmp_path)})
    (tmp_path / "wayland-9").write_text("")
    assert desktop.display_problem({"WAYLAND_DISPLAY": "wayland-9", "XDG_RUNTIME_DIR": str(tmp_path)}) is None


# -- without a window ---------------------------------------------------------------------------------------------


def test_desktop_without_a_display_says_so_in_one_line_and_serves(tmp_path):
    data = tmp_path / "data"
    with started("desktop", "--data-dir", str(data)) as app:
        notes = [line for line in app.lines if "No display found" in line]
        assert len(notes) == 1 and f"open {app.url} in a browser instead" in notes[0]
        assert app.url.startswith("http://127.0.0.1:")  # loopback, on a free port
        assert json.loads(lock_record(data))["mode"] == "desktop"
        assert app.stop(signal.SIGHUP) == 0  # the terminal window was closed: a clean stop, like Ctrl-C
    assert "Blazz stopped." in app.output() and "Traceback" not in app.output()
    assert lock_record(data) == ""


def test_desktop_without_the_extra_opens_the_browser(tmp_path, fake_x_display, browser_recorder):
    browser, opened = browser_recorder
    env = blazz_env(DISPLAY=fake_x_display, BROWSER=browser)
    with started("desktop", "--data-dir", str(tmp_path / "data"), env=env, prelude=HIDE_PYWEBVIEW) as app:
        notes = [line for line in app.lines if "desktop extra" in line]
        assert len(notes) == 1
        assert "pip install 'blazz[desktop]'" in notes[0] and f"opening {app.url} in your browser" in notes[0]
        url, library_path = wait_file(opened).split()
        assert url == app.url and library_path == "unset"
        assert app.stop() == 0
    assert "Traceback" not in app.output()


def test_second_desktop_launch_opens_the_running_one(tmp_path, fake_x_display, browser_recorder):
    data = tmp_path / "data"
    with started("serve", "--port", "0", "--data-dir", str(data)) as first:
        r = run("desktop", "--data-dir", str(data))  # no display: the address is printed
        assert r.returncode == 0 and f"already running at {first.url}: open that address" in r.stdout
        browser, opened = browser_recorder
        r = run("desktop", "--data-dir", str(data), env=blazz_env(DISPLAY=fake_x_display, BROWSER=browser))
        assert r.returncode == 0 and "opened it in your browser" in r.stdout
        assert wait_file(opened).split()[0] == first.url
        assert first.stop() == 0


def test_desktop_with_lan_uses_the_usual_port_or_a_free_one(tmp_path):
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        busy.bind(("0.0.0.0", 8000))
        busy.listen(1)
    except OSError:
        busy.close()
        busy = None  # something else already holds 8000: the fallback is what is tested either way
    try:
        with started("desktop", "--lan", "--data-dir", str(tmp_path / "data")) as app:
            assert "Port 8000 is taken by another program; using a free port instead." in app.output()
            assert not app.url.endswith(":8000/")
            assert app.stop() == 0
    finally:
        if busy is not None:
            busy.close()


# -- bringing a running window forward ----------------------------------------------------------------------------


def test_focus_listener_brings_the_window_forward():
    calls = []
    listener = desktop.FocusListener(lambda: calls.append("focus")).start()
    try:
        assert desktop.request_focus(listener.port)
        assert calls == ["focus"]
        assert desktop.show_running(Holder(pid=1, url="http://127.0.0.1:1/", mode="desktop",
                                           focus_port=listener.port)).endswith("brought to the front.")
        assert calls == ["focus", "focus"]
        with socket.create_connection(("127.0.0.1", listener.port)) as stranger:
            stranger.sendall(b"GET / HTTP/1.0\r\n\r\n")  # anything else is hung up on
            with contextlib.suppress(ConnectionResetError):
                assert stranger.recv(16) == b""
        assert calls == ["focus", "focus"]
    finally:
        listener.close()
    assert not desktop.request_focus(listener.port)


# -- the real window (only where a virtual X server and a window toolkit are installed) ----------------------------


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A virtual X server, when this machine has Xvfb and pywebview with a window toolkit."""
    if sys.platform != "linux" or not shutil.which("Xvfb"):
        pytest.skip("the window test needs Linux with Xvfb (apt-get install xvfb)")
    proc = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1366x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    display = f":{proc.stdout.readline().strip()}"
    try:
        check = "from blazz import desktop; print(desktop.window_unavailable() or '')"
        probe = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                               env=blazz_env(DISPLAY=display), timeout=30)
        if probe.stdout.strip():
            pytest.skip(probe.stdout.strip())
        yield display
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_window(display: str, title: str, timeout: float = 30) -> None:
    """Until a window with this title is on the X display (not checked without xdotool)."""
    if not shutil.which("xdotool"):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["xdotool", "search", "--name", title], capture_output=True, text=True,
                           env=blazz_env(DISPLAY=display), timeout=10)
        if r.stdout.strip():
            return
        time.sleep(0.2)
    raise AssertionError(f"no window called {title!r} on {display} within {timeout} s")


@pytest.mark.timeout(120)
def test_real_window_opens_comes_forward_and_closing_it_stops_cleanly(tmp_path, xvfb):
    data = tmp_path / "data"
    with started("desktop", "--data-dir", str(data), env=blazz_env(DISPLAY=xvfb)) as app:
        deadline = time.monotonic() + 30
        while not (lock_record(data) and json.loads(lock_record(data)).get("focus_port")):
            assert time.monotonic() < deadline, app.output()
            time.sleep(0.1)
        wait_for_window(xvfb, "Blazz")
        r = run("desktop", "--data-dir", str(data), env=blazz_env(DISPLAY=xvfb))
        assert r.returncode == 0 and "brought to the front" in r.stdout, r.stdout + r.stderr
        # A write through the app while the window is open must survive closing it.
        form = {"name": "Sari", "email": "owner@shop.test", "password": "correct horse battery",
                "workspace": "Toko Sinar"}
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(app.url + "setup").read()
        token = next(c.value for c in jar if c.name == "blazz_csrf")
        request = urllib.request.Request(app.url + "setup", data=urllib.parse.urlencode(form).encode(),
                                         headers={"x-csrftoken": token})
        opener.open(request).read()
        wait_health(app.url)
        assert app.stop(signal.SIGTERM) == 0  # the window closes, then the server stops
    assert "Blazz stopped." in app.output() and "Traceback" not in app.output()
    assert lock_record(data) == ""
    with sqlite3.connect(data / "app.db") as db:
        assert db.execute("SELECT email FROM users").fetchall() == [("owner@shop.test",)]
