"""Client-side limits: requests per minute, tokens per minute, and requests in flight.

The per-minute limits are token buckets refilled continuously at ``limit / 60`` per second that
hold at most one second of budget, so requests go out as a smooth stream rather than a burst at
the top of each minute: over any window of ``T`` seconds at most ``limit * (T + 1) / 60`` requests
(or tokens, plus one request's worth) are sent. A request larger than the bucket waits for a full
bucket and leaves it in debt, so huge documents cannot stall forever nor exceed the average rate.

A 429 reply pauses every new request for the server's Retry-After (see :meth:`RateLimiter.cool_down`).
Bucket levels live on the limiter object, so they carry over between shards; the asyncio primitives
are made per event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class TokenBucket:
    """``rate`` units per second, at most ``capacity`` stored."""

    def __init__(self, per_minute: float, burst_seconds: float = 1.0, minimum_capacity: float = 1.0) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(minimum_capacity, self.rate * burst_seconds)
        self.level = self.capacity
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self, cost: float) -> float:
        """Seconds until ``cost`` may be taken (0 when it may be taken now)."""
        self._refill(time.monotonic())
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, cost: float) -> None:
        self._refill(time.monotonic())
        self.level -= cost

    def give_back(self, amount: float) -> None:
        """Return over-estimated units (or, with a negative amount, charge the shortfall)."""
        self._refill(time.monotonic())
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Admission control for requests; use ``async with limiter.slot(tokens):`` around each request."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_concurrent: int | None = None,
    ) -> None:
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self.max_concurrent = max_concurrent
        self.paused_until = 0.0
        self._loop: Any = None
        self._semaphore: asyncio.Semaphore | None = None
        self._lock: asyncio.Lock | None = None

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.max_concurrent) if self.max_concurrent else None
            self._lock = asyncio.Lock()

    def cool_down(self, seconds: float) -> None:
        """Hold back every new request for ``seconds`` (after a 429)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def _admit(self, tokens: float) -> None:
        if self.requests is None and self.tokens is None and self.paused_until <= time.monotonic():
            return
        assert self._lock is not None
        async with self._lock:  # FIFO: the first waiter is served first
            while True:
                wait = self.paused_until - time.monotonic()
                if self.requests is not None:
                    wait = max(wait, self.requests.wait_time(1))
                if self.tokens is not None:
                    wait = max(wait, self.tokens.wait_time(tokens))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests is not None:
                self.requests.take(1)
            if self.tokens is not None:
                self.tokens.take(tokens)

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the token bucket once the real usage of a request is known."""
        if self.tokens is not None and actual > 0:
            self.tokens.give_back(estimated - actual)

    def slot(self, tokens: float = 0.0) -> _Slot:
        self._bind()
        return _Slot(self, tokens)


class _Slot:
    def __init__(self, limiter: RateLimiter, tokens: float) -> None:
        self.limiter = limiter
        self.tokens = tokens

    async def __aenter__(self) -> _Slot:
        semaphore = self.limiter._semaphore
        if semaphore is not None:
            await semaphore.acquire()
        try:
            await self.limiter._admit(self.tokens)
        except BaseException:
            if semaphore is not None:
                semaphore.release()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.limiter._semaphore is not None:
            self.limiter._semaphore.release()
