"""`blazz desktop`: the server in a thread and a pywebview window on the main thread; the browser when there is none.

pywebview is an optional extra and is imported only here, only after `window_unavailable()` said a window can
open: GTK ends the whole process when it cannot reach a display, so the display is checked before any GUI code runs.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from blazz.instance_lock import Holder, InstanceLock

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

WINDOW_TITLE = "Blazz"
WINDOW_SIZE = (1280, 820)
WINDOW_MIN_SIZE = (400, 560)  # a phone-width layout still fits
SERVER_START_TIMEOUT_S = 60.0
# Stopping runs the lifespan: outbox workers, WhatsApp sessions (each within 5 s), the databases.
SERVER_STOP_TIMEOUT_S = 60.0
FOCUS_REQUEST = b"focus\n"
FOCUS_REPLY = b"ok\n"
EXTRA_HINT = "pip install 'blazz[desktop]'"
BROWSER_WAIT_S = 10.0  # a second launch exits right after asking for the browser: give the launcher time


# -- can a window open here? ------------------------------------------------------------------------------------


def window_unavailable() -> str | None:
    """Why no native window can open here, as one sentence for the terminal; None when one can."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        problem = display_problem(os.environ)
        if problem:
            return problem
    try:
        importlib.import_module("webview")
    except ImportError:
        if getattr(sys, "frozen", False):  # the Linux build leaves the window toolkit out on purpose
            return "This Blazz build has no window of its own"
        return f"The desktop window needs the desktop extra ({EXTRA_HINT})"
    if sys.platform.startswith(("linux", "openbsd")) and not _linux_toolkit():
        return ("pywebview found no window toolkit (GTK with WebKit2GTK, or Qt): install one, e.g. "
                "apt-get install gir1.2-webkit2-4.1 and pip install 'pywebview[gtk]'")
    return None


def display_problem(env: Mapping[str, str]) -> str | None:
    """None when an X11 or Wayland display answers; else what is wrong with it, as one sentence."""
    wayland = env.get("WAYLAND_DISPLAY")
    if wayland:
        path = Path(wayland) if wayland.startswith("/") else Path(env.get("XDG_RUNTIME_DIR", "/nonexistent")) / wayland
        if path.exists():
            return None
    display = env.get("DISPLAY")
    if not display:
        if wayland:
            return f"The Wayland display {wayland} is not running"
        return "No display found (DISPLAY is not set: a server or a terminal session without a desktop)"
    if _x11_answers(display):
        return None
    return f"The display {display} does not answer"


def _x11_answers(display: str) -> bool:
    """Connect to the X server named by DISPLAY ("[host]:N[.S]") without speaking X: enough to know it is there."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix") or host.startswith("/"):
        # A local server listens on /tmp/.X11-unix/XN, often also on the same name in the abstract namespace.
        for path in (f"/tmp/.X11-unix/X{number}", f"\0/tmp/.X11-unix/X{number}"):
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(path)
                return True
        return False
    with contextlib.suppress(OSError), socket.create_connection((host, 6000 + int(number)), timeout=1):
        return True
    return False


def _linux_toolkit() -> bool:
    """Whether pywebview can find GTK with WebKit2GTK or Qt (checked without opening a display)."""
    if importlib.util.find_spec("gi") is not None:
        try:
            import gi

            repo = gi.Repository.get_default()  # lists installed typelibs; loads nothing
            if "3.0" in repo.enumerate_versions("Gtk") and {"4.1", "4.0"} & set(repo.enumerate_versions("WebKit2")):
                return True
        except (ImportError, AttributeError):
            pass
    return importlib.util.find_spec("qtpy") is not None


# -- the browser --------------------------------------------------------------------------------------------------


def can_open_browser() -> bool:
    """A graphical browser can only open where there is a desktop (console browsers would take over the terminal)."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return display_problem(os.environ) is None
    return True


def open_browser(url: str, wait_s: float = 0.0) -> bool:
    """Open the default browser at `url` on a thread, waiting up to `wait_s` for it (a process about to exit must);
    False when there is no desktop to open one on."""
    if not can_open_browser():
        return False
    # webbrowser waits for commands named in $BROWSER; never let that hold up the server.
    opener = threading.Thread(target=_open_quietly, args=(url,), name="blazz-browser", daemon=True)
    opener.start()
    opener.join(wait_s)
    return True


def _open_quietly(url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception:
        log.warning("could not open a browser at %s", url, exc_info=True)


def open_when_serving(server: uvicorn.Server, url: str) -> None:
    """Open the browser once `server` accepts connections (it is about to run on this thread)."""

    def wait_then_open() -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not server.started:
            if server.should_exit or time.monotonic() > deadline:
                return
            time.sleep(0.05)
        open_browser(url)

    threading.Thread(target=wait_then_open, name="blazz-open-browser", daemon=True).start()


# -- a second launch ----------------------------------------------------------------------------------------------


def show_running(holder: Holder) -> str:
    """Bring the running instance to the person: its window to the front, else a browser tab; says which."""
    if holder.focus_port and request_focus(holder.focus_port):
        return "Blazz is already open: its window was brought to the front."
    if holder.url and open_browser(holder.url, wait_s=BROWSER_WAIT_S):
        return f"Blazz is already running at {holder.url} — opened it in your browser."
    return f"Blazz is already running at {holder.url}: open that address in a browser."


def request_focus(port: int, timeout: float = 2.0) -> bool:
    """Ask a running desktop window (through its loopback focus port) to come to the front."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(FOCUS_REQUEST)
            return s.recv(16) == FOCUS_REPLY
    except OSError:
        return False


class FocusListener:
    """A loopback port a second launch connects to, so the one window comes to the front instead of a new one."""

    def __init__(self, on_focus: Callable[[], None]):
        self._on_focus = on_focus
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self.port: int = self._sock.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="blazz-focus", daemon=True)

    def start(self) -> FocusListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        # close() alone does not wake a thread blocked in accept(); shutdown() does (Linux), a connection does (all).
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            pass
        with contextlib.suppress(OSError):
            self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            if self._closed:
                conn.close()
                return
            with conn:
                conn.settimeout(2)
                try:
                    if conn.recv(16) != FOCUS_REQUEST:
                        continue
                    self._on_focus()
                    conn.sendall(FOCUS_REPLY)
                except Exception:
                    log.warning("could not bring the window to the front", exc_info=True)


# -- the window ---------------------------------------------------------------------------------------------------


def run_window(server: uvicorn.Server, sock: socket.socket, url: str, lock: InstanceLock, data_dir: Path) -> None:
    """Serve on a thread, show the window until it closes, then stop the server and wait for its lifespan to end.

    If the window cannot be shown after all, says so in one line, opens the browser and serves until Ctrl-C.
    """
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="blazz-server", daemon=True)
    thread.start()
    if not _wait_started(server, thread):
        raise RuntimeError("the server stopped while starting (see the log above)")
    try:
        _show_window(url, lock, data_dir)
    except Exception as exc:  # pywebview's backend failed after all: keep the server, use the browser
        log.debug("window failed", exc_info=True)
        opened = open_browser(url)
        print(f"The desktop window could not open ({exc}); "
              f"{'opened' if opened else 'open'} {url} in your browser instead. Press Ctrl-C to stop.", flush=True)
        _wait_for_ctrl_c(thread)
    finally:
        _stop(server, thread)


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> bool:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _show_window(url: str, lock: InstanceLock, data_dir: Path) -> None:
    import webview

    webview.settings["ALLOW_DOWNLOADS"] = True  # contact exports
    window = webview.create_window(WINDOW_TITLE, url, width=WINDOW_SIZE[0], height=WINDOW_SIZE[1],
                                   min_size=WINDOW_MIN_SIZE, text_select=True)

    def bring_to_front() -> None:
        window.restore()
        window.show()
        window.on_top = True  # raising a window is not portable; a brief always-on-top is
        window.on_top = False

    def close(*_: object) -> None:
        # From a signal handler on the GUI thread: destroy() waits for that thread, so call it from another.
        threading.Thread(target=window.destroy, name="blazz-close", daemon=True).start()

    focus = FocusListener(bring_to_front).start()
    lock.publish(url, focus_port=focus.port)
    signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, close) for sig in signals}
    try:
        # Not private: the login cookie and the window's storage survive a restart, in the data folder.
        webview.start(private_mode=False, storage_path=str(data_dir / "window"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        focus.close()
        lock.publish(url)


def _wait_for_ctrl_c(thread: threading.Thread) -> None:
    stop = threading.Event()
    signals = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        while thread.is_alive() and not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(SERVER_STOP_TIMEOUT_S)
    if thread.is_alive():
        print(f"Blazz did not finish stopping within {SERVER_STOP_TIMEOUT_S:.0f} s; exiting anyway.",
              file=sys.stderr, flush=True)
