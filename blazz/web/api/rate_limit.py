"""Per-token rate limit for /api/v1: a token bucket per bearer token, `RateLimit-*` headers on every answer, and
429 with `Retry-After` when the bucket is empty.

The rate is a workspace setting (`api_rate_limit`, requests per second for each of its tokens; Settings → API
tokens); the bucket holds one second's worth, so a token may burst that many requests at once. Headers follow the
IETF RateLimit header fields draft as most servers send it today: `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` (seconds) and `RateLimit-Policy` (`60;w=1`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from blazz import api_tokens
from blazz.errors import Invalid
from blazz.store import api_tokens as tokens_store
from blazz.store import ws_settings
from blazz.store.database import Database

DEFAULT_RATE = 60  # shared/API.md: 60 requests per second, burst 60
MIN_RATE, MAX_RATE = 1, 1000
SETTING = "api_rate_limit"
RATE_TTL_S = 30.0  # how long a token's looked-up rate is trusted (a change in Settings clears it at once)
MAX_BUCKETS = 10_000  # garbage tokens must not grow memory without bound


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    rate: int
    rate_until: float


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"ratelimit-limit", str(self.limit).encode()), (b"ratelimit-remaining", str(self.remaining).encode()),
               (b"ratelimit-reset", str(self.reset_s).encode()), (b"ratelimit-policy", f"{self.limit};w=1".encode())]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after_s).encode()))
        return out


class RateLimiter:
    """Buckets by token (or by client address for requests without one); one per app."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, rate: int, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._evict(now)
            bucket = self._buckets[key] = _Bucket(float(rate), now, rate, 0.0)
        capacity = float(rate)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        reset = math.ceil((capacity - bucket.tokens) / rate) if bucket.tokens < capacity else 0
        retry = 0 if allowed else max(1, math.ceil((1.0 - bucket.tokens) / rate))
        return Decision(allowed, rate, int(bucket.tokens), reset, retry)

    def cached_rate(self, key: str, now: float) -> int | None:
        bucket = self._buckets.get(key)
        return bucket.rate if bucket is not None and bucket.rate_until > now else None

    def remember_rate(self, key: str, rate: int, now: float) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(rate), now, rate, 0.0)
        bucket.rate, bucket.rate_until = rate, now + RATE_TTL_S

    def forget_rates(self) -> None:
        """Look every token's rate up again (the setting changed)."""
        for bucket in self._buckets.values():
            bucket.rate_until = 0.0

    def _evict(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * b.rate >= b.rate]
        for key in full or sorted(self._buckets, key=lambda k: self._buckets[k].updated)[: MAX_BUCKETS // 10]:
            del self._buckets[key]


def limiter_of(app) -> RateLimiter:
    limiter = getattr(app.state, "api_rate_limiter", None)
    if limiter is None:
        limiter = app.state.api_rate_limiter = RateLimiter()
    return limiter


def check_rate(value: object) -> int:
    try:
        rate = int(str(value).strip())
    except (TypeError, ValueError):
        rate = 0
    if not MIN_RATE <= rate <= MAX_RATE:
        # Bounds as plain digits ("1000"), the way people type the number into the field.
        raise Invalid("rate_limit", "Use a whole number of requests per second from %(min)s to %(max)s.",
                      min=str(MIN_RATE), max=str(MAX_RATE))
    return rate


async def workspace_rate(db: Database) -> int:
    stored = await ws_settings.get(db, SETTING)
    try:
        return check_rate(stored) if stored is not None else DEFAULT_RATE
    except Invalid:
        return DEFAULT_RATE


async def set_workspace_rate(app, db: Database, value: object) -> int:
    rate = check_rate(value)
    await ws_settings.put_many(db, {SETTING: rate})
    limiter_of(app).forget_rates()
    return rate


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class RateLimitMiddleware:
    """ASGI middleware on the API router: runs before authentication, so floods are refused cheaply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        litestar_app = scope["litestar_app"]
        limiter = limiter_of(litestar_app)
        token = _bearer(scope)
        if token:
            key = "t:" + hashlib.sha256(token.encode()).hexdigest()
            rate = await self._rate(litestar_app, limiter, key, token)
        else:
            client = scope.get("client")
            key, rate = "a:" + (client[0] if client else "?"), DEFAULT_RATE
        decision = limiter.take(key, rate)
        if not decision.allowed:
            await _too_many(send, decision)
            return
        extra = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _rate(self, app, limiter: RateLimiter, key: str, token: str) -> int:
        now = time.monotonic()
        rate = limiter.cached_rate(key, now)
        if rate is not None:
            return rate
        rate = DEFAULT_RATE
        runtime = app.state.runtime
        if token.startswith(api_tokens.PREFIX) and len(token) <= 200:
            stored = await tokens_store.by_hash(runtime.app_db, api_tokens.hash_token(token))
            if stored is not None and stored.revoked_at is None:
                rate = await workspace_rate(await runtime.dbs.workspace(stored.workspace_id))
        limiter.remember_rate(key, rate, now)
        return rate


async def _too_many(send: Send, decision: Decision) -> None:
    body = json.dumps({"error": {
        "code": "rate_limited",
        "message": f"Too many requests for this token (at most {decision.limit} per second). "
                   f"Retry after {decision.retry_after_s} s.",
        "details": {"retry_after": decision.retry_after_s, "limit": decision.limit},
    }}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *decision.headers()]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
