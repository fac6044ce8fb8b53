"""Which class runs which engine, imported only when an account of that engine exists.

Importing neonize costs ~54 MB (its Go runtime), so nothing here imports an engine module until
`create_engine` is asked for one. Every engine class is constructed as `Cls(spec, emit)`, cheaply (no network,
no waiting).

How every engine behaves (the session manager relies on this; the three engines follow it):

- One instance is one connection life: the manager calls `start()` once and `stop()` once, and builds a new
  instance for the next attempt. `stop()` must be safe to call after a failed start and more than once.
- `start()` returns as soon as connecting has begun. It raises `EngineError` only for failures known at once;
  codes in `RETRYABLE_START_CODES` (network, timeout, unavailable, rate_limited) are retried with backoff, any
  other code (auth_failed, invalid_settings ...) is final until the user connects again. Any other exception
  from `start()` counts as a retryable failure and is logged.
- Everything later arrives through `emit`, possibly even before `start()` returns:
  `QrCode` (each rotation, with `expires_at`) or `PairCode` while waiting for the phone;
  `Connected(phone)` once usable;
  `Disconnected(reason, will_retry=True)` when the engine reconnects by itself (the manager waits);
  `Disconnected(reason, will_retry=False)` when the connection failed or dropped for good (the manager stops
  this instance and retries with backoff);
  `LoggedOut(reason)` when the phone unlinked the device (no retry; a new QR is needed);
  `TemporaryBan(expires_at)` (the manager stops and resumes after `expires_at`; a non-finite or non-positive
  `expires_at` means a permanent ban: no retry).
  Inbound, Receipt and HistoryBatch carry data.
- `emit` never raises: the manager logs any failure downstream; engines must not assume an event was stored.
- `send()` raises `SendError`; `SendError("not_connected", ..., retry=True)` when called while not connected.
- `request_pair_code(phone)` receives digits only, country code first, no "+" (what whatsmeow expects); the
  manager validates the number before calling.
- `logout()` may be called on an instance that was never started: it then forgets the stored login locally.
"""

from __future__ import annotations

import importlib

from blazz.whatsapp.protocol import AccountSpec, Emit, Engine, EngineError

# name -> "module:Class"; the module is imported on first use only.
ENGINE_CLASSES: dict[str, str] = {
    "whatsapp_web": "blazz.whatsapp.whatsapp_web:WhatsAppWebEngine",
    "cloud_api": "blazz.whatsapp.cloud_api:CloudApiEngine",
    "sandbox": "blazz.whatsapp.sandbox:SandboxEngine",
}

# EngineError codes from start() that mean "try again later" rather than "fix the settings".
RETRYABLE_START_CODES = frozenset({"network", "timeout", "unavailable", "rate_limited"})


def engine_class(name: str) -> type:
    """The engine class registered under `name`, importing its module now."""
    target = ENGINE_CLASSES.get(name)
    if target is None:
        known = ", ".join(sorted(ENGINE_CLASSES))
        raise EngineError("unknown_engine", f"There is no WhatsApp engine called {name!r} (known: {known}).")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_engine(spec: AccountSpec, emit: Emit) -> Engine:
    """A new, not yet started engine for one account."""
    return engine_class(spec.engine)(spec, emit)
