"""Media: WhatsApp's type and size rules before queueing, the content-addressed store, sending stored files."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from blazz import media, outbox
from blazz.errors import Invalid
from blazz.media import TooLarge
from tests.unit.test_outbox_harness import customer, running


def jpeg(size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(("head", "filename", "mime"), [
    (b"\xff\xd8\xff\xe0rest", "a.jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\nrest", None, "image/png"),
    (b"%PDF-1.7\n", "invoice.pdf", "application/pdf"),
    (b"\x00\x00\x00\x18ftypmp42rest", "clip.mp4", "video/mp4"),
    (b"\x00\x00\x00\x18ftyp3gp4rest", None, "video/3gpp"),
    (b"\x00\x00\x00\x18ftypM4A rest", "song.m4a", "audio/mp4"),
    (b"OggS\x00\x02", "voice.ogg", "audio/ogg"),
    (b"ID3\x03\x00", "song.mp3", "audio/mpeg"),
    (b"\xff\xfb\x90\x00", "song.mp3", "audio/mpeg"),
    (b"\xff\xf1\x50\x80", "sound.aac", "audio/aac"),
    (b"#!AMR\n", None, "audio/amr"),
    (b"PK\x03\x04rest", "report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"PK\x03\x04rest", "sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.xls", "application/vnd.ms-excel"),
    (b"Daftar harga\nKopi 20.000", "harga.txt", "text/plain"),
])
def test_files_are_recognised_by_their_bytes(head, filename, mime):
    assert media.sniff(head, filename) == mime
    assert media.check(head, filename)[0] == mime


def test_a_file_named_like_a_picture_is_judged_by_its_content():
    with pytest.raises(Invalid) as exc:
        media.check(b"MZ\x90\x00\x03\x00\x00\x00", "cute-cat.jpg")  # a Windows program
    assert exc.value.status == 422 and "cannot send this type of file" in exc.value.message


@pytest.mark.parametrize(("data", "hint"), [
    (b"GIF89a....", "GIF"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP"),
    (b"\x00\x00\x00\x18ftypheic", "HEIC"),
    (b"\x00\x00\x00\x14ftypqt  ", "MOV"),
    (b"PK\x03\x04rest", "ZIP"),
])
def test_unsupported_types_are_refused_with_what_to_do_instead(data, hint):
    with pytest.raises(Invalid) as exc:
        media.check(data, "file")
    assert hint in exc.value.message and exc.value.field == "file"


def test_an_empty_file_is_refused():
    with pytest.raises(Invalid):
        media.check(b"", "empty.pdf")


def test_oversize_files_are_refused_with_the_limit_of_their_kind():
    picture = b"\xff\xd8\xff" + b"\x00" * (5 * media.MB)
    with pytest.raises(TooLarge) as exc:
        media.check(picture, "big.jpg")
    assert exc.value.status == 413 and "image files up to 5 MB" in exc.value.message
    document = b"%PDF-" + b"\x00" * (100 * media.MB)
    with pytest.raises(TooLarge):
        media.check(document, "huge.pdf")
    assert media.check(b"%PDF-" + b"\x00" * (6 * media.MB), "fine.pdf")[1] == "document"  # 6 MB is fine for a PDF


async def test_uploads_are_stored_once_by_content(tmp_path):
    async with running(tmp_path, connect=False) as h:
        data = jpeg()
        first = await media.store_upload(h.ws, data, "../../etc/photo.jpg")
        again = await media.store_upload(h.ws, data, "../../etc/photo.jpg")
        sha = hashlib.sha256(data).hexdigest()
        assert first.id == again.id and first.sha256 == sha and first.mime == "image/jpeg"
        assert first.filename == "photo.jpg" and first.size == len(data)
        path = h.ws.folder / "media" / sha[:2] / sha
        assert media.path_of(h.ws, sha) == path and path.read_bytes() == data
        assert [p.name for p in path.parent.iterdir()] == [sha]  # no temporary files left behind


async def test_a_bad_file_is_refused_before_anything_is_queued(tmp_path):
    async with running(tmp_path) as h:
        with pytest.raises(TooLarge):
            await media.store_upload(h.ws, b"\xff\xd8\xff" + b"\x00" * (6 * media.MB), "big.jpg")
        with pytest.raises(Invalid):
            await media.store_upload(h.ws, b"GIF89a", "anim.gif")
        assert await h.ws.db.fetchval("SELECT count(*) FROM media") == 0
        assert not (h.ws.folder / "media").exists()
        with pytest.raises(Exception) as exc:
            await outbox.send_media(h.ws, media_id=12345, to=customer(1))
        assert exc.value.status == 404
        assert await h.ws.db.fetchval("SELECT count(*) FROM messages") == 0


async def test_a_stored_file_is_sent_by_the_engine_from_the_store(tmp_path):
    async with running(tmp_path) as h:
        picture = await media.store_upload(h.ws, png(), "produk.png")
        sent = await outbox.send_media(h.ws, media_id=picture.id, caption="Warna merah", to=customer(2))
        assert sent.kind == "image" and sent.body == "Warna merah" and sent.media_id == picture.id
        await h.until_status(sent.id, "sent", "delivered")
        [delivered] = h.delivered(customer(2))
        assert delivered["kind"] == "image" and delivered["text"] == "Warna merah"
        assert delivered["media"] == {"mime": "image/png", "filename": "produk.png", "size": picture.size}
        doc = await media.store_upload(h.ws, b"%PDF-1.4 invoice", "invoice.pdf")
        sent_doc = await outbox.send_media(h.ws, media_id=doc.id, to=customer(2))
        await h.until_status(sent_doc.id, "sent", "delivered")
        assert h.delivered(customer(2))[-1]["kind"] == "document"


async def test_a_file_missing_from_the_store_fails_the_message_without_retrying(tmp_path):
    async with running(tmp_path) as h:
        picture = await media.store_upload(h.ws, jpeg(), "x.jpg")
        media.path_of(h.ws, picture.sha256).unlink()
        sent = await outbox.send_media(h.ws, media_id=picture.id, to=customer(3))
        await h.until_status(sent.id, "failed")
        assert await h.ws.db.fetchval("SELECT error FROM messages WHERE id = ?", (sent.id,)) == \
            "The media file to send is missing."
        assert h.delivered() == []
