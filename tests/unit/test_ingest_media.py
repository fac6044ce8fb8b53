"""Inbound media: downloaded into the content-addressed store; a placeholder and a later retry when that fails."""

from __future__ import annotations

import hashlib
import time

from blazz import ingest, media
from blazz.store import media as media_store
from blazz.whatsapp.events import InboundMessage, MediaRef
from tests.unit.test_outbox_harness import customer, running, until

PICTURE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


async def test_an_inbound_picture_is_downloaded_into_the_store(tmp_path):
    async with running(tmp_path) as h:
        with h.ws.bus.subscribe(h.ws.id) as sub:
            await h.engine.inbound(customer(1), "foto produk", media=("image/jpeg", "a.jpg", PICTURE))
            row = await until(lambda: h.ws.db.fetchone(
                "SELECT m.kind, m.body, d.status, d.sha256, d.size FROM messages m JOIN media d ON d.id = m.media_id"
                " WHERE d.status = 'ready'"))
            names = []
            while (event := await sub.next(0.05)) is not None:
                names.append(event.name)
        sha = hashlib.sha256(PICTURE).hexdigest()
        assert tuple(row) == ("image", "foto produk", "ready", sha, len(PICTURE))
        assert media.path_of(h.ws, sha).read_bytes() == PICTURE
        assert "message.media" in names


async def test_a_failed_download_shows_a_placeholder_and_is_retried_later(tmp_path):
    async with running(tmp_path) as h:
        ref = MediaRef(mime="image/jpeg", filename="late.jpg", size=len(PICTURE), data={"sandbox_media": "3EB0LATE"})
        msg = InboundMessage(provider_id="3EB0LATE", chat=customer(2), sender_phone=customer(2),
                             timestamp=time.time(), kind="image", text="", media=ref)
        result = await ingest.ingest(h.ws, h.account_id, [msg])
        [media_id] = result.media
        pending = await until(lambda: h.ws.db.fetchone("SELECT status, attempts, next_attempt_at, last_error FROM media"
                                                       " WHERE attempts = 1"))
        assert pending["status"] == "pending" and pending["next_attempt_at"] > time.time() + 30
        assert "not available" in pending["last_error"]
        message = await h.ws.db.fetchone("SELECT kind, media_id FROM messages")
        assert tuple(message) == ("image", media_id)  # the thread shows the picture's placeholder meanwhile
        # The file becomes available (the phone re-uploads it); the retry, once due, brings it in.
        await h.engine.inbound(customer(2), None, media=("image/jpeg", "late.jpg", PICTURE), provider_id="3EB0LATE")
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 1  # that event itself was a duplicate
        assert await media.download_due(h.ws) == 0  # not due yet
        await h.ws.db.execute_write("UPDATE media SET next_attempt_at = 0")
        assert await media.download_due(h.ws) == 1
        ready = await media_store.get(h.ws.db, media_id)
        assert ready.status == "ready" and ready.sha256 == hashlib.sha256(PICTURE).hexdigest()
        assert ready.remote is None


async def test_downloads_give_up_after_the_last_retry(tmp_path):
    async with running(tmp_path) as h:
        ref = MediaRef(mime="image/jpeg", data={"sandbox_media": "3EB0GONE"})
        msg = InboundMessage(provider_id="3EB0GONE", chat=customer(3), sender_phone=customer(3),
                             timestamp=time.time(), kind="image", media=ref)
        [media_id] = (await ingest.ingest(h.ws, h.account_id, [msg], live=False)).media
        for _ in range(len(media.DOWNLOAD_RETRY_S) + 1):
            await h.ws.db.execute_write("UPDATE media SET next_attempt_at = 0 WHERE status = 'pending'")
            await media.download_due(h.ws)
        gone = await media_store.get(h.ws.db, media_id)
        assert gone.status == "failed" and gone.attempts == len(media.DOWNLOAD_RETRY_S) + 1


async def test_a_download_while_offline_does_not_use_up_an_attempt(tmp_path):
    async with running(tmp_path) as h:
        ref = MediaRef(mime="image/jpeg", data={"sandbox_media": "3EB0OFF"})
        msg = InboundMessage(provider_id="3EB0OFF", chat=customer(4), sender_phone=customer(4),
                             timestamp=time.time(), kind="image", media=ref)
        await h.disconnect()
        [media_id] = (await ingest.ingest(h.ws, h.account_id, [msg], live=False)).media
        assert await media.download(h.ws, media_id) is False
        waiting = await media_store.get(h.ws.db, media_id)
        assert waiting.status == "pending" and waiting.attempts == 0 and "not connected" in waiting.last_error
