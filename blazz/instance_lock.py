"""One running Blazz per data folder: a lock file holding the owner's pid and URL.

The file is locked with the operating system's advisory lock (flock; a byte-range lock on Windows), which the
kernel drops when the process dies, so a crash never blocks the next start: the next process finds the old pid
still written there, reports it as a stale lock and takes over. A second launch while the first is alive reads the
URL (and, for a desktop window, the port that brings it to the front) instead of starting another server.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

LOCK_NAME = "blazz.lock"
# How long a second launch waits for a starting first one to write its URL (it binds in well under a second).
URL_WAIT_S = 10.0
# Where the Windows byte-range lock sits: far past the JSON, so other processes can still read the file.
_WINDOWS_LOCK_OFFSET = 1 << 30


class LockError(Exception):
    """The lock file cannot be created or locked; the message names the file."""


@dataclass(frozen=True, slots=True)
class Holder:
    """What a running (or crashed) instance wrote into the lock file."""

    pid: int
    url: str | None = None
    mode: str = "serve"  # "serve" or "desktop"
    focus_port: int | None = None  # desktop only: a loopback port that brings its window to the front
    started_at: float = 0.0


class AlreadyRunning(Exception):
    """Another live process holds this data folder's lock."""

    def __init__(self, holder: Holder | None, path: Path):
        self.holder = holder
        self.path = path
        where = holder.url if holder and holder.url else "an address not known yet"
        pid = f" (pid {holder.pid})" if holder else ""
        super().__init__(f"Blazz is already running for this data folder at {where}{pid}.")


class InstanceLock:
    """Hold the data folder's lock for the life of this process: `acquire()`, `publish(url)`, `release()`."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_NAME
        self.stale: Holder | None = None  # set by acquire() when a crashed instance left its record behind
        self._fh: BinaryIO | None = None
        self._holder: Holder | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self, mode: str = "serve", wait_for_url_s: float = URL_WAIT_S) -> None:
        """Take the lock, or raise AlreadyRunning (after waiting briefly for a starting holder's URL) or LockError."""
        deadline = time.monotonic() + wait_for_url_s
        while True:
            fh = self._open()
            try:
                locked = _try_lock(fh, self.path)
            except LockError:
                fh.close()
                raise
            if locked:
                break
            holder = _parse(fh)
            fh.close()
            if (holder and holder.url) or time.monotonic() >= deadline:
                raise AlreadyRunning(holder, self.path)
            time.sleep(0.1)  # the holder is starting; its URL follows once its port is bound
        # A clean stop empties the file, so any record left in it is from an instance that died without stopping.
        self.stale = _parse(fh)
        self._fh = fh
        self._holder = Holder(pid=os.getpid(), mode=mode, started_at=time.time())
        self._write()

    def publish(self, url: str, focus_port: int | None = None) -> None:
        """Record where this instance answers, for a second launch to open."""
        if self._holder is None:
            raise LockError("publish() before acquire()")
        self._holder = Holder(self._holder.pid, url, self._holder.mode, focus_port, self._holder.started_at)
        self._write()

    def release(self) -> None:
        """Empty the file (a clean stop leaves no stale record) and drop the lock. Safe to call twice."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.flush()
        except OSError:
            pass  # the disk went away; the kernel still drops the lock below
        fh.close()

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> BinaryIO:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockError(f"Cannot create the lock file {self.path}: {exc.strerror or exc}") from exc
        return os.fdopen(fd, "r+b")

    def _write(self) -> None:
        assert self._fh is not None and self._holder is not None
        try:
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.write(json.dumps(asdict(self._holder)).encode())
            self._fh.flush()
        except OSError as exc:
            raise LockError(f"Cannot write the lock file {self.path}: {exc.strerror or exc}") from exc


def read_holder(data_dir: Path) -> Holder | None:
    """The record in a data folder's lock file, whether or not its writer still runs (None when empty)."""
    try:
        with (data_dir / LOCK_NAME).open("rb") as fh:
            return _parse(fh)
    except OSError:
        return None


def _parse(fh: BinaryIO) -> Holder | None:
    try:
        fh.seek(0)
        data = json.loads(fh.read() or b"null")
        if not isinstance(data, dict):
            return None
        return Holder(
            pid=int(data["pid"]),
            url=data.get("url") or None,
            mode=str(data.get("mode") or "serve"),
            focus_port=int(data["focus_port"]) if data.get("focus_port") else None,
            started_at=float(data.get("started_at") or 0.0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # empty, half-written or foreign content: treat as no record


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (POSIX; used where the filesystem has no locks)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _try_lock(fh: BinaryIO, path: Path) -> bool:
    """Lock without waiting: True when ours, False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            fh.seek(_WINDOWS_LOCK_OFFSET)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise LockError(f"Cannot lock {path}: {exc.strerror or exc}") from exc
        finally:
            fh.seek(0)
        return True

    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise LockError(f"Cannot lock {path}: {exc.strerror or exc}") from exc
        # A filesystem without locks (some network shares): fall back to asking whether the recorded pid lives.
        holder = _parse(fh)
        return holder is None or holder.pid == os.getpid() or not pid_alive(holder.pid)
    return True
