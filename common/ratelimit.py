"""Small cache-backed rate limits for code-sending paths.

The cache is Redis in any multi-process deployment, so the counters are shared by every web
process and worker; ``cache.add`` and ``cache.incr`` are atomic there.
"""

import contextlib
import math
import time

from django.core.cache import cache


class RateLimited(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def enforce_cooldown(key: str, seconds: int, what: str) -> None:
    """Allow one event per ``seconds`` for ``key``; raise RateLimited saying how long to wait."""
    cache_key = f"cooldown:{key}"
    now = time.time()
    if cache.add(cache_key, now, timeout=seconds):
        return
    started = cache.get(cache_key) or now
    retry_after = max(1, math.ceil(started + seconds - now))
    raise RateLimited(f"Please wait {_wait_text(retry_after)} before {what}.", retry_after)


def enforce_hourly_limit(key: str, limit: int, what: str) -> None:
    """Allow ``limit`` events per clock hour for ``key`` (a fixed window, so at most twice the
    limit can pass across an hour boundary; simple and shared by every process)."""
    window = 3600
    bucket = int(time.time() // window)
    cache_key = f"hourly:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window)
    count = cache.incr(cache_key)
    if count > limit:
        retry_after = int((bucket + 1) * window - time.time()) + 1
        raise RateLimited(
            f"Too many {what} in the last hour. Try again in {_wait_text(retry_after)}.",
            retry_after,
        )


IN_FLIGHT_SECONDS = 60  # longer than any password check; a crashed request's slot lapses after it


def begin_in_flight(key: str) -> int:
    """Count one more check under way for ``key``; return how many are under way, this one included.

    Atomic in Redis (``INCR``), so concurrent requests in every process each get their own number.
    """
    cache_key = f"inflight:{key}"
    cache.add(cache_key, 0, timeout=IN_FLIGHT_SECONDS)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # lapsed between add and incr
        cache.add(cache_key, 1, timeout=IN_FLIGHT_SECONDS)
        return 1
    cache.touch(cache_key, IN_FLIGHT_SECONDS)
    return max(1, int(count))


def end_in_flight(key: str) -> None:
    with contextlib.suppress(ValueError):  # lapsed already
        cache.decr(f"inflight:{key}")
