"""A real `blazz serve` / `blazz desktop` child process for the launcher tests: start, read its URL, stop."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

URL_LINE = re.compile(r"is running at (http://\S+/)")
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20


@dataclass
class Blazz:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader catch the last lines
                found = re.search(pattern, self.output())
                if found:
                    return found
                raise AssertionError(f"blazz exited ({self.process.returncode}) before printing {pattern!r}:\n"
                                     f"{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"blazz did not print {pattern!r} within {timeout} s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Send `sig` (Ctrl-C by default) and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"blazz did not stop within {STOP_TIMEOUT_S} s:\n{self.output()}") from None
        time.sleep(0.1)
        return self.process.returncode


def blazz_env(**changes: str | None) -> dict[str, str]:
    """This environment without a data dir or display of its own, plus `changes` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in ("BLAZZ_DATA_DIR", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
        prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Run `blazz ARGS` to the end. `prelude` is Python run first in the same process (e.g. hide a package)."""
    return subprocess.run(_command(args, prelude), capture_output=True, text=True, timeout=timeout,
                          env=env or blazz_env(), stdin=subprocess.DEVNULL)


@contextmanager
def started(*args: str, env: dict[str, str] | None = None, prelude: str = "", wait_healthy: bool = True,
            executable: Path | None = None) -> Iterator[Blazz]:
    """Run `blazz ARGS` in the background (this Python's, or `executable`, e.g. the packaged binary); yields once it
    printed its URL (and /health answered)."""
    command = [str(executable), *args] if executable else _command(args, prelude)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or blazz_env(), stdin=subprocess.DEVNULL)
    blazz = Blazz(proc)
    reader = threading.Thread(target=_drain, args=(proc, blazz.lines), daemon=True)
    reader.start()
    try:
        blazz.url = blazz.wait_for(URL_LINE.pattern).group(1)
        if wait_healthy:
            wait_health(blazz.url, proc)
        yield blazz
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)


def wait_health(url: str, proc: subprocess.Popen[str] | None = None, timeout: float = START_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"blazz exited with {proc.returncode} before /health answered")
        try:
            with urllib.request.urlopen(url + "health", timeout=2) as resp:
                import json

                return json.loads(resp.read())
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise AssertionError(f"{url}health did not answer within {timeout} s")


def _command(args: tuple[str, ...], prelude: str) -> list[str]:
    if not prelude:
        return [sys.executable, "-m", "blazz", *args]
    code = f"{prelude}\nimport sys\nfrom blazz.cli import main\nsys.argv[0] = 'blazz'\nmain({list(args)!r})"
    return [sys.executable, "-c", code]


def _drain(proc: subprocess.Popen[str], sink: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sink.append(line)


def lock_record(data_dir: Path) -> str:
    path = data_dir / "blazz.lock"
    return path.read_text() if path.exists() else ""


@contextmanager
def fake_display() -> Iterator[str]:
    """An X11 socket (abstract namespace, like Xorg's) that hangs up at once: Blazz's display check connects, and X
    clients the browser launcher runs (xdg-settings) fail fast instead of waiting for an answer."""
    for _ in range(20):
        number = random.randint(2000, 60000)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(f"\0/tmp/.X11-unix/X{number}")
        except OSError:
            listener.close()
            continue
        listener.listen(8)
        threading.Thread(target=_hang_up, args=(listener,), daemon=True).start()
        try:
            yield f":{number}"
        finally:
            listener.close()
        return
    raise RuntimeError("no free abstract X11 socket name")


def _hang_up(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()


def recording_browser(folder: Path) -> tuple[str, Path]:
    """A $BROWSER command writing the URL it was asked to open, and the library path it got, to a file."""
    opened = folder / "opened.txt"
    script = folder / "record-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s %s\\n" "$1" "${{LD_LIBRARY_PATH:-unset}}" >> "{opened}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{script} %s", opened


def wait_file(path: Path, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written within {timeout} s")
