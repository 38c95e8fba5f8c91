"""The school's own categories: codes and groupings unlike the bundled ones, checked against the
shipped models' real registry (the pool's label masks follow each sync).

The stand-in serves `school_state()`: `animals` (with `unicorn`, which no Quick, Draw! model
knows, and the inactive `snake`), `food-and-plants` and `things` (no bundled code), `vehicles`,
and the inactive category `space`. Labels are chosen so that both the shipped 284-label model
and a 345-class one know every one of them but `unicorn`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from inference.errors import UnknownCategoryError, UnknownLabelError
from inference.registry import ModelRegistry
from legacy_bridge.breaker import CircuitBreaker
from legacy_bridge.client import TopicsClient
from legacy_bridge.retry import RetryPolicy
from legacy_bridge.source import SpringTopicSource
from legacy_bridge.standin import StandinServer, school_state
from legacy_bridge.standin.app import category, topic
from legacy_bridge.store import FileSnapshotStore
from server.routes import admin_topics

REPO = Path(__file__).resolve().parents[2]
BUNDLED = ModelRegistry.load(REPO / "models")  # read once: only its bundled codes are compared
FAST = RetryPolicy(attempts=1)
THINGS = ("book", "candle", "clock", "diamond", "eye", "guitar", "house", "rainbow", "snowman",
          "umbrella")


@pytest.fixture
def state():
    return school_state("test-key")


@pytest.fixture
def standin(state):
    server = StandinServer(state)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def registry() -> ModelRegistry:
    """The shipped models' registry, fresh: what the worker pool checks requests against."""
    return ModelRegistry.load(REPO / "models")


def make_source(server, registry, path) -> SpringTopicSource:
    client = TopicsClient(server.url, "test-key", retry=FAST,
                          breaker=CircuitBreaker(failure_threshold=50))
    return SpringTopicSource(client, FileSnapshotStore(path), registry, refresh_interval_s=60)


def skipped_total(category: str, reason: str) -> float:
    return REGISTRY.get_sample_value("doodle_bridge_topics_skipped_total",
                                     {"category": category, "reason": reason}) or 0.0


def test_the_school_uses_codes_and_groupings_the_bundled_file_does_not():
    # Guards the premise of this file: were the stand-in to drift back to bundled codes, these
    # tests would no longer prove anything.
    assert "things" not in BUNDLED.categories() and "food-and-plants" not in BUNDLED.categories()
    assert "bird" not in BUNDLED.known_labels("animals")  # bundled under birds_bugs
    assert BUNDLED.models_knowing("unicorn") == ()


async def test_every_topic_a_shipped_model_knows_is_served(standin, registry, tmp_path):
    source = make_source(standin, registry, tmp_path / "t.json")
    result = await source.refresh()
    assert result.ok
    cats = await source.categories()
    assert [c.code for c in cats] == ["animals", "food-and-plants", "things", "vehicles"]
    assert [len(c.topics) for c in cats] == [7, 5, 10, 4]
    assert (result.categories, result.topics) == (4, 26)
    assert result.skipped == ["animals/unicorn"] and result.dropped == []
    animals, food, things, vehicles = cats
    assert animals.labels == ("cat", "dog", "bird", "fish", "bee", "horse", "octopus")
    assert things.labels == THINGS
    # The category's settings and names, as the school wrote them.
    assert (things.name_ko, things.name_en) == ("물건", "Things")
    assert (things.stage_count, things.age_min, things.age_max) == (6, 5, 8)
    assert {t.time_limit_s for t in things.topics} == {60.0}
    assert food.topics[3].name_ko == "화분" and vehicles.stage_count == 3
    # The label masks are exactly the served topics, whatever the bundled file says.
    for c in cats:
        assert registry.known_labels(c.code) == frozenset(c.labels)
    model, index = registry.resolve("things", THINGS)
    assert model == registry.shared_model and len(set(index)) == 10
    with pytest.raises(UnknownLabelError):  # the bundled animals' "rabbit" is not the school's
        registry.resolve("animals", ("cat", "rabbit"))
    with pytest.raises(UnknownLabelError):
        registry.resolve("animals", ("cat", "unicorn"))
    await source.client.aclose()


async def test_the_report_says_per_category_what_is_played_and_why_not(standin, registry,
                                                                      tmp_path):
    source = make_source(standin, registry, tmp_path / "t.json")
    await source.refresh()
    report = {r["code"]: r for r in source.status()["report"]}
    assert list(report) == ["animals", "food-and-plants", "things", "vehicles", "space"]
    animals = report["animals"]
    assert animals["served"] and animals["reason"] is None
    assert [t["label"] for t in animals["playable"]] == ["cat", "dog", "bird", "fish", "bee",
                                                         "horse", "octopus"]
    why = {t["label"]: t["reason"] for t in animals["not_playable"]}
    assert set(why) == {"unicorn", "snake"}
    assert "cannot recognise drawings of 'unicorn'" in why["unicorn"]
    assert "not active" in why["snake"]
    assert report["space"]["served"] is False and "not active" in report["space"]["reason"]
    assert all(r["served"] and not r["not_playable"] for c, r in report.items()
               if c in ("food-and-plants", "things", "vehicles"))
    await source.client.aclose()


async def test_a_topic_moved_between_categories_moves_its_label(standin, state, registry,
                                                               tmp_path):
    source = make_source(standin, registry, tmp_path / "t.json")
    await source.refresh()
    registry.resolve("food-and-plants", ("apple", "tree"))
    tree = next(t for t in state.topics[4] if t["label"] == "tree")
    state.topics[4].remove(tree)
    state.topics[5].append({**tree, "categoryId": 5})
    result = await source.refresh()
    assert result.ok and result.changed
    cats = {c.code: c for c in await source.categories()}
    assert "tree" in cats["things"].labels and "tree" not in cats["food-and-plants"].labels
    registry.resolve("things", ("book", "tree"))
    with pytest.raises(UnknownLabelError, match="tree"):
        registry.resolve("food-and-plants", ("apple", "tree"))
    await source.client.aclose()


async def test_a_category_left_with_one_playable_topic_is_not_played(standin, state, registry,
                                                                     tmp_path):
    state.categories.append(category(9, "magic", "마법", "Magic", sort_order=5))
    state.topics[9] = [topic(901, 9, "unicorn", "유니콘"), topic(902, 9, "dragon", "용")]
    before = skipped_total("magic", "too_few_playable_topics")
    source = make_source(standin, registry, tmp_path / "t.json")
    result = await source.refresh()
    assert result.ok and result.dropped == ["magic"]
    assert "magic/unicorn" in result.skipped and "magic/dragon" not in result.skipped
    assert "magic" not in [c.code for c in await source.categories()]
    assert skipped_total("magic", "too_few_playable_topics") == before + 1
    magic = next(r for r in source.status()["report"] if r["code"] == "magic")
    assert magic["served"] is False and "only one of its topics" in magic["reason"]
    assert [t["label"] for t in magic["playable"]] == ["dragon"]
    assert source.status()["dropped"] == ["magic"]
    with pytest.raises(UnknownCategoryError):  # no mask for a category nobody may play
        registry.resolve("magic", ("dragon",))
    await source.client.aclose()


async def test_the_masks_follow_the_last_good_set_while_the_service_is_away(standin, registry,
                                                                           tmp_path):
    first = make_source(standin, registry, tmp_path / "t.json")
    await first.refresh()
    await first.client.aclose()
    await standin.astop()
    assert not (await first.refresh()).ok
    assert registry.known_labels("things") == frozenset(THINGS)  # kept, not emptied
    # A restart while the service is still down: the stored set sets the fresh masks.
    restarted = ModelRegistry.load(REPO / "models")
    second = make_source(standin, restarted, tmp_path / "t.json")
    assert [c.code for c in await second.categories()] == ["animals", "food-and-plants",
                                                          "things", "vehicles"]
    assert restarted.known_labels("things") == frozenset(THINGS)
    await second.client.aclose()


def test_cli_sync_tells_the_teacher_what_can_be_played(standin, tmp_path):
    env = {**os.environ, "LEGACY_API_URL": standin.url, "LEGACY_API_KEY": "test-key",
           "DATA_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    env.pop("MODELS_DIR", None)  # the shipped models/, as the server uses them
    done = subprocess.run([sys.executable, "-m", "legacy_bridge", "sync"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "sync ok: 4 categories and 26 topics can be played" in out
    assert "물건 / Things (things): played with 10 topics" in out
    assert ("cannot be played: 유니콘 (unicorn): the game cannot recognise drawings of "
            "'unicorn'") in out
    assert "cannot be played: 뱀 (snake): switched off (not active)" in out
    assert "우주 / Space (space): not played: switched off" in out


async def test_admin_sync_and_status_carry_the_report(standin, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    source = make_source(standin, registry, tmp_path / "t.json")
    app = FastAPI()
    app.include_router(admin_topics.router)
    app.state.topic_source = source
    headers = {"X-Admin-Token": "s3cret"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        synced = (await http.post("/admin/topics/sync", headers=headers)).json()
        status = (await http.get("/admin/topics/status", headers=headers)).json()
    assert synced["result"]["skipped"] == ["animals/unicorn"]
    assert synced["result"]["report"] == status["report"]
    assert [r["code"] for r in status["report"] if r["served"]] == [
        "animals", "food-and-plants", "things", "vehicles"]
    await source.client.aclose()
