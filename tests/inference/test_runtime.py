"""Every runtime computes the same probabilities as the Keras model it was exported from."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.errors import ModelLoadError
from inference.runtime import batch_buckets, load_runtime, plan_chunks, read_model_info


@pytest.fixture(scope="module")
def model_dir(toy_models):
    return toy_models / "toy_animals"


@pytest.fixture(scope="module")
def inputs(model_dir):
    """Random rasters plus real drawings through the real rasteriser, 7 rows (not a bucket)."""
    info = read_model_info(model_dir)
    rng = np.random.default_rng(0)
    rows = [rng.random(info.input_shape, dtype=np.float32) for _ in range(4)]
    try:
        from inference.raster import rasterize
    except ImportError:
        pass
    else:
        drawings = [
            [[(10, 10, 0), (200, 30, 50), (120, 220, 90)]],
            [[(50, 50, 0), (60, 200, 40)], [(30, 120, 300), (220, 120, 340)]],
            [[(0, 0, 0), (100, 100, 10)], [(100, 0, 50), (0, 100, 60)], [(50, 0, 90)]],
        ]
        rows += [rasterize(d, info.spec) for d in drawings]
    return np.stack(rows).astype(np.float32)


@pytest.fixture(scope="module")
def keras_probs(model_dir, inputs):
    return load_runtime(model_dir, "keras").predict(inputs)


@pytest.mark.parametrize("kind", ["litert", "tf"])
def test_runtime_matches_keras(model_dir, inputs, keras_probs, kind):
    rt = load_runtime(model_dir, kind, threads=1, max_batch_size=4)  # 7 rows: 4 + 2 + 1 (litert) or padded
    probs = rt.predict(inputs)
    assert probs.shape == keras_probs.shape
    np.testing.assert_allclose(probs, keras_probs, atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(probs, probs[0])  # the rows really differ: the comparison means something
    # One at a time (bucket 1) gives the same as in a batch.
    np.testing.assert_allclose(rt.predict(inputs[2:3]), keras_probs[2:3], atol=1e-5)


def test_batch_buckets():
    assert batch_buckets(1) == (1,)
    assert batch_buckets(32) == (1, 2, 4, 8, 16, 32)
    assert batch_buckets(48) == (1, 2, 4, 8, 16, 32, 48)


def test_plan_chunks_splits_a_linear_model_and_pads_one_with_a_costly_call():
    buckets = batch_buckets(32)
    linear = {b: 10 + 43 * b for b in buckets}  # a small CNN: ~10 us a call, ~43 us a row
    for n in range(1, 100):
        sizes = plan_chunks(n, linear)
        assert sum(sizes) == n and all(b in buckets for b in sizes)  # no padding pays here
        assert sizes == sorted(sizes, reverse=True)
    assert plan_chunks(5, linear) == [4, 1]
    assert plan_chunks(32, linear) == [32]
    assert plan_chunks(40, {**linear, 48: 10 + 43 * 48}) == [32, 8]
    lstm = {b: 350 + 60 * b for b in buckets}  # a costly call: padding wins
    assert plan_chunks(5, lstm) == [8]
    assert plan_chunks(33, lstm) == [32, 1]
    assert plan_chunks(0, linear) == []


def test_litert_times_its_buckets_and_answers_any_batch_size(model_dir):
    rt = load_runtime(model_dir, "litert", threads=1, max_batch_size=8)
    assert sorted(rt.bucket_costs) == [1, 2, 4, 8] and all(c > 0 for c in rt.bucket_costs.values())
    x = np.random.default_rng(3).random((11, *rt.info.input_shape), dtype=np.float32)
    whole = np.concatenate([rt.predict(x[i:i + 1]) for i in range(len(x))])
    for n in (0, 3, 5, 11):
        np.testing.assert_allclose(rt.predict(x[:n]), whole[:n], atol=1e-5)


def test_unknown_runtime(model_dir):
    with pytest.raises(ValueError, match="unknown runtime"):
        load_runtime(model_dir, "tensorrt")


def test_missing_model_file_is_a_load_error(tmp_path, model_dir):
    for name in ("labels.json", "card.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(ModelLoadError, match="model.tflite"):
        load_runtime(tmp_path, "litert")


def test_card_without_input_spec_is_a_load_error(tmp_path, model_dir):
    (tmp_path / "labels.json").write_bytes((model_dir / "labels.json").read_bytes())
    (tmp_path / "card.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="input"):
        read_model_info(tmp_path)


def shipped_model_dirs():
    """The model directories `models/categories.json` names (none before a model is shipped)."""
    import json

    models = Path(__file__).resolve().parents[2] / "models"
    try:
        doc = json.loads((models / "categories.json").read_text(encoding="utf-8"))
    except OSError:
        return []
    return sorted({models / c["model"] for c in doc["categories"]})


@pytest.mark.parametrize("shipped", shipped_model_dirs(), ids=lambda p: p.name)
def test_shipped_model_runtimes_match_keras(shipped):
    import json

    from inference import inputs as model_inputs

    info = read_model_info(shipped)
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw" / "raw"
    drawings = [json.loads(line)["drawing"] for p in sorted(fixtures.glob("*.ndjson"))[:8]
                for line in p.read_text(encoding="utf-8").splitlines()[:2]]
    x = model_inputs.stack([model_inputs.drawing_input(d, info.spec) for d in drawings])
    want = load_runtime(shipped, "keras").predict(x)
    assert want.shape == (len(drawings), len(info.labels))
    # The SavedModel is float32 like model.keras; model.tflite may hold int8 weights (the card
    # says), which moves probabilities by at most a few hundredths (models/README.md).
    if info.sequence_shape is None:
        np.testing.assert_allclose(load_runtime(shipped, "tf", max_batch_size=4).predict(x), want, atol=1e-5)
    else:  # the tf runtime serves raster-only models, and says so
        with pytest.raises(ModelLoadError, match="raster-only"):
            load_runtime(shipped, "tf")
    card = json.loads((shipped / "card.json").read_text(encoding="utf-8"))
    int8 = card.get("tflite_weights", "float32") == "int8"
    got = load_runtime(shipped, "litert", max_batch_size=4).predict(x)
    np.testing.assert_allclose(got, want, atol=0.05 if int8 else 1e-5)
    assert float(np.abs(got - want).mean()) < (2e-3 if int8 else 1e-6)
    assert (got.argmax(axis=1) == want.argmax(axis=1)).mean() >= (0.8 if int8 else 1.0)
