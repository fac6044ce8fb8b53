"""/api/v1/contacts and /api/v1/groups with workspace-scoped tokens: create, search, page, patch, import, export."""

from __future__ import annotations

import csv
import io
import os

from tests.web.test_api_accounts import Api, admin, agent  # noqa: F401  (fixtures)
from tests.web.test_api_base import make_token


async def test_create_get_patch_delete_and_restore(admin):  # noqa: F811
    r = await admin.post("/contacts", json={"phone": "+62 812-3456-7890", "name": "Budi Santoso",
                                            "groups": ["VIP"], "fields": {}})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["phone"] == "+6281234567890" and c["groups"] == ["VIP"] and c["first_name"] == "Budi"
    assert c["opted_out"] is False and c["created_at"].endswith("Z")
    r = await admin.post("/contacts", json={"phone": "+6281234567890"})
    assert r.status_code == 409 and r.json()["error"]["details"]["contact_id"] == c["id"]
    r = await admin.patch(f"/contacts/{c['id']}", json={"email": "budi@toko.id", "groups": ["Reseller"],
                                                        "opted_out": True, "opted_out_reason": "Asked by email"})
    body = r.json()
    assert r.status_code == 200 and body["groups"] == ["Reseller"] and body["email"] == "budi@toko.id"
    assert body["opted_out"] is True and body["opted_out_reason"] == "Asked by email"
    assert (await admin.delete(f"/contacts/{c['id']}")).status_code == 204
    assert (await admin.get(f"/contacts/{c['id']}")).status_code == 404
    r = await admin.post("/contacts", json={"phone": "0062 812 3456 7890", "name": "Budi Baru"})
    assert r.status_code == 201 and r.json()["id"] == c["id"] and r.json()["name"] == "Budi Baru"


async def test_bad_bodies_are_422_with_the_field(admin):  # noqa: F811
    for body, field in (({"phone": "0812-ABC"}, "phone"), ({"phone": "+6281234567890", "email": "x"}, "email"),
                        ({"phone": "+6281234567890", "fields": {"nope": 1}}, "nope")):
        r = await admin.post("/contacts", json=body)
        assert r.status_code == 422 and field in r.json()["error"]["details"], r.text
    r = await admin.post("/contacts", json={"phone": "+6281234567890", "colour": "red"})
    assert r.status_code in (400, 422), "unknown keys are refused"
    r = await admin.post("/contacts", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert (await admin.get("/contacts", params={"limit": 501})).status_code == 422
    assert (await admin.get("/contacts", params={"cursor": "@@@"})).status_code == 422
    assert (await admin.get("/contacts", params={"group": "Nope"})).status_code == 422


async def test_list_search_filter_and_cursor_pages(admin):  # noqa: F811
    for i in range(5):
        await admin.post("/contacts", json={"phone": f"+6281234567{i:03d}", "name": f"Toko {i}",
                                            "groups": ["Grosir"] if i % 2 else []})
    await admin.post("/contacts", json={"phone": "+60123456789", "name": "Kedai KL"})
    names, cursor = [], None
    while True:
        r = await admin.get("/contacts", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        page = r.json()
        names += [c["name"] for c in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names == ["Kedai KL", "Toko 0", "Toko 1", "Toko 2", "Toko 3", "Toko 4"]
    found = (await admin.get("/contacts", params={"q": "0812 3456 7003"})).json()["data"]
    assert [c["name"] for c in found] == ["Toko 3"]
    grosir = (await admin.get("/contacts", params={"group": "grosir"})).json()["data"]
    assert [c["name"] for c in grosir] == ["Toko 1", "Toko 3"]
    first = (await admin.get("/contacts")).json()["data"][0]["id"]
    await admin.patch(f"/contacts/{first}", json={"opted_out": True})
    out = (await admin.get("/contacts", params={"opted_out": "true"})).json()["data"]
    assert [c["id"] for c in out] == [first]


async def test_import_reports_counts_and_rejected_rows(admin):  # noqa: F811
    content = ("name;phone;groups\nBudi;+62 812 3456 7890;VIP|Jakarta\nSiti;0812-ABC;\n\n"
               "Dewi;+62 813 1111 2222;\nBudi twin;+6281234567890;\n").encode("utf-8-sig")
    r = await admin.post("/contacts/import", files={"file": ("c.csv", content, "text/csv")},
                         data={"group": "Pameran", "on_duplicate": "update"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"], result["skipped"]) == (2, 0, 0) and result["status"] == "done"
    assert [e["row"] for e in result["errors"]] == [3, 6]
    groups = {g["name"]: g["contacts"] for g in (await admin.get("/groups")).json()}
    assert groups == {"VIP": 1, "Jakarta": 1, "Pameran": 2}
    r = await admin.post("/contacts/import", files={"file": ("junk.csv", os.urandom(1024 * 1024), "text/csv")})
    assert r.status_code == 422 and r.json()["error"]["details"] == {"file": r.json()["error"]["message"]}
    r = await admin.post("/contacts/import", files={"file": ("c.csv", content, "text/csv")},
                         data={"on_duplicate": "merge"})
    assert r.status_code == 422
    r = await admin.post("/contacts/import", files={"other": ("c.csv", content, "text/csv")})
    assert r.status_code == 422 and "error" in r.json(), "no file field"


async def test_export_and_groups(admin):  # noqa: F811
    await admin.post("/contacts", json={"phone": "+6281234567890", "name": "=1+1"})
    r = await admin.get("/contacts/export", params={"bom": "true"})
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    row = next(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert row["name"] == "'=1+1" and row["phone"] == "+6281234567890"
    r = await admin.post("/groups", json={"name": "VIP", "color": "#ff0000"})
    assert r.status_code == 201 and r.json()["color"] == "#ff0000"
    assert (await admin.post("/groups", json={"name": "vip"})).status_code == 409
    assert (await admin.post("/groups", json={"name": "X", "color": "red"})).status_code == 422
    gid = r.json()["id"]
    assert (await admin.delete(f"/groups/{gid}")).status_code == 204
    assert (await admin.delete(f"/groups/{gid}")).status_code == 404


async def test_agent_tokens_cannot_delete_import_export_or_manage_groups(agent):  # noqa: F811
    r = await agent.post("/contacts", json={"phone": "+6281234567890"})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert (await agent.patch(f"/contacts/{cid}", json={"name": "Budi"})).status_code == 200
    assert (await agent.delete(f"/contacts/{cid}")).status_code == 403
    assert (await agent.get("/contacts/export")).status_code == 403
    assert (await agent.post("/groups", json={"name": "VIP"})).status_code == 403
    r = await agent.post("/contacts/import", files={"file": ("c.csv", b"phone\n+6281234567891\n", "text/csv")})
    assert r.status_code == 403


async def test_tokens_see_only_their_own_workspace(client, owner, admin):  # noqa: F811
    r = await admin.post("/contacts", json={"phone": "+6281234567890", "name": "Budi"})
    cid = r.json()["id"]
    from tests.conftest import form_post

    r = await form_post(client, "/workspaces/new", {"name": "Cabang Dua"})
    other_slug = str(r.url).split("/w/")[1].split("/")[0]
    other = Api(client, await make_token(client, other_slug, "admin"))
    assert (await other.get(f"/contacts/{cid}")).status_code == 404
    assert (await other.get("/contacts")).json()["data"] == []
