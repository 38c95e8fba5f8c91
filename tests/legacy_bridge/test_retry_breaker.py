"""The pure parts: the backoff schedule and the circuit breaker (time passed in)."""
from legacy_bridge.breaker import BreakerState, CircuitBreaker
from legacy_bridge.errors import (
    AuthenticationFailed, NotJsonResponse, ServerError, ServiceTimeout, ServiceUnreachable,
)
from legacy_bridge.retry import RetryPolicy, backoff_delays, is_retryable


def test_backoff_grows_exponentially_and_is_capped_without_jitter():
    policy = RetryPolicy(attempts=6, base_delay_s=0.5, factor=2, max_delay_s=3, jitter=0)
    assert backoff_delays(policy) == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_stays_within_its_fraction_of_the_wait():
    policy = RetryPolicy(attempts=4, base_delay_s=1, factor=2, max_delay_s=10, jitter=0.5)
    assert backoff_delays(policy, rand=lambda: 1.0) == [0.5, 1.0, 2.0]
    assert backoff_delays(policy, rand=lambda: 0.0) == [1.0, 2.0, 4.0]


def test_one_attempt_means_no_retry():
    assert backoff_delays(RetryPolicy(attempts=1)) == []


def test_only_transient_errors_are_retried():
    for e in (ServiceUnreachable("x"), ServiceTimeout("x"), ServerError("x"),
              NotJsonResponse("x")):
        assert is_retryable(e)
    assert not is_retryable(AuthenticationFailed("x"))
    assert not is_retryable(ValueError("x"))


def test_breaker_opens_after_threshold_and_half_opens_after_reset():
    b = CircuitBreaker(failure_threshold=3, reset_after_s=10)
    for t in range(2):
        b.record_failure(float(t))
    assert b.state(2.0) is BreakerState.CLOSED and b.allow(2.0)
    b.record_failure(2.0)
    assert b.state(2.0) is BreakerState.OPEN
    assert not b.allow(11.9)
    assert b.retry_in_s(5.0) == 7.0
    assert b.state(12.0) is BreakerState.HALF_OPEN
    assert b.allow(12.0)          # one trial
    assert not b.allow(12.1)      # not two at once
    b.record_failure(12.5)        # the trial failed: open again, timer restarted
    assert b.state(20.0) is BreakerState.OPEN
    assert b.allow(22.5)
    b.record_success(22.6)
    assert b.state(22.6) is BreakerState.CLOSED


def test_success_resets_the_failure_count():
    b = CircuitBreaker(failure_threshold=2, reset_after_s=1)
    b.record_failure(0)
    b.record_success(0)
    b.record_failure(0)
    assert b.state(0) is BreakerState.CLOSED
