"""The garbage-collection policy of long-running processes (inference/gc_policy.py)."""
from __future__ import annotations

import gc
import weakref

import pytest

from inference.gc_policy import IdleCollector, settle_after_startup


class _Node:
    """An object that can sit in a reference cycle (and be watched with a weak reference)."""

    def __init__(self) -> None:
        self.other: object = None


def _make_cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def restore_gc():
    enabled, frozen_before = gc.isenabled(), gc.get_freeze_count()
    yield
    if frozen_before == 0:
        gc.unfreeze()
    if enabled:
        gc.enable()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_settle_freezes_what_is_alive_so_collections_skip_it(restore_gc) -> None:
    kept = [[i] for i in range(1000)]
    frozen = settle_after_startup()
    assert frozen >= len(kept)
    assert not any(o is kept for o in gc.get_objects())  # frozen objects are not walked


def test_idle_collector_switches_automatic_collection_off_and_back(restore_gc) -> None:
    gc.enable()
    collector = IdleCollector()
    assert not gc.isenabled()
    collector.close()
    assert gc.isenabled()


def test_idle_collector_collects_cycles_only_when_idle_and_due(restore_gc) -> None:
    clock = _Clock()
    collector = IdleCollector(interval_s=300.0, clock=clock)
    try:
        cycle = _make_cycle()
        assert cycle() is not None  # no automatic collection frees it
        assert collector.step(idle=True) is False  # idle, but not due yet
        clock.now = 301.0
        assert collector.step(idle=False) is False  # due, but a batch is waiting
        assert cycle() is not None
        assert collector.step(idle=True) is True
        assert cycle() is None
        assert collector.collections == 1 and collector.collected >= 2
        assert collector.step(idle=True) is False  # the interval starts again
    finally:
        collector.close()


def test_idle_collector_collects_a_busy_worker_once_garbage_piles_up(restore_gc) -> None:
    clock = _Clock()
    collector = IdleCollector(interval_s=300.0, force_after=1000, clock=clock)
    try:
        cycle = _make_cycle()
        assert collector.step(idle=False) is False
        piled = [[i] for i in range(2000)]  # allocations since the last collection
        assert collector.step(idle=False) is True  # never idle, still collected
        assert cycle() is None
        del piled
    finally:
        collector.close()
