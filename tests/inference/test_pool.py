"""The worker pool with real worker processes: answers, masks, latest wins, overload, crashes."""
from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pytest

from inference.api import Guess, RecognizeRequest
from inference.errors import (BadRequestError, OverloadedError, PoolClosedError,
                              UnknownLabelError, WorkerCrashedError)
from inference.pool import DEFAULT_WORKER_NICE, WorkerPool
from inference.raster import rasterize
from inference.registry import ModelRegistry
from inference.runtime import load_runtime
from inference.service import open_recognizer
from tests.inference.conftest import STALL_ENV, STALL_MARK

CAT = [[(100, 100, 0), (160, 90, 30), (200, 140, 60)], [(100, 100, 200), (90, 200, 260)]]
HOUSE = [[(0, 100, 0), (100, 0, 20), (200, 100, 40)], [(20, 100, 100), (20, 220, 120)],
         [(180, 100, 200), (180, 220, 230)], [(20, 220, 300), (180, 220, 330)]]
ANIMALS = ("cat", "dog", "bird", "fish", "horse")


def req(key, strokes, labels=ANIMALS, top_k=3, category="animals"):
    return RecognizeRequest(key, category, labels, strokes, top_k)


def expected(models_dir, category, labels, strokes, top_k):
    """What the pool must answer, computed directly: rasterise, Keras, mask, renormalise."""
    reg = ModelRegistry.load(models_dir)
    model, index = reg.resolve(category, labels)
    rt = load_runtime(models_dir / model, "keras")
    probs = rt.predict(rasterize(strokes, rt.info.spec)[None])[0][list(index)]
    probs = probs / probs.sum()
    order = np.argsort(-probs, kind="stable")[:top_k]
    return [(labels[i], float(probs[i])) for i in order]


async def test_guesses_match_the_model_masked_and_renormalised(toy_models):
    async with open_recognizer(toy_models, workers=2, max_batch_size=8, max_wait_ms=1.0,
                               max_queue=64) as rec:
        assert rec.known_labels("animals") >= set(ANIMALS)
        assert rec.known_labels("nope") == frozenset()
        guesses = await rec.recognize(req("g1", CAT, top_k=3))
        everything = await rec.recognize(req("g2", HOUSE, top_k=len(ANIMALS)))
    assert all(isinstance(g, Guess) for g in guesses)
    got = [(g.label, g.probability) for g in guesses]
    want = expected(toy_models, "animals", ANIMALS, CAT, 3)
    assert [label for label, _ in got] == [label for label, _ in want]
    np.testing.assert_allclose([p for _, p in got], [p for _, p in want], atol=1e-4)
    assert {g.label for g in everything} == set(ANIMALS)
    assert sum(g.probability for g in everything) == pytest.approx(1.0, abs=1e-5)
    assert [g.probability for g in everything] == sorted((g.probability for g in everything),
                                                         reverse=True)


async def test_incremental_drawing_gives_the_same_as_a_fresh_one(toy_models):
    """Stroke by stroke on one key (cached raster, deltas) == the whole drawing on a new key."""
    async with open_recognizer(toy_models, workers=1, max_batch_size=4, max_wait_ms=0,
                               max_queue=64) as rec:
        for n in range(1, len(HOUSE) + 1):
            step = await rec.recognize(req("drawing", HOUSE[:n]))
        fresh = await rec.recognize(req("fresh", HOUSE))
        undone = await rec.recognize(req("drawing", HOUSE[:2]))  # an undo: shorter drawing
        again = await rec.recognize(req("other", HOUSE[:2]))
        replaced = await rec.recognize(req("drawing", [*CAT, *HOUSE[2:]]))  # key reused
        replaced_fresh = await rec.recognize(req("third", [*CAT, *HOUSE[2:]]))
    assert step == fresh
    assert undone == again
    assert replaced == replaced_fresh


async def test_shared_model_answers_within_the_category_mask(shared_toy_models):
    async with open_recognizer(shared_toy_models, workers=1, max_batch_size=4,
                               max_wait_ms=0, max_queue=8) as rec:
        food = await rec.recognize(req("f", CAT, labels=("apple", "banana"), category="food"))
        with pytest.raises(UnknownLabelError, match="'apple'"):
            await rec.recognize(req("a", CAT, labels=("cat", "apple")))
    assert {g.label for g in food} == {"apple", "banana"}


async def test_bad_requests_fail_alone_and_the_pool_goes_on(toy_models):
    async with WorkerPool(toy_models, workers=1, max_batch_size=8, max_wait_ms=50,
                          max_queue=8) as rec:
        with pytest.raises(BadRequestError, match="top_k"):
            await rec.recognize(req("k", CAT, top_k=0))
        bad = rec.submit(req("bad", [[("x", "y", 0)]]))
        good = rec.submit(req("good", CAT))  # same batch as the bad one
        with pytest.raises(BadRequestError, match="rasterise"):
            await bad
        assert len(await good) == 3
        with pytest.raises(BadRequestError, match="strokes"):
            await rec.recognize(req("text", "not strokes"))
        odd = [rec.submit(req("ints", [5, 6])), rec.submit(req("none", [None])),
               rec.submit(req("flat", [[1, 2, 3]]))]
        for fut in odd:
            with pytest.raises(BadRequestError):
                await fut
        assert len(await rec.recognize(req("good", HOUSE))) == 3
        assert rec.stats.worker_restarts == 0


async def test_latest_wins_the_superseded_caller_gets_the_newer_result(toy_models):
    # max_batch_size=2: the batch goes once two drawings are queued, not before.
    pool = WorkerPool(toy_models, workers=1, max_batch_size=2, max_wait_ms=60_000, max_queue=8)
    async with pool:
        older = pool.submit(req("same", HOUSE[:1]))
        newer = pool.submit(req("same", HOUSE))
        assert pool.queued() == 1
        other = pool.submit(req("other", CAT))  # fills the batch of two
        assert await older == await newer
        await other
        assert pool.stats.superseded == 1 and pool.stats.batch_items == 2
    want = expected(toy_models, "animals", ANIMALS, HOUSE, 3)
    assert [g.label for g in await newer] == [label for label, _ in want]


async def test_full_queue_rejects_at_once_and_close_fails_what_waits(toy_models):
    pool = WorkerPool(toy_models, workers=1, max_batch_size=8, max_wait_ms=60_000, max_queue=2)
    async with pool:
        first = pool.submit(req("a", CAT))
        second = pool.submit(req("b", CAT))
        with pytest.raises(OverloadedError, match="full"):
            await pool.recognize(req("c", CAT))
        replaced = pool.submit(req("a", HOUSE))  # a newer stroke for a queued drawing is fine
        assert pool.stats.rejected == 1
    for fut in (first, second, replaced):
        with pytest.raises(PoolClosedError):
            await fut
    with pytest.raises(PoolClosedError):
        await pool.recognize(req("d", CAT))


def stall_stroke():
    return [(STALL_MARK, 0.0, 0.0), (1.0, 1.0, 1.0)]


@pytest.fixture
def stall_file(tmp_path, monkeypatch):
    flag = tmp_path / "stall"
    flag.touch()
    monkeypatch.setenv(STALL_ENV, str(flag))  # inherited by the worker processes
    return flag


def kill(pid):
    os.kill(pid, signal.SIGKILL)


async def test_killed_worker_is_replaced_and_its_requests_retried(toy_models, stall_file):
    pool = WorkerPool(toy_models, workers=1, max_batch_size=8, max_wait_ms=0, max_queue=8,
                      raster_module="tests.inference.conftest")
    async with pool:
        (pid,) = pool.worker_pids()
        held = pool.submit(req("held", [*CAT, stall_stroke()]))  # in flight, held by the stall
        assert pool._slots[0].in_flight is not None
        kill(pid)
        stall_file.unlink()  # the retry on the new worker goes through
        guesses = await held
        assert len(guesses) == 3
        (new_pid,) = pool.worker_pids()
        assert new_pid not in (None, pid)
        assert pool.stats.retried == 1 and pool.stats.worker_restarts == 1
        assert len(await pool.recognize(req("after", CAT))) == 3
        assert pool.status() == {"state": "ok", "workers": 1, "serving": 1, "queued": 0,
                                 "worker_restarts": 1, "broken": []}
    assert pool.status()["state"] == "closed"


async def test_request_that_kills_two_workers_fails_instead_of_hanging(toy_models, stall_file):
    pool = WorkerPool(toy_models, workers=1, max_batch_size=8, max_wait_ms=0, max_queue=8,
                      raster_module="tests.inference.conftest")
    async with pool:
        held = pool.submit(req("poison", [stall_stroke()]))
        kill(pool.worker_pids()[0])
        await pool.wait_until(lambda: pool.stats.worker_restarts == 1)
        await pool.wait_until_serving()  # the new worker has the retry in flight
        assert pool._slots[0].in_flight is not None
        kill(pool.worker_pids()[0])
        with pytest.raises(WorkerCrashedError, match="poison"):
            await held
        await pool.wait_until_serving()
        stall_file.unlink()
        assert len(await pool.recognize(req("next", CAT))) == 3
        assert pool.stats.crashed == 1


async def test_idle_worker_death_is_noticed_and_replaced(toy_models):
    pool = WorkerPool(toy_models, workers=2, max_batch_size=8, max_wait_ms=0, max_queue=16)
    async with pool:
        old = pool.worker_pids()
        kill(old[1])
        await pool.wait_until(lambda: pool.stats.worker_restarts == 1)  # EOF on its socket
        await pool.wait_until_serving()
        new = pool.worker_pids()
        assert new[0] == old[0] and new[1] not in (None, old[1])
        results = await asyncio.gather(*(pool.recognize(req(f"k{i}", CAT)) for i in range(16)))
        assert all(len(r) == 3 for r in results)
        await pool.run_until_idle()
        assert pool.queued() == 0


async def test_worker_that_cannot_load_its_model_fails_the_start(toy_models, tmp_path):
    import shutil

    broken = tmp_path / "models"
    shutil.copytree(toy_models, broken)
    (broken / "toy_food" / "model.tflite").write_bytes(b"not a model")
    with pytest.raises(Exception, match="toy_food"):
        async with open_recognizer(broken, workers=1, max_batch_size=4, max_wait_ms=0,
                                   max_queue=4):
            pass


async def test_superseded_caller_is_told_when_the_newer_caller_gives_up(toy_models):
    from inference.errors import SupersededError

    pool = WorkerPool(toy_models, workers=1, max_batch_size=8, max_wait_ms=60_000, max_queue=8)
    async with pool:
        older = pool.submit(req("same", HOUSE[:1]))
        newer = pool.submit(req("same", HOUSE))
        newer.cancel()
        with pytest.raises(SupersededError, match="same"):
            await older


async def test_stuck_worker_is_killed_and_the_request_fails_instead_of_hanging(toy_models,
                                                                               stall_file):
    pool = WorkerPool(toy_models, workers=1, max_batch_size=8, max_wait_ms=0, max_queue=8,
                      raster_module="tests.inference.conftest", batch_timeout_s=0.5)
    async with pool:
        held = pool.submit(req("stuck", [stall_stroke()]))
        with pytest.raises(WorkerCrashedError, match="stuck"):
            await held  # killed once, retried, killed again
        assert pool.stats.stuck == 2 and pool.stats.retried == 1
        await pool.wait_until_serving()
        stall_file.unlink()
        assert len(await pool.recognize(req("fine", CAT))) == 3


async def test_a_forgotten_drawing_leaves_the_workers_and_can_start_again(toy_models):
    # A finished stage's drawing is forgotten, so a worker holds only drawings being drawn;
    # the same key drawn again afterwards is rasterised from scratch, and correctly.
    async with open_recognizer(toy_models, workers=2, max_batch_size=8, max_wait_ms=0,
                               max_queue=64) as rec:
        for key in ("a", "b", "c"):
            await rec.recognize(req(key, CAT[:1]))
        assert rec.cached_drawings() == 3
        rec.forget("a")
        rec.forget("b")
        rec.forget("never-seen")
        assert rec.cached_drawings() == 1
        again = await rec.recognize(req("a", HOUSE))
        fresh = await rec.recognize(req("fresh", HOUSE))
    assert [(g.label, round(g.probability, 5)) for g in again] == \
        [(g.label, round(g.probability, 5)) for g in fresh]


async def test_assigned_categories_are_answered_within_their_labels_and_follow_changes(
        shared_toy_models):
    """A category no bundled entry names (the school's `pets`): masked to exactly its labels;
    after the next assignment a request is checked against the new labels, not a cached
    answer."""
    async with open_recognizer(shared_toy_models, workers=1, max_queue=64) as rec:
        assert rec.check_labels("pets", ["cat", "apple", "unicorn"])["unicorn"] is not None
        rec.assign_categories({"pets": ["cat", "dog", "apple"]})
        guesses = await rec.recognize(req("p1", CAT, labels=("cat", "dog", "apple"),
                                          category="pets", top_k=3))
        assert {g.label for g in guesses} == {"cat", "dog", "apple"}
        assert sum(g.probability for g in guesses) == pytest.approx(1.0, abs=1e-5)
        rec.assign_categories({"pets": ["cat", "dog"]})  # "apple" moved out of pets
        with pytest.raises(UnknownLabelError, match="apple"):
            await rec.recognize(req("p2", CAT, labels=("cat", "dog", "apple"), category="pets"))
        assert len(await rec.recognize(req("p3", CAT, labels=("cat", "dog"), category="pets",
                                           top_k=3))) == 2


def test_top_guesses_renormalise_order_ties_by_label_and_answer_an_all_zero_row_evenly() -> None:
    from inference.pool import _top_guesses

    probs = np.array([[0.1, 0.3, 0.1, 0.5], [0.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2]], dtype=np.float32)
    labels = ("cat", "dog", "cow", "pig")
    got = _top_guesses(probs, labels, 3)
    assert [[name for name, _ in row] for row in got] == [["pig", "dog", "cat"], ["cat", "dog", "cow"],
                                                          ["cat", "dog", "cow"]]
    assert got[0][0][1] == pytest.approx(0.5 / 1.0) and got[1][0][1] == pytest.approx(0.25)
    assert all(p == pytest.approx(0.25) for _, p in got[2])
    assert len(_top_guesses(probs, labels, 10)[0]) == 4  # never more than the category has


@pytest.mark.parametrize("nice", [None, 0, 7])
async def test_workers_run_below_the_pool_by_worker_nice_and_replacements_too(toy_models, nice):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    below = min(19, own + (DEFAULT_WORKER_NICE if nice is None else nice))
    pool = WorkerPool(toy_models, workers=2, max_batch_size=8, max_wait_ms=0, max_queue=8,
                      **({} if nice is None else {"worker_nice": nice}))
    async with pool:
        pids = pool.worker_pids()
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [below] * 2
        assert os.getpriority(os.PRIO_PROCESS, 0) == own  # the pool's own process stays
        kill(pids[0])
        await pool.wait_until(lambda: pool.stats.worker_restarts == 1)
        await pool.wait_until_serving()
        new = pool.worker_pids()[0]
        assert new != pids[0] and os.getpriority(os.PRIO_PROCESS, new) == below
        assert len(await pool.recognize(req("after", CAT))) == 3


@pytest.mark.parametrize("nice", [-1, 20, 2.5, "5", True])
def test_worker_nice_outside_0_to_19_is_refused(toy_models, nice):
    with pytest.raises(ValueError, match="worker_nice"):
        WorkerPool(toy_models, workers=1, worker_nice=nice)
