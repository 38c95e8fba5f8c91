"""A circuit breaker. Pure: the caller passes `now` (seconds, monotonic) to every call.

closed --(`failure_threshold` consecutive failures)--> open
open   --(`reset_after_s` elapsed)--> half_open: one trial request is let through
half_open --success--> closed;  half_open --failure--> open again (timer restarts)
"""
from __future__ import annotations

from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calling a failing service for a while, then probes it with a single request."""

    def __init__(self, *, failure_threshold: int = 5, reset_after_s: float = 30.0) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    def state(self, now: float) -> BreakerState:
        """The state at time `now`."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if now - self._opened_at >= self.reset_after_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self, now: float) -> bool:
        """Whether a request may be sent now. In half-open, only one trial at a time."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def abandon(self) -> None:
        """A request let through ended without an answer either way (e.g. cancelled)."""
        self._trial_in_flight = False

    def record_success(self, now: float) -> None:
        """The service answered usefully: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self, now: float) -> None:
        """The service failed transiently: count it; open (or re-open) when over the threshold."""
        self._trial_in_flight = False
        if self._opened_at is not None:
            # A failed half-open trial (or a straggler while open) re-opens with a fresh timer.
            self._opened_at = now
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = now

    def retry_in_s(self, now: float) -> float:
        """Seconds until the next trial is allowed (0 when requests may go now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_after_s - now)
