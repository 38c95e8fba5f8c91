"""The retry schedule: exponential backoff with full jitter. Pure: no clock, no sleeping.

`backoff_delays(...)` gives the waits between attempts; the caller sleeps them. Jitter spreads the
retries of many tablets' servers so a restarting Spring service is not hit by a synchronized herd.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BridgeError, TransientServiceError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Attributes:
        attempts: total attempts including the first (1 = no retry).
        base_delay_s: the wait before the first retry, before jitter.
        factor: growth of the wait per retry.
        max_delay_s: upper bound of any single wait.
        jitter: 0 = exact exponential waits; 1 = "full jitter" (uniform in [0, wait]).
    """

    attempts: int = 4
    base_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 8.0
    jitter: float = 0.5


def backoff_delays(policy: RetryPolicy, rand: Callable[[], float] = random.random) -> list[float]:
    """The waits (seconds) before retry 1, 2, ...: `policy.attempts - 1` values.

    Each wait is `min(max, base * factor**n)`, of which the `jitter` fraction is randomised
    downwards: `wait * (1 - jitter * rand())`, so it never exceeds the cap.
    """
    delays: list[float] = []
    for n in range(max(0, policy.attempts - 1)):
        wait = min(policy.max_delay_s, policy.base_delay_s * policy.factor**n)
        delays.append(wait * (1.0 - policy.jitter * rand()))
    return delays


def is_retryable(error: BaseException) -> bool:
    """Only transient service errors (refused, timeouts, 5xx, non-JSON) are retried; 4xx never."""
    return isinstance(error, TransientServiceError) and isinstance(error, BridgeError)
