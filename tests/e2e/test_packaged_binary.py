"""The one-file build, when one matching these sources exists (CI builds it: scripts/test.sh, packaging/build.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "packaging" / "dist" / "blazz"


def _current_binary() -> str | None:
    """Why there is no binary to test, or None when packaging/dist/blazz was built from these very sources."""
    if not BINARY.exists():
        return "no packaging/dist/blazz: build it with bash packaging/build.sh"
    status = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), "--status"], capture_output=True,
                            text=True, timeout=60)
    return None if status.returncode == 0 else status.stdout.strip() or status.stderr.strip()


@pytest.mark.timeout(300)
def test_packaged_binary_passes_the_smoke_script():
    reason = _current_binary()
    if reason:
        pytest.skip(reason)
    r = subprocess.run(["bash", str(ROOT / "packaging" / "smoke.sh"), str(BINARY)], capture_output=True, text=True,
                       timeout=280, stdin=subprocess.DEVNULL)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "smoke: all checks passed" in r.stdout
