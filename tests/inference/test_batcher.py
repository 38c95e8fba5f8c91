"""The batching policy, driven by hand with explicit times (no clock, no I/O)."""
from __future__ import annotations

import pytest

from inference.batcher import Batcher, BatchPolicy, Entry, QueueFullError
from inference.errors import OverloadedError


def make(max_batch_size=3, max_wait_ms=5.0, max_queue=10) -> Batcher:
    return Batcher(BatchPolicy(max_batch_size, max_wait_ms, max_queue))


def test_partial_batch_waits_until_max_wait_then_goes():
    b = make()
    b.submit("a", 1, now_ms=100.0)
    b.submit("b", 2, now_ms=102.0)
    assert not b.ready(104.9)
    assert b.take(104.9) == []
    assert b.next_deadline_ms() == 105.0
    assert b.ready(105.0)
    assert [e.item for e in b.take(105.0)] == [1, 2]
    assert len(b) == 0 and b.next_deadline_ms() is None


def test_full_batch_goes_at_once_oldest_first_and_the_rest_waits():
    b = make(max_batch_size=3)
    for i, key in enumerate("abcde"):
        b.submit(key, i, now_ms=10.0 + i)
    assert b.ready(10.0)
    assert [e.item for e in b.take(15.0)] == [0, 1, 2]
    assert len(b) == 2
    assert not b.ready(15.0)  # d, e: partial, the oldest (13.0) has waited 2 ms of 5
    assert b.next_deadline_ms() == 18.0


def test_zero_wait_dispatches_whatever_is_queued():
    b = make(max_wait_ms=0)
    b.submit("a", 1, now_ms=0.0)
    assert b.ready(0.0)
    assert [e.item for e in b.take(0.0)] == [1]


def test_force_takes_a_partial_batch_early():
    b = make()
    b.submit("a", 1, now_ms=0.0)
    assert [e.item for e in b.take(0.0, force=True)] == [1]


def test_latest_wins_replaces_in_place_keeping_position_and_time():
    b = make()
    b.submit("a", "a1", now_ms=0.0)
    b.submit("b", "b1", now_ms=1.0)
    assert b.submit("a", "a2", now_ms=4.0) == "a1"  # the replaced item comes back to the owner
    assert len(b) == 2
    assert b.next_deadline_ms() == 5.0  # still timed from the first request of the drawing
    entries = b.take(5.0)
    assert [(e.key, e.item) for e in entries] == [("a", "a2"), ("b", "b1")]


def test_full_queue_refuses_new_drawings_but_accepts_replacements():
    b = make(max_queue=2)
    b.submit("a", 1, now_ms=0.0)
    b.submit("b", 2, now_ms=0.0)
    with pytest.raises(QueueFullError, match="full") as info:
        b.submit("c", 3, now_ms=0.0)
    assert isinstance(info.value, OverloadedError)
    assert b.submit("a", 4, now_ms=0.0) == 1  # a newer stroke of a queued drawing: no growth
    assert len(b) == 2


def test_requeue_goes_first_even_when_full_and_yields_to_newer_requests():
    b = make(max_queue=2)
    taken = [Entry("x", "x1", 0.0, attempts=1), Entry("y", "y1", 0.0, attempts=1)]
    b.submit("y", "y2", now_ms=3.0)  # a newer request for y arrived while y1 was in flight
    b.submit("z", "z1", now_ms=4.0)
    superseded = b.requeue(taken)
    assert superseded == [("y1", "y2")]
    assert len(b) == 3  # over max_queue: retries are never refused
    assert b.ready(4.0)  # x has been waiting since 0.0
    assert [(e.key, e.item, e.attempts) for e in b.take(4.0)] == [
        ("x", "x1", 1), ("y", "y2", 0), ("z", "z1", 0)]


def test_drain_empties_the_queue():
    b = make()
    b.submit("a", 1, now_ms=0.0)
    assert [e.item for e in b.drain()] == [1]
    assert len(b) == 0 and not b.ready(1e9)


@pytest.mark.parametrize("kwargs", [{"max_batch_size": 0}, {"max_wait_ms": -1.0},
                                    {"max_queue": 0}])
def test_policy_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        BatchPolicy(**kwargs)
