"""End-to-end harness: a real `blazz serve` process and Debian's Chromium driven by Playwright's sync API.

Tests here are plain `def` tests. Playwright's sync API keeps its own event loop marked as running while the
browser is open, so pytest-asyncio could not run a coroutine test next to it: the browser lives only while this
package's tests run (scope="package"), and an `async def` test in this folder fails with a message saying so.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_asyncio import is_async_test

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox; without the networking flags it keeps dialling hosts this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
E2E_DIR = Path(__file__).parent
ARTIFACTS = E2E_DIR / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
# Playwright waits 30 s by default; a local server answers in milliseconds, so a stuck step should fail sooner.
ACTION_TIMEOUT_MS = 10_000
BROWSER_FIXTURES = {"playwright", "browser", "new_context", "page"}
_URL_LINE = re.compile(r"is running at (http://\S+?)/?\s")
_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


# -- the server ---------------------------------------------------------------------------------------------------


@dataclass
class RunningServer:
    """A `blazz serve` child process and what it printed so far."""

    url: str  # without a trailing slash, e.g. http://127.0.0.1:41233
    data_dir: Path
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)


def _drain(stream, sink: list[str], seen: threading.Event | None = None) -> None:
    """Keep reading a pipe so the server never blocks on a full buffer."""
    for line in stream:
        sink.append(line)
        if seen is not None and _URL_LINE.search(line):
            seen.set()
    stream.close()


def _wait_healthy(url: str, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url}/health did not answer 200 within {STARTUP_TIMEOUT_S} s")


def stop_server(server: RunningServer) -> float:
    """Press Ctrl-C (SIGINT) and wait; returns the seconds it took, or kills it and fails after STOP_TIMEOUT_S."""
    proc = server.process
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"blazz did not stop within {STOP_TIMEOUT_S} s of Ctrl-C\n{server.output()}")
    return time.monotonic() - started


@contextmanager
def run_blazz(data_dir: Path, *extra_args: str) -> Iterator[RunningServer]:
    """Run `python -m blazz serve --port 0 --data-dir DATA_DIR` until the block ends, then stop it with Ctrl-C.

    Fails the test if the server does not come up healthy, or if Ctrl-C does not stop it cleanly (exit status 0 or
    130, no traceback) within 10 s.
    """
    env = {k: v for k, v in os.environ.items() if k != "BLAZZ_DATA_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "blazz", "serve", "--port", "0", "--data-dir", str(data_dir), *extra_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env)
    server = RunningServer(url="", data_dir=data_dir, process=proc)
    url_seen = threading.Event()
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, server.stdout, url_seen), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, server.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not url_seen.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"blazz serve did not print its address:\n{server.output()}")
        server.url = next(m.group(1) for line in server.stdout if (m := _URL_LINE.search(line)))
        _wait_healthy(server.url, proc, deadline)
        if proc.poll() is not None:
            raise RuntimeError(f"blazz serve exited with status {proc.returncode}:\n{server.output()}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    try:
        yield server
    finally:
        took = stop_server(server)
        for reader in readers:
            reader.join(5)
    errors = "".join(server.stderr)
    assert "Traceback" not in errors, f"Ctrl-C printed a traceback:\n{errors}"
    assert proc.returncode in (0, 130), f"exit status {proc.returncode} after Ctrl-C:\n{server.output()}"
    assert took < STOP_TIMEOUT_S


@pytest.fixture
def blazz_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh Blazz (empty data dir, so its first page is setup) for one test."""
    with run_blazz(tmp_path / "data") as server:
        yield server


@pytest.fixture
def base_url(blazz_server: RunningServer) -> str:
    """The fresh server's address, e.g. http://127.0.0.1:41233 (no trailing slash)."""
    return blazz_server.url


# -- the browser --------------------------------------------------------------------------------------------------


def _need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; install Debian's Chromium: apt-get install -y chromium")


@pytest.fixture(scope="package")
def playwright():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright):
    """Debian's Chromium, headless; never a browser that Playwright downloads."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., object]]:
    """Open a separate browser profile (cookies and all) per call; defaults to a 1280x800 window.

    When the test fails, every page of every context it opened is saved to tests/e2e/artifacts/.
    """
    contexts = []

    def open_context(**options):
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield open_context
    reports = request.node.stash.get(_reports, {})
    if any(r.failed for r in reports.values()):
        _save_failure_screenshots(request.node.name, contexts)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    """A page in its own fresh browser context."""
    return new_context().new_page()


def _save_failure_screenshots(test_name: str, contexts: list) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    for c, context in enumerate(contexts):
        for p, pg in enumerate(context.pages):
            path = ARTIFACTS / f"{stem}-context{c}-page{p}.png"
            try:
                pg.screenshot(path=str(path), full_page=True)
            except Exception as exc:  # a crashed page must not hide the test's own failure
                print(f"could not save {path}: {exc}", file=sys.stderr)
            else:
                print(f"screenshot of the failure: {path}", file=sys.stderr)


@pytest.fixture
def shots() -> Callable[[object, str], None]:
    """`shots(page, name)` saves the page at 1280x800 and 390x844 when BLAZZ_E2E_SHOTS names a folder; else no-op.

    For looking at the pages by eye; the tests never compare pixels.
    """
    folder = os.environ.get("BLAZZ_E2E_SHOTS")

    def take(pg, name: str) -> None:
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        before = pg.viewport_size
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            pg.set_viewport_size(size)
            # animations="disabled" finishes the drawer's slide, which the resize just started
            pg.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True, animations="disabled")
        pg.set_viewport_size(before)

    return take


# -- hooks --------------------------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR not in Path(item.path).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if not CHROMIUM.exists() and BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.skip(
                reason=f"{CHROMIUM} is missing; install Debian's Chromium: apt-get install -y chromium"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if is_async_test(item):
        pytest.fail("e2e tests use Playwright's sync API: write `def test_...`, not `async def` "
                    "(see tests/e2e/conftest.py)")
