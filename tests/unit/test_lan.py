"""LAN mode and HTTPS flags: the saved toggle, the URLs and QR codes for Settings, secure cookies, a trusted proxy."""

from __future__ import annotations

import httpx

from blazz import lan
from blazz.config import Settings
from tests.unit.blazz_process import started


def test_toggle_is_remembered_in_the_data_folder(tmp_path):
    assert lan.remembered(tmp_path) is False  # never set: loopback stays the default
    lan.remember(tmp_path, True)
    assert lan.remembered(tmp_path) is True
    lan.remember(tmp_path, False)
    assert lan.remembered(tmp_path) is False
    (tmp_path / lan.PREFERENCE_FILE).write_text("{not json")
    assert lan.remembered(tmp_path) is False
    (tmp_path / lan.PREFERENCE_FILE).write_text('["lan"]')
    assert lan.remembered(tmp_path) is False
    assert not (tmp_path / "network.tmp").exists()


def test_status_for_the_settings_page(tmp_path):
    local = lan.status(Settings(data_dir=tmp_path, host="127.0.0.1", port=8000))
    assert (local.enabled, local.remembered, local.urls) == (False, False, [])
    assert "own account" in local.warning
    lan.remember(tmp_path, True)
    shared = lan.status(Settings(data_dir=tmp_path, host="0.0.0.0", port=8123))
    assert shared.enabled and shared.remembered
    assert [u.url for u in shared.urls] == lan.lan_urls(8123)
    for item in shared.urls:
        assert item.url.startswith("http://") and item.url.endswith(":8123/")
        assert not item.url.startswith(("http://127.", "http://0."))
        assert item.qr_svg.startswith("<svg") and "<path" in item.qr_svg


def test_qr_svg_scales_with_its_box():
    svg = lan.qr_svg("http://192.168.1.20:8000/")
    assert svg.startswith("<svg") and 'width="' not in svg.split(">")[0]  # sized by CSS, not fixed pixels
    assert lan.qr_svg("http://192.168.1.20:8000/") == svg


def test_saved_toggle_makes_serve_listen_on_the_network(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lan.remember(data, True)
    with started("serve", "--port", "0", "--data-dir", str(data)) as app:
        assert "On your network: http://" in app.output() or "No network address found" in app.output()
        assert "staff need their own login" in app.output() or "Wi-Fi" in app.output()
        assert app.stop() == 0
    # An explicit --host wins over the saved toggle.
    with started("serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", str(data)) as app:
        assert "On your network" not in app.output()
        assert app.stop() == 0


def test_secure_cookies_flag_marks_cookies_and_explains_itself(tmp_path):
    with started("serve", "--port", "0", "--secure-cookies", "--data-dir", str(tmp_path / "data")) as app:
        assert "sign in through your https:// address" in app.output()
        r = httpx.get(app.url + "setup")
        csrf = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("blazz_csrf="))
        assert "secure" in csrf.lower()
        assert app.stop() == 0
    with started("serve", "--port", "0", "--data-dir", str(tmp_path / "plain")) as app:
        r = httpx.get(app.url + "setup")
        csrf = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("blazz_csrf="))
        assert "secure" not in csrf.lower()
        assert app.stop() == 0


def _failed_logins(url: str, client_ip: str, count: int) -> list[int]:
    """`count` wrong-password attempts that a proxy forwarded for `client_ip`; their status codes."""
    with httpx.Client(base_url=url, headers={"x-forwarded-for": client_ip, "x-forwarded-proto": "https"}) as c:
        c.get("/setup")
        token = c.cookies.get("blazz_csrf", "")
        return [c.post("/login", data={"email": "who@shop.test", "password": "wrong password!"},
                       headers={"x-csrftoken": token}).status_code for _ in range(count)]


def test_trusted_proxy_gives_each_client_its_own_login_limit(tmp_path):
    with started("serve", "--port", "0", "--trust-proxy", "127.0.0.1", "--data-dir", str(tmp_path / "d")) as app:
        assert _failed_logins(app.url, "203.0.113.7", 6)[-1] == 429
        assert _failed_logins(app.url, "203.0.113.8", 1) != [429]  # another shop assistant is not locked out
        assert app.stop() == 0
    # Without --trust-proxy the header is ignored: everyone behind the proxy shares one address and one limit.
    with started("serve", "--port", "0", "--data-dir", str(tmp_path / "e")) as app:
        assert _failed_logins(app.url, "203.0.113.7", 6)[-1] == 429
        assert _failed_logins(app.url, "203.0.113.8", 1) == [429]
        assert app.stop() == 0
