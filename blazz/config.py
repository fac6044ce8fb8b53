"""Settings of one Blazz process: where data lives, where to listen, and the process secret."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_PORT = 8000


class DataDirError(Exception):
    """The data directory cannot be created or written."""


def default_data_dir() -> Path:
    env = os.environ.get("BLAZZ_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("blazz", appauthor=False)


@dataclass(slots=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    lan: bool = False
    secure_cookies: bool = False  # set when served behind TLS
    login_rate_limit: int = 5  # attempts per minute per address
    start_whatsapp: bool = True  # tests may build an app without restoring sessions

    @property
    def app_db_path(self) -> Path:
        return self.data_dir / "app.db"

    def workspace_dir(self, workspace_id: int) -> Path:
        return self.data_dir / "workspaces" / str(workspace_id)

    def ensure_data_dir(self) -> None:
        """Create the data dir and prove it is writable, or raise DataDirError naming the path."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise DataDirError(f"Blazz cannot write to its data folder {self.data_dir}: {exc.strerror or exc}") from exc

    def secret_key(self) -> str:
        """A random secret kept in the data dir (signs CSRF tokens); created on first use, readable only by us."""
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key
