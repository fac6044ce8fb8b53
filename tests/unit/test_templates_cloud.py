"""Meta's templates for Cloud API numbers against a real local fake of the Graph API: sync (paged, statuses,
removals, mappings kept), creating one from our variables, mapping variables to parameters, and the errors."""

from __future__ import annotations

import pytest

from blazz import accounts, cloud_templates, custom_fields, i18n
from blazz.cloud_templates import NewCloudTemplate
from blazz.errors import Invalid
from blazz.whatsapp.protocol import OutgoingMessage, SendError
from tests.fakes.graph_api import FakeGraphApi
from tests.unit.test_outbox_harness import running

ORDER = {"name": "order_update", "language": "id", "category": "UTILITY", "status": "APPROVED", "id": "111",
         "components": [{"type": "HEADER", "format": "TEXT", "text": "Pesanan {{1}}",
                         "example": {"header_text": ["#123"]}},
                        {"type": "BODY", "text": "Halo {{1}}, pesanan {{2}} sudah dikirim.",
                         "example": {"body_text": [["Budi", "#123"]]}},
                        {"type": "FOOTER", "text": "Toko Sinar"}]}
PROMO = {"name": "promo_named", "language": "en_US", "category": "MARKETING", "status": "PENDING", "id": "222",
         "parameter_format": "NAMED",
         "components": [{"type": "BODY", "text": "Hi {{customer_name}}, {{discount}} off today!",
                         "example": {"body_text_named_params": [{"param_name": "customer_name", "example": "Pablo"},
                                                                {"param_name": "discount", "example": "20%"}]}}]}
OLD = {"name": "old_one", "language": "id", "category": "MARKETING", "status": "REJECTED", "id": "333",
       "components": [{"type": "BODY", "text": "Lama"}]}


@pytest.fixture
def graph():
    with FakeGraphApi() as fake:
        fake.templates.extend([ORDER, PROMO, OLD])
        yield fake


async def cloud_number(h, graph: FakeGraphApi, connect: bool = True) -> int:
    account = await accounts.add(h.ws, "Official", "cloud_api", {
        "phone_number_id": graph.phone_number_id, "waba_id": graph.waba_id, "access_token": graph.token,
        "app_secret": "app-secret-1234", "verify_token": "kopi-susu-9876", "graph_base_url": graph.base_url})
    if connect:
        await accounts.connect(h.ws, account.id)
    return account.id


async def test_sync_stores_every_template_with_its_status_and_keeps_mappings(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number = await cloud_number(h, graph)
        result = await cloud_templates.sync(h.ws, number)
        assert (result.added, result.updated, result.removed) == (3, 0, 0)
        rows = {t.name: t for t in await cloud_templates.list_for(h.ws, number)}
        assert {n: t.status for n, t in rows.items()} == {"order_update": "APPROVED", "promo_named": "PENDING",
                                                          "old_one": "REJECTED"}
        order = rows["order_update"]
        assert [(p.key, p.example) for p in cloud_templates.params_of(order)] == [
            ("header.1", "#123"), ("body.1", "Budi"), ("body.2", "#123")]
        assert [p.key for p in cloud_templates.params_of(rows["promo_named"])] == ["body.customer_name",
                                                                                 "body.discount"]
        await custom_fields.create_field(h.ws, "Order no", "text", key="order_no")
        await cloud_templates.set_mapping(h.ws, order.id, {"header.1": "{{order_no}}", "body.1": "{{first_name|Kak}}",
                                                           "body.2": "{{order_no}}"})
        graph.templates.remove(OLD)
        graph.templates[0] = {**ORDER, "status": "PAUSED"}
        result = await cloud_templates.sync(h.ws, number)
        assert (result.added, result.updated, result.removed) == (0, 2, 1)
        again = {t.name: t for t in await cloud_templates.list_for(h.ws, number)}
        assert set(again) == {"order_update", "promo_named"}
        assert again["order_update"].status == "PAUSED" and again["order_update"].mapping["body.1"] == \
            "{{first_name|Kak}}"


async def test_a_mapping_renders_a_template_call_per_contact(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number = await cloud_number(h, graph)
        await cloud_templates.sync(h.ws, number)
        await custom_fields.create_field(h.ws, "Order no", "text", key="order_no")
        rows = {t.name: t for t in await cloud_templates.list_for(h.ws, number)}
        order = await cloud_templates.set_mapping(h.ws, rows["order_update"].id, {
            "header.1": "{{order_no}}", "body.1": "{{first_name|Kak}}", "body.2": "{{order_no|-}}"})
        values = {"first_name": "", "order_no": "#778"}
        call = cloud_templates.call_for(order, values)
        assert (call.name, call.language, call.body_params) == ("order_update", "id", ("Kak", "#778"))
        assert call.extra == {"header_text": ["#778"]}
        assert cloud_templates.text_for(order, values) == "Halo Kak, pesanan #778 sudah dikirim.\n\nToko Sinar"
        promo = await cloud_templates.set_mapping(h.ws, rows["promo_named"].id, {
            "body.customer_name": "{{name}}", "body.discount": "20%"})
        named = cloud_templates.call_for(promo, {"name": "Sari"})
        assert named.body_params == ("Sari", "20%")
        assert named.extra == {"body_param_names": ["customer_name", "discount"]}
        # Bad mappings are refused by name; a parameter without text or rendering empty stops the call.
        with pytest.raises(Invalid) as err:
            await cloud_templates.set_mapping(h.ws, order.id, {"body.9": "x"})
        assert err.value.field == "mapping.body.9"
        with pytest.raises(Invalid) as err:
            await cloud_templates.set_mapping(h.ws, order.id, {"body.1": "{{kota}}"})
        assert "{{kota}}" in err.value.message
        half = await cloud_templates.set_mapping(h.ws, order.id, {"body.1": "{{first_name}}"})
        assert cloud_templates.unmapped(half) == ["header.1", "body.2"]
        with pytest.raises(Invalid):
            cloud_templates.call_for(half, values)
        full = await cloud_templates.set_mapping(h.ws, order.id, {"header.1": "x", "body.1": "{{first_name}}",
                                                                 "body.2": "y"})
        with pytest.raises(Invalid) as err:
            cloud_templates.call_for(full, {"first_name": ""})
        assert "would be empty" in err.value.message


async def test_a_template_written_with_our_variables_is_submitted_positional_with_its_mapping(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number = await cloud_number(h, graph)
        await custom_fields.create_field(h.ws, "City", "text")
        made = await cloud_templates.create(h.ws, number, NewCloudTemplate(
            name="Promo Kota", language="id", category="marketing", header="Promo {{city}}",
            body="Halo {{first_name|Kak}}, promo di {{city}} untuk {{first_name|Kak}}!", footer="Balas STOP"))
        assert (made.name, made.status, made.parameter_format) == ("promo_kota", "PENDING", "POSITIONAL")
        sent = graph.calls("POST", f"/{graph.waba_id}/message_templates")[-1].json
        assert sent["category"] == "MARKETING"
        body = next(c for c in sent["components"] if c["type"] == "BODY")
        assert body["text"] == "Halo {{1}}, promo di {{2}} untuk {{1}}!"
        assert body["example"] == {"body_text": [["Budi", "City"]]}
        header = next(c for c in sent["components"] if c["type"] == "HEADER")
        assert header["text"] == "Promo {{1}}" and header["example"] == {"header_text": ["City"]}
        assert made.mapping == {"header.1": "{{city}}", "body.1": "{{first_name|Kak}}", "body.2": "{{city}}"}
        call = cloud_templates.call_for(made, {"first_name": "Sari", "city": "Medan"})
        assert call.body_params == ("Sari", "Medan") and call.extra["header_text"] == ["Medan"]


async def test_bad_cloud_template_input_is_refused_with_the_field(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number = await cloud_number(h, graph)
        good = {"name": "ok_name", "language": "id", "category": "UTILITY", "body": "Halo {{first_name}}, ok"}
        cases = [({"name": "Bad-Name!"}, "name"), ({"language": "indonesian"}, "language"),
                 ({"category": "AUTHENTICATION"}, "category"), ({"body": " "}, "body"),
                 ({"body": "x" * 1025}, "body"), ({"footer": "Halo {{first_name}}"}, "footer"),
                 ({"body": "{{first_name}} halo"}, "body"), ({"body": "Halo {{kota}}!"}, "body"),
                 ({"header": "{{first_name}} {{phone}}"}, "header")]
        for change, field in cases:
            with pytest.raises(Invalid) as err:
                await cloud_templates.create(h.ws, number, NewCloudTemplate(**{**good, **change}))
            assert err.value.field == field, change
        graph.fail("POST", f"/{graph.waba_id}/message_templates", code=100, message="Invalid parameter",
                   details="Template name already exists.")
        with pytest.raises(Invalid) as err:
            await cloud_templates.create(h.ws, number, NewCloudTemplate(**good))
        assert "Meta refused" in err.value.message and "already exists" in err.value.message
        offline = await cloud_number(h, graph, connect=False)
        with pytest.raises(Invalid) as err:
            await cloud_templates.sync(h.ws, offline)
        assert "Connect" in err.value.message
        with pytest.raises(Invalid):
            await cloud_templates.sync(h.ws, h.account_id)  # the sandbox number has no Meta templates


async def test_a_parameter_mismatch_from_meta_is_explained_in_words(tmp_path, graph):
    async with running(tmp_path, connect=False) as h:
        number = await cloud_number(h, graph)
        await cloud_templates.sync(h.ws, number)
        promo = next(t for t in await cloud_templates.list_for(h.ws, number) if t.name == "promo_named")
        promo = await cloud_templates.set_mapping(h.ws, promo.id, {"body.customer_name": "{{name}}",
                                                                  "body.discount": "20%"})
        graph.fail("POST", f"/{graph.phone_number_id}/messages", code=132000,
                   message="Number of parameters does not match the expected number of params")
        engine = h.rt.sessions.engine((h.ws.id, number))
        call = cloud_templates.call_for(promo, {"name": "Sari"})
        with pytest.raises(SendError) as err:
            await engine.send(OutgoingMessage(to="+6281200000001", kind="template", template=call))
        assert err.value.code == "template_mismatch"
        words = cloud_templates.explain(err.value.reason)
        assert "different number of values" in words and "132000" in words
        assert cloud_templates.explain("Network down") == "Network down"
        with i18n.using("id"):  # shown later to someone reading Indonesian: the stored English is explained again
            again = cloud_templates.explain(words)
        assert again.startswith("Jumlah nilai yang diharapkan Meta") and again.endswith("(kode error Meta 132000)")
        assert cloud_templates.explain(words) == words
