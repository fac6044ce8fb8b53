"""The templates pages: create, edit and delete with their bad inputs, the live preview for a contact (unknown
variables marked), a media header uploaded at once, agents reading but not editing, and Meta's templates of a Cloud
API number (sync, mapping, create) against a real local fake of the Graph API."""

from __future__ import annotations

import re

from blazz import contacts, templates
from blazz.media import MB
from tests.conftest import form_post
from tests.fakes.graph_api import FakeGraphApi
from tests.unit.test_templates import PNG
from tests.web.test_accounts_page import add, cloud_form, workspace


async def test_templates_are_created_previewed_edited_and_deleted(client, owner):
    ws = await workspace(client, owner.slug)
    page = await client.get(f"/w/{owner.slug}/templates")
    assert page.status_code == 200 and "No templates yet" in page.text
    form = await client.get(f"/w/{owner.slug}/templates/new")
    assert form.status_code == 200 and "{{first_name}}" in form.text
    r = await form_post(client, f"/w/{owner.slug}/templates/", {"name": "Promo", "body": " "}, htmx=True)
    assert r.status_code == 422 and 'id="e-body"' in r.text and "Write the message first" in r.text
    r = await form_post(client, f"/w/{owner.slug}/templates/", {"name": "Promo", "body": "x", "footer": "f" * 61},
                        htmx=True)
    assert r.status_code == 422 and "footer can be at most 60" in r.text
    r = await form_post(client, f"/w/{owner.slug}/templates/",
                        {"name": "Promo", "body": "Halo {{first_name|Kak}}", "variant_2": "Hai {{name}}",
                         "footer": "Balas STOP"}, htmx=True)
    assert r.status_code == 200 and r.headers["hx-redirect"].endswith("/templates")
    r = await form_post(client, f"/w/{owner.slug}/templates/", {"name": "promo", "body": "again"}, htmx=True)
    assert r.status_code == 409 and "exists already" in r.text
    page = await client.get(f"/w/{owner.slug}/templates")
    assert 'data-template="Promo"' in page.text
    t = (await templates.list_all(ws))[0]
    budi, _ = await contacts.create(ws, {"phone": "+6281200000001", "name": "Budi Santoso"})
    r = await form_post(client, f"/w/{owner.slug}/templates/preview",
                        {"body": "Halo {{first_name|Kak}} di {{kota}}", "footer": "Salam", "contact_id": str(budi.id)},
                        htmx=True)
    assert "As Budi Santoso would get it" in r.text and ">Budi<" in r.text
    assert "data-unknown" in r.text and 'class="var-unknown"' in r.text and "{{kota}}" in r.text
    r = await form_post(client, f"/w/{owner.slug}/templates/preview", {"body": "Hi {{first_name}}",
                                                                      "contact_id": "not a number"}, htmx=True)
    assert r.status_code == 200 and "With example values" in r.text
    page = await client.get(f"/w/{owner.slug}/templates/{t.id}")
    assert page.status_code == 200 and "Hai {{name}}" in page.text
    r = await form_post(client, f"/w/{owner.slug}/templates/{t.id}", {"name": "Promo", "body": "Baru {{name}}"},
                        htmx=True)
    assert r.status_code == 200
    assert (await templates.get(ws, t.id)).body == "Baru {{name}}" and (await templates.get(ws, t.id)).variants == ()
    r = await form_post(client, f"/w/{owner.slug}/templates/{t.id}/delete", {}, htmx=True)
    assert r.status_code == 200 and await templates.list_all(ws) == []
    assert (await client.get(f"/w/{owner.slug}/templates/{t.id}")).status_code == 404


async def test_a_media_header_is_uploaded_at_once_and_a_bad_file_is_refused(client, owner):
    r = await client.post(f"/w/{owner.slug}/templates/upload?field=media_id", files={"file": ("promo.png", PNG)},
                          headers={"x-csrftoken": client.cookies.get("blazz_csrf", ""), "hx-request": "true"})
    assert r.status_code == 200 and 'name="media_id"' in r.text and "promo.png" in r.text
    media_id = int(re.search(r'name="media_id" value="(\d+)"', r.text).group(1))
    shown = await client.get(f"/w/{owner.slug}/templates/media/{media_id}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    r = await client.post(f"/w/{owner.slug}/templates/upload", files={"file": ("virus.exe", b"MZ\x90\x00" * 10)},
                          headers={"x-csrftoken": client.cookies.get("blazz_csrf", ""), "hx-request": "true"})
    assert r.status_code == 422 and "error-text" in r.text
    r = await form_post(client, f"/w/{owner.slug}/templates/",
                        {"name": "Poster", "body": "Lihat promo", "media_id": str(media_id)}, htmx=True)
    assert r.status_code == 200
    assert "file</span>" in (await client.get(f"/w/{owner.slug}/templates")).text
    r = await form_post(client, f"/w/{owner.slug}/templates/", {"name": "Ghost", "body": "x", "media_id": "999"},
                        htmx=True)
    assert r.status_code == 422 and "upload it first" in r.text


async def test_meta_templates_of_a_cloud_number_sync_and_map(client, owner):
    with FakeGraphApi() as graph:
        graph.templates.append({"name": "order_update", "language": "id", "category": "UTILITY",
                                "status": "APPROVED", "id": "111",
                                "components": [{"type": "BODY", "text": "Halo {{1}}, pesanan {{2}} dikirim.",
                                                "example": {"body_text": [["Budi", "#1"]]}}]})
        r = await add(client, owner.slug, "Official", "cloud_api", **cloud_form(graph))
        assert r.status_code == 200, r.text
        page = await client.get(f"/w/{owner.slug}/templates")
        assert "Meta templates of Official" in page.text and "No templates synced yet" in page.text
        r = await form_post(client, f"/w/{owner.slug}/templates/cloud/1/sync", {}, htmx=True)
        assert r.status_code == 200 and "1 new" in r.headers["hx-trigger"] and 'id="cloud-number-1"' in r.text
        page = await client.get(f"/w/{owner.slug}/templates")
        assert 'data-cloud-template="order_update"' in page.text and "2 to map" in page.text
        detail = await client.get(f"/w/{owner.slug}/templates/cloud/t/1")
        assert detail.status_code == 200 and "example: Budi" in detail.text
        r = await form_post(client, f"/w/{owner.slug}/templates/cloud/t/1",
                            {"body.1": "{{first_name|Kak}}", "body.2": "{{kota}}"}, htmx=True)
        assert r.status_code == 422 and "{{kota}}" in r.text
        r = await form_post(client, f"/w/{owner.slug}/templates/cloud/t/1",
                            {"body.1": "{{first_name|Kak}}", "body.2": "#778"}, htmx=True)
        assert r.status_code == 200 and "Halo Budi, pesanan #778 dikirim." in r.text
        assert "ready" in (await client.get(f"/w/{owner.slug}/templates")).text
        r = await form_post(client, f"/w/{owner.slug}/templates/cloud/1/new",
                            {"name": "Bad-Name!", "language": "id", "category": "UTILITY", "body": "x y"}, htmx=True)
        assert r.status_code == 422 and "lowercase letters" in r.text
        r = await form_post(client, f"/w/{owner.slug}/templates/cloud/1/new",
                            {"name": "thanks", "language": "id", "category": "UTILITY",
                             "body": "Terima kasih {{first_name|Kak}}!"}, htmx=True)
        assert r.status_code == 200 and r.headers["hx-redirect"].endswith("/templates")
        assert 'data-cloud-template="thanks"' in (await client.get(f"/w/{owner.slug}/templates")).text
        assert graph.calls("POST", f"/{graph.waba_id}/message_templates")


async def test_agents_read_templates_but_cannot_change_them(client, owner):
    from tests.web.test_workspaces_and_members import invite_link, join

    ws = await workspace(client, owner.slug)
    t = await templates.create(ws, templates.TemplateInput(name="Salam", body="Halo"))
    agent = await join(client, await invite_link(client, owner.slug, "agent"), "agent@shop.test")
    try:
        page = await agent.get(f"/w/{owner.slug}/templates")
        assert page.status_code == 200 and "Salam" in page.text and "New template" not in page.text
        assert (await agent.get(f"/w/{owner.slug}/templates/{t.id}")).status_code == 403
        r = await form_post(agent, f"/w/{owner.slug}/templates/{t.id}/delete", {}, htmx=True)
        assert r.status_code == 403
        r = await form_post(agent, f"/w/{owner.slug}/templates/preview", {"body": "Hi {{first_name}}"}, htmx=True)
        assert r.status_code == 200  # the composer's preview is for everyone
    finally:
        await agent.aclose()


ID = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}


async def test_the_templates_pages_speak_the_browsers_language(client, owner):
    url = f"/w/{owner.slug}/templates"
    page = await client.get(url, headers=ID)
    assert page.status_code == 200 and "Belum ada template" in page.text and "Template baru" in page.text
    assert "No templates yet" not in page.text and "New template" not in page.text
    page = await client.get(url)
    assert "No templates yet" in page.text and "Belum ada template" not in page.text
    form = await client.get(f"{url}/new", headers=ID)
    assert "Nama depan (klik untuk menyalin)" in form.text and "Simpan template" in form.text
    assert "First name" not in form.text and "Save template" not in form.text

    headers = {**ID, "x-csrftoken": client.cookies.get("blazz_csrf", ""), "hx-request": "true"}
    r = await client.post(f"{url}/", data={"name": "Promo", "body": " "}, headers=headers)
    assert r.status_code == 422 and "Tulis pesannya dulu." in r.text and "Write the message" not in r.text
    r = await client.post(f"{url}/", data={"name": "Promo", "body": "x", "footer": "f" * 61}, headers=headers)
    assert r.status_code == 422 and "Footer maksimal 60 karakter; yang ini 61 karakter." in r.text
    r = await client.post(f"{url}/preview", data={"body": "Halo {{first_name}} di {{kota}}"}, headers=headers)
    assert "Variabel tidak dikenal:" in r.text and "Dengan nilai contoh" in r.text and "With example" not in r.text
    r = await client.post(f"{url}/upload", files={"file": ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (5 * MB + 99_000))},
                          headers=headers)
    assert r.status_code == 413 and "WhatsApp menerima file gambar maksimal 5 MB; yang ini 5,1 MB." in r.text
