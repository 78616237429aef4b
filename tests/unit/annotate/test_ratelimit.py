"""Token buckets, the concurrency cap and the 429 cool-down, with real clocks."""

from __future__ import annotations

import asyncio
import time

from bonepick.annotate.ratelimit import RateLimiter, TokenBucket


async def _run(limiter: RateLimiter, count: int, tokens: float = 0, hold: float = 0.0) -> list[float]:
    starts: list[float] = []

    async def one() -> None:
        async with limiter.slot(tokens):
            starts.append(time.monotonic())
            if hold:
                await asyncio.sleep(hold)

    await asyncio.gather(*(one() for _ in range(count)))
    return starts


def test_requests_per_minute_smooth_after_one_second_of_burst():
    starts = asyncio.run(_run(RateLimiter(requests_per_minute=1200), 30))  # 20/s
    t0 = starts[0]
    assert sum(1 for t in starts if t - t0 < 0.01) == 20  # the burst
    for i, t in enumerate(starts):
        assert t - t0 >= (i - 20) / 20 - 0.02
    assert 0.45 <= starts[-1] - t0 <= 1.0


def test_tokens_per_minute_and_large_requests_go_into_debt():
    limiter = RateLimiter(tokens_per_minute=60_000)  # 1,000/s, bucket of 1,000
    starts = asyncio.run(_run(limiter, 4, tokens=400))
    assert starts[1] - starts[0] < 0.02 and starts[2] - starts[0] >= 0.19  # 400 + 400 + 400 > 1,000
    big = asyncio.run(_run(RateLimiter(tokens_per_minute=60_000), 2, tokens=3000))
    assert big[1] - big[0] >= 2.9  # the first leaves 2,000 of debt, the second waits for a full bucket


def test_settle_returns_overestimates():
    limiter = RateLimiter(tokens_per_minute=60_000)
    asyncio.run(_run(limiter, 1, tokens=1000))
    limiter.settle(1000, 100)
    assert limiter.tokens is not None and limiter.tokens.level >= 899


def test_concurrency_cap_and_cool_down():
    limiter = RateLimiter(max_concurrent=3)
    peak = 0
    active = 0

    async def main() -> None:
        async def one() -> None:
            nonlocal peak, active
            async with limiter.slot():
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.01)
                active -= 1

        await asyncio.gather(*(one() for _ in range(12)))
        limiter.cool_down(0.2)
        started = time.monotonic()
        async with limiter.slot():
            assert time.monotonic() - started >= 0.19

    asyncio.run(main())
    assert peak == 3


def test_bucket_wait_time():
    bucket = TokenBucket(per_minute=600)  # 10/s, capacity 10
    bucket.take(10)
    assert 0.09 <= bucket.wait_time(1) <= 0.11
