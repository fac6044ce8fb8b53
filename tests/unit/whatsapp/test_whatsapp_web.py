"""The WhatsApp Web engine against real neonize: protobuf events fed through neonize's own dispatch path
(`client.event.execute` called from another thread, as Go does), sends captured at the FFI handle, and the
connect failure of this offline machine for real."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from neonize.aioze import events as neonize_events
from neonize.aioze.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    KeepAliveRestoredEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as N
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as E2E
from neonize.proto.waHistorySync import WAWebProtobufsHistorySync_pb2 as H
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from PIL import Image

from blazz.whatsapp.events import (
    Connected,
    Disconnected,
    HistoryBatch,
    Inbound,
    LoggedOut,
    MediaRef,
    PairCode,
    QrCode,
    Receipt,
    TemporaryBan,
)
from blazz.whatsapp.protocol import AccountSpec, EngineError, OutgoingMessage, SendError
from blazz.whatsapp.whatsapp_web import WhatsAppWebEngine

KEY = (3, 7)
OUTDATED = "WhatsApp rejected this version of Blazz's WhatsApp library; update Blazz"
CUSTOMER = "6281234567890"
OWNER = "15550001111"
GROUP = "120363025246125486"
LID = "187362534219876"


# -- protobuf builders (proto2: every `required` field must be set, or SerializeToString refuses) -------------

def jid(user: str = "", server: str = "s.whatsapp.net", device: int = 0) -> N.JID:
    return N.JID(User=user, Server=server if user else "", Device=device, RawAgent=0, Integrator=0,
                 IsEmpty=not user)


def message_event(content: E2E.Message, *, msg_id: str = "3EB0A1B2C3D4E5F6", chat: N.JID | None = None,
                  sender: N.JID | None = None, from_me: bool = False, is_group: bool = False,
                  sender_alt: N.JID | None = None, recipient_alt: N.JID | None = None, push_name: str = "Siti",
                  timestamp_ms: int = 1_700_000_000_000) -> N.Message:
    chat = chat or jid(CUSTOMER)
    source = N.MessageSource(
        Chat=chat, Sender=sender or chat, IsFromMe=from_me, IsGroup=is_group, SenderAlt=sender_alt or jid(),
        RecipientAlt=recipient_alt or jid(), BroadcastListOwner=jid(),
    )
    info = N.MessageInfo(MessageSource=source, ID=msg_id, ServerID=0, Type="text", Pushname=push_name,
                         Timestamp=timestamp_ms, Category="", Multicast=False, MediaType="", Edit="")
    return N.Message(Info=info, Message=content, IsEphemeral=False, IsViewOnce=False, IsViewOnceV2=False,
                     IsViewOnceV2Extension=False, IsDocumentWithCaption=False, IsLottieSticker=False, IsEdit=False,
                     UnavailableRequestID="", RetryCount=0)


def media_fields(mime: str, size: int = 4096) -> dict[str, Any]:
    return {"URL": "https://mmg.whatsapp.net/o1/v/t62/abc", "mimetype": mime, "fileSHA256": b"\x01" * 32,
            "fileLength": size, "mediaKey": b"\x02" * 32, "fileEncSHA256": b"\x03" * 32,
            "directPath": "/o1/v/t62.7118-24/abc?ccb=9-4", "mediaKeyTimestamp": 1_700_000_000}


def receipt_event(ids: list[str], kind: int) -> N.Receipt:
    source = N.MessageSource(Chat=jid(CUSTOMER), Sender=jid(CUSTOMER), IsFromMe=False, IsGroup=False,
                             SenderAlt=jid(), RecipientAlt=jid(), BroadcastListOwner=jid())
    return N.Receipt(MessageSource=source, MessageIDs=ids, Timestamp=1_700_000_100, Type=kind)


def device(user: str, push_name: str = "Toko Maju") -> N.Device:
    return N.Device(JID=jid(user, device=12), Platform="", BussinessName="", PushName=push_name, Initialized=True)


def deliver(client: Any, event_type: Any, event: Any) -> None:
    """What Go does: hand neonize's `Event.execute` a C buffer with the serialized event, from a foreign thread."""
    data = event.SerializeToString()
    buffer = ctypes.create_string_buffer(data, max(len(data), 1))
    code = 0 if isinstance(event, N.Device) else EVENT_TO_INT[event_type]
    thread = threading.Thread(target=client.event.execute,
                              args=(client.uuid, ctypes.addressof(buffer), len(data), code))
    thread.start()
    thread.join()


def go_string_callback(callback: Any, client: Any, text: str) -> None:
    """A Go → Python string callback (QR code, login status): two C pointers, called from Go's thread."""
    uuid = ctypes.create_string_buffer(client.uuid)
    value = ctypes.create_string_buffer(text.encode())
    thread = threading.Thread(target=callback, args=(ctypes.addressof(uuid), ctypes.addressof(value)))
    thread.start()
    thread.join()


class Recorder:
    """The `emit` the session manager would pass: keeps every event."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, event: Any) -> None:
        self.events.append(event)

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    async def next(self, cls: type, count: int = 1, within: float = 5.0) -> list[Any]:
        deadline = time.monotonic() + within
        while len(self.of(cls)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {cls.__name__}, got {self.events!r}")
            await asyncio.sleep(0.01)
        return self.of(cls)

    async def settle(self, delay: float = 0.2) -> None:
        await asyncio.sleep(delay)


class FakeGo:
    """Stands in for neonize's FFI handle; records what would cross into Go and answers like Go does."""

    def __init__(self) -> None:
        self.sent: list[tuple[N.JID, E2E.Message]] = []
        self.uploads: list[tuple[bytes, int]] = []
        self.calls: list[tuple[str, tuple]] = []
        self.send_error = ""
        self.connected = True
        self.on_whatsapp: set[str] = set()
        self.pn_for_lid: dict[str, str] = {}

    async def SendMessage(self, uuid: bytes, to: bytes, to_len: int, message: bytes, message_len: int) -> bytes:
        if self.send_error:
            return N.SendMessageReturnFunction(Error=self.send_error).SerializeToString()
        self.sent.append((N.JID.FromString(to), E2E.Message.FromString(message)))
        timings = N.MessageDebugTimings(Queue=0, Marshal=0, GetParticipants=0, GetDevices=0, GroupEncrypt=0,
                                        PeerEncrypt=0, Send=0, Resp=0, Retry=0)
        response = N.SendResponse(Timestamp=1_700_000_200, ID=f"3EB0SERVER{len(self.sent):02d}", ServerID=0,
                                  DebugTimings=timings)
        return N.SendMessageReturnFunction(SendResponse=response).SerializeToString()

    async def Upload(self, uuid: bytes, binary: bytes, size: int, media_type: int) -> bytes:
        self.uploads.append((bytes(binary), media_type))
        upload = N.UploadResponse(url="https://mmg.whatsapp.net/up", DirectPath="/v/t62.up", Handle="",
                                  MediaKey=b"K" * 32, FileEncSHA256=b"E" * 32, FileSHA256=b"S" * 32,
                                  FileLength=size)
        return N.UploadReturnFunction(UploadResponse=upload).SerializeToString()

    async def IsOnWhatsApp(self, uuid: bytes, numbers: bytes, size: int) -> bytes:
        self.calls.append(("IsOnWhatsApp", (numbers.decode(),)))
        answers = [N.IsOnWhatsAppResponse(Query=q, JID=jid(q.lstrip("+")), IsIn=q in self.on_whatsapp)
                   for q in numbers.decode().split(" ")]
        return N.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=answers).SerializeToString()

    async def DownloadMediaWithPath(self, *args: Any) -> bytes:
        self.calls.append(("DownloadMediaWithPath", args[1:]))
        return N.DownloadReturnFunction(Binary=b"JPEG-BYTES").SerializeToString()

    async def MarkRead(self, *args: Any) -> bytes:
        self.calls.append(("MarkRead", args[1:]))
        return b""

    async def SendChatPresence(self, *args: Any) -> bytes:
        self.calls.append(("SendChatPresence", args[1:]))
        return b""

    async def PairPhone(self, uuid: bytes, payload: bytes, size: int) -> bytes:
        self.calls.append(("PairPhone", (N.PairPhoneParams.FromString(payload),)))
        return N.PairPhoneReturnFunction(Code="WXYZ-1234").SerializeToString()

    async def GetPNFromLID(self, uuid: bytes, payload: bytes, size: int) -> bytes:
        lid = N.JID.FromString(payload)
        self.calls.append(("GetPNFromLID", (lid.User,)))
        found = self.pn_for_lid.get(lid.User)
        return N.GetJIDFromStoreReturnFunction(Jid=jid(found) if found else jid()).SerializeToString()

    async def IsConnected(self, uuid: bytes) -> bool:
        return self.connected

    async def Logout(self, uuid: bytes) -> bytes:
        self.calls.append(("Logout", ()))
        return b""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spec_for(folder: Path, **settings: Any) -> AccountSpec:
    return AccountSpec(key=KEY, engine="whatsapp_web", settings=settings, folder=folder)


@pytest.fixture
async def web(tmp_path: Path):
    """A started engine whose connection attempt already failed (a proxy on a closed local port refuses at once,
    network or not): its Go client and every handler exist, so fed events take the real path."""
    recorder = Recorder()
    engine = WhatsAppWebEngine(spec_for(tmp_path / "acct", proxy=f"socks5://127.0.0.1:{closed_port()}"), recorder)
    await engine.start()
    await recorder.next(Disconnected)
    recorder.events.clear()
    yield engine, recorder
    await engine.stop()


def client_of(engine: WhatsAppWebEngine) -> Any:
    return engine._client


async def connect(engine: WhatsAppWebEngine, recorder: Recorder, own: str = OWNER) -> Connected:
    deliver(client_of(engine), None, device(own))
    deliver(client_of(engine), ConnectedEv, N.Connected(status=True))
    (connected,) = await recorder.next(Connected)
    recorder.events.clear()
    return connected


async def inbound(engine: WhatsAppWebEngine, recorder: Recorder, event: N.Message) -> Any:
    deliver(client_of(engine), MessageEv, event)
    (received,) = await recorder.next(Inbound)
    recorder.events.clear()
    return received.message


# -- connecting for real ----------------------------------------------------------------------------------------

async def test_a_failed_dial_is_reported_as_a_readable_disconnect_and_stop_is_quick(tmp_path: Path):
    recorder = Recorder()
    engine = WhatsAppWebEngine(spec_for(tmp_path / "acct"), recorder)
    started = time.monotonic()
    await engine.start()
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 10
    while not recorder.of(Disconnected) and time.monotonic() < deadline:
        if recorder.of(QrCode):
            await engine.stop()
            pytest.skip("this machine reaches WhatsApp; the offline failure cannot be observed")
        await asyncio.sleep(0.01)
    (event,) = recorder.of(Disconnected)
    assert event.key == KEY and event.will_retry is False
    assert event.reason.startswith("Could not reach WhatsApp") and "web.whatsapp.com" in event.reason
    stopping = time.monotonic()
    await engine.stop()
    await engine.stop()  # twice is harmless
    assert time.monotonic() - stopping < 2
    assert (tmp_path / "acct" / "whatsapp.db").exists()  # one session store per account, in its folder
    with pytest.raises(SendError) as refused:
        await engine.send(OutgoingMessage(to="+6281234567890", text="hi"))
    assert refused.value.code == "not_connected" and refused.value.retry


@pytest.fixture
def silent_proxy():
    """A proxy that accepts connections and never answers: Go's dial hangs (≈60 s) and `Stop` cannot abort it."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()


async def test_stop_does_not_wait_for_a_dial_go_cannot_abort(tmp_path: Path, silent_proxy: str):
    recorder = Recorder()
    engine = WhatsAppWebEngine(spec_for(tmp_path, proxy=silent_proxy), recorder)
    await engine.start()
    started = time.monotonic()
    await engine.stop()
    assert time.monotonic() - started < 3
    # neonize's connect task is finished too: asyncio.run() would otherwise cancel it at exit, and neonize's
    # cancel handler calls Go's Stop on the loop thread, blocking until the dial times out.
    assert engine._session.done() and not recorder.events


async def test_a_refusing_proxy_is_named_in_the_reason(tmp_path: Path):
    recorder = Recorder()
    engine = WhatsAppWebEngine(spec_for(tmp_path, proxy=f"socks5://127.0.0.1:{closed_port()}"), recorder)
    await engine.start()
    (event,) = await recorder.next(Disconnected)
    await engine.stop()
    assert "proxy" in event.reason and event.will_retry is False


async def test_a_bad_proxy_setting_fails_start_at_once(tmp_path: Path):
    engine = WhatsAppWebEngine(spec_for(tmp_path, proxy="localhost"), Recorder())
    with pytest.raises(EngineError) as failed:
        await engine.start()
    assert failed.value.code == "invalid_settings"
    await engine.stop()


async def test_events_reach_a_new_event_loop_after_an_old_one_closed(tmp_path: Path):
    old = asyncio.new_event_loop()
    old.close()
    neonize_events.event_global_loop = old  # what a previous loop (a restart, an earlier test) leaves behind
    recorder = Recorder()
    engine = WhatsAppWebEngine(spec_for(tmp_path, proxy=f"socks5://127.0.0.1:{closed_port()}"), recorder)
    await engine.start()
    await recorder.next(Disconnected)
    assert neonize_events.event_global_loop is asyncio.get_running_loop()
    deliver(client_of(engine), ReceiptEv, receipt_event(["3EB0X"], N.Receipt.READ))
    (receipt,) = await recorder.next(Receipt)
    await engine.stop()
    assert receipt.provider_ids == ("3EB0X",)


async def test_handlers_exist_for_every_mapped_event_and_never_for_empty_payload_events(web):
    engine, _ = web
    codes = set(client_of(engine).event.list_func)
    for event_type in (MessageEv, ReceiptEv, ConnectedEv, DisconnectedEv, LoggedOutEv, TemporaryBanEv,
                       ConnectFailureEv, PairStatusEv, HistorySyncEv):
        assert EVENT_TO_INT[event_type] in codes
    for event_type in (StreamReplacedEv, KeepAliveRestoredEv, ClientOutdatedEv):  # neonize #194 would abort
        assert EVENT_TO_INT[event_type] not in codes


# -- lifecycle events -------------------------------------------------------------------------------------------

async def test_qr_codes_rotate_with_whatsmeow_lifetimes(web):
    engine, recorder = web
    client = client_of(engine)
    before = time.time()
    go_string_callback(client._NewAClient__onQr, client, "2@first,abc,def,ghi")
    go_string_callback(client._NewAClient__onQr, client, "2@second,abc,def,ghi")
    first, second = await recorder.next(QrCode, 2)
    assert first.key == KEY and first.code == "2@first,abc,def,ghi"
    assert before + 59 <= first.expires_at <= time.time() + 61
    assert second.code == "2@second,abc,def,ghi" and second.expires_at <= time.time() + 21


async def test_an_unscanned_qr_and_an_outdated_client_at_login_are_reported(web):
    engine, recorder = web
    client = client_of(engine)
    go_string_callback(client._NewAClient__onLoginStatus, client, "timeout")
    (gone,) = await recorder.next(Disconnected)
    assert gone.will_retry is False and "QR code" in gone.reason
    go_string_callback(client._NewAClient__onLoginStatus, client, "err-client-outdated")
    (outdated,) = await recorder.next(LoggedOut)
    assert outdated.reason == OUTDATED


async def test_connected_names_the_linked_number(web):
    engine, recorder = web
    connected = await connect(engine, recorder)
    assert connected == Connected(KEY, f"+{OWNER}", jid=f"{OWNER}@s.whatsapp.net", push_name="Toko Maju")


async def test_pairing_success_then_connected_and_pairing_errors(web):
    engine, recorder = web
    client = client_of(engine)
    deliver(client, PairStatusEv, N.PairStatus(ID=jid(OWNER, device=3), BusinessName="", Platform="android",
                                               Status=N.PairStatus.SUCCESS))
    deliver(client, ConnectedEv, N.Connected(status=True))
    (connected,) = await recorder.next(Connected)
    assert connected.phone == f"+{OWNER}" and not recorder.of(Disconnected)
    deliver(client, PairStatusEv, N.PairStatus(ID=jid(), BusinessName="", Platform="", Status=N.PairStatus.ERROR,
                                               Error="pairing rejected by server"))
    (failed,) = await recorder.next(Disconnected)
    assert failed.will_retry is False and "pairing rejected by server" in failed.reason


async def test_a_drop_after_connecting_is_left_to_whatsmeows_reconnect(web):
    engine, recorder = web
    await connect(engine, recorder)
    deliver(client_of(engine), DisconnectedEv, N.Disconnected(status=True))
    (dropped,) = await recorder.next(Disconnected)
    assert dropped.will_retry is True


@pytest.mark.parametrize(("reason", "expected"), [
    (N.LOGGED_OUT, "The phone unlinked this device"),
    (N.MAIN_DEVICE_GONE, "The WhatsApp account on the phone is gone"),
    (N.CLIENT_OUTDATED, OUTDATED),
])
async def test_logged_out_carries_a_readable_reason(web, reason: int, expected: str):
    engine, recorder = web
    await connect(engine, recorder)
    deliver(client_of(engine), LoggedOutEv, N.LoggedOut(OnConnect=True, Reason=reason))
    (logged_out,) = await recorder.next(LoggedOut)
    assert logged_out.key == KEY and logged_out.reason.startswith(expected)


async def test_connect_failures_map_to_logout_retry_or_reconnect(web):
    engine, recorder = web
    client = client_of(engine)
    node = N.Node(Tag="failure")
    deliver(client, ConnectFailureEv, N.ConnectFailure(Reason=N.CLIENT_OUTDATED, Message="", Raw=node))
    (outdated,) = await recorder.next(LoggedOut)
    assert outdated.reason == OUTDATED
    deliver(client, ConnectFailureEv, N.ConnectFailure(Reason=N.GENERIC, Message="bad request", Raw=node))
    (refused,) = await recorder.next(Disconnected)
    assert refused.will_retry is False and "bad request" in refused.reason
    deliver(client, ConnectFailureEv, N.ConnectFailure(Reason=N.SERVICE_UNAVAILABLE, Message="", Raw=node))
    _, unavailable = await recorder.next(Disconnected, 2)
    assert unavailable.will_retry is True


async def test_an_outdated_client_seen_only_in_whatsmeows_log_logs_the_session_out(web):
    _, recorder = web
    logging.getLogger("whatsmeow.Client").error("Client outdated (405) connect failure (client version: 2.3000.1)")
    (logged_out,) = await recorder.next(LoggedOut)
    assert logged_out.reason == OUTDATED


async def test_temporary_ban_has_an_expiry_and_a_reason(web):
    engine, recorder = web
    await connect(engine, recorder)
    before = time.time()
    deliver(client_of(engine), TemporaryBanEv, N.TemporaryBan(Code=N.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE,
                                                               Expire=3600))
    (ban,) = await recorder.next(TemporaryBan)
    assert before + 3599 <= ban.expires_at <= time.time() + 3601
    assert "too many people" in ban.reason


async def test_a_socket_that_died_silently_is_reported_for_a_restart(tmp_path: Path):
    recorder = Recorder()
    engine = WhatsAppWebEngine(spec_for(tmp_path, proxy=f"socks5://127.0.0.1:{closed_port()}"), recorder)
    engine.health_interval = 0.05
    await engine.start()
    await recorder.next(Disconnected)
    recorder.events.clear()
    fake = FakeGo()
    client_of(engine)._NewAClient__client = fake
    await connect(engine, recorder)
    await recorder.settle()
    assert not recorder.events  # a healthy socket: nothing to say
    fake.connected = False  # e.g. StreamReplaced: whatsmeow closes without an event we may subscribe to
    (dropped,) = await recorder.next(Disconnected)
    await engine.stop()
    assert dropped.will_retry is False


async def test_a_failing_emit_is_logged_with_the_account_and_later_events_still_flow(tmp_path: Path, caplog):
    recorder = Recorder()
    failed: list[Any] = []

    async def flaky(event: Any) -> None:
        if isinstance(event, Receipt) and not failed:
            failed.append(event)
            raise RuntimeError("store is down")
        await recorder(event)

    engine = WhatsAppWebEngine(spec_for(tmp_path, proxy=f"socks5://127.0.0.1:{closed_port()}"), flaky)
    await engine.start()
    await recorder.next(Disconnected)
    deliver(client_of(engine), ReceiptEv, receipt_event(["3EB0A"], N.Receipt.DELIVERED))
    deliver(client_of(engine), ReceiptEv, receipt_event(["3EB0B"], N.Receipt.DELIVERED))
    (receipt,) = await recorder.next(Receipt)
    await engine.stop()
    assert failed[0].provider_ids == ("3EB0A",) and receipt.provider_ids == ("3EB0B",)
    failure = next(r for r in caplog.records if "handling receipt event failed" in r.getMessage())
    assert "workspace=3 account=7" in failure.getMessage() and failure.exc_info


# -- inbound messages -------------------------------------------------------------------------------------------

async def test_plain_text_from_a_customer(web):
    message = await inbound(*web, message_event(E2E.Message(conversation="Halo, masih buka?")))
    assert message.provider_id == "3EB0A1B2C3D4E5F6"
    assert message.chat == f"+{CUSTOMER}" and message.sender_phone == f"+{CUSTOMER}"
    assert message.kind == "text" and message.text == "Halo, masih buka?"
    assert message.sender_name == "Siti" and message.timestamp == 1_700_000_000.0
    assert not message.from_me and not message.is_group and message.quoted_id is None


async def test_a_reply_names_the_quoted_message(web):
    text = E2E.ExtendedTextMessage(text="Yang ini ya", contextInfo=E2E.ContextInfo(
        stanzaID="3EB0QUOTED", participant=f"{OWNER}@s.whatsapp.net",
        quotedMessage=E2E.Message(conversation="Promo hari ini")))
    message = await inbound(*web, message_event(E2E.Message(extendedTextMessage=text)))
    assert message.kind == "text" and message.text == "Yang ini ya" and message.quoted_id == "3EB0QUOTED"


@pytest.mark.parametrize(("field", "part", "kind", "media_type"), [
    ("imageMessage", E2E.ImageMessage(caption="Foto produk", **media_fields("image/jpeg")), "image", "image"),
    ("videoMessage", E2E.VideoMessage(caption="Video", seconds=9, **media_fields("video/mp4")), "video", "video"),
    ("audioMessage", E2E.AudioMessage(PTT=False, **media_fields("audio/mpeg")), "audio", "audio"),
    ("audioMessage", E2E.AudioMessage(PTT=True, **media_fields("audio/ogg; codecs=opus")), "voice", "audio"),
    ("documentMessage", E2E.DocumentMessage(fileName="invoice.pdf", caption="Tagihan",
                                            **media_fields("application/pdf")), "document", "document"),
    ("stickerMessage", E2E.StickerMessage(**media_fields("image/webp")), "sticker", "image"),
])
async def test_media_messages_carry_what_a_later_download_needs(web, field: str, part: Any, kind: str,
                                                                media_type: str):
    message = await inbound(*web, message_event(E2E.Message(**{field: part})))
    assert message.kind == kind
    media = message.media
    assert media.mime == part.mimetype and media.size == 4096 and media.sha256 == "01" * 32
    assert media.data == {
        "direct_path": "/o1/v/t62.7118-24/abc?ccb=9-4", "media_key": base64.b64encode(b"\x02" * 32).decode(),
        "file_enc_sha256": base64.b64encode(b"\x03" * 32).decode(),
        "file_sha256": base64.b64encode(b"\x01" * 32).decode(), "file_length": 4096, "media_type": media_type,
        "url": "https://mmg.whatsapp.net/o1/v/t62/abc",
    }
    assert json.loads(json.dumps(asdict(media))) == asdict(media)  # storable as JSON as it is
    if kind == "document":
        assert media.filename == "invoice.pdf" and message.text == "Tagihan"
    if kind == "image":
        assert message.text == "Foto produk"


async def test_location_and_contact_cards(web):
    engine, recorder = web
    location = E2E.LocationMessage(degreesLatitude=-6.2, degreesLongitude=106.8, name="Toko Maju")
    message = await inbound(engine, recorder, message_event(E2E.Message(locationMessage=location)))
    assert message.kind == "location" and message.location == (-6.2, 106.8, "Toko Maju")
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Budi\nTEL;type=CELL;waid=628111:+62 811 1\nEND:VCARD"
    contact = E2E.ContactMessage(displayName="Budi", vcard=vcard)
    message = await inbound(engine, recorder, message_event(E2E.Message(contactMessage=contact), msg_id="3EB0C"))
    assert message.kind == "contact" and message.vcard == vcard and message.text == "Budi"


async def test_what_the_owner_types_on_the_phone_is_from_me(web):
    engine, recorder = web
    await connect(engine, recorder)
    event = message_event(E2E.Message(conversation="Sudah dikirim kak"), chat=jid(CUSTOMER),
                          sender=jid(OWNER, device=0), from_me=True, push_name="Toko Maju")
    message = await inbound(engine, recorder, event)
    assert message.from_me and message.chat == f"+{CUSTOMER}" and message.sender_phone == f"+{OWNER}"


async def test_group_messages_name_the_group_and_the_sender(web):
    event = message_event(E2E.Message(conversation="Saya pesan 2"), chat=jid(GROUP, "g.us"),
                          sender=jid(CUSTOMER, device=5), is_group=True)
    message = await inbound(*web, event)
    assert message.is_group and message.chat == f"{GROUP}@g.us" and message.sender_phone == f"+{CUSTOMER}"


async def test_a_lid_sender_is_resolved_through_sender_alt(web):
    event = message_event(E2E.Message(conversation="Halo"), chat=jid(LID, "lid"), sender=jid(LID, "lid", 2),
                          sender_alt=jid(CUSTOMER))
    message = await inbound(*web, event)
    assert message.chat == f"+{CUSTOMER}" and message.sender_phone == f"+{CUSTOMER}"
    assert message.sender_lid == f"{LID}@lid"


async def test_a_lid_sender_without_alt_is_looked_up_while_connected(web):
    engine, recorder = web
    await connect(engine, recorder)
    fake = FakeGo()
    fake.pn_for_lid[LID] = CUSTOMER
    client_of(engine)._NewAClient__client = fake
    group_event = message_event(E2E.Message(conversation="Halo grup"), chat=jid(GROUP, "g.us"),
                                sender=jid(LID, "lid"), is_group=True, msg_id="3EB0G")
    message = await inbound(engine, recorder, group_event)
    assert message.sender_phone == f"+{CUSTOMER}" and message.sender_lid == f"{LID}@lid"
    assert fake.calls == [("GetPNFromLID", (LID,))]
    unknown = message_event(E2E.Message(conversation="Siapa?"), chat=jid("99999", "lid"), sender=jid("99999", "lid"))
    message = await inbound(engine, recorder, unknown)
    assert message.sender_phone is None and message.chat == "99999@lid" and message.sender_lid == "99999@lid"


async def test_reactions_and_edits_are_not_chat_messages(web):
    engine, recorder = web
    reaction = E2E.ReactionMessage(key=MessageKey(remoteJID=f"{CUSTOMER}@s.whatsapp.net", ID="3EB0X"), text="👍")
    deliver(client_of(engine), MessageEv, message_event(E2E.Message(reactionMessage=reaction)))
    deliver(client_of(engine), MessageEv, message_event(E2E.Message(protocolMessage=E2E.ProtocolMessage(
        type=E2E.ProtocolMessage.REVOKE))))
    deliver(client_of(engine), MessageEv, message_event(E2E.Message(conversation="after"), msg_id="3EB0LAST"))
    (received,) = await recorder.next(Inbound)
    assert received.message.provider_id == "3EB0LAST"


@pytest.mark.parametrize(("kind", "status"), [
    (N.Receipt.DELIVERED, "delivered"), (N.Receipt.READ, "read"), (N.Receipt.PLAYED, "played"),
])
async def test_receipts(web, kind: int, status: str):
    engine, recorder = web
    deliver(client_of(engine), ReceiptEv, receipt_event(["3EB0A", "3EB0B"], kind))
    (receipt,) = await recorder.next(Receipt)
    assert receipt == Receipt(KEY, ("3EB0A", "3EB0B"), status, 1_700_000_100.0)


async def test_receipts_about_our_own_reading_are_ignored(web):
    engine, recorder = web
    deliver(client_of(engine), ReceiptEv, receipt_event(["3EB0A"], N.Receipt.READ_SELF))
    deliver(client_of(engine), ReceiptEv, receipt_event(["3EB0Z"], N.Receipt.READ))
    (receipt,) = await recorder.next(Receipt)
    assert receipt.provider_ids == ("3EB0Z",)


def web_message(chat: str, msg_id: str, content: E2E.Message, *, from_me: bool = False, participant: str = "",
                ts: int = 1_690_000_000, push_name: str = "") -> H.HistorySyncMsg:
    key = MessageKey(remoteJID=chat, fromMe=from_me, ID=msg_id, participant=participant or None)
    return H.HistorySyncMsg(message=WebMessageInfo(key=key, message=content, messageTimestamp=ts,
                                                   pushName=push_name or None))


async def test_history_sync_becomes_a_batch_of_inbound_messages(web):
    engine, recorder = web
    await connect(engine, recorder)
    history = H.HistorySync(
        syncType=H.HistorySync.INITIAL_BOOTSTRAP,
        conversations=[
            H.Conversation(ID=f"{CUSTOMER}@s.whatsapp.net", messages=[
                web_message(f"{CUSTOMER}@s.whatsapp.net", "H1", E2E.Message(conversation="Pesan lama"),
                            push_name="Siti"),
                web_message(f"{CUSTOMER}@s.whatsapp.net", "H2", E2E.Message(ephemeralMessage=E2E.FutureProofMessage(
                    message=E2E.Message(conversation="Balasan toko"))), from_me=True, ts=1_690_000_100),
            ]),
            H.Conversation(ID=f"{GROUP}@g.us", name="Reseller Jakarta", messages=[
                web_message(f"{GROUP}@g.us", "H3", E2E.Message(imageMessage=E2E.ImageMessage(
                    caption="Stok baru", **media_fields("image/jpeg"))), participant=f"{CUSTOMER}@s.whatsapp.net"),
            ]),
            H.Conversation(ID=f"{LID}@lid", pnJID="6285000000001@s.whatsapp.net", messages=[
                web_message(f"{LID}@lid", "H4", E2E.Message(conversation="Dari LID")),
            ]),
            H.Conversation(ID="status@broadcast", messages=[
                web_message("status@broadcast", "H5", E2E.Message(conversation="status")),
            ]),
        ],
    )
    deliver(client_of(engine), HistorySyncEv, N.HistorySync(Data=history))
    (batch,) = await recorder.next(HistoryBatch)
    messages = {m.provider_id: m for m in batch.messages}
    assert batch.key == KEY and set(messages) == {"H1", "H2", "H3", "H4"}
    assert messages["H1"].chat == f"+{CUSTOMER}" and messages["H1"].text == "Pesan lama"
    assert messages["H1"].timestamp == 1_690_000_000.0 and messages["H1"].sender_name == "Siti"
    assert messages["H2"].from_me and messages["H2"].text == "Balasan toko"
    assert messages["H2"].sender_phone == f"+{OWNER}"
    assert messages["H3"].is_group and messages["H3"].group_name == "Reseller Jakarta"
    assert messages["H3"].sender_phone == f"+{CUSTOMER}" and messages["H3"].kind == "image"
    assert messages["H4"].chat == "+6285000000001" and messages["H4"].sender_lid == f"{LID}@lid"


# -- sending ----------------------------------------------------------------------------------------------------

@pytest.fixture
async def sender(web):
    engine, recorder = web
    await connect(engine, recorder)
    fake = FakeGo()
    client_of(engine)._NewAClient__client = fake
    return engine, recorder, fake


async def test_text_goes_out_as_a_plain_conversation(sender):
    engine, _, fake = sender
    provider_id = await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", text="Terima kasih!", message_id="BLZ1"))
    (to, message), = fake.sent
    assert provider_id == "3EB0SERVER01"  # neonize 0.5.2 lets whatsmeow choose the id
    assert (to.User, to.Server) == (CUSTOMER, "s.whatsapp.net")
    assert message == E2E.Message(conversation="Terima kasih!")
    assert engine.accepts_message_id is False


async def test_a_reply_quotes_the_customers_message(sender):
    engine, recorder, fake = sender
    await inbound(engine, recorder, message_event(E2E.Message(conversation="Ada warna merah?"), msg_id="3EB0ASK"))
    await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", text="Ada kak", reply_to="3EB0ASK"))
    (_, message), = fake.sent
    assert message.extendedTextMessage.text == "Ada kak"
    context = message.extendedTextMessage.contextInfo
    assert context.stanzaID == "3EB0ASK" and context.participant == f"{CUSTOMER}@s.whatsapp.net"
    assert context.quotedMessage == E2E.Message(conversation="Ada warna merah?")


async def test_a_reply_to_an_unknown_group_message_still_links_by_id(sender):
    engine, _, fake = sender
    await engine.send(OutgoingMessage(to=f"{GROUP}@g.us", text="Siap", reply_to="3EB0OLD"))
    (to, message), = fake.sent
    assert to.Server == "g.us"
    context = message.extendedTextMessage.contextInfo
    assert context.stanzaID == "3EB0OLD" and not context.participant and not context.HasField("quotedMessage")


async def test_an_image_goes_out_uploaded_with_caption_and_preview(sender, tmp_path: Path):
    engine, _, fake = sender
    photo = tmp_path / "produk.png"
    Image.new("RGB", (800, 600), "red").save(photo)
    await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="image", text="Baju merah", media_path=photo,
                                      mime="image/png"))
    (data, media_type), = fake.uploads
    assert data == photo.read_bytes() and media_type == 0  # MediaImage
    (_, message), = fake.sent
    image = message.imageMessage
    assert image.caption == "Baju merah" and image.mimetype == "image/png"
    assert (image.URL, image.directPath, image.fileLength) == ("https://mmg.whatsapp.net/up", "/v/t62.up", len(data))
    assert (image.mediaKey, image.fileEncSHA256, image.fileSHA256) == (b"K" * 32, b"E" * 32, b"S" * 32)
    assert (image.width, image.height) == (800, 600) and image.JPEGThumbnail.startswith(b"\xff\xd8")


async def test_a_document_keeps_its_filename(sender, tmp_path: Path):
    engine, _, fake = sender
    path = tmp_path / "blob-123"
    path.write_bytes(b"%PDF-1.4 invoice")
    await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="document", text="Invoice Mei", media_path=path,
                                      mime="application/pdf", filename="invoice-mei.pdf"))
    assert fake.uploads[0][1] == 3  # MediaDocument
    (_, message), = fake.sent
    document = message.documentMessage
    assert (document.fileName, document.title, document.caption) == ("invoice-mei.pdf", "invoice-mei.pdf",
                                                                      "Invoice Mei")
    assert document.mimetype == "application/pdf"


def ogg_opus(seconds: int) -> bytes:
    """Two Ogg pages; the last one's granule position counts 48 kHz samples."""
    head = b"OggS" + bytes([0, 2]) + struct.pack("<q", 0) + b"\x00" * 14 + b"OpusHead"
    tail = b"OggS" + bytes([0, 4]) + struct.pack("<q", seconds * 48_000) + b"\x00" * 14 + b"audio"
    return head + b"\x00" * 100 + tail


async def test_a_voice_note_is_push_to_talk_opus(sender, tmp_path: Path):
    engine, _, fake = sender
    path = tmp_path / "voice.ogg"
    path.write_bytes(ogg_opus(7))
    await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="voice", media_path=path, mime="audio/ogg"))
    assert fake.uploads[0][1] == 2  # MediaAudio
    (_, message), = fake.sent
    audio = message.audioMessage
    assert audio.PTT is True and audio.mimetype == "audio/ogg; codecs=opus" and audio.seconds == 7


async def test_video_and_plain_audio(sender, tmp_path: Path):
    engine, _, fake = sender
    clip, song = tmp_path / "clip.mp4", tmp_path / "song.mp3"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 video")
    song.write_bytes(b"ID3 audio")
    await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="video", text="Cara pakai", media_path=clip,
                                      mime="video/mp4"))
    await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="audio", media_path=song))
    assert [media_type for _, media_type in fake.uploads] == [1, 2]  # MediaVideo, MediaAudio
    (_, video), (_, audio) = fake.sent
    assert video.videoMessage.caption == "Cara pakai" and video.videoMessage.mimetype == "video/mp4"
    assert audio.audioMessage.PTT is False and audio.audioMessage.mimetype == "audio/mpeg"
    assert not audio.audioMessage.HasField("seconds")  # unknown without decoding; phones read it on playback


@pytest.mark.parametrize(("error", "code", "retry"), [
    ("failed to send: websocket not connected", "not_connected", True),
    ("the store doesn't contain a device JID", "not_connected", True),
    ("failed to get device list: 6281234567890 is not on WhatsApp", "not_on_whatsapp", False),
    ("server returned error 479", "network", True),
])
async def test_send_failures_become_send_errors(sender, error: str, code: str, retry: bool):
    engine, _, fake = sender
    fake.send_error = error
    with pytest.raises(SendError) as failed:
        await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", text="halo"))
    assert (failed.value.code, failed.value.retry) == (code, retry)


async def test_a_missing_file_and_a_template_are_refused_without_retry(sender, tmp_path: Path):
    engine, _, fake = sender
    with pytest.raises(SendError) as missing:
        await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="image", media_path=tmp_path / "gone.jpg"))
    assert missing.value.code == "invalid_media" and not missing.value.retry
    with pytest.raises(SendError) as template:
        await engine.send(OutgoingMessage(to=f"+{CUSTOMER}", kind="template"))
    assert template.value.code == "template_mismatch" and not fake.sent


async def test_check_numbers_asks_with_a_plus(sender):
    engine, _, fake = sender
    fake.on_whatsapp = {f"+{CUSTOMER}"}
    result = await engine.check_numbers([f"+{CUSTOMER}", "+15557654321", "not a phone"])
    assert result == {f"+{CUSTOMER}": True, "+15557654321": False, "not a phone": False}
    assert fake.calls == [("IsOnWhatsApp", (f"+{CUSTOMER} +15557654321",))]


async def test_download_uses_the_stored_media_reference(sender):
    engine, recorder, fake = sender
    image = E2E.ImageMessage(**media_fields("image/jpeg"))
    message = await inbound(engine, recorder, message_event(E2E.Message(imageMessage=image)))
    stored = json.loads(json.dumps(asdict(message.media)))  # as the store keeps it, then read back after a restart
    data = await engine.download_media(MediaRef(**stored))
    assert data == b"JPEG-BYTES"
    ((name, args),) = fake.calls
    direct_path, enc, _, sha, _, key, _, length, media_type, mms = args
    assert name == "DownloadMediaWithPath" and direct_path == b"/o1/v/t62.7118-24/abc?ccb=9-4"
    assert (enc, sha, key, length) == (b"\x03" * 32, b"\x01" * 32, b"\x02" * 32, 4096)
    assert (media_type, mms) == (0, b"image")
    with pytest.raises(EngineError) as broken:
        await engine.download_media(MediaRef(mime="image/jpeg", data={"direct_path": "/x"}))
    assert broken.value.code == "media_unavailable"


async def test_mark_read_and_typing(sender):
    engine, _, fake = sender
    await engine.mark_read(f"{GROUP}@g.us", ["3EB0A", "3EB0B"], sender=f"+{CUSTOMER}")
    await engine.typing(f"+{CUSTOMER}", True)
    await engine.typing(f"+{CUSTOMER}", False)
    (_, read), (_, composing), (_, paused) = fake.calls
    ids, _, chat, _, who, _, receipt = read
    assert ids == b"3EB0A 3EB0B" and receipt == b"read"
    assert N.JID.FromString(chat).User == GROUP and N.JID.FromString(who).User == CUSTOMER
    assert N.JID.FromString(composing[0]).User == CUSTOMER and composing[2:] == (0, 0)
    assert paused[2:] == (1, 0)


async def test_pair_code_needs_the_qr_step_and_sends_digits_only(web):
    engine, recorder = web
    client = client_of(engine)
    fake = FakeGo()
    client._NewAClient__client = fake
    with pytest.raises(EngineError) as invalid:
        await engine.request_pair_code("12")
    assert invalid.value.code == "invalid_phone" and "country code" in invalid.value.reason
    go_string_callback(client._NewAClient__onQr, client, "2@qr,abc,def,ghi")  # the websocket is up
    await recorder.next(QrCode)
    code = await engine.request_pair_code("+62 812-3456-7890")
    assert code == "WXYZ-1234"
    ((call, (params,)),) = fake.calls
    assert call == "PairPhone"
    assert params.phone == "6281234567890" and params.showPushNotification
    (pair,) = await recorder.next(PairCode)
    assert pair == PairCode(KEY, "WXYZ-1234")
    go_string_callback(client._NewAClient__onQr, client, "2@later,abc,def,ghi")
    await recorder.settle()
    assert len(recorder.of(QrCode)) == 1  # while a code is being typed the screen stays on it


async def test_logout_unlinks_and_forgets_the_stored_login(tmp_path: Path):
    folder = tmp_path / "acct"
    folder.mkdir()
    (folder / "whatsapp.db").write_bytes(b"old session")
    (folder / "whatsapp.db-wal").write_bytes(b"wal")
    engine = WhatsAppWebEngine(spec_for(folder), Recorder())
    await engine.logout()  # never started: only forgets locally
    assert not (folder / "whatsapp.db").exists() and not (folder / "whatsapp.db-wal").exists()


async def test_logout_of_a_connected_session_tells_whatsapp(web):
    engine, recorder = web
    await connect(engine, recorder)
    fake = FakeGo()
    client_of(engine)._NewAClient__client = fake
    await engine.logout()
    assert fake.calls == [("Logout", ())]
    assert not (engine.spec.folder / "whatsapp.db").exists()


# -- import cost ---------------------------------------------------------------------------------------------

def test_only_the_whatsapp_web_engine_imports_neonize():
    # Module names from the files (pkgutil.walk_packages would import every package, this one too, to walk it).
    script = """
import importlib, pathlib, sys
import blazz
root = pathlib.Path(blazz.__file__).parent
for path in sorted(root.rglob("*.py")):
    name = ".".join(("blazz", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
    if name.startswith("blazz.whatsapp.whatsapp_web") or name.endswith("__main__"):
        continue
    try:
        importlib.import_module(name)
    except Exception:
        pass
assert "neonize" not in sys.modules, [m for m in sys.modules if m.startswith("blazz.")]
from blazz.whatsapp.engines import engine_class
assert engine_class("whatsapp_web").__name__ == "WhatsAppWebEngine" and "neonize" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
