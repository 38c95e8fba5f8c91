"""The child-likeness proxy and the child-like training augmentation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.child_proxy import PROXY_SEED, child_proxy_drawing, child_proxy_set
from inference.raster import rasterize
from inference.training.calibration import bake_prior_correction, bake_temperature, fit_temperature, reliability
from inference.training.childlike import childlike_rasters, childlike_strokes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw"
SPEC = {"size": 28, "channels": ["ink"], "line_width": 16.0, "padding": 16.0}


def _drawings(label: str = "cat") -> list:
    return [json.loads(line)["drawing"] for line in (FIXTURES / "simplified" / f"{label}.ndjson").read_text().splitlines() if line]


def test_proxy_is_fixed_per_drawing_and_differs_from_the_original() -> None:
    ds = _drawings()
    a, b = child_proxy_set(ds), child_proxy_set(ds)
    assert a == b  # the same seed, the same distortion: every model is measured on the same set
    assert child_proxy_drawing(ds[0], 0, PROXY_SEED + 1) != a[0]
    changed = [not np.allclose(rasterize(p, SPEC, fmt="columns"), rasterize(d, SPEC, fmt="columns"), atol=0.05)
               for p, d in zip(a, ds)]
    assert sum(changed) >= len(ds) * 0.7
    for p in a:  # Google's column format, in the simplified 0..255 box
        assert p and all(len(s) == 2 and len(s[0]) == len(s[1]) >= 1 for s in p)
        xs = [v for s in p for v in s[0]]
        assert min(xs) >= -1e-6 and max(xs) <= 255 + 1e-6


def test_proxy_of_raw_drawings_with_time_and_of_empty_ones() -> None:
    raw = json.loads((FIXTURES / "raw" / "cat.ndjson").read_text().splitlines()[0])["drawing"]
    out = child_proxy_drawing(raw, 3)
    assert out and rasterize(out, SPEC, fmt="columns").max() > 0.5
    assert child_proxy_drawing([], 0) == []


def test_childlike_augmentation_is_new_each_seed_and_keeps_ink() -> None:
    ds = _drawings()
    x1 = childlike_rasters(ds, SPEC, seed=1)
    x2 = childlike_rasters(ds, SPEC, seed=2)
    assert x1.shape == (len(ds), 28, 28, 1) and x1.dtype == np.float16
    assert not np.array_equal(x1, x2)  # a fresh copy per epoch really is fresh
    assert (x1.reshape(len(ds), -1).max(axis=1) > 0.3).all()  # never an empty picture
    rng = np.random.default_rng(0)
    assert childlike_strokes([], rng) == []


def test_a_strength_range_distorts_more_the_higher_it_is() -> None:
    """`--aug-strength LO,HI`: each drawing's strength drawn from the range; a stronger range
    moves the rasters further from the drawings as they are, and no range changes nothing."""
    ds = _drawings() + _drawings("dog")
    plain = np.stack([rasterize(d, SPEC, fmt="columns") for d in ds])

    def distance(strength_range: tuple[float, float]) -> float:
        x = childlike_rasters(ds, SPEC, seed=5, strength_range=strength_range, width_range=(1.0, 1.0))
        return float(np.abs(x.astype(np.float32) - plain).mean())

    weak, strong = distance((0.05, 0.1)), distance((1.8, 2.0))
    assert 0 < weak < strong * 0.8
    assert np.array_equal(childlike_rasters(ds[:3], SPEC, seed=5), childlike_rasters(ds[:3], SPEC, seed=5, strength_range=None))


def test_a_malformed_strength_range_is_refused_at_once() -> None:
    from inference.training.cli import parse_args

    for bad in ("2,1", "0,1", "-1,1", "1"):
        with pytest.raises(SystemExit, match="aug-strength"):
            parse_args(["--aug", "childlike", f"--aug-strength={bad}"])
    assert parse_args(["--aug-strength", "0.5,2"]).aug_strength == "0.5,2"


def test_temperature_scaling_fixes_overconfidence() -> None:
    rng = np.random.default_rng(0)
    n, k = 4000, 5
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.0
    over = np.exp(logits * 3.0)  # three times too sharp
    probs = over / over.sum(axis=1, keepdims=True)
    t = fit_temperature(probs, y, [list(range(k))])
    assert 2.4 < t < 3.6
    calibrated = np.power(probs, 1 / t)
    calibrated /= calibrated.sum(axis=1, keepdims=True)
    before = reliability(probs.max(axis=1), probs.argmax(axis=1) == y)["ece"]
    after = reliability(calibrated.max(axis=1), calibrated.argmax(axis=1) == y)["ece"]
    assert after < before / 2


def test_baked_temperature_equals_dividing_the_logits() -> None:
    import keras

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="probs")(inp))
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    p = model.predict(x, verbose=0)
    bake_temperature(model, 2.0)
    want = np.power(p, 0.5)
    want /= want.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-5)


def test_prior_correction_divides_each_probability_by_its_labels_training_share() -> None:
    import keras

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="probs")(inp))
    x = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    p = model.predict(x, verbose=0)
    counts = np.array([1500, 310, 310, 620])  # a sketch-rnn class, two plain ones, one with bitmaps
    shift = bake_prior_correction(model, counts)
    want = p / counts
    want /= want.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-5)
    assert shift[0] > 0 > shift[1] and abs(shift.mean()) < 1e-9
    before = model.predict(x, verbose=0)
    bake_prior_correction(model, [7, 7, 7, 7])  # equal shares: nothing changes
    np.testing.assert_allclose(model.predict(x, verbose=0), before, atol=1e-6)


def test_each_distortion_can_be_measured_alone_and_none_is_the_drawing_itself() -> None:
    from inference.child_proxy import DISTORTIONS

    ds = _drawings()
    plain = child_proxy_set(ds, distortions=())
    for p, d in zip(plain, ds):  # nothing distorted: the same picture through the serving path
        np.testing.assert_allclose(rasterize(p, SPEC, fmt="columns"), rasterize(d, SPEC, fmt="columns"), atol=0.02)
    full = child_proxy_set(ds)
    assert child_proxy_set(ds, distortions=DISTORTIONS) == full
    alone = {name: child_proxy_set(ds, distortions=(name,)) for name in DISTORTIONS}
    assert all(v != plain for v in alone.values())  # every distortion changes some drawing
