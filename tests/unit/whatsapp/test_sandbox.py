"""The sandbox engine on its own: a real SQLite file in a temp dir, events recorded as the engine emits them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from blazz.whatsapp.events import (
    Connected,
    Disconnected,
    Inbound,
    LoggedOut,
    PairCode,
    QrCode,
    Receipt,
    TemporaryBan,
)
from blazz.whatsapp.protocol import AccountSpec, EngineError, OutgoingMessage, SendError, TemplateCall
from blazz.whatsapp.sandbox import SandboxEngine
from tests.unit.whatsapp.conftest import Recorder, until

CUSTOMER = "+6281234567890"


@pytest.fixture
async def linked(sandbox_spec: Callable[..., AccountSpec], recorder: Recorder) -> AsyncIterator[SandboxEngine]:
    """A started sandbox engine whose simulated phone is already linked."""
    engine = SandboxEngine(sandbox_spec(linked=True, phone="+628111000111"), recorder)
    await engine.start()
    await recorder.wait_for(Connected)
    yield engine
    await engine.stop()


async def test_an_unlinked_account_shows_rotating_qr_codes(sandbox_spec, recorder: Recorder) -> None:
    engine = SandboxEngine(sandbox_spec(qr_rotate_s=0.05), recorder)
    await engine.start()
    try:
        await until(lambda: len(recorder.of(QrCode)) >= 3)
    finally:
        await engine.stop()
    codes = recorder.of(QrCode)
    assert all(c.code.startswith("2@") and c.code.count(",") == 3 for c in codes)
    assert len({c.code for c in codes}) == len(codes)
    assert all(c.expires_at > time.time() - 1 for c in codes)
    assert not recorder.of(Connected)


async def test_scanning_links_the_phone_and_connects(sandbox_spec, recorder: Recorder) -> None:
    engine = SandboxEngine(sandbox_spec(phone="+62 811-000-222"), recorder)
    await engine.start()
    await recorder.wait_for(QrCode)
    await engine.scan()
    connected = await recorder.wait_for(Connected)
    assert connected.phone == "+62811000222"
    assert connected.jid == "62811000222@s.whatsapp.net"
    assert engine.phase == "connected" and engine.qr is None
    with pytest.raises(EngineError) as err:
        await engine.scan()
    assert err.value.code == "not_in_qr"
    await engine.stop()


async def test_link_and_delivered_log_survive_a_new_engine_on_the_same_folder(sandbox_spec) -> None:
    spec = sandbox_spec()
    first = Recorder()
    engine = SandboxEngine(spec, first)
    await engine.start()
    await first.wait_for(QrCode)
    await engine.scan()
    phone = (await first.wait_for(Connected)).phone
    assert phone and phone.startswith("+")
    provider_id = await engine.send(OutgoingMessage(to=CUSTOMER, text="Your order shipped"))
    await engine.stop()

    second = Recorder()
    again = SandboxEngine(spec, second)
    await again.start()
    connected = await second.wait_for(Connected, within=1.0)
    assert connected.phone == phone  # the generated number is stable
    assert not second.of(QrCode)
    assert [d["provider_id"] for d in again.delivered()] == [provider_id]
    await again.stop()


async def test_send_is_durable_before_returning_and_receipts_follow(sandbox_spec, recorder: Recorder) -> None:
    spec = sandbox_spec(linked=True, receipt_delay_ms=10, read_delay_ms=40)
    engine = SandboxEngine(spec, recorder)
    await engine.start()
    await recorder.wait_for(Connected)
    provider_id = await engine.send(OutgoingMessage(to=CUSTOMER, text="Halo"))
    # Another connection sees the row at once: it was committed inside send().
    [row] = SandboxEngine.read_delivered(spec.folder, to=CUSTOMER)
    assert row["provider_id"] == provider_id and row["text"] == "Halo" and row["kind"] == "text"
    delivered = await recorder.wait_for(Receipt, lambda r: r.status == "delivered")
    read = await recorder.wait_for(Receipt, lambda r: r.status == "read")
    assert delivered.provider_ids == (provider_id,) and read.provider_ids == (provider_id,)
    assert recorder.events.index(delivered) < recorder.events.index(read)
    await engine.stop()


async def test_the_same_message_id_twice_is_delivered_once(linked: SandboxEngine) -> None:
    message = OutgoingMessage(to=CUSTOMER, text="Invoice #12", message_id="3EB0FEEDFACE0001")
    assert await linked.send(message) == "3EB0FEEDFACE0001"
    assert await linked.send(message) == "3EB0FEEDFACE0001"
    assert [d["provider_id"] for d in linked.delivered()] == ["3EB0FEEDFACE0001"]


async def test_a_burst_of_sends_gets_batched_receipts(linked: SandboxEngine, recorder: Recorder) -> None:
    ids = [await linked.send(OutgoingMessage(to=f"+62812000{i:04d}", text=f"promo {i}")) for i in range(500)]
    await until(lambda: sum(len(r.provider_ids) for r in recorder.of(Receipt)) >= 500)
    receipts = recorder.of(Receipt)
    assert sorted(i for r in receipts for i in r.provider_ids) == sorted(ids)
    assert len(receipts) < 50  # one event per due batch, not one per message


async def test_media_template_and_reply_details_are_logged(linked: SandboxEngine, tmp_path: Path) -> None:
    photo = tmp_path / "catalog.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg bytes")
    await linked.send(OutgoingMessage(to=CUSTOMER, kind="image", text="New stock", media_path=photo,
                                      mime="image/jpeg", reply_to="3EB0QUOTED"))
    await linked.send(OutgoingMessage(to=CUSTOMER, kind="template",
                                      template=TemplateCall("order_update", "id", ("Budi", "#12"))))
    image, template = linked.delivered(to=CUSTOMER)
    assert image["media"] == {"mime": "image/jpeg", "filename": "catalog.jpg", "size": 13}
    assert image["reply_to"] == "3EB0QUOTED"
    assert template["template"] == {"name": "order_update", "language": "id", "params": ["Budi", "#12"]}
    with pytest.raises(SendError) as err:
        await linked.send(OutgoingMessage(to=CUSTOMER, kind="image", media_path=tmp_path / "gone.jpg"))
    assert err.value.code == "invalid_media" and err.value.retry is False


async def test_numbers_not_on_whatsapp_are_refused_for_good(linked: SandboxEngine) -> None:
    await linked.configure(not_on_whatsapp=["0062 899 000 111"])
    with pytest.raises(SendError) as err:
        await linked.send(OutgoingMessage(to="+62899000111", text="hi"))
    assert (err.value.code, err.value.reason, err.value.retry) == (
        "not_on_whatsapp", "This number is not on WhatsApp", False)
    assert await linked.check_numbers(["+62899000111", CUSTOMER]) == {"+62899000111": False, CUSTOMER: True}
    assert linked.delivered() == []


async def test_fail_rate_one_fails_every_send_retryably(linked: SandboxEngine) -> None:
    await linked.configure(fail_rate=1)
    for _ in range(5):
        with pytest.raises(SendError) as err:
            await linked.send(OutgoingMessage(to=CUSTOMER, text="hi"))
        assert err.value.code == "network" and err.value.retry is True
    assert linked.delivered() == []


async def test_sending_before_the_phone_is_linked_is_refused(sandbox_spec, recorder: Recorder) -> None:
    engine = SandboxEngine(sandbox_spec(), recorder)
    with pytest.raises(SendError) as err:
        await engine.send(OutgoingMessage(to=CUSTOMER, text="hi"))
    assert err.value.code == "not_connected" and err.value.retry is True
    await engine.start()
    await recorder.wait_for(QrCode)
    with pytest.raises(SendError):
        await engine.send(OutgoingMessage(to=CUSTOMER, text="hi"))
    await engine.stop()


async def test_inbound_messages_and_redeliveries(linked: SandboxEngine, recorder: Recorder) -> None:
    provider_id = await linked.inbound(CUSTOMER, "Is the blue one in stock?", name="Budi")
    again = await linked.inbound(CUSTOMER, "Is the blue one in stock?", provider_id=provider_id)
    assert again == provider_id
    first, second = recorder.of(Inbound)
    assert first.message.provider_id == second.message.provider_id == provider_id
    assert first.message.chat == first.message.sender_phone == CUSTOMER
    assert (first.message.kind, first.message.text, first.message.sender_name) == (
        "text", "Is the blue one in stock?", "Budi")


async def test_inbound_media_can_be_downloaded(linked: SandboxEngine, recorder: Recorder) -> None:
    await linked.inbound(CUSTOMER, "receipt attached", media=("image/png", "transfer.png", b"\x89PNG data"))
    message = (await recorder.wait_for(Inbound)).message
    assert message.kind == "image" and message.text == "receipt attached"
    assert message.media is not None and message.media.size == 9 and message.media.filename == "transfer.png"
    assert await linked.download_media(message.media) == b"\x89PNG data"


async def test_messages_sent_while_offline_arrive_on_the_next_connect(sandbox_spec, recorder: Recorder) -> None:
    spec = sandbox_spec(linked=True)
    offline = SandboxEngine(spec, recorder)
    waiting = [await offline.inbound(CUSTOMER, f"message {i}") for i in range(3)]
    assert not recorder.of(Inbound)
    engine = SandboxEngine(spec, recorder)
    await engine.start()
    await until(lambda: len(recorder.of(Inbound)) == 3)
    assert [e.message.provider_id for e in recorder.of(Inbound)] == waiting
    await engine.stop()
    again = SandboxEngine(spec, recorder)
    await again.start()
    await recorder.wait_for(Connected, after=len(recorder.events))
    await asyncio.sleep(0.05)
    assert len(recorder.of(Inbound)) == 3  # delivered once, not again on the next connect
    await again.stop()


async def test_pair_code_links_the_number_it_was_requested_for(sandbox_spec, recorder: Recorder) -> None:
    engine = SandboxEngine(sandbox_spec(), recorder)
    with pytest.raises(EngineError):
        await engine.request_pair_code("6281399990000")  # not started: no QR step yet
    await engine.start()
    await recorder.wait_for(QrCode)
    code = await engine.request_pair_code("6281399990000")
    assert len(code) == 8 and code.isalnum() and code.isupper()
    assert (await recorder.wait_for(PairCode)).code == code
    assert engine.phase == "pairing"
    await engine.confirm_pair()
    assert (await recorder.wait_for(Connected)).phone == "+6281399990000"
    await engine.stop()


async def test_logout_unlinks_so_the_next_start_shows_a_qr(linked: SandboxEngine, recorder: Recorder) -> None:
    await linked.logout()
    assert linked.phase == "stopped"
    mark = len(recorder.events)
    await linked.start()
    await recorder.wait_for(QrCode, after=mark)
    assert not recorder.of(Connected)[1:]


async def test_mark_read_and_typing_are_recorded(linked: SandboxEngine) -> None:
    await linked.typing(CUSTOMER, True)
    await linked.mark_read(CUSTOMER, ["3EB0A", "3EB0B"])
    await linked.typing(CUSTOMER, False)
    assert [(a["action"], a.get("on")) for a in linked.activity()] == [
        ("typing", True), ("mark_read", None), ("typing", False)]
    [read] = linked.activity("mark_read")
    assert read["chat"] == CUSTOMER and read["provider_ids"] == ["3EB0A", "3EB0B"]


async def test_behaviour_is_validated_and_persists(sandbox_spec, recorder: Recorder) -> None:
    spec = sandbox_spec(receipt_delay_ms=5)
    engine = SandboxEngine(spec, recorder)
    for bad in ({"fail_rate": 2}, {"receipt_delay_ms": "soon"}, {"not_on_whatsapp": "+62811"}, {"colour": "red"}):
        with pytest.raises(EngineError) as err:
            await engine.configure(**bad)
        assert err.value.code == "invalid_setting"
    await engine.configure(read_delay_ms=300, not_on_whatsapp=["+62899"])
    behaviour = SandboxEngine(spec, recorder).behaviour()
    assert behaviour["receipt_delay_ms"] == 5 and behaviour["read_delay_ms"] == 300
    assert behaviour["not_on_whatsapp"] == ["+62899"]


async def test_scripted_customer_replies(sandbox_spec, recorder: Recorder) -> None:
    engine = SandboxEngine(sandbox_spec(linked=True, auto_reply="Thanks! You said: {text}", reply_delay_ms=10),
                           recorder)
    await engine.start()
    await recorder.wait_for(Connected)
    provider_id = await engine.send(OutgoingMessage(to=CUSTOMER, text="Your parcel left"))
    reply = (await recorder.wait_for(Inbound)).message
    assert reply.sender_phone == CUSTOMER and reply.text == "Thanks! You said: Your parcel left"
    assert reply.quoted_id == provider_id
    await engine.stop()


async def test_network_drop_ban_and_unlink_are_reported(linked: SandboxEngine, recorder: Recorder) -> None:
    await linked.configure(disconnect=True)
    dropped = await recorder.wait_for(Disconnected)
    assert dropped.will_retry is False
    with pytest.raises(SendError) as err:
        await linked.send(OutgoingMessage(to=CUSTOMER, text="hi"))
    assert err.value.code == "not_connected"

    await linked.configure(ban_for_s=60)
    ban = await recorder.wait_for(TemporaryBan)
    assert 55 < ban.expires_at - time.time() <= 60
    with pytest.raises(SendError) as err:
        await linked.send(OutgoingMessage(to=CUSTOMER, text="hi"))
    assert err.value.code == "banned" and err.value.retry_after and err.value.retry_after > 55

    # A start during the ban is refused the way WhatsApp refuses it: another TemporaryBan, no Connected.
    await linked.stop()
    mark = len(recorder.events)
    await linked.start()
    await recorder.wait_for(TemporaryBan, after=mark)
    await linked.configure(ban_for_s=0)
    await linked.stop()
    await linked.start()
    await recorder.wait_for(Connected, after=mark)

    await linked.configure(unlink=True)
    assert (await recorder.wait_for(LoggedOut)).reason


async def test_connection_failures_can_be_injected(sandbox_spec, recorder: Recorder) -> None:
    spec = sandbox_spec(linked=True)
    engine = SandboxEngine(spec, recorder)
    await engine.configure(fail_connects=1)
    await engine.start()
    failure = await recorder.wait_for(Disconnected)
    assert failure.will_retry is False and "failure" in failure.reason
    await engine.stop()
    await engine.start()
    await recorder.wait_for(Connected)
    await engine.stop()


async def test_delivered_is_readable_without_a_running_engine(sandbox_spec, tmp_path: Path) -> None:
    assert SandboxEngine.read_delivered(tmp_path / "never-used") == []
    spec = sandbox_spec(linked=True)
    engine = SandboxEngine(spec, Recorder())
    await engine.start()
    await until(lambda: engine.phase == "connected")
    await engine.send(OutgoingMessage(to=CUSTOMER, text="one"))
    await engine.send(OutgoingMessage(to="+6285700001111", text="two"))
    await engine.stop()
    assert [d["text"] for d in engine.delivered()] == ["one", "two"]
    assert [d["text"] for d in SandboxEngine.read_delivered(spec.folder, to="6285700001111")] == ["two"]
