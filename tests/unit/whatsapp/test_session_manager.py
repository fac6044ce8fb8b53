"""The session manager driving real sandbox engines on real SQLite files, with timers shortened for tests."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import pytest

from blazz.whatsapp.backoff import Backoff
from blazz.whatsapp.events import Connected, Event, Inbound, MediaRef, StateChanged
from blazz.whatsapp.protocol import AccountSpec, Emit, EngineError, OutgoingMessage, SendError
from blazz.whatsapp.sandbox import SandboxEngine
from blazz.whatsapp.session_manager import SessionManager
from tests.unit.whatsapp.conftest import Recorder, until

CUSTOMER = "+6281234567890"


class StuckEngine:
    """Outside behaviour seen with neonize on a silent network: start() returns, nothing arrives, stop() hangs."""

    def __init__(self, spec: AccountSpec, emit: Emit):
        self.spec = spec

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await asyncio.Event().wait()

    async def logout(self) -> None:
        return None

    async def send(self, message: OutgoingMessage) -> str:
        raise SendError("not_connected", "not connected", retry=True)

    async def check_numbers(self, phones: list[str]) -> dict[str, bool]:
        return {}

    async def download_media(self, ref: MediaRef) -> bytes:
        return b""

    async def mark_read(self, chat: str, provider_ids: list[str], sender: str | None = None) -> None:
        return None

    async def typing(self, to: str, on: bool) -> None:
        return None

    async def request_pair_code(self, phone: str) -> str:
        raise EngineError("unsupported", "no pair codes")


class RefusingEngine(StuckEngine):
    """start() fails at once with the EngineError code named in the settings (like bad credentials would)."""

    async def start(self) -> None:
        raise EngineError(self.spec.settings["refuse"], f"refused with {self.spec.settings['refuse']}")

    async def stop(self) -> None:
        return None


def factory(created: list[AccountSpec] | None = None) -> Callable[[AccountSpec, Emit], object]:
    """Sandbox engines, or a test double when the settings ask for one; records every engine built."""

    def make(spec: AccountSpec, emit: Emit):
        if created is not None:
            created.append(spec)
        double = {"stuck": StuckEngine, "refuse": RefusingEngine}.get(spec.settings.get("double", ""))
        return (double or SandboxEngine)(spec, emit)

    return make


def states(recorder: Recorder, key=(1, 1), after: int = 0) -> list[str]:
    return [e.state for e in recorder.events[after:] if isinstance(e, StateChanged) and e.key == key]


async def connect(manager: SessionManager, spec: AccountSpec) -> SandboxEngine:
    await manager.start_account(spec)
    await until(lambda: manager.state(spec.key).state == "connected")
    engine = manager.engine(spec.key)
    assert isinstance(engine, SandboxEngine)
    return engine


async def test_first_start_shows_a_qr_then_connects_after_the_scan(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(phone="+628111000111")
    status = await manager.start_account(spec)
    assert status.state in ("starting", "qr") and status.engine == "sandbox"
    await until(lambda: manager.state(spec.key).state == "qr")
    shown = manager.state(spec.key)
    assert shown.qr and shown.qr.startswith("2@") and shown.qr_expires_at and shown.qr_expires_at > time.time()
    await manager.engine(spec.key).scan()
    await until(lambda: manager.state(spec.key).state == "connected")
    assert states(recorder) == ["starting", "qr", "connected"]
    status = manager.state(spec.key)
    assert status.phone == "+628111000111" and status.qr is None and status.last_event_at
    assert recorder.of(Connected)[0].phone == "+628111000111"  # engine events are forwarded too


async def test_send_goes_through_only_while_connected(manager, sandbox_spec) -> None:
    spec = sandbox_spec(linked=True)
    with pytest.raises(SendError) as err:
        await manager.send(spec.key, OutgoingMessage(to=CUSTOMER, text="hi"))
    assert err.value.code == "not_connected" and err.value.retry
    engine = await connect(manager, spec)
    provider_id = await manager.send(spec.key, OutgoingMessage(to=CUSTOMER, text="hi"))
    assert [d["provider_id"] for d in engine.delivered()] == [provider_id]
    assert await manager.check_numbers(spec.key, [CUSTOMER]) == {CUSTOMER: True}
    await manager.typing(spec.key, CUSTOMER, True)
    await manager.mark_read(spec.key, CUSTOMER, [provider_id])
    assert [a["action"] for a in engine.activity()] == ["typing", "mark_read"]


async def test_a_dropped_connection_is_retried_with_backoff(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    old = await connect(manager, spec)
    mark = len(recorder.events)
    await old.configure(disconnect=True)
    failed = await recorder.wait_for(StateChanged, lambda e: e.state == "failed", after=mark)
    assert failed.detail == "Simulated network drop" and failed.retry_at and failed.retry_at > time.time() - 1
    await recorder.wait_for(StateChanged, lambda e: e.state == "connected", after=mark)
    assert states(recorder, after=mark) == ["failed", "starting", "connected"]
    status = manager.state(spec.key)
    assert status.reconnects == 1 and status.last_error == "Simulated network drop" and status.retry_at is None
    assert manager.engine(spec.key) is not old  # one engine per connection life


async def test_repeated_connect_failures_keep_retrying_until_connected(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    manager.add_account(spec)
    await manager.engine(spec.key).configure(fail_connects=3)
    await manager.start_account(spec)
    await until(lambda: manager.state(spec.key).state == "connected", within=10)
    assert states(recorder).count("failed") == 3
    assert manager.state(spec.key).reconnects == 3


def test_backoff_doubles_to_its_cap_with_bounded_jitter() -> None:
    steady = Backoff(2.0, 300.0, rng=lambda: 0.5)
    assert [steady.next() for _ in range(10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    steady.reset()
    assert steady.next() == 2
    low, high = Backoff(2.0, 300.0, jitter=0.2, rng=lambda: 0.0), Backoff(2.0, 300.0, jitter=0.2, rng=lambda: 1.0)
    assert (low.next(), high.next()) == pytest.approx((1.6, 2.4))
    for _ in range(1000):
        high.next()
    assert high.next() == 300.0


async def test_a_temporary_ban_pauses_the_account_then_resumes(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    engine = await connect(manager, spec)
    mark = len(recorder.events)
    await engine.configure(ban_for_s=0.4)
    banned = await recorder.wait_for(StateChanged, lambda e: e.state == "banned", after=mark)
    assert banned.retry_at and banned.detail == "Simulated temporary ban"
    assert manager.health()["status"] == "degraded"
    with pytest.raises(SendError) as err:
        await manager.send(spec.key, OutgoingMessage(to=CUSTOMER, text="hi"))
    assert err.value.code == "not_connected"
    await recorder.wait_for(StateChanged, lambda e: e.state == "connected", after=mark)
    assert time.time() >= banned.retry_at
    assert states(recorder, after=mark) == ["banned", "starting", "connected"]


async def test_logged_out_by_the_phone_is_not_retried(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    engine = await connect(manager, spec)
    mark = len(recorder.events)
    await engine.configure(unlink=True)
    await until(lambda: manager.state(spec.key).state == "logged_out")
    await asyncio.sleep(0.4)  # longer than the longest backoff here
    assert states(recorder, after=mark) == ["logged_out"]
    await manager.start_account(spec)
    await until(lambda: manager.state(spec.key).state == "qr")


async def test_an_unscanned_qr_is_stopped_in_time(sandbox_spec, recorder) -> None:
    manager = SessionManager(recorder, qr_timeout=0.2)
    spec = sandbox_spec()
    try:
        await manager.start_account(spec)
        stopped = await recorder.wait_for(StateChanged, lambda e: e.state == "stopped", within=3)
        assert stopped.detail == "QR code not scanned in time"
        assert manager.engine(spec.key).phase == "stopped"
        await manager.start_account(spec)  # the number is free again
        await until(lambda: manager.state(spec.key).state == "qr")
    finally:
        await manager.close()


async def test_a_second_start_of_a_live_account_is_refused(sandbox_spec, recorder) -> None:
    created: list[AccountSpec] = []
    manager = SessionManager(recorder, engine_factory=factory(created))
    spec = sandbox_spec(linked=True)
    try:
        await manager.start_account(spec)
        with pytest.raises(EngineError) as err:
            await manager.start_account(spec)
        assert err.value.code == "already_connected"
        other = sandbox_spec(account_id=2, linked=True)
        results = await asyncio.gather(manager.start_account(other), manager.start_account(other),
                                       return_exceptions=True)
        assert sum(isinstance(r, EngineError) and r.code == "already_connected" for r in results) == 1
        assert [s.key for s in created] == [spec.key, other.key]
    finally:
        await manager.close()


async def test_another_manager_on_the_same_folder_cannot_connect_the_number(manager, sandbox_spec) -> None:
    spec = sandbox_spec(linked=True)
    await connect(manager, spec)
    rival = SessionManager(Recorder())
    try:
        with pytest.raises(EngineError) as err:
            await rival.start_account(spec)
        assert err.value.code == "already_connected"
        await manager.stop_account(spec.key)
        await rival.start_account(spec)
        await until(lambda: rival.state(spec.key).state == "connected")
    finally:
        await rival.close()


async def test_logout_means_a_qr_on_the_next_start(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    await connect(manager, spec)
    status = await manager.logout(spec.key)
    assert status.state == "logged_out" and status.phone is None
    await manager.start_account(spec)
    await until(lambda: manager.state(spec.key).state == "qr")


async def test_logout_of_a_stopped_account_unlinks_it(manager, sandbox_spec) -> None:
    spec = sandbox_spec(linked=True)
    manager.add_account(spec)
    assert (await manager.logout(spec.key)).state == "logged_out"
    await manager.start_account(spec)
    await until(lambda: manager.state(spec.key).state == "qr")


async def test_stop_keeps_the_login_and_cancels_pending_retries(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    manager.add_account(spec)
    await manager.engine(spec.key).configure(fail_connects=100)
    await manager.start_account(spec)
    await recorder.wait_for(StateChanged, lambda e: e.state == "failed")
    assert (await manager.stop_account(spec.key)).state == "stopped"
    mark = len(recorder.events)
    await asyncio.sleep(0.4)
    assert states(recorder, after=mark) == []
    await manager.engine(spec.key).configure(fail_connects=0)
    await connect(manager, spec)  # still linked: no QR needed


async def test_pair_code_for_an_invalid_phone_is_refused(manager, sandbox_spec) -> None:
    spec = sandbox_spec()
    manager.add_account(spec)
    for phone in ("0812-3456-7890", "12345", "+62 abc 123", "", "+0 811 222 333", "+999 1234 5678 9012 3456"):
        with pytest.raises(EngineError) as err:
            await manager.request_pair_code(spec.key, phone)
        assert err.value.code == "invalid_phone" and "country code" in err.value.reason
    assert manager.state(spec.key).state == "stopped"  # nothing was started for a bad number


async def test_pair_code_starts_the_account_and_links_that_number(manager, sandbox_spec) -> None:
    spec = sandbox_spec()
    manager.add_account(spec)
    code = await manager.request_pair_code(spec.key, "+62 813-9999-0000")
    status = manager.state(spec.key)
    assert status.state == "pairing" and status.pair_code == code and len(code) == 8
    await manager.engine(spec.key).scan()
    await until(lambda: manager.state(spec.key).state == "connected")
    assert manager.state(spec.key).phone == "+6281399990000"
    with pytest.raises(EngineError) as err:
        await manager.request_pair_code(spec.key, "+6281399990000")
    assert err.value.code == "already_connected"


async def test_start_errors_that_retrying_cannot_fix_are_final(sandbox_spec, recorder) -> None:
    manager = SessionManager(recorder, backoff_base=0.05, backoff_cap=0.1, engine_factory=factory())
    spec = sandbox_spec(double="refuse", refuse="auth_failed")
    try:
        with pytest.raises(EngineError) as err:
            await manager.start_account(spec)
        assert err.value.code == "auth_failed"
        await asyncio.sleep(0.3)
        status = manager.state(spec.key)
        assert (status.state, status.detail, status.retry_at) == ("failed", "refused with auth_failed", None)
        assert states(recorder, key=spec.key) == ["starting", "failed"]
    finally:
        await manager.close()


async def test_network_errors_at_start_are_retried(sandbox_spec, recorder) -> None:
    created: list[AccountSpec] = []
    manager = SessionManager(recorder, backoff_base=0.05, backoff_cap=0.1, engine_factory=factory(created))
    spec = sandbox_spec(double="refuse", refuse="network")
    try:
        status = await manager.start_account(spec)
        assert status.state == "failed" and status.retry_at is not None
        await until(lambda: len(created) >= 3)
        assert manager.health()["status"] == "degraded"
    finally:
        await manager.close()


async def test_an_engine_that_never_connects_is_timed_out_and_retried(sandbox_spec, recorder) -> None:
    created: list[AccountSpec] = []
    manager = SessionManager(recorder, backoff_base=0.05, backoff_cap=0.1, connect_timeout=0.2, stop_timeout=0.1,
                             engine_factory=factory(created))
    spec = sandbox_spec(double="stuck")
    try:
        await manager.start_account(spec)
        failed = await recorder.wait_for(StateChanged, lambda e: e.state == "failed", within=3)
        assert failed.detail == "Connecting took too long" and failed.retry_at
        await until(lambda: len(created) >= 2)
    finally:
        await manager.close()


async def test_close_stops_every_session_quickly_without_reporting_them_stopped(sandbox_spec, recorder) -> None:
    manager = SessionManager(recorder, stop_timeout=0.5, engine_factory=factory())
    specs = [sandbox_spec(account_id=i, linked=True) for i in range(1, 11)]
    for spec in specs:
        await manager.start_account(spec)
    await manager.start_account(sandbox_spec(account_id=99, double="stuck"))
    await until(lambda: all(manager.state(s.key).state == "connected" for s in specs))
    engines = [manager.engine(s.key) for s in specs]
    mark = len(recorder.events)
    began = time.monotonic()
    await manager.close()
    assert time.monotonic() - began < 1.5  # bounded by stop_timeout even with a stuck engine
    assert all(e.phase == "stopped" for e in engines)
    # Persisted states must still say "connected" so the next startup restores these accounts.
    assert not [e for e in recorder.events[mark:] if isinstance(e, StateChanged)]
    assert manager.health()["status"] == "closed"
    assert SessionManager(recorder)._stop_timeout == 5.0  # the production bound on close()


async def test_a_failing_downstream_handler_is_logged_and_nothing_is_lost(sandbox_spec, caplog) -> None:
    received: list[Event] = []

    async def fragile(event: Event) -> None:
        received.append(event)
        if isinstance(event, StateChanged | Connected):
            raise RuntimeError("the store is on fire")

    manager = SessionManager(fragile)
    spec = sandbox_spec(linked=True)
    try:
        with caplog.at_level(logging.ERROR, logger="blazz.whatsapp.session_manager"):
            await manager.start_account(spec)
            await until(lambda: manager.state(spec.key).state == "connected")
            await manager.engine(spec.key).inbound(CUSTOMER, "still here?")
        failures = [r for r in caplog.records if "downstream handler failed" in r.getMessage()]
        assert failures and all(r.exc_info and "store is on fire" in str(r.exc_info[1]) for r in failures)
        assert any(isinstance(e, Inbound) for e in received)  # later events still flow
    finally:
        await manager.close()


async def test_the_executor_grows_with_whatsapp_web_sessions(sandbox_spec, recorder) -> None:
    manager = SessionManager(recorder, engine_factory=factory())
    base = sandbox_spec(linked=True)
    spec = AccountSpec(base.key, "whatsapp_web", base.settings, base.folder)
    try:
        await manager.start_account(spec)
        assert manager.health()["executor_workers"] >= 2 * 1 + 16
        thread = await asyncio.get_running_loop().run_in_executor(None, lambda: threading.current_thread().name)
        assert thread.startswith("blazz-wa")
    finally:
        await manager.close()


async def test_states_and_health_cover_every_known_account(manager, sandbox_spec) -> None:
    await connect(manager, sandbox_spec(account_id=1, linked=True))
    manager.add_account(sandbox_spec(account_id=2, workspace_id=7))
    assert set(manager.states()) == {(1, 1), (7, 2)}
    health = manager.health()
    assert health["status"] == "ok" and health["accounts"] == 2
    assert health["states"] == {"connected": 1, "stopped": 1}
    assert manager.state((9, 9)).state == "stopped" and manager.engine((9, 9)) is None
    await manager.remove((1, 1))
    assert set(manager.states()) == {(7, 2)}


async def test_an_unknown_engine_name_fails_with_a_clear_reason(manager, tmp_path) -> None:
    spec = AccountSpec((1, 5), "carrier_pigeon", {}, tmp_path / "pigeon")  # type: ignore[arg-type]
    with pytest.raises(EngineError) as err:
        await manager.start_account(spec)
    assert err.value.code == "unknown_engine"
    assert manager.state(spec.key).state == "failed"


class SlowRecorder(Recorder):
    """A downstream that takes its time over state changes, like a store writing them to disk."""

    async def __call__(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            await asyncio.sleep(0.05)
        await super().__call__(event)


async def test_a_ban_found_at_start_is_recorded_and_resumed_even_as_the_engine_stops(sandbox_spec) -> None:
    # The engine reports the ban from its own task; our reaction stops the engine, which cancels that task
    # while the slow downstream is still busy with it. Nothing may be cut short: state, then resume.
    recorder = SlowRecorder()
    manager = SessionManager(recorder)
    spec = sandbox_spec(linked=True)
    try:
        manager.add_account(spec)
        await manager.engine(spec.key).configure(ban_for_s=0.5)
        await manager.start_account(spec)
        banned = await recorder.wait_for(StateChanged, lambda e: e.state == "banned")
        assert banned.retry_at
        await recorder.wait_for(StateChanged, lambda e: e.state == "connected", within=5)
        assert states(recorder) == ["starting", "banned", "starting", "connected"]
    finally:
        await manager.close()


async def test_an_owner_action_completes_even_if_its_caller_is_cancelled(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    request = asyncio.create_task(manager.start_account(spec))
    await asyncio.sleep(0)
    request.cancel()  # the browser went away mid-request
    await until(lambda: manager.state(spec.key).state == "connected")
    stopping = asyncio.create_task(manager.stop_account(spec.key))
    await asyncio.sleep(0)
    stopping.cancel()
    await until(lambda: manager.state(spec.key).state == "stopped")


async def test_stopping_a_banned_account_cancels_the_resume(manager, sandbox_spec, recorder) -> None:
    spec = sandbox_spec(linked=True)
    engine = await connect(manager, spec)
    await engine.configure(ban_for_s=0.3)
    await until(lambda: manager.state(spec.key).state == "banned")
    status = await manager.stop_account(spec.key)
    assert (status.state, status.retry_at) == ("stopped", None)
    await asyncio.sleep(0.5)
    assert manager.state(spec.key).state == "stopped"  # no resume after the ban ended


async def test_retries_while_waiting_for_a_scan_do_not_restart_the_qr_clock(sandbox_spec, recorder) -> None:
    manager = SessionManager(recorder, backoff_base=0.05, backoff_cap=0.1, qr_timeout=0.5)
    spec = sandbox_spec()
    try:
        await manager.start_account(spec)
        began = time.monotonic()
        while manager.state(spec.key).state != "stopped" and time.monotonic() - began < 4:
            engine = manager.engine(spec.key)
            if manager.state(spec.key).state == "qr":
                await engine.configure(disconnect=True)  # the login socket drops while the code is shown
            await asyncio.sleep(0.02)
        status = manager.state(spec.key)
        assert (status.state, status.detail) == ("stopped", "QR code not scanned in time")
        assert states(recorder).count("failed") >= 2
    finally:
        await manager.close()
