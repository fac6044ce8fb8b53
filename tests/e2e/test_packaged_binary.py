"""The one-file build, when one matching these sources exists (CI builds it: scripts/test.sh, packaging/build.sh)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.unit.blazz_process import blazz_env, fake_display, recording_browser, started, wait_file

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "packaging" / "dist" / "blazz"


def _current_binary() -> str | None:
    """Why there is no binary to test, or None when packaging/dist/blazz was built from these very sources."""
    if not BINARY.exists():
        return "no packaging/dist/blazz: build it with bash packaging/build.sh"
    status = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), "--status"], capture_output=True,
                            text=True, timeout=60)
    return None if status.returncode == 0 else status.stdout.strip() or status.stderr.strip()


@pytest.fixture(scope="module")
def binary() -> Path:
    reason = _current_binary()
    if reason:
        pytest.skip(reason)
    return BINARY


@pytest.mark.timeout(300)
def test_packaged_binary_passes_the_smoke_script(binary):
    r = subprocess.run(["bash", str(ROOT / "packaging" / "smoke.sh"), str(binary)], capture_output=True, text=True,
                       timeout=280, stdin=subprocess.DEVNULL)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "smoke: all checks passed" in r.stdout


@pytest.mark.timeout(120)
def test_packaged_binary_started_without_a_command_opens_the_browser_cleanly(binary):
    """Double-clicked on a Linux desktop: no window toolkit inside, so one line and the browser, which must get the
    person's own library path, not the bundle's."""
    with tempfile.TemporaryDirectory() as tmp, fake_display() as display:
        browser, opened = recording_browser(Path(tmp))
        env = blazz_env(DISPLAY=display, BROWSER=browser, BLAZZ_DATA_DIR=str(Path(tmp) / "data"))
        with started(env=env, executable=binary) as app:
            notes = [line for line in app.lines if "no window of its own" in line]
            assert len(notes) == 1 and f"opening {app.url} in your browser instead" in notes[0]
            url, library_path = wait_file(opened).split()
            assert url == app.url and library_path == "unset"
            assert app.stop() == 0
    assert "Traceback" not in app.output()
