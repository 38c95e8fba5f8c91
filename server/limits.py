"""Per-connection rate limits (pure: `now_s` is passed in)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved up."""

    rate_per_s: float
    burst: float
    tokens: float = field(init=False)
    updated_s: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now_s: float, amount: float = 1.0) -> bool:
        """Take `amount` tokens if there are enough; False (and nothing taken) otherwise."""
        if self.updated_s is not None:
            self.tokens = min(self.burst, self.tokens + (now_s - self.updated_s) * self.rate_per_s)
        self.updated_s = now_s
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass
class FloodGuard:
    """Throttles a tablet that sends too much, and tells when to disconnect it.

    A message over the budget is refused (the tablet gets `rate_limited`); after
    `max_violations` refusals within `violation_window_s` the connection should be closed.
    """

    messages: TokenBucket
    points: TokenBucket
    max_violations: int = 50
    violation_window_s: float = 10.0
    _violations: list[float] = field(default_factory=list)

    @classmethod
    def create(cls, *, messages_per_s: float, points_per_s: float, max_violations: int = 50) -> FloodGuard:
        return cls(
            messages=TokenBucket(messages_per_s, messages_per_s * 2),
            points=TokenBucket(points_per_s, points_per_s * 2),
            max_violations=max_violations,
        )

    def admit(self, now_s: float, points: int = 0) -> bool:
        """True if a message with `points` points may be handled now."""
        ok = self.messages.take(now_s) and (points == 0 or self.points.take(now_s, points))
        if not ok:
            self._violation(now_s)
        return ok

    def admit_points(self, now_s: float, points: int) -> bool:
        """True if a stroke's `points` may be handled now (its message was admitted already,
        before it was parsed)."""
        ok = self.points.take(now_s, points)
        if not ok:
            self._violation(now_s)
        return ok

    def _violation(self, now_s: float) -> None:
        self._violations = [t for t in self._violations if now_s - t < self.violation_window_s]
        self._violations.append(now_s)

    def should_disconnect(self) -> bool:
        return len(self._violations) >= self.max_violations
