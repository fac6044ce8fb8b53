"""Shared fixtures: a fresh data dir per test, the real app with its lifespan, and logged-in clients."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from blazz.config import Settings
from blazz.web.app import create_app

OWNER_EMAIL = "owner@shop.test"
OWNER_PASSWORD = "correct horse battery"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", start_whatsapp=False)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


def second_client(client: AsyncTestClient) -> httpx.AsyncClient:
    """Another browser on the same running app (shares the lifespan of `client`; use as `async with`)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app), base_url="http://testserver.local",
                             follow_redirects=True)


def csrf_of(client: AsyncTestClient | httpx.AsyncClient) -> str:
    return client.cookies.get("blazz_csrf", "")


async def form_post(client: AsyncTestClient | httpx.AsyncClient, url: str, data: dict, htmx: bool = False, **kw):
    """POST a form the way a browser does, with the CSRF token (fetching a page first if no token yet)."""
    if not csrf_of(client):
        await client.get("/login")
    headers = {"x-csrftoken": csrf_of(client)}
    if htmx:
        headers["hx-request"] = "true"
    return await client.post(url, data=data, headers=headers, **kw)


@dataclass
class Owner:
    email: str
    password: str
    slug: str


async def do_setup(client: AsyncTestClient, workspace: str = "Toko Sinar") -> Owner:
    await client.get("/setup")
    r = await form_post(client, "/setup", {"name": "Sari", "email": OWNER_EMAIL, "password": OWNER_PASSWORD,
                                           "workspace": workspace})
    assert r.status_code in (200, 302), r.text
    slug = re.search(r"/w/([a-z0-9-]+)/", str(r.url) + r.headers.get("location", "")).group(1)
    return Owner(OWNER_EMAIL, OWNER_PASSWORD, slug)


@pytest.fixture
async def owner(client: AsyncTestClient) -> Owner:
    return await do_setup(client)


async def login(client: AsyncTestClient | httpx.AsyncClient, email: str, password: str):
    await client.get("/login")
    return await form_post(client, "/login", {"email": email, "password": password})
