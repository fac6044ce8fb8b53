"""Retention: files of messages older than the workspace's setting are removed (the messages stay and say so);
files still used elsewhere or by newer messages are kept."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from blazz import media, outbox, templates, workspace_settings
from blazz.errors import Invalid
from blazz.store import media as media_store
from tests.unit.test_outbox_harness import customer, running

DAY = 86_400


def picture(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 40, 40)).save(out, "JPEG")
    return out.getvalue()


async def sent_long_ago(h, media_id: int, to: str, days_ago: int) -> int:
    message = await outbox.send_media(h.ws, media_id=media_id, to=to)
    await h.until_status(message.id, "sent", "delivered", "read")
    at = int(time.time()) - days_ago * DAY
    await h.ws.db.execute_write_fn(lambda conn: conn.execute(
        "UPDATE messages SET created_at = ? WHERE id = ?", (at, message.id)))
    return message.id


async def test_old_message_files_go_and_everything_still_in_use_stays(tmp_path):
    async with running(tmp_path) as h:
        old = await media.store_upload(h.ws, picture(10), "old.jpg")
        await sent_long_ago(h, old.id, customer(1), days_ago=40)
        # The same picture under another name, sent yesterday: its file must survive the old row's removal.
        twin = await media.store_upload(h.ws, picture(10), "again.jpg")
        await sent_long_ago(h, twin.id, customer(2), days_ago=1)
        # Sent long ago and again this week (one row): kept.
        reused = await media.store_upload(h.ws, picture(20), "reused.jpg")
        await sent_long_ago(h, reused.id, customer(3), days_ago=60)
        await sent_long_ago(h, reused.id, customer(4), days_ago=2)
        # A template's header picture, also sent long ago: kept.
        header = await media.store_upload(h.ws, picture(30), "header.jpg")
        await templates.create(h.ws, templates.TemplateInput(name="Promo", body="Halo", media_id=header.id))
        await sent_long_ago(h, header.id, customer(5), days_ago=90)
        own = await media.store_upload(h.ws, picture(40), "alone.jpg")
        await sent_long_ago(h, own.id, customer(6), days_ago=31)

        assert await media.expire_older_than(h.ws, 30) == 2
        gone = {m.id: await media_store.get(h.ws.db, m.id) for m in (old, own)}
        for row in gone.values():
            assert row.expired_at is not None and row.sha256 is None and row.filename in ("old.jpg", "alone.jpg")
        assert not media.path_of(h.ws, own.sha256).exists(), "a file nothing else shows is deleted"
        assert media.path_of(h.ws, old.sha256).exists(), "the twin row still shows the same content"
        for kept in (twin, reused, header):
            row = await media_store.get(h.ws.db, kept.id)
            assert row.expired_at is None and media.path_of(h.ws, row.sha256).exists()
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages WHERE media_id IN (?, ?)", (old.id, own.id)) == 2
        assert await media.expire_older_than(h.ws, 30) == 0, "nothing twice"
        with pytest.raises(Invalid, match="removed"):
            await outbox.send_media(h.ws, media_id=own.id, to=customer(7))


async def test_zero_days_needs_confirmation_and_bad_values_change_nothing(tmp_path):
    async with running(tmp_path, connect=False) as h:
        await workspace_settings.update(h.ws.db, media_retention_days=90)
        for bad in (-1, "abc", "7.5", 3651, True):
            with pytest.raises(Invalid) as caught:
                await workspace_settings.update(h.ws.db, media_retention_days=bad)
            assert caught.value.field == "media_retention_days"
        with pytest.raises(Invalid, match="Confirm"):
            await workspace_settings.update(h.ws.db, media_retention_days=0)
        assert (await workspace_settings.load(h.ws.db)).media_retention_days == 90
        assert (await workspace_settings.update(h.ws.db, media_retention_days=0,
                                                confirm_delete_all=True)).media_retention_days == 0
        assert (await workspace_settings.update(h.ws.db, media_retention_days=None)).media_retention_days is None
