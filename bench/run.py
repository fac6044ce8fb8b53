"""Blazz benchmarks: measure, print, and append a dated section to bench/RESULTS.md.

    python bench/run.py            # the full sizes the targets are set for
    python bench/run.py --quick    # smaller data, for a quick look (still recorded, marked quick)
    python bench/run.py --only demo_load

A benchmark is a function `(ctx: Context) -> list[Result]` listed in BENCHMARKS; one in another bench/ module is
imported here and added to that list. Benchmarks are not tests: they time real processes on real files and never
fail a build; a target missed is reported as MISS.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import selectors
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
RESULTS_HEADER = """# Benchmark results

Append-only log written by `python bench/run.py`: one section per run, newest last. Compare like with like
(same machine, same mode); the load average shows how busy the machine was with other work at the start.
"""


@dataclass(slots=True)
class Result:
    """One number, with the target it is held to (None: informational)."""

    name: str
    value: float
    unit: str
    target: float | None = None
    lower_is_better: bool = True
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        ok = self.value <= self.target if self.lower_is_better else self.value >= self.target
        return "PASS" if ok else "MISS"

    def shown(self) -> str:
        digits = 2 if abs(self.value) < 10 else 1 if abs(self.value) < 1000 else 0
        return f"{self.value:,.{digits}f} {self.unit}"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'≤' if self.lower_is_better else '≥'} {self.target:g} {self.unit}"


@dataclass(slots=True)
class Context:
    quick: bool
    python: str = sys.executable
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="blazz-bench-")))

    def folder(self, name: str) -> Path:
        """A fresh folder for one benchmark's data dir."""
        path = self.scratch / name
        path.mkdir(parents=True)
        return path

    def blazz(self, *args: str) -> list[str]:
        return [self.python, "-m", "blazz", *args]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Finished:
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], timeout: float) -> Finished:
    """Run a command to the end; wall time, CPU time and peak memory of that one child (wait4, not the sum)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return Finished(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read(),
                        err.read())


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def start_server(ctx: Context, data_dir: Path, timeout: float = 30) -> tuple[subprocess.Popen, str, float]:
    """Start `blazz serve --port 0`, read the URL it prints, poll /health until 200: (process, url, seconds)."""
    log_path = data_dir.parent / "server.log"
    with log_path.open("a") as log_file:
        started = time.perf_counter()
        proc = subprocess.Popen(ctx.blazz("serve", "--port", "0", "--data-dir", str(data_dir)), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=log_file, text=True)
    deadline = started + timeout
    url = read_url(proc, deadline)
    while (status := get_status(url + "health")) != 200:
        if proc.poll() is not None or time.perf_counter() > deadline:
            stop_server(proc)
            raise RuntimeError(f"/health did not answer 200 (last: {status}); see {log_path}")
        time.sleep(0.005)
    return proc, url, time.perf_counter() - started


def read_url(proc: subprocess.Popen, deadline: float) -> str:
    """The address a starting `blazz serve` prints ("running at http://..."); stops it if none comes by `deadline`."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.perf_counter() < deadline:
            if sel.select(timeout=max(deadline - time.perf_counter(), 0)):
                line = proc.stdout.readline()
                if not line:
                    break
                found = re.search(r"running at (http://\S+/)", line)
                if found:
                    return found.group(1)
    stop_server(proc)
    raise RuntimeError("the server printed no URL")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


# -- benchmarks ---------------------------------------------------------------------------------------------------

COLD_START_RUNS = 5
COLD_START_TARGET_S = 1.5
IDLE_S = 2.0
IDLE_RSS_TARGET_MB = 120
DEMO_TARGET_S = 60  # for a million messages


def server_start_and_memory(ctx: Context) -> list[Result]:
    """Cold start of a new `blazz serve` process until /health says 200, then its memory after idling."""
    data_dir = ctx.folder("serve") / "data"
    starts, memory = [], []
    for run in range(1, COLD_START_RUNS + 1):
        proc, _, seconds = start_server(ctx, data_dir)
        try:
            time.sleep(IDLE_S)
            memory.append(rss_mb(proc.pid))
        finally:
            stop_server(proc)
        starts.append(seconds)
        log(f"  start {run}: {seconds:.2f} s to /health, {memory[-1]:.0f} MB after {IDLE_S:.0f} s idle")
    runs = ", ".join(f"{s:.2f}" for s in starts)
    return [
        Result(f"cold start to /health (median of {COLD_START_RUNS})", statistics.median(starts), "s",
               COLD_START_TARGET_S, detail=f"runs: {runs} s; the first creates the data dir"),
        Result(f"idle RSS of the server ({IDLE_S:.0f} s after /health, median)", statistics.median(memory), "MB",
               IDLE_RSS_TARGET_MB, detail=f"VmRSS per run: {', '.join(f'{m:.0f}' for m in memory)} MB"),
    ]


def demo_load(ctx: Context) -> list[Result]:
    """`blazz demo` at benchmark size: generate and store a workspace with its search indexes."""
    contacts, messages = (5_000, 100_000) if ctx.quick else (50_000, 1_000_000)
    data_dir = ctx.folder("demo") / "data"
    cmd = ctx.blazz("demo", "--data-dir", str(data_dir), "--contacts", str(contacts), "--messages", str(messages))
    done = run_measured(cmd, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"blazz demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
    slug = done.stdout.strip().splitlines()[-1]
    size_mb = sum(p.stat().st_size for p in (data_dir / "workspaces").rglob("*.db")) / 2**20
    for line in done.stderr.splitlines():
        if line.startswith("  "):
            log(f"  {line.strip()}")
    scaled = " (target scaled to the size)" if ctx.quick else ""
    return [
        Result(f"blazz demo --contacts {contacts} --messages {messages}", done.wall_s, "s",
               DEMO_TARGET_S * messages / 1_000_000,
               detail=f"workspace {slug}: {size_mb:,.0f} MB; CPU {done.cpu_s:.1f} s; "
                      f"peak RSS {done.peak_rss_mb:.0f} MB{scaled}"),
    ]


if str(ROOT) not in sys.path:  # run as a script: benchmark modules live in the `bench` package
    sys.path.insert(0, str(ROOT))
from bench.bench_packaging import packaged_binary  # noqa: E402 - it uses Context and Result, defined above

BENCHMARKS: list[Callable[[Context], list[Result]]] = [server_start_and_memory, demo_load, packaged_binary]


# -- report -------------------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    try:
        load = Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        load = "unknown"
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    return {
        "machine": subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip() or platform.machine(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load average at start": load,
        "commit": commit,
    }


def table(results: list[Result]) -> str:
    lines = ["| benchmark | result | target | | detail |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.shown()} | {r.target_text} | {r.verdict} | {r.detail} |")
    return "\n".join(lines)


def record(results: list[Result], failures: list[str], facts: dict[str, str], command: str, quick: bool) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = [f"\n## {stamp}{' (quick)' if quick else ''}\n", f"Command: `{command}`  ",
               "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + "\n", table(results)]
    section += [f"\nFailed: {failure}" for failure in failures]
    new = not RESULTS.exists()
    with RESULTS.open("a") as fh:
        if new:
            fh.write(RESULTS_HEADER)
        fh.write("\n".join(section) + "\n")


def run_each(benchmarks: list[tuple[str, Callable[[], list[Result]]]]) -> tuple[list[Result], list[str]]:
    """Run named benchmarks in order; one that breaks is reported and the others still run."""
    results: list[Result] = []
    failures: list[str] = []
    for name, bench in benchmarks:
        try:
            found = bench()
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            failures.append(f"{name}: {exc!r}")
            log(f"  FAILED: {exc!r}")
            continue
        for r in found:
            log(f"  {r.name}: {r.shown()} {r.verdict}")
        results += found
    return results, failures


def finish(ctx: Context, results: list[Result], failures: list[str], facts: dict[str, str], *,
           record_results: bool = True) -> int:
    """Print the table, append it to RESULTS.md (unless told not to), clean up; exit status 1 if one broke."""
    print(table(results))
    for failure in failures:
        print(f"Failed: {failure}")
    if record_results:
        command = "python " + shlex.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
        record(results, failures, facts, command, ctx.quick)
        log(f"Appended to {RESULTS.relative_to(ROOT)}")
    shutil.rmtree(ctx.scratch, ignore_errors=True)
    return 1 if failures else 0


def run_suite(benchmarks: list[Callable[[Context], list[Result]]], description: str,
              argv: list[str] | None = None) -> int:
    """The command line every benchmark module shares: --quick, --only NAME, --no-record."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data sizes")
    parser.add_argument("--only", action="append", choices=[b.__name__ for b in benchmarks],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    facts = machine()
    ctx = Context(quick=args.quick)
    log(f"Scratch data in {ctx.scratch}; " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    chosen = [b for b in benchmarks if not args.only or b.__name__ in args.only]
    for bench in chosen:
        log(f"{bench.__name__}: {(bench.__doc__ or '').strip()}")
    results, failures = run_each([(b.__name__, lambda b=b: b(ctx)) for b in chosen])
    return finish(ctx, results, failures, facts, record_results=not args.no_record)


def main(argv: list[str] | None = None) -> int:
    return run_suite(BENCHMARKS, __doc__, argv)


if __name__ == "__main__":
    # Run the importable copy, so benchmark modules importing `bench.run` share its Result and Context classes.
    sys.path.insert(0, str(ROOT))
    from bench import run as runner

    sys.exit(runner.main())
