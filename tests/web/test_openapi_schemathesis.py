"""Schemathesis over /api/v1/openapi.json against a real server: no 5xx and no answer outside the document.

Every operation gets a few generated requests (valid and invalid), made with an admin token; the checks are that
the server never fails, and that each answer's status, content type, headers and body match the document. The run
is bounded (`EXAMPLES` per operation, `BUDGET_S` in all) so it stays within a minute.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from blazz import api_tokens, workspaces
from blazz.config import Settings
from blazz.runtime import Runtime
from blazz.store import ws_settings
from blazz.web.api import rate_limit
from blazz.web.app import create_app

schemathesis = pytest.importorskip("schemathesis")
uvicorn = pytest.importorskip("uvicorn")

from hypothesis import HealthCheck, Phase, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 25
BUDGET_S = 50.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _prepare(settings: Settings) -> str:
    """An owner, a workspace, an admin token and a rate limit high enough for a fuzzer."""
    rt = Runtime(settings)
    await rt.start()
    try:
        _, row = await workspaces.create_owner_and_workspace(rt.app_db, "owner@shop.test", "a long password!",
                                                             "Owner", "Fuzz shop")
        token, _ = await api_tokens.create(rt.app_db, row.id, "Schemathesis", "admin")
        await ws_settings.put_many(await rt.dbs.workspace(row.id), {rate_limit.SETTING: rate_limit.MAX_RATE})
        return token
    finally:
        await rt.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz") / "data", start_whatsapp=False)
    token = asyncio.run(_prepare(settings))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="on"))
    thread = threading.Thread(target=srv.run, name="fuzz-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    srv.should_exit = True
    thread.join(15)


@pytest.mark.timeout(180)
def test_no_server_errors_and_no_schema_violations(server):
    base_url, token = server
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:
        if time.monotonic() - started > BUDGET_S:
            break

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's findings, report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
