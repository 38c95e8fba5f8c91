"""The topics client against the Spring stand-in on a real port."""
from __future__ import annotations

import pytest

from legacy_bridge.breaker import BreakerState, CircuitBreaker
from legacy_bridge.client import TopicsClient
from legacy_bridge.errors import (
    AuthenticationFailed, CategoryNotFound, CircuitOpen, NotJsonResponse, ServerError,
    ServiceTimeout, ServiceUnreachable,
)
from legacy_bridge.retry import RetryPolicy
from legacy_bridge.standin import Fault, StandinServer, StandinState
from legacy_bridge.standin.app import topic

FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.005)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(server: StandinServer, key: str = "test-key", **kw) -> TopicsClient:
    kw.setdefault("retry", FAST)
    return TopicsClient(server.url, key, **kw)


async def test_every_page_is_read_until_last(standin, state: StandinState):
    state.topics[3] = [topic(1000 + i, 3, f"label {i}", f"주제 {i}") for i in range(23)]
    async with client_for(standin, topics_page_size=5) as client:
        fetched = await client.topics(3)
    assert [t.topic_id for t in fetched.items] == [1000 + i for i in range(23)]
    pages = [r["query"]["page"] for r in state.requests if r["path"].endswith("/topics")]
    assert pages == ["0", "1", "2", "3", "4"]
    assert all(r["headers"]["x-api-key"] == "test-key" for r in state.requests)


async def test_unchanged_pages_answer_304_and_the_cached_page_is_reused(standin, state):
    async with client_for(standin, categories_page_size=2) as client:
        first = await client.categories()
        state.requests.clear()
        second = await client.categories()
        assert first.changed and not second.changed
        assert second.items == first.items
        assert all(r["headers"].get("if-none-match", "").startswith('"0') for r in state.requests)
        state.categories[0]["name"] = "동물들"
        third = await client.categories()
    assert third.changed and third.items[0].name == "동물들"


async def test_5xx_with_spring_body_is_retried_then_succeeds(standin, state):
    state.fail_next(2, Fault("status", 503))
    async with client_for(standin) as client:
        fetched = await client.categories()
    assert len(fetched.items) == 3
    assert state.count() == 3


async def test_5xx_every_time_gives_up_with_springs_error(standin, state):
    state.mode = Fault("status", 500)
    async with client_for(standin) as client:
        with pytest.raises(ServerError) as info:
            await client.categories()
    assert info.value.status == 500
    assert info.value.spring_error["error"] == "Internal Server Error"
    assert info.value.spring_error["path"] == "/api/v1/categories"
    assert state.count() == FAST.attempts


async def test_html_proxy_page_is_an_error_and_retried(standin, state):
    state.fail_next(1, Fault("html", 502))
    state.fail_next(1, Fault("html", 200))  # an HTML page that claims success
    async with client_for(standin) as client:
        assert len((await client.categories()).items) == 3
    assert state.count() == 3


async def test_html_every_time_is_reported_as_not_json(standin, state):
    state.mode = Fault("html", 200)
    async with client_for(standin) as client:
        with pytest.raises(NotJsonResponse, match="text/html"):
            await client.categories()


async def test_4xx_is_never_retried_and_401_is_clear(standin, state):
    async with client_for(standin, key="wrong") as client:
        with pytest.raises(AuthenticationFailed, match="401.*API key"):
            await client.categories()
    assert state.count() == 1
    async with client_for(standin) as client:
        with pytest.raises(CategoryNotFound):
            await client.topics(999)
        assert client.breaker_state() is BreakerState.CLOSED
    assert state.count() == 2


async def test_slow_answer_times_out(standin, state):
    state.fail_next(1, Fault("delay", delay_s=0.8))
    async with client_for(standin, read_timeout_s=0.2, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(ServiceTimeout):
            await client.categories()
    # and a slow answer within the timeout is fine
    state.fail_next(1, Fault("delay", delay_s=0.05))
    async with client_for(standin, read_timeout_s=2.0) as client:
        assert len((await client.categories()).items) == 3


async def test_refused_connection_is_retried_and_reported(standin, state):
    await standin.astop()
    async with client_for(standin) as client:
        with pytest.raises(ServiceUnreachable):
            await client.categories()
        await standin.astart()
        assert len((await client.categories()).items) == 3


async def test_breaker_opens_then_half_opens_and_closes(standin, state):
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=30)
    state.mode = Fault("status", 503)
    async with client_for(standin, breaker=breaker, clock=clock,
                          retry=RetryPolicy(attempts=5, base_delay_s=0.001)) as client:
        with pytest.raises(CircuitOpen):
            await client.categories()
        assert state.count() == 3  # the breaker stopped the 4th and 5th attempts
        assert client.breaker_state() is BreakerState.OPEN
        with pytest.raises(CircuitOpen):
            await client.categories()
        assert state.count() == 3  # nothing sent while open
        state.mode = None
        clock.now += 31
        assert client.breaker_state() is BreakerState.HALF_OPEN
        assert len((await client.categories()).items) == 3
        assert client.breaker_state() is BreakerState.CLOSED


async def test_half_open_trial_failure_reopens(standin, state):
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=30)
    state.mode = Fault("status", 502)
    async with client_for(standin, breaker=breaker, clock=clock) as client:
        with pytest.raises(CircuitOpen):
            await client.categories()
        clock.now += 31
        with pytest.raises(CircuitOpen):
            await client.categories()  # the trial failed, no second try
        assert state.count() == 2
        assert client.breaker_state() is BreakerState.OPEN


async def test_unknown_fields_ignored_nulls_kept_korean_intact(standin, state):
    async with client_for(standin) as client:
        cats = (await client.categories()).items
        topics = (await client.topics(3)).items
    animals = cats[0]
    assert (animals.code, animals.name, animals.name_en) == ("animals", "동물", "Animals")
    assert cats[1].stage_count is None and cats[1].age_min is None
    cat, dog = topics[0], topics[1]
    assert (cat.label, cat.display_name, cat.time_limit_s) == ("cat", "고양이", 40.0)
    assert dog.time_limit_s is None
    assert topics[4].label == "house plant" and topics[4].display_name == "화분"


async def test_garbage_json_is_an_error(standin, state):
    state.mode = Fault("garbage")
    async with client_for(standin, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(NotJsonResponse):
            await client.categories()
