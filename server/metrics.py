"""Prometheus metrics of the server (served at /metrics)."""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class _Metrics:
    connections: Gauge
    games_started: Counter
    games_recorded: Counter
    messages_in: Counter
    messages_out: Counter
    protocol_errors: Counter
    guesses: Counter
    guess_failures: Counter
    guess_latency: Histogram
    timer_lateness: Histogram
    slow_clients: Counter
    store_outages: Counter
    resyncs: Counter
    store_failures: Counter


METRICS = _Metrics(
    connections=Gauge("dq_connections", "Tablets connected to this process"),
    games_started=Counter("dq_games_started_total", "Games started"),
    games_recorded=Counter("dq_games_recorded_total", "Finished games handed to the result sink"),
    messages_in=Counter("dq_messages_in_total", "Messages received from tablets"),
    messages_out=Counter("dq_messages_out_total", "Messages sent to tablets"),
    protocol_errors=Counter("dq_protocol_errors_total", "Error messages sent", ["code"]),
    guesses=Counter("dq_guesses_total", "Guesses computed"),
    guess_failures=Counter("dq_guess_failures_total", "Guesses that failed"),
    guess_latency=Histogram(
        "dq_guess_latency_seconds", "Recognition time per guess", buckets=_LATENCY_BUCKETS_S
    ),
    timer_lateness=Histogram(
        "dq_timer_lateness_seconds", "How late stage timers fired", buckets=_LATENCY_BUCKETS_S
    ),
    slow_clients=Counter("dq_slow_clients_total", "Tablets closed for not keeping up"),
    resyncs=Counter("dq_resyncs_total", "Tablets sent the game's state again after the "
                    "store's subscription was lost and made again"),
    store_outages=Counter("dq_store_outages_total",
                          "Times the game store became unreachable, seen by a loop", ["loop"]),
    store_failures=Counter("dq_store_failures_total",
                           "Attempts of a loop that failed because the store was unreachable",
                           ["loop"]),
)


class _PoolCollector:
    """Reads the inference pool's own counters at scrape time (no bookkeeping on the hot path)."""

    def __init__(self) -> None:
        self.pool: object | None = None

    def collect(self):  # type: ignore[no-untyped-def]
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        pool = self.pool
        stats = getattr(pool, "stats", None)
        if stats is None:
            return
        queued = GaugeMetricFamily("dq_inference_queued", "Inference requests waiting for a worker")
        waiting = getattr(pool, "queued", 0)
        queued.add_metric([], float(waiting() if callable(waiting) else waiting))
        yield queued
        cached = getattr(pool, "cached_drawings", None)
        if callable(cached):
            held = GaugeMetricFamily("dq_inference_cached_drawings",
                                     "Drawings whose incremental raster the workers hold")
            held.add_metric([], float(cached()))
            yield held
        for name, help_text in (
            ("submitted", "Inference requests submitted"),
            ("completed", "Inference requests answered"),
            ("superseded", "Requests replaced by a newer one for the same drawing"),
            ("rejected", "Requests refused because the queue was full"),
            ("retried", "Requests retried after a worker crash"),
            ("crashed", "Requests failed by a worker crash"),
            ("worker_restarts", "Inference workers replaced"),
            ("batches", "Batches run"),
            ("batch_items", "Requests run in batches"),
        ):
            counter = CounterMetricFamily(f"dq_inference_{name}", help_text)
            counter.add_metric([], float(getattr(stats, name, 0)))
            yield counter


POOL_COLLECTOR = _PoolCollector()
REGISTRY.register(POOL_COLLECTOR)
