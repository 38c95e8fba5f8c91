"""The topic source: registry check, settings, last good set kept and served while away."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from legacy_bridge import open_bridge
from legacy_bridge.breaker import CircuitBreaker
from legacy_bridge.client import TopicsClient
from legacy_bridge.retry import RetryPolicy
from legacy_bridge.source import SpringTopicSource
from legacy_bridge.standin import Fault
from legacy_bridge.store import FileSnapshotStore, RedisSnapshotStore

from .conftest import known_labels, wait_for

FAST = RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.002)


class WallClock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def make_source(server, store, *, key="test-key", wall=None, known=known_labels, **kw):
    client = TopicsClient(server.url, key, retry=FAST,
                          breaker=kw.pop("breaker", CircuitBreaker(failure_threshold=50)))
    return SpringTopicSource(client, store, known, wall_clock=wall or WallClock(),
                             refresh_interval_s=kw.pop("refresh_interval_s", 60), **kw)


def skipped_count(category: str) -> float:
    return REGISTRY.get_sample_value("doodle_bridge_topics_skipped_total",
                                     {"category": category, "reason": "unknown_label"}) or 0.0


async def test_active_recognisable_topics_with_settings(standin, tmp_path):
    before = skipped_count("animals")
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"))
    cats = await source.categories()
    assert [c.code for c in cats] == ["animals", "food"]  # inactive "old" left out
    animals, food = cats
    assert animals.labels == ("cat", "dog", "house plant")  # unicorn: no model; fish: inactive
    assert (animals.name_ko, animals.name_en) == ("동물", "Animals")
    assert (animals.stage_count, animals.age_min, animals.age_max) == (5, 3, 7)
    assert (food.stage_count, food.age_min, food.age_max) == (None, None, None)
    assert animals.topics[0].name_ko == "고양이" and animals.topics[0].time_limit_s == 40.0
    assert animals.topics[1].time_limit_s is None  # null: the game's default
    assert skipped_count("animals") == before + 1
    assert source.status()["skipped"] == ["animals/unicorn"]
    await source.client.aclose()


async def test_one_set_of_all_known_labels_works_too(standin, tmp_path):
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"),
                         known={"cat", "dog", "apple", "banana"})
    cats = await source.categories()
    assert [(c.code, c.labels) for c in cats] == [("animals", ("cat", "dog")),
                                                  ("food", ("apple", "banana"))]
    await source.client.aclose()


async def test_a_category_no_model_serves_is_left_out(standin, state, tmp_path):
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"),
                         known=lambda code: frozenset() if code == "food" else known_labels(code))
    assert [c.code for c in await source.categories()] == ["animals"]
    await source.client.aclose()


async def test_stale_topics_are_served_during_an_outage(standin, state, tmp_path):
    wall = WallClock()
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"), wall=wall,
                         stale_after_s=600)
    assert (await source.refresh()).ok
    good = await source.categories()
    assert source.status()["state"] == "fresh"
    await standin.astop()
    wall.now += 3600
    result = await source.refresh()
    assert not result.ok and "ServiceUnreachable" in result.error
    assert await source.categories() == good
    status = source.status()
    assert status["state"] == "stale" and status["age_s"] == 3600.0
    assert "ServiceUnreachable" in status["last_error"]
    assert REGISTRY.get_sample_value("doodle_bridge_topics_age_seconds") == 3600.0
    # 5xx and HTML from the proxy: still the last good set
    await standin.astart()
    state.mode = Fault("html", 502)
    assert not (await source.refresh()).ok
    assert await source.categories() == good
    state.mode = None
    assert (await source.refresh()).ok
    assert source.status()["state"] == "fresh" and source.status()["last_error"] is None
    await source.client.aclose()


@pytest.mark.parametrize("backend", ["file", "redis"])
async def test_a_restart_during_an_outage_serves_the_stored_set(standin, tmp_path, backend,
                                                                redis_client, unique_key):
    def store():
        if backend == "redis":
            return RedisSnapshotStore(redis_client, unique_key)
        return FileSnapshotStore(tmp_path / "t.json")

    first = make_source(standin, store())
    good = await first.categories()
    await first.client.aclose()
    await standin.astop()
    second = make_source(standin, store())  # a new process, the service still down
    assert await second.categories() == good
    assert good[0].topics[0].name_ko == "고양이"  # Korean survives the store
    assert second.status()["state"] == "fresh"
    assert not (await second.refresh()).ok
    assert await second.categories() == good
    assert second.status()["state"] == "fresh"
    assert "ServiceUnreachable" in second.status()["last_error"]
    await second.client.aclose()
    if backend == "redis":
        await redis_client.delete(unique_key)


async def test_a_bad_key_is_reported_clearly(standin, tmp_path):
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"), key="wrong")
    assert await source.categories() == []
    status = source.status()
    assert status["state"] == "empty"
    assert "AuthenticationFailed" in status["last_error"] and "401" in status["last_error"]
    assert "LEGACY_API_KEY" in status["last_error"]
    await source.client.aclose()


async def test_the_fallback_is_served_when_nothing_was_ever_fetched(standin, tmp_path):
    class Bundled:
        async def categories(self):
            return ["bundled"]

    await standin.astop()
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"), fallback=Bundled())
    assert await source.categories() == ["bundled"]
    await source.client.aclose()


async def test_open_bridge_refreshes_on_schedule_and_on_demand(standin, state, tmp_path):
    async with open_bridge(standin.url, "test-key", known_labels=known_labels,
                           data_dir=tmp_path, refresh_interval_s=3600,
                           retry=FAST) as source:
        await wait_for(lambda: source.status()["state"] == "fresh")
        assert (tmp_path / "topics-last-good.json").exists()
        state.topics[4].append({"topicId": 203, "categoryId": 4, "label": "apple pie",
                                "displayName": "사과파이", "active": True})
        state.topics[4][-1]["label"] = "banana"  # a duplicate label is offered once only
        state.topics[4].insert(0, {"topicId": 200, "categoryId": 4, "label": "Apple ",
                                   "displayName": "사과!", "active": True, "timeLimitSec": 0})
        result = await source.refresh()
        assert result.ok and result.changed
        food = [c for c in await source.categories() if c.code == "food"][0]
        assert food.labels == ("apple", "banana")
        assert food.topics[0].name_ko == "사과!" and food.topics[0].time_limit_s is None
        unchanged = await source.refresh()
        assert unchanged.ok and not unchanged.changed


async def test_a_slow_first_refresh_serves_the_fallback_meanwhile(standin, state, tmp_path):
    class Bundled:
        async def categories(self):
            return ["bundled"]

    state.fail_next(1, Fault("delay", delay_s=1.0))
    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"), fallback=Bundled(),
                         initial_wait_s=0.1)
    assert await source.categories() == ["bundled"]  # did not wait for the slow service
    await wait_for(lambda: source.status()["state"] == "fresh", timeout_s=10)
    assert [c.code for c in await source.categories()] == ["animals", "food"]
    assert state.count() == 3  # one refresh in all: categories + 2 topic lists
    await source.client.aclose()


async def test_a_failing_registry_offers_nothing_rather_than_crashing(standin, tmp_path):
    def broken(code: str) -> frozenset[str]:
        raise RuntimeError("registry not loaded")

    source = make_source(standin, FileSnapshotStore(tmp_path / "t.json"), known=broken)
    assert await source.categories() == []
    assert (tmp_path / "t.json").exists()  # the fetched set is still kept
    await source.client.aclose()
