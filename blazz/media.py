"""Media files: a content-addressed store per workspace, WhatsApp's type and size rules, inbound downloads.

A file lives once at `<workspace>/media/<sha256[:2]>/<sha256>`, however many messages show it. Uploads are checked
against WhatsApp's limits before anything is queued, by what the bytes are (not what the browser claims), so a bad
file is refused at once with a clear reason instead of failing later in the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import sqlite3
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from blazz.errors import DomainError, Invalid
from blazz.i18n import N_
from blazz.store import media as media_store
from blazz.store.media import Media
from blazz.whatsapp.events import MediaRef
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Meta's documented limits per kind (notes/cloud-api.md §B.2: image 5 MB, audio and video 16 MB, document 100 MB).
# They are the strictest of our engines, so a file accepted here can go out through any number.
LIMITS = {"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB, "document": 100 * MB}
MAX_UPLOAD = max(LIMITS.values())  # a web handler may refuse a larger Content-Length before reading the body
_OFFICE = "application/vnd.openxmlformats-officedocument"
# The types Meta lists as sendable (notes/cloud-api.md §B.2), by the kind of message they go out as.
KINDS = {
    "image/jpeg": "image", "image/png": "image",
    "video/mp4": "video", "video/3gpp": "video",
    "audio/aac": "audio", "audio/amr": "audio", "audio/mpeg": "audio", "audio/mp4": "audio", "audio/ogg": "audio",
    "application/pdf": "document", "text/plain": "document", "application/msword": "document",
    "application/vnd.ms-excel": "document", "application/vnd.ms-powerpoint": "document",
    f"{_OFFICE}.wordprocessingml.document": "document", f"{_OFFICE}.spreadsheetml.sheet": "document",
    f"{_OFFICE}.presentationml.presentation": "document",
}
_ZIP_OFFICE = {".docx": f"{_OFFICE}.wordprocessingml.document", ".xlsx": f"{_OFFICE}.spreadsheetml.sheet",
               ".pptx": f"{_OFFICE}.presentationml.presentation"}
_OLE_OFFICE = {".doc": "application/msword", ".xls": "application/vnd.ms-excel",
               ".ppt": "application/vnd.ms-powerpoint"}
# Inbound downloads: retried later while the number is offline or WhatsApp's servers fail, then given up.
DOWNLOAD_RETRY_S = (60, 300, 1800, 7200, 21600)
DOWNLOAD_CONCURRENCY = 4


class TooLarge(DomainError):
    """A file over WhatsApp's size limit for its kind (HTTP 413)."""

    code = "too_large"
    status = 413


def sniff(head: bytes, filename: str | None = None) -> str | None:
    """The MIME type the first bytes of a file show (a few hundred are enough), or None when unknown."""
    ext = Path(filename or "").suffix.lower()
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"GIF8"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # Frame sync: layer bits 00 are AAC in an ADTS stream, anything else an MPEG audio (MP3) frame.
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if head.startswith(b"PK\x03\x04"):
        return _ZIP_OFFICE.get(ext, "application/zip")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _OLE_OFFICE.get(ext, "application/x-ole-storage")
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a cut multi-byte character at the very end is still text
                return None
        return "text/plain"
    return None


_UNSUPPORTED_HINTS = {
    "image/gif": N_("WhatsApp sends pictures as JPEG or PNG; save this GIF as one of those (or as an MP4 video)."),
    "image/webp": N_("WhatsApp sends pictures as JPEG or PNG; save this WebP picture as one of those."),
    "image/heic": N_("WhatsApp sends pictures as JPEG or PNG; save this iPhone (HEIC) picture as one of those."),
    "video/quicktime": N_("WhatsApp sends videos as MP4; export this MOV video as MP4."),
    "application/zip": N_("WhatsApp does not accept ZIP archives here; send the files inside it."),
}
_CANNOT_SEND = N_("WhatsApp cannot send this type of file.")
# One whole sentence per kind of file, so each reads naturally once translated.
_TOO_LARGE = {
    "image": N_("WhatsApp accepts image files up to %(limit)s MB; this one is %(size)s MB."),
    "video": N_("WhatsApp accepts video files up to %(limit)s MB; this one is %(size)s MB."),
    "audio": N_("WhatsApp accepts audio files up to %(limit)s MB; this one is %(size)s MB."),
    "document": N_("WhatsApp accepts document files up to %(limit)s MB; this one is %(size)s MB."),
}


def _too_large(kind: str, size: int, **details: object) -> TooLarge:
    """`size` in bytes, shown in MB rounded up to one decimal (so a file just over the limit never reads as equal to
    it), localised when the message is read."""
    return TooLarge(_TOO_LARGE[kind], details=dict(details), limit=LIMITS[kind] // MB,
                    size=math.ceil(size * 10 / MB) / 10)


def check(data: bytes, filename: str | None) -> tuple[str, str]:
    """(mime, kind) of a file WhatsApp accepts, or `Invalid` (422) / `TooLarge` (413) saying what is wrong."""
    if not data:
        raise Invalid("file", "The file is empty.")
    mime = sniff(data[:512], filename)
    kind = KINDS.get(mime or "")
    if kind is None:
        hint = _UNSUPPORTED_HINTS.get(mime or "")
        raise Invalid("file", hint or "WhatsApp cannot send this type of file. Send a picture (JPEG, PNG), a video "
                                      "(MP4), audio (MP3, AAC, OGG, M4A, AMR), a PDF, a text file or an Office "
                                      "document.")
    limit = LIMITS[kind]
    if len(data) > limit:
        raise _too_large(kind, len(data), file="too_large", limit_bytes=limit)
    return mime, kind


def kind_of(mime: str) -> str:
    """The message kind a stored file goes out as (document for anything not a picture, video or audio)."""
    return KINDS.get(mime, "document")


def path_of(ws: Workspace, sha256: str) -> Path:
    return ws.folder / "media" / sha256[:2] / sha256


def _write(root: Path, data: bytes) -> tuple[str, Path]:
    """Write `data` under its hash, atomically (a crash never leaves half a file under a valid name)."""
    sha = hashlib.sha256(data).hexdigest()
    path = root / sha[:2] / sha
    if path.exists() and path.stat().st_size == len(data):
        return sha, path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha, path


async def store_upload(ws: Workspace, data: bytes, filename: str | None = None) -> Media:
    """Check a file against WhatsApp's rules and keep it; the same content again reuses the stored file."""
    mime, _ = check(data, filename)
    name = Path(filename).name[:200] if filename else None
    sha, _ = await asyncio.to_thread(_write, ws.folder / "media", data)

    def write(conn: sqlite3.Connection) -> int:
        return media_store.insert_ready(conn, sha, mime, len(data), name, int(time.time()))

    media_id = await ws.db.execute_write_fn(write)
    return await media_store.get(ws.db, media_id)


def sendable(media: Media) -> None:
    """Raise unless a stored media row can be sent (ready, and within WhatsApp's limits for its type)."""
    if media.expired_at is not None:
        raise Invalid("media_id", "This file was removed after the days Settings keeps files; upload it again.")
    if media.status != "ready" or not media.sha256:
        raise Invalid("media_id", "This file has not finished downloading yet; try again in a moment.")
    kind = KINDS.get(media.mime)
    if kind is None:
        raise Invalid("media_id", _UNSUPPORTED_HINTS.get(media.mime, _CANNOT_SEND))
    if (media.size or 0) > LIMITS[kind]:
        raise _too_large(kind, media.size or 0, media_id="too_large")


# -- inbound downloads ---------------------------------------------------------------------------------------------


def remote_of(ref: MediaRef) -> dict:
    """A MediaRef as JSON-safe data for the media row (the engine fetches it again from this after a restart)."""
    return asdict(ref)


async def download(ws: Workspace, media_id: int) -> bool:
    """Fetch one pending inbound file through its account's engine; True once stored. A failure schedules a
    retry (or gives up after the last one); while the number is offline the attempt does not count."""
    media = await media_store.get(ws.db, media_id)
    if media is None or media.status != "pending" or media.remote is None or media.account_id is None:
        return False
    now = time.time()
    try:
        data = await ws.sessions.download_media((ws.id, media.account_id), MediaRef(**media.remote))
    except Exception as exc:  # engines raise EngineError; anything else is a failure of the same kind here
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        offline = getattr(exc, "code", "") == "not_connected"
        attempt = media.attempts + (0 if offline else 1)
        log.info("media download failed (workspace=%s account=%s media=%s attempt=%d): %s",
                 ws.id, media.account_id, media_id, attempt, reason)

        def later(conn: sqlite3.Connection) -> None:
            if attempt > len(DOWNLOAD_RETRY_S):
                media_store.mark_failed(conn, media_id, reason)
            else:
                delay = DOWNLOAD_RETRY_S[max(attempt - 1, 0)]
                media_store.mark_retry(conn, media_id, now + delay, reason, counted=not offline)

        await ws.db.execute_write_fn(later)
        if attempt > len(DOWNLOAD_RETRY_S):
            await _publish(ws, media_id)
        return False
    sha, _ = await asyncio.to_thread(_write, ws.folder / "media", data)
    await ws.db.execute_write_fn(lambda conn: media_store.mark_ready(conn, media_id, sha, len(data)))
    await _publish(ws, media_id)
    return True


async def download_due(ws: Workspace, limit: int = 50) -> int:
    """Try every pending download that is due now, a few at a time; returns how many arrived."""
    due = await media_store.due(ws.db, time.time(), limit)
    if not due:
        return 0
    gate = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)

    async def one(media_id: int) -> bool:
        async with gate:
            return await download(ws, media_id)

    results = await asyncio.gather(*(one(m.id) for m in due), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            log.error("media download crashed (workspace=%s)", ws.id, exc_info=result)
    return sum(1 for r in results if r is True)


async def _publish(ws: Workspace, media_id: int) -> None:
    shown = await ws.db.execute_fn(lambda conn: media_store.messages_of(conn, media_id))
    if shown and ws.bus is not None:
        ws.bus.publish(ws.id, "message.media", media_id=media_id, message_ids=[m for m, _ in shown],
                       conversation_ids=sorted({c for _, c in shown}))


# -- retention ----------------------------------------------------------------------------------------------------

EXPIRE_CHUNK = 500  # files per transaction: short writes, so replies never wait long behind a clean-up


async def expire_older_than(ws: Workspace, days: int, now: int | None = None) -> int:
    """Remove the files of messages older than `days` days (the Settings → General retention); the messages stay
    and say the file was removed. Files a template, auto-reply, campaign or unsent message uses are kept. Rows are
    marked in the database first and files deleted after, so a crash in between leaves a stray file, never a message
    pointing at a missing one. Returns how many files were removed."""
    at = int(now if now is not None else time.time())
    cutoff = at - days * 86_400
    total = 0
    while True:
        def write(conn: sqlite3.Connection) -> tuple[int, list[str]]:
            rows = media_store.expirable(conn, cutoff, EXPIRE_CHUNK)
            media_store.expire(conn, [media_id for media_id, _ in rows], at)
            # The same content may still be shown by another row (a newer message, a template): keep that file.
            return len(rows), sorted({sha for _, sha in rows if not media_store.sha_in_use(conn, sha)})

        count, unused = await ws.db.execute_write_fn(write)
        await asyncio.to_thread(_unlink, [path_of(ws, sha) for sha in unused])
        total += count
        if count < EXPIRE_CHUNK:
            return total


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class RetentionJob:
    """A heartbeat job: at most once an hour, remove message files older than each workspace's retention setting."""

    EVERY_S = 3600

    def __init__(self, runtime: object):
        self.runtime = runtime
        self.last = 0.0

    async def __call__(self) -> None:
        if self.last and time.monotonic() - self.last < self.EVERY_S:
            return
        self.last = time.monotonic()
        from blazz import workspace_settings
        from blazz.store import workspaces as ws_store

        for row in await ws_store.all_workspaces(self.runtime.app_db):  # type: ignore[attr-defined]
            try:
                ws = await self.runtime.workspace(row)  # type: ignore[attr-defined]
                days = (await workspace_settings.load(ws.db)).media_retention_days
                if days is None:
                    continue
                removed = await expire_older_than(ws, days)
            except Exception:
                log.exception("removing old message files failed", extra={"workspace": row.slug})
                continue
            if removed:
                log.info("removed %d message files older than %d days", removed, days, extra={"workspace": row.slug})
