"""The one-file build: its size, and its cold start to /health (`packaged_binary` in bench/run.py's list).

    python bench/run.py --only packaged_binary

Builds packaging/dist/blazz first when it does not match the sources (packaging/build.sh, cached), so a run always
measures the code beside it. A one-file binary unpacks itself into a temporary folder on every start: that cost is
in the cold start, and `blazz --version` (unpack + interpreter, no app) shows it alone.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.run import Context, Result

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "packaging" / "dist" / "blazz"
RUNS = 5
SIZE_TARGET_MB = 60
COLD_START_TARGET_S = 2.0
START_TIMEOUT_S = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def packaged_binary(ctx: Context) -> list[Result]:
    """Size of the one-file binary and its cold start to /health (median of 5, fresh data dir each time)."""
    from bench.run import Result, log, read_url, run_measured, stop_server

    built = run_measured(["bash", str(ROOT / "packaging" / "build.sh")], timeout=1200)
    if built.returncode != 0:
        raise RuntimeError(f"packaging/build.sh failed:\n{(built.stdout + built.stderr)[-2000:]}")
    how = "built" if "Built packaging" in built.stdout else "up to date or cached"
    log(f"  packaging/build.sh: {how} in {built.wall_s:.1f} s")
    size_mb = BINARY.stat().st_size / 2**20

    versions = [run_measured([str(BINARY), "--version"], timeout=60).wall_s for _ in range(RUNS)]
    starts: list[float] = []
    cpu: list[float] = []
    for run in range(1, RUNS + 1):
        data_dir = ctx.folder(f"packaged-{run}") / "data"
        started = time.perf_counter()
        proc = subprocess.Popen([str(BINARY), "serve", "--port", "0", "--data-dir", str(data_dir)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = read_url(proc, started + START_TIMEOUT_S)
            while not _healthy(url):
                if proc.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
                    raise RuntimeError(f"the binary did not answer /health within {START_TIMEOUT_S} s")
                time.sleep(0.005)
            starts.append(time.perf_counter() - started)
            cpu.append(_cpu_seconds(proc.pid))
        finally:
            stop_server(proc)
        log(f"  start {run}: {starts[-1]:.2f} s to /health, {cpu[-1]:.2f} s CPU (bootloader + app)")
    return [
        Result("one-file binary size (Linux x86_64)", size_mb, "MB", SIZE_TARGET_MB,
               detail="PyInstaller one-file; neonize, libmagic and its database included"),
        Result(f"binary cold start to /health (median of {RUNS})", statistics.median(starts), "s",
               COLD_START_TARGET_S,
               detail=f"runs: {', '.join(f'{s:.2f}' for s in starts)} s; CPU median {statistics.median(cpu):.2f} s; "
                      "fresh data dir each run"),
        Result(f"binary `--version` (unpack + interpreter, median of {RUNS})", statistics.median(versions), "s",
               detail=f"runs: {', '.join(f'{s:.2f}' for s in versions)} s"),
    ]


def _healthy(url: str) -> bool:
    from bench.run import get_status

    return get_status(url + "health") == 200


def _cpu_seconds(pid: int) -> float:
    """User + system CPU so far of the bootloader and the app process it started (Linux /proc)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total
