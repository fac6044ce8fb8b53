"""The Cloud API engine against a real local fake of Meta's Graph API, and its webhook functions against the
payloads Meta documents (webhooks reference pages: text, image, document, location, contacts, interactive,
status), copied as published."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from blazz.whatsapp.cloud_api import CloudApiEngine, CloudTemplate
from blazz.whatsapp.cloud_api_errors import WINDOW_CLOSED_REASON
from blazz.whatsapp.cloud_api_webhook import parse_webhook, verify_challenge, verify_signature
from blazz.whatsapp.events import Connected, Disconnected, Event, Inbound, MediaRef, Receipt
from blazz.whatsapp.protocol import AccountSpec, EngineError, OutgoingMessage, SendError, TemplateCall
from tests.fakes.graph_api import EXPIRED_TOKEN_MESSAGE, INVALID_TOKEN_MESSAGE, FakeGraphApi

KEY = (3, 7)
PNID = "106540352242922"
WABA = "102290129340398"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"


@dataclass
class Harness:
    engine: CloudApiEngine
    graph: FakeGraphApi
    events: list[Event] = field(default_factory=list)

    def messages_sent(self) -> list[dict]:
        return [r.json for r in self.graph.calls("POST", f"/{PNID}/messages")]


def make_engine(graph: FakeGraphApi, tmp_path: Path, events: list[Event], **settings: str) -> CloudApiEngine:
    async def emit(event: Event) -> None:
        events.append(event)

    base = {
        "phone_number_id": PNID,
        "waba_id": WABA,
        "access_token": graph.token,
        "app_secret": "app-secret",
        "verify_token": "verify-me",
        "graph_base_url": graph.base_url,
    }
    spec = AccountSpec(key=KEY, engine="cloud_api", settings=base | settings, folder=tmp_path)
    return CloudApiEngine(spec, emit)


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture
async def cloud(graph: FakeGraphApi, tmp_path: Path) -> AsyncIterator[Harness]:
    events: list[Event] = []
    engine = make_engine(graph, tmp_path, events)
    await engine.start()
    yield Harness(engine, graph, events)
    await engine.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- start -------------------------------------------------------------------------------------------------------


async def test_start_verifies_the_token_and_reports_the_number(graph: FakeGraphApi, tmp_path: Path) -> None:
    events: list[Event] = []
    engine = make_engine(graph, tmp_path, events)
    await engine.start()

    assert events == [Connected(KEY, phone="+15550783881", push_name="Lucky Shrub")]
    (call,) = graph.requests
    assert (call.method, call.path, call.version) == ("GET", f"/{PNID}", "/v23.0")
    assert call.header("Authorization") == f"Bearer {graph.token}"
    assert call.query["fields"] == "display_phone_number,verified_name"
    await engine.stop()


async def test_start_with_a_bad_token_raises_auth_failed(graph: FakeGraphApi, tmp_path: Path) -> None:
    events: list[Event] = []
    engine = make_engine(graph, tmp_path, events, access_token="EAAG-wrong")
    with pytest.raises(EngineError) as raised:
        await engine.start()
    assert raised.value.code == "auth_failed"
    assert raised.value.reason == f"Meta rejected the access token: {INVALID_TOKEN_MESSAGE}"
    assert events == []
    await engine.stop()  # safe after a failed start


async def test_start_with_an_expired_token_quotes_meta(graph: FakeGraphApi, tmp_path: Path) -> None:
    graph.revoke_token()
    with pytest.raises(EngineError) as raised:
        await make_engine(graph, tmp_path, []).start()
    assert raised.value.code == "auth_failed"
    assert EXPIRED_TOKEN_MESSAGE in raised.value.reason


async def test_start_with_a_token_lacking_permission_is_auth_failed(graph: FakeGraphApi, tmp_path: Path) -> None:
    graph.fail("GET", f"/{PNID}", code=200, status=403, message="Requires whatsapp_business_messaging permission")
    with pytest.raises(EngineError) as raised:
        await make_engine(graph, tmp_path, []).start()
    assert raised.value.code == "auth_failed"
    assert "whatsapp_business_messaging" in raised.value.reason


async def test_start_with_an_unknown_phone_number_id_is_invalid_settings(graph: FakeGraphApi, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as raised:
        await make_engine(graph, tmp_path, [], phone_number_id="999").start()
    assert raised.value.code == "invalid_settings"
    assert "Object with ID '999' does not exist" in raised.value.reason


async def test_start_without_settings_says_what_is_missing(graph: FakeGraphApi, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as raised:
        await make_engine(graph, tmp_path, [], access_token="", phone_number_id="").start()
    assert raised.value.code == "invalid_settings"
    assert "phone_number_id, access_token" in raised.value.reason
    assert graph.requests == []


async def test_start_when_meta_is_unreachable_reports_disconnected(tmp_path: Path) -> None:
    events: list[Event] = []
    with FakeGraphApi() as graph:
        engine = make_engine(graph, tmp_path, events, graph_base_url=closed_port_url())
    await engine.start()
    assert len(events) == 1 and isinstance(events[0], Disconnected)
    assert events[0].will_retry is False
    assert events[0].reason.startswith("Could not reach Meta's Graph API")
    await engine.stop()


async def test_start_when_meta_has_a_server_error_reports_disconnected(graph: FakeGraphApi, tmp_path: Path) -> None:
    graph.fail("GET", f"/{PNID}", code=2, status=503, message="Service temporarily unavailable")
    events: list[Event] = []
    engine = make_engine(graph, tmp_path, events)
    await engine.start()
    assert events == [
        Disconnected(KEY, "Meta's Graph API is unavailable: (#2) Service temporarily unavailable", will_retry=False)
    ]
    await engine.stop()


async def test_a_versioned_base_url_is_used_as_given(graph: FakeGraphApi, tmp_path: Path) -> None:
    engine = make_engine(graph, tmp_path, [], graph_base_url=f"{graph.base_url}/v21.0/")
    await engine.start()
    assert graph.requests[0].version == "/v21.0"
    await engine.stop()


# -- sending ------------------------------------------------------------------------------------------------------


async def test_send_text_posts_meta_text_message(cloud: Harness) -> None:
    wamid = await cloud.engine.send(OutgoingMessage(to="+62 812-3456-7890", text="Halo, pesanan siap"))

    (call,) = cloud.graph.calls("POST", f"/{PNID}/messages")
    assert call.header("Authorization") == f"Bearer {cloud.graph.token}"
    assert call.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "6281234567890",
        "type": "text",
        "text": {"preview_url": False, "body": "Halo, pesanan siap"},
    }
    assert wamid.startswith("wamid.")


async def test_send_text_with_a_link_asks_for_a_preview(cloud: Harness) -> None:
    await cloud.engine.send(OutgoingMessage(to="+15551234567", text="Track it: https://example.com/o/1"))
    assert cloud.messages_sent()[0]["text"]["preview_url"] is True


async def test_reply_carries_the_quoted_message_id(cloud: Harness) -> None:
    await cloud.engine.send(OutgoingMessage(to="+15551234567", text="Yes", reply_to="wamid.QUOTED"))
    assert cloud.messages_sent()[0]["context"] == {"message_id": "wamid.QUOTED"}


async def test_pre_generated_id_is_sent_as_callback_data(cloud: Harness) -> None:
    await cloud.engine.send(OutgoingMessage(to="+15551234567", text="Hi", message_id="blazz-42"))
    assert cloud.messages_sent()[0]["biz_opaque_callback_data"] == "blazz-42"


async def test_send_image_uploads_the_file_then_sends_by_media_id(cloud: Harness, tmp_path: Path) -> None:
    photo = tmp_path / "cake.jpg"
    photo.write_bytes(JPEG)
    wamid = await cloud.engine.send(
        OutgoingMessage(to="+15551234567", kind="image", text="Your cake", media_path=photo, mime="image/jpeg")
    )

    (upload,) = cloud.graph.calls("POST", f"/{PNID}/media")
    assert upload.header("Authorization") == f"Bearer {cloud.graph.token}"
    assert upload.form == {"messaging_product": "whatsapp", "type": "image/jpeg"}
    sent_file = upload.files["file"]
    assert (sent_file.filename, sent_file.content_type, sent_file.content) == ("cake.jpg", "image/jpeg", JPEG)
    (media_id,) = cloud.graph.media
    assert cloud.messages_sent() == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "15551234567",
            "type": "image",
            "image": {"id": media_id, "caption": "Your cake"},
        }
    ]
    assert wamid.startswith("wamid.")


@pytest.mark.parametrize(
    ("kind", "name", "mime", "expected"),
    [
        ("video", "clip.mp4", "video/mp4", {"type": "video", "video": {"caption": "Look"}}),
        ("audio", "song.mp3", "audio/mpeg", {"type": "audio", "audio": {}}),
        ("voice", "note.ogg", "audio/ogg", {"type": "audio", "audio": {"voice": True}}),
        (
            "document",
            "inv-0042.pdf",
            "application/pdf",
            {"type": "document", "document": {"caption": "Look", "filename": "Invoice 42.pdf"}},
        ),
    ],
)
async def test_send_media_kinds(
    cloud: Harness, tmp_path: Path, kind: str, name: str, mime: str, expected: dict
) -> None:
    path = tmp_path / name
    path.write_bytes(b"media bytes of " + name.encode())
    filename = "Invoice 42.pdf" if kind == "document" else None
    await cloud.engine.send(
        OutgoingMessage(to="+15551234567", kind=kind, text="Look", media_path=path, filename=filename)
    )

    (upload,) = cloud.graph.calls("POST", f"/{PNID}/media")
    assert upload.form["type"] == mime  # guessed from the file name when no mime is given
    (media_id,) = cloud.graph.media
    (body,) = cloud.messages_sent()
    media_type = expected["type"]
    assert body["type"] == media_type
    assert body[media_type] == {"id": media_id, **expected[media_type]}


async def test_send_media_without_a_readable_file_is_invalid_media(cloud: Harness, tmp_path: Path) -> None:
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="image", media_path=tmp_path / "gone.jpg"))
    assert (raised.value.code, raised.value.retry) == ("invalid_media", False)
    assert cloud.graph.calls("POST", f"/{PNID}/media") == []


async def test_media_refused_by_meta_is_invalid_media(cloud: Harness, tmp_path: Path) -> None:
    path = tmp_path / "x.bmp"
    path.write_bytes(b"BM")
    cloud.graph.fail(
        "POST", f"/{PNID}/media", code=100, message="Param file must be a file with one of the following types"
    )
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="image", media_path=path))
    assert (raised.value.code, raised.value.retry) == ("invalid_media", False)
    assert "Param file must be a file" in raised.value.reason
    assert cloud.messages_sent() == []


async def test_send_template_with_body_parameters(cloud: Harness) -> None:
    call = TemplateCall(name="order_update", language="en_US", body_params=("Alice", "123"))
    await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="template", template=call))
    assert cloud.messages_sent() == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "15551234567",
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Alice"}, {"type": "text", "text": "123"}],
                    }
                ],
            },
        }
    ]


async def test_send_template_with_an_uploaded_header_image(cloud: Harness) -> None:
    call = TemplateCall(name="promo", language="id", header_media_id="1479537139650973")
    await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="template", template=call))
    assert cloud.messages_sent()[0]["template"] == {
        "name": "promo",
        "language": {"code": "id"},
        "components": [{"type": "header", "parameters": [{"type": "image", "image": {"id": "1479537139650973"}}]}],
    }


async def test_send_template_uploads_a_stored_header_document(cloud: Harness, tmp_path: Path) -> None:
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(b"%PDF-1.4 receipt")
    call = TemplateCall(
        name="receipt",
        language="en",
        body_params=("Pablo",),
        extra={"body_param_names": ["customer_name"]},
    )
    await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="template", template=call, media_path=pdf))
    (media_id,) = cloud.graph.media
    assert cloud.graph.media[media_id].content == b"%PDF-1.4 receipt"
    assert cloud.messages_sent()[0]["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "document", "document": {"id": media_id}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Pablo", "parameter_name": "customer_name"}]},
    ]


async def test_send_to_a_group_is_refused_without_calling_meta(cloud: Harness) -> None:
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="120363025555555555@g.us", text="hi"))
    assert (raised.value.code, raised.value.retry) == ("undeliverable", False)
    assert cloud.messages_sent() == []


async def test_send_before_start_is_not_connected(graph: FakeGraphApi, tmp_path: Path) -> None:
    engine = make_engine(graph, tmp_path, [])
    with pytest.raises(SendError) as raised:
        await engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert (raised.value.code, raised.value.retry) == ("not_connected", True)


async def test_send_after_stop_is_not_connected(cloud: Harness) -> None:
    await cloud.engine.stop()
    await cloud.engine.stop()  # twice is fine
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert raised.value.code == "not_connected"


# -- error mapping ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meta_code", "status", "code", "retry", "retry_after"),
    [
        (130429, 400, "rate_limited", True, 5.0),
        (131056, 400, "rate_limited", True, 6.0),
        (80007, 400, "rate_limited", True, 300.0),
        (4, 400, "rate_limited", True, 300.0),
        (131057, 400, "rate_limited", True, 60.0),
        (131048, 400, "rate_limited", True, 3600.0),
        (131047, 400, "window_closed", False, None),
        (131026, 400, "undeliverable", False, None),
        (131049, 400, "undeliverable", False, None),
        (130497, 400, "undeliverable", False, None),
        (132000, 400, "template_mismatch", False, None),
        (132001, 404, "template_mismatch", False, None),
        (132005, 400, "template_mismatch", False, None),
        (132007, 400, "template_mismatch", False, None),
        (132012, 400, "template_mismatch", False, None),
        (132015, 400, "template_mismatch", False, None),
        (132016, 400, "template_mismatch", False, None),
        (131031, 400, "banned", False, None),
        (368, 400, "banned", False, None),
        (131053, 400, "invalid_media", False, None),
        (131000, 500, "network", True, None),
        (1, 400, "network", True, None),
        (2, 503, "network", True, None),
        (10, 403, "auth_failed", False, None),
        (100, 400, "unknown", False, None),
    ],
)
async def test_graph_error_codes_map_to_send_errors(
    cloud: Harness, meta_code: int, status: int, code: str, retry: bool, retry_after: float | None
) -> None:
    cloud.graph.fail(
        "POST", f"/{PNID}/messages", code=meta_code, status=status, message="Meta says no", details="More from Meta"
    )
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert (raised.value.code, raised.value.retry, raised.value.retry_after) == (code, retry, retry_after)
    assert raised.value.reason
    assert not any(isinstance(e, Disconnected) for e in cloud.events[1:])


async def test_window_closed_tells_the_owner_to_use_a_template(cloud: Harness) -> None:
    cloud.graph.fail(
        "POST",
        f"/{PNID}/messages",
        code=131047,
        message="Re-engagement message",
        details="Message failed to send because more than 24 hours have passed",
    )
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert raised.value.reason == WINDOW_CLOSED_REASON
    assert raised.value.reason == (
        "More than 24 hours since the customer's last message: send an approved template instead"
    )


async def test_undeliverable_gives_a_clear_reason(cloud: Harness) -> None:
    cloud.graph.fail("POST", f"/{PNID}/messages", code=131026, message="Message Undeliverable")
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert "may not be on WhatsApp" in raised.value.reason


async def test_template_mismatch_quotes_meta_details(cloud: Harness) -> None:
    cloud.graph.fail(
        "POST",
        f"/{PNID}/messages",
        code=132000,
        message="Number of parameters does not match the expected number of params",
        details="body: number of localizable_params (1) does not match the expected number of params (2)",
    )
    call = TemplateCall(name="order_update", language="en_US", body_params=("Alice",))
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="template", template=call))
    assert raised.value.code == "template_mismatch"
    assert "Number of parameters does not match" in raised.value.reason
    assert "localizable_params (1)" in raised.value.reason


async def test_retry_after_header_wins_over_the_default(cloud: Harness) -> None:
    cloud.graph.fail(
        "POST", f"/{PNID}/messages", code=130429, status=429, message="Rate limit hit", headers={"Retry-After": "17"}
    )
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert (raised.value.code, raised.value.retry_after) == ("rate_limited", 17.0)


async def test_a_bare_server_error_is_retried(cloud: Harness) -> None:
    cloud.graph.fail("POST", f"/{PNID}/messages", code=None, status=502)
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert (raised.value.code, raised.value.retry) == ("network", True)


async def test_network_failure_while_sending_is_retried(graph: FakeGraphApi, tmp_path: Path) -> None:
    engine = make_engine(graph, tmp_path, [])
    await engine.start()
    graph.stop()
    with pytest.raises(SendError) as raised:
        await engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert (raised.value.code, raised.value.retry) == ("network", True)
    await engine.stop()


@pytest.mark.parametrize("status", [401, 400])
async def test_a_revoked_token_fails_the_send_and_drops_the_account(cloud: Harness, status: int) -> None:
    cloud.graph.fail(
        "POST",
        f"/{PNID}/messages",
        code=190,
        status=status,
        message="Error validating access "
        "token: The session has been invalidated because the user changed their password.",
    )
    with pytest.raises(SendError) as raised:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi"))
    assert (raised.value.code, raised.value.retry) == ("auth_failed", False)
    assert "access token expired or revoked" in raised.value.reason

    dropped = [e for e in cloud.events if isinstance(e, Disconnected)]
    assert len(dropped) == 1 and dropped[0].will_retry is False
    assert dropped[0].reason.startswith("access token expired or revoked: ")
    assert "session has been invalidated" in dropped[0].reason

    # Later sends fail at once instead of hammering Meta with a dead token.
    calls_before = len(cloud.graph.requests)
    with pytest.raises(SendError) as again:
        await cloud.engine.send(OutgoingMessage(to="+15551234567", text="hi again"))
    assert again.value.code == "auth_failed"
    assert len(cloud.graph.requests) == calls_before
    assert len([e for e in cloud.events if isinstance(e, Disconnected)]) == 1


# -- media download, numbers, read receipts, typing ---------------------------------------------------------------


async def test_media_upload_and_download_round_trip(cloud: Harness, tmp_path: Path) -> None:
    photo = tmp_path / "cake.jpg"
    photo.write_bytes(JPEG)
    await cloud.engine.send(OutgoingMessage(to="+15551234567", kind="image", media_path=photo))
    (media_id,) = cloud.graph.media

    ref = MediaRef(mime="image/jpeg", sha256=hashlib.sha256(JPEG).hexdigest(), data={"id": media_id})
    assert await cloud.engine.download_media(ref) == JPEG

    url_call, file_call = cloud.graph.requests[-2:]
    assert (url_call.method, url_call.path) == ("GET", f"/{media_id}")
    assert (file_call.method, file_call.path) == ("GET", f"/download/{media_id}")
    assert file_call.header("Authorization") == f"Bearer {cloud.graph.token}"


async def test_inbound_webhook_media_can_be_downloaded(cloud: Harness) -> None:
    media_id = cloud.graph.add_media(b"%PDF-1.4 customer receipt", "application/pdf", "receipt.pdf")
    payload = json.loads(DOCUMENT_EXAMPLE)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["document"]["id"] = media_id
    (event,) = await cloud.engine.handle_webhook(payload)
    assert isinstance(event, Inbound) and event.message.media is not None
    assert await cloud.engine.download_media(event.message.media) == b"%PDF-1.4 customer receipt"


async def test_download_of_an_unknown_media_id_is_an_engine_error(cloud: Harness) -> None:
    with pytest.raises(EngineError) as raised:
        await cloud.engine.download_media(MediaRef(mime="image/jpeg", data={"id": "404404"}))
    assert raised.value.code == "media_unavailable"


async def test_check_numbers_assumes_every_number_is_on_whatsapp(cloud: Harness) -> None:
    calls_before = len(cloud.graph.requests)
    assert await cloud.engine.check_numbers(["+15551234567", "+6281234567890"]) == {
        "+15551234567": True,
        "+6281234567890": True,
    }
    assert len(cloud.graph.requests) == calls_before


async def test_mark_read_posts_a_read_status_for_the_latest_message(cloud: Harness) -> None:
    await cloud.engine.mark_read("+16505551234", ["wamid.OLDER", "wamid.LATEST"])
    assert cloud.messages_sent() == [{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.LATEST"}]


async def test_mark_read_failure_is_not_raised(cloud: Harness) -> None:
    cloud.graph.fail("POST", f"/{PNID}/messages", code=100, message="Invalid parameter")
    await cloud.engine.mark_read("+16505551234", ["wamid.GONE"])


async def test_typing_indicator_attaches_to_the_customer_last_message(cloud: Harness) -> None:
    await cloud.engine.typing("+16505551234", True)  # nothing from this customer yet: nothing to attach to
    assert cloud.messages_sent() == []

    await cloud.engine.handle_webhook(json.loads(TEXT_EXAMPLE))
    await cloud.engine.typing("+16505551234", True)
    await cloud.engine.typing("+16505551234", False)  # Meta clears it by itself
    assert cloud.messages_sent() == [
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "typing_indicator": {"type": "text"},
        }
    ]


async def test_pair_code_is_not_a_cloud_api_thing(cloud: Harness) -> None:
    with pytest.raises(EngineError) as raised:
        await cloud.engine.request_pair_code("15551234567")
    assert raised.value.code == "unsupported"


async def test_logout_without_start_is_harmless(graph: FakeGraphApi, tmp_path: Path) -> None:
    await make_engine(graph, tmp_path, []).logout()
    assert graph.requests == []


# -- templates ----------------------------------------------------------------------------------------------------


def meta_template(name: str, status: str, category: str = "UTILITY") -> dict:
    return {
        "name": name,
        "language": "en_US",
        "status": status,
        "category": category,
        "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped"}],
        "id": f"id-{name}",
    }


async def test_list_templates_follows_paging(cloud: Harness) -> None:
    statuses = ["APPROVED", "PENDING", "REJECTED", "APPROVED", "PAUSED"]
    cloud.graph.templates = [meta_template(f"t{i}", s) for i, s in enumerate(statuses)]

    templates = await cloud.engine.list_templates()

    assert [t.name for t in templates] == ["t0", "t1", "t2", "t3", "t4"]
    assert [t.status for t in templates] == statuses
    assert templates[0] == CloudTemplate(
        name="t0",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped"}],
        id="id-t0",
    )
    pages = cloud.graph.calls("GET", f"/{WABA}/message_templates")
    assert [p.query.get("after") for p in pages] == [None, "2", "4"]
    assert all(p.header("Authorization") == f"Bearer {cloud.graph.token}" for p in pages)
    assert "components" in pages[0].query["fields"]


async def test_create_template_submits_it_for_review(cloud: Harness) -> None:
    components = [
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped", "example": {"body_text": [["Alice", "123"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]},
    ]
    created = await cloud.engine.create_template("order_update", "en_US", "utility", components)

    (call,) = cloud.graph.calls("POST", f"/{WABA}/message_templates")
    assert call.json == {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": components,
    }
    assert (created.name, created.status, created.category) == ("order_update", "PENDING", "UTILITY")
    assert created.id
    assert [t.name for t in await cloud.engine.list_templates()] == ["order_update"]


async def test_create_template_rejected_by_meta_is_an_engine_error(cloud: Harness) -> None:
    with pytest.raises(EngineError) as raised:
        await cloud.engine.create_template("Bad Name!", "en_US", "MARKETING", [])
    assert raised.value.code == "unknown"
    assert "Template name is invalid" in raised.value.reason


async def test_templates_need_the_waba_id(graph: FakeGraphApi, tmp_path: Path) -> None:
    engine = make_engine(graph, tmp_path, [], waba_id="")
    await engine.start()
    with pytest.raises(EngineError) as raised:
        await engine.list_templates()
    assert raised.value.code == "invalid_settings"
    await engine.stop()


async def test_templates_with_a_revoked_token_are_auth_failed(cloud: Harness) -> None:
    cloud.graph.revoke_token()
    with pytest.raises(EngineError) as raised:
        await cloud.engine.list_templates()
    assert raised.value.code == "auth_failed"


# -- webhook handshake and signature ------------------------------------------------------------------------------


def test_verify_challenge_echoes_the_challenge_for_the_right_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    assert verify_challenge(params, "verify-me") == "1158201444"


def test_verify_challenge_refuses_a_wrong_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}
    assert verify_challenge(params, "verify-me") is None


def test_verify_challenge_refuses_a_wrong_mode() -> None:
    params = {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    assert verify_challenge(params, "verify-me") is None


def test_verify_challenge_refuses_missing_params_and_an_empty_configured_token() -> None:
    assert verify_challenge({}, "verify-me") is None
    assert verify_challenge({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, "") is None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# Meta signs the body as sent, with non-ASCII escaped as \uXXXX (lowercase hex).
SIGNED_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"text":"\\u00e4\\u00f6\\u00e5"}}]}]}'
)


def test_signature_over_the_raw_body_is_accepted() -> None:
    assert verify_signature("app-secret", SIGNED_BODY, sign("app-secret", SIGNED_BODY)) is True


def test_signature_with_the_wrong_secret_is_refused() -> None:
    assert verify_signature("app-secret", SIGNED_BODY, sign("other-secret", SIGNED_BODY)) is False


def test_missing_signature_is_refused() -> None:
    assert verify_signature("app-secret", SIGNED_BODY, None) is False
    assert verify_signature("app-secret", SIGNED_BODY, "") is False


@pytest.mark.parametrize("header", ["sha1=abc", "sha256=", "sha256=not-hex-at-all", "abc123", "sha256 =00"])
def test_garbled_signature_is_refused(header: str) -> None:
    assert verify_signature("app-secret", SIGNED_BODY, header) is False


def test_altered_body_is_refused() -> None:
    header = sign("app-secret", SIGNED_BODY)
    assert verify_signature("app-secret", SIGNED_BODY.replace(b"00e4", b"00e5"), header) is False
    # Re-serialising the parsed JSON changes the bytes Meta signed, so only the raw body verifies.
    reserialised = json.dumps(json.loads(SIGNED_BODY), ensure_ascii=False).encode()
    assert verify_signature("app-secret", reserialised, header) is False


def test_signature_needs_an_app_secret() -> None:
    assert verify_signature("", SIGNED_BODY, sign("", SIGNED_BODY)) is False


# -- parse_webhook on Meta's documented payloads ------------------------------------------------------------------
# Examples from developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/*

TEXT_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1749416383",
                "type": "text",
                "text": {
                  "body": "Does it come in another color?"
                }
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

IMAGE_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1744344496",
                "type": "image",
                "image": {
                  "caption": "Taj Mahal",
                  "mime_type": "image/jpeg",
                  "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                  "id": "1003383421387256",
                  "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133..."
                }
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

DOCUMENT_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1744344496",
                "type": "document",
                "document": {
                  "caption": "my receipt",
                  "filename": "receipt.pdf",
                  "mime_type": "application/pdf",
                  "sha256": "V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
                  "id": "622684793477189",
                  "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133..."
                }
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

LOCATION_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                "timestamp": "1744344496",
                "location": {
                  "address": "101 Forest Ave, Palo Alto, CA 94301",
                  "latitude": 37.44221496582,
                  "longitude": -122.16165924072,
                  "name": "Philz Coffee",
                  "url": "https://philzcoffee.com/"
                },
                "type": "location"
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

CONTACTS_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1744344496",
                "type": "contacts",
                "contacts": [
                  {
                    "name": {
                      "first_name": "Barbara",
                      "last_name": "Johnson",
                      "formatted_name": "Barbara J. Johnson"
                    },
                    "org": {
                      "company": "Social Tsunami"
                    },
                    "phones": [
                      {
                        "phone": "+1 (415) 555-0829",
                        "wa_id": "14125550829",
                        "type": "MOBILE"
                      }
                    ]
                  }
                ]
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

BUTTON_REPLY_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "context": {
                  "from": "15550783881",
                  "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"
                },
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
                "timestamp": "1750025136",
                "type": "interactive",
                "interactive": {
                  "type": "button_reply",
                  "button_reply": {
                    "id": "cancel-button",
                    "title": "Cancel"
                  }
                }
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

LIST_REPLY_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "contacts": [
              {
                "profile": {
                  "name": "Sheena Nelson"
                },
                "wa_id": "16505551234"
              }
            ],
            "messages": [
              {
                "context": {
                  "from": "15550783881",
                  "id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
                },
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                "timestamp": "1749854575",
                "type": "interactive",
                "interactive": {
                  "type": "list_reply",
                  "list_reply": {
                    "id": "priority_express",
                    "title": "Priority Mail Express",
                    "description": "Next Day to 2 Days"
                  }
                }
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

STATUS_SENT_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "statuses": [
              {
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                "status": "sent",
                "timestamp": "1750030073",
                "recipient_id": "16505551234",
                "conversation": {
                  "id": "72b14d6bd5407799e66f64d1b338e567",
                  "expiration_timestamp": "1750116480",
                  "origin": {
                    "type": "marketing"
                  }
                },
                "pricing": {
                  "billable": true,
                  "pricing_model": "PMP",
                  "type": "regular",
                  "category": "marketing"
                }
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""

STATUS_FAILED_EXAMPLE = """
{
  "object": "whatsapp_business_account",
  "entry": [
    {
      "id": "102290129340398",
      "changes": [
        {
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {
              "display_phone_number": "15550783881",
              "phone_number_id": "106540352242922"
            },
            "statuses": [
              {
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
                "status": "failed",
                "timestamp": "1751142888",
                "recipient_id": "16505551234",
                "errors": [
                  {
                    "code": 131049,
                    "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                    "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                    "error_data": {
                      "details":
                        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
                    },
                    "href": "/documentation/business-messaging/whatsapp/support/error-codes"
                  }
                ]
              }
            ]
          },
          "field": "messages"
        }
      ]
    }
  ]
}
"""


def status_example(status: str) -> dict:
    """Meta's status page publishes a `sent` example and documents `<STATUS>` as delivered, read, played,
    failed or sent; delivered and read webhooks are that example with its status value."""
    payload = json.loads(STATUS_SENT_EXAMPLE)
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = status
    return payload


def only_inbound(events: list[Event]) -> Inbound:
    (event,) = events
    assert isinstance(event, Inbound) and event.key == KEY
    return event


def test_parse_text_message() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(TEXT_EXAMPLE))).message
    assert message.provider_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert (message.chat, message.sender_phone, message.sender_name) == (
        "+16505551234",
        "+16505551234",
        "Sheena Nelson",
    )
    assert (message.kind, message.text, message.timestamp) == ("text", "Does it come in another color?", 1749416383.0)
    assert (message.media, message.quoted_id, message.from_me, message.is_group) == (None, None, False, False)


def test_parse_image_message() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(IMAGE_EXAMPLE))).message
    assert (message.kind, message.text) == ("image", "Taj Mahal")
    assert message.media == MediaRef(
        mime="image/jpeg",
        # Meta's base64 hash, as hex
        sha256="49f227634806293b0995459bc310b593e1400f41591efcf07e9bced335f41942",
        data={
            "id": "1003383421387256",
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
        },
    )


def test_parse_document_with_caption() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(DOCUMENT_EXAMPLE))).message
    assert (message.kind, message.text) == ("document", "my receipt")
    assert message.media is not None
    assert (message.media.mime, message.media.filename, message.media.data["id"]) == (
        "application/pdf",
        "receipt.pdf",
        "622684793477189",
    )


def test_parse_location() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(LOCATION_EXAMPLE))).message
    assert message.kind == "location"
    assert message.location == (37.44221496582, -122.16165924072, "Philz Coffee")
    assert message.text == "Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301"


def test_parse_shared_contact_as_vcard() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(CONTACTS_EXAMPLE))).message
    assert (message.kind, message.text) == ("contact", "Barbara J. Johnson")
    assert message.sender_name == "Sheena Nelson"  # the sender, not the shared contact
    assert message.vcard == (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Barbara J. Johnson\r\nN:Johnson;Barbara;;;\r\nORG:Social Tsunami\r\n"
        "TEL;type=MOBILE;waid=14125550829:+1 (415) 555-0829\r\nEND:VCARD\r\n"
    )


def test_parse_button_reply_as_text_quoting_the_buttons_message() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(BUTTON_REPLY_EXAMPLE))).message
    assert (message.kind, message.text) == ("text", "Cancel")
    assert message.quoted_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"


def test_parse_list_reply_as_text() -> None:
    message = only_inbound(parse_webhook(KEY, json.loads(LIST_REPLY_EXAMPLE))).message
    assert (message.kind, message.text) == ("text", "Priority Mail Express")


def test_parse_template_quick_reply_button_as_text() -> None:
    payload = json.loads(TEXT_EXAMPLE)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message |= {"type": "button", "button": {"payload": "approve_67", "text": "Approve"}}
    assert only_inbound(parse_webhook(KEY, payload)).message.text == "Approve"


def test_parse_voice_note_and_audio_file() -> None:
    payload = json.loads(TEXT_EXAMPLE)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    # Meta's audio example: voice=true for a note recorded in the app.
    message |= {
        "type": "audio",
        "audio": {
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
            "id": "1908647269898587",
            "voice": True,
        },
    }
    voice = only_inbound(parse_webhook(KEY, payload)).message
    assert (voice.kind, voice.media.mime if voice.media else None) == ("voice", "audio/ogg")
    message["audio"]["voice"] = False
    assert only_inbound(parse_webhook(KEY, payload)).message.kind == "audio"


def test_parse_status_delivered_and_read() -> None:
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    assert parse_webhook(KEY, status_example("delivered")) == [Receipt(KEY, (wamid,), "delivered", 1750030073.0)]
    assert parse_webhook(KEY, status_example("read")) == [Receipt(KEY, (wamid,), "read", 1750030073.0)]


def test_parse_status_sent_is_ignored() -> None:
    assert parse_webhook(KEY, json.loads(STATUS_SENT_EXAMPLE)) == []


def test_parse_status_failed_carries_meta_reason() -> None:
    (receipt,) = parse_webhook(KEY, json.loads(STATUS_FAILED_EXAMPLE))
    assert isinstance(receipt, Receipt)
    assert (receipt.provider_ids, receipt.status, receipt.timestamp) == (
        ("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",),
        "failed",
        1751142888.0,
    )
    assert receipt.error is not None and "(#131049)" in receipt.error
    assert "marketing" in receipt.error


def test_parse_status_failed_outside_the_window_says_use_a_template() -> None:
    payload = json.loads(STATUS_FAILED_EXAMPLE)
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0] |= {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
    }
    (receipt,) = parse_webhook(KEY, payload)
    assert isinstance(receipt, Receipt) and receipt.error == WINDOW_CLOSED_REASON


def test_parse_a_batch_of_entries_and_changes_in_order() -> None:
    text, image, failed = (json.loads(p) for p in (TEXT_EXAMPLE, IMAGE_EXAMPLE, STATUS_FAILED_EXAMPLE))
    delivered = status_example("delivered")
    batch = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA, "changes": text["entry"][0]["changes"] + delivered["entry"][0]["changes"]},
            {"id": WABA, "changes": image["entry"][0]["changes"] + failed["entry"][0]["changes"]},
        ],
    }
    events = parse_webhook(KEY, batch)
    assert [type(e).__name__ for e in events] == ["Inbound", "Receipt", "Inbound", "Receipt"]
    assert [getattr(e, "status", None) for e in events] == [None, "delivered", None, "failed"]
    assert isinstance(events[2], Inbound) and events[2].message.kind == "image"


def test_parse_several_messages_in_one_change() -> None:
    payload = json.loads(TEXT_EXAMPLE)
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"].append(json.loads(LOCATION_EXAMPLE)["entry"][0]["changes"][0]["value"]["messages"][0])
    assert [e.message.kind for e in parse_webhook(KEY, payload) if isinstance(e, Inbound)] == ["text", "location"]


def test_parse_skips_changes_for_another_phone_number() -> None:
    assert parse_webhook(KEY, json.loads(TEXT_EXAMPLE), phone_number_id="999") == []
    assert len(parse_webhook(KEY, json.loads(TEXT_EXAMPLE), phone_number_id=PNID)) == 1


def test_parse_ignores_reactions_and_other_fields() -> None:
    payload = json.loads(TEXT_EXAMPLE)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message |= {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "\U0001f44d"}}
    assert parse_webhook(KEY, payload) == []
    template_update = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA,
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_id": 1},
                    }
                ],
            }
        ],
    }
    assert parse_webhook(KEY, template_update) == []


def test_parse_unknown_type_is_kept_as_unsupported() -> None:
    payload = json.loads(TEXT_EXAMPLE)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message |= {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]}
    assert only_inbound(parse_webhook(KEY, payload)).message.kind == "unsupported"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "entry",
        {},
        {"entry": "nope"},
        {"entry": [None, {"changes": None}, {"changes": [None, {"field": "messages"}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": [None, {"type": "text"}]}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"status": "read"}, 7]}}]}]},
        {
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messages": [
                                    {
                                        "id": "wamid.1",
                                        "from": "1555",
                                        "type": "location",
                                        "location": {"name": "no coordinates"},
                                    }
                                ]
                            },
                        }
                    ]
                }
            ]
        },
        {
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {"messages": [{"id": "wamid.2", "type": "text", "text": {"body": "no sender"}}]},
                        }
                    ]
                }
            ]
        },
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": "not a list"}}]}]},
    ],
)
def test_malformed_payloads_are_skipped_without_raising(payload: object) -> None:
    assert parse_webhook(KEY, payload) == []


def test_malformed_parts_do_not_hide_good_ones() -> None:
    payload = json.loads(TEXT_EXAMPLE)
    payload["entry"][0]["changes"][0]["value"]["messages"].insert(
        0, {"id": "wamid.bad", "from": "1", "type": "location", "location": {}}
    )
    assert only_inbound(parse_webhook(KEY, payload)).message.text == "Does it come in another color?"


async def test_handle_webhook_emits_the_parsed_events_in_order(cloud: Harness) -> None:
    batch = json.loads(TEXT_EXAMPLE)
    batch["entry"].append(status_example("read")["entry"][0])
    returned = await cloud.engine.handle_webhook(batch)
    assert [type(e).__name__ for e in returned] == ["Inbound", "Receipt"]
    assert cloud.events[1:] == returned  # after the Connected of start()
