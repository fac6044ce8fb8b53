"""API tokens in Settings, the per-token rate limit, /api/v1/workspace, the OpenAPI document and the docs page."""

from __future__ import annotations

import re

from blazz import audit
from blazz.web.api.rate_limit import RateLimiter
from tests.conftest import form_post
from tests.web.test_api_base import make_token


async def test_owner_creates_a_token_once_uses_it_and_revokes_it(client, owner):
    base = f"/w/{owner.slug}/settings/api-tokens"
    r = await client.get(base)
    assert r.status_code == 200 and "Create an API token" in r.text and "/api/docs" in r.text
    r = await form_post(client, base + "/", {"name": "", "role": "agent"}, htmx=True)
    assert r.status_code == 422 and "Give the token a name" in r.text
    r = await form_post(client, base + "/", {"name": "Order system", "role": "admin"}, htmx=True)
    token = re.search(r"blz_[\w-]+", r.text).group(0)
    assert "will not be shown again" in r.text
    page = (await client.get(base)).text
    assert token not in page and "Order system" in page and "never" in page

    headers = {"Authorization": f"Bearer {token}"}
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["role"] == "admin" and me["token_name"] == "Order system"
    token_id = int(re.search(r"/api-tokens/(\d+)/revoke", page).group(1))
    r = await form_post(client, f"{base}/{token_id}/revoke", {}, htmx=True)
    assert r.status_code == 200 and "revoked" in r.text
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    rt = client.app.state.runtime
    actions = [e.action for e in await audit.recent(await rt.workspace_by_slug(owner.slug))]
    assert "api_token.created" in actions and "api_token.revoked" in actions


async def test_every_answer_carries_ratelimit_headers_and_the_limit_gives_429(client, owner):
    token = await make_token(client, owner.slug, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    r = await client.get("/api/v1/me", headers=headers)
    assert r.headers["ratelimit-limit"] == "60" and r.headers["ratelimit-policy"] == "60;w=1"
    assert int(r.headers["ratelimit-remaining"]) == 59
    r = await client.get("/api/v1/contacts/999", headers=headers)  # errors count and carry them too
    assert r.status_code == 404 and "ratelimit-remaining" in r.headers

    base = f"/w/{owner.slug}/settings/api-tokens"
    r = await form_post(client, base + "/rate", {"rate_limit": "0"}, htmx=True)
    assert r.status_code == 422 and "from 1 to 1000" in r.text
    r = await form_post(client, base + "/rate", {"rate_limit": "3"}, htmx=True)
    assert r.status_code == 200 and "Saved" in r.text
    statuses = [(await client.get("/api/v1/me", headers=headers)).status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.headers["ratelimit-limit"] == "3" and r.headers["ratelimit-remaining"] == "0"
    body = r.json()["error"]
    assert body["code"] == "rate_limited" and body["details"]["retry_after"] >= 1
    # The limit is per token: another token of the same workspace has its own bucket.
    other = {"Authorization": f"Bearer {await make_token(client, owner.slug)}"}
    assert (await client.get("/api/v1/me", headers=other)).status_code == 200


def test_token_bucket_refills_at_its_rate():
    limiter = RateLimiter()
    decisions = [limiter.take("t", 2, now=100.0) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False] and decisions[2].retry_after_s == 1
    assert limiter.take("t", 2, now=100.5).allowed  # half a second refills one of two
    assert not limiter.take("t", 2, now=100.5).allowed
    assert limiter.take("t", 2, now=102.0).remaining == 1


async def test_workspace_settings_through_the_api(client, owner):
    admin = {"Authorization": f"Bearer {await make_token(client, owner.slug, 'admin')}"}
    agent = {"Authorization": f"Bearer {await make_token(client, owner.slug, 'agent')}"}
    r = await client.get("/api/v1/workspace", headers=agent)
    assert r.json() == {"id": 1, "slug": owner.slug, "name": "Toko Sinar", "timezone": "UTC", "default_region": None,
                        "opt_out_words": ["STOP", "BERHENTI", "UNSUBSCRIBE"], "media_retention_days": None}
    r = await client.patch("/api/v1/workspace", headers=agent, json={"name": "Mine"})
    assert r.status_code == 403
    r = await client.patch("/api/v1/workspace", headers=admin, json={
        "name": "  Toko   Sinar Jaya ", "timezone": "Asia/Jakarta", "default_region": "id",
        "opt_out_words": ["stop", "Berhenti", "STOP"]})
    assert r.status_code == 200
    assert r.json() == {"id": 1, "slug": owner.slug, "name": "Toko Sinar Jaya", "timezone": "Asia/Jakarta",
                        "default_region": "ID", "opt_out_words": ["STOP", "BERHENTI"], "media_retention_days": None}
    # The region now applies to national numbers given to other endpoints.
    r = await client.post("/api/v1/contacts", headers=admin, json={"phone": "0812-3456-7890"})
    assert r.json()["phone"] == "+6281234567890"
    r = await client.patch("/api/v1/workspace", headers=admin, json={"default_region": None})
    assert r.json()["default_region"] is None

    for body, field in (({"timezone": "Mars/Olympus"}, "timezone"), ({"default_region": "XX"}, "default_region"),
                        ({"name": ""}, "name"), ({"colour": "red"}, "colour"), ({"timezone": 7}, "timezone"),
                        ({"opt_out_words": "STOP"}, "opt_out_words"), ({"name": "x" * 81}, "name")):
        r = await client.patch("/api/v1/workspace", headers=admin, json=body)
        assert r.status_code == 422, body
        assert field in r.json()["error"]["details"], (body, r.json())
    # A bad field changes nothing, not even the valid ones beside it.
    r = await client.patch("/api/v1/workspace", headers=admin, json={"name": "Renamed", "timezone": "Nowhere"})
    assert r.status_code == 422
    assert (await client.get("/api/v1/workspace", headers=admin)).json()["name"] == "Toko Sinar Jaya"
    r = await client.patch("/api/v1/workspace", headers={**admin, "Content-Type": "application/json"},
                           content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = await client.patch("/api/v1/workspace", headers={**admin, "Content-Type": "application/json"},
                           content=b'{"name": "' + b"a" * (50 * 1024 * 1024) + b'"}')
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    rt = client.app.state.runtime
    actions = [e.action for e in await audit.recent(await rt.workspace_by_slug(owner.slug))]
    assert "workspace.renamed" in actions and "workspace.settings_changed" in actions


async def test_openapi_document_lists_api_routes_only_and_documents_errors(client):
    r = await client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = set(doc["paths"])
    assert {"/api/v1/me", "/api/v1/workspace", "/api/v1/webhooks", "/api/v1/webhooks/{webhook_id}/deliveries",
            "/api/v1/contacts"} <= paths
    assert all(p.startswith("/api/v1/") for p in paths)  # no HTML page, no /health, no /webhooks/cloud
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "Blazz-Signature" in doc["info"]["description"] and "hmac" in doc["info"]["description"]
    create = doc["paths"]["/api/v1/webhooks"]["post"]
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert "413" in create["responses"] and "Retry-After" in create["responses"]["429"]["headers"]
    assert "secret" in doc["components"]["schemas"]["NewWebhookOut"]["properties"]


async def test_docs_page_uses_only_vendored_files(client):
    r = await client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "validatorUrl: null" in r.text and "/api/v1/openapi.json" in r.text
    assert not re.search(r"""(src|href)=["']https?://""", r.text)  # nothing from a CDN
    for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", r.text):
        assert (await client.get(asset)).status_code == 200, asset
