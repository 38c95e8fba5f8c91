"""Stroke-sequence input: the encoding, its incremental twin, and a raster + sequence ensemble
served by the worker pool exactly as it is measured."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference import inputs as model_inputs
from inference.api import RecognizeRequest
from inference.evaluate import ModelRunner, mask_probs
from inference.raster import IncrementalRaster
from inference.runtime import load_runtime
from inference.sequence import DEFAULT_SEQUENCE_SPEC, encode, encode_simplified
from inference.service import open_recognizer
from inference.training.cli import main as train_main
from inference.training.sequence_model import main as seq_main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw"
LABELS = ["cat", "dog", "car", "apple"]


def _raws(n_per_label: int = 3) -> list:
    return [json.loads(line)["drawing"] for name in ("cat", "car", "apple")
            for line in (FIXTURES / "raw" / f"{name}.ndjson").read_text().splitlines()[:n_per_label]]


def test_points_are_centred_with_steps_and_pen_lifts():
    strokes = [np.array([[0.0, 0.0], [255.0, 0.0]]), np.array([[255.0, 255.0]])]
    x = encode_simplified(strokes, 5)
    assert x.shape == (5, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x[:3, :2], [[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5]])
    np.testing.assert_allclose(x[:3, 2:4], [[0, 0], [1, 0], [0, 1]])
    assert x[:3, 4].tolist() == [0.0, 1.0, 1.0]  # the pen lifts after each stroke's last point
    assert not x[3:].any()  # padding
    assert not encode_simplified([], 4).any()
    # Longer drawings keep their first points.
    long = encode_simplified([np.stack([np.arange(300.0), np.zeros(300)], axis=1)], 128)
    assert long[-1, 4] == 0.0 and long[:, 0].argmax() == 127


def _reference_encoding(xs, ys, counts, max_points: int) -> np.ndarray:
    """The module doc's encoding written the plain way, feature by feature."""
    out = np.zeros((max_points, 5), dtype=np.float32)
    x, y = np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)
    n = min(len(x), max_points)
    px = (x[:n] - (x.max() + x.min()) / 2.0) / 255.0
    py = (y[:n] - (y.max() + y.min()) / 2.0) / 255.0
    out[:n, 0], out[:n, 1] = px, py
    out[1:n, 2], out[1:n, 3] = np.diff(px), np.diff(py)
    ends = np.cumsum(counts) - 1
    out[ends[ends < n], 4] = 1.0
    return out


def test_the_workers_flat_encoding_equals_the_plain_one_bit_for_bit():
    """`encode_flat` reads the incremental raster's arrays of doubles without copying them;
    the result must be the plain computation's, truncated drawings included."""
    from inference.sequence import encode_flat

    for drawing in _raws(4):
        raster = IncrementalRaster(None)
        for stroke in drawing:
            raster.add_stroke(stroke, fmt="columns")
            xs, ys, counts = raster.simplified_flat()
            for max_points in (1, 7, 128):
                expected = _reference_encoding(xs, ys, counts, max_points)
                assert np.array_equal(encode_flat(xs, ys, counts, max_points), expected)
                assert np.array_equal(encode_flat(list(xs), np.array(ys), counts, max_points), expected)


def test_incremental_points_equal_the_whole_drawing():
    """The worker builds the points from its incremental raster; evaluation from the whole
    drawing. They must be the same numbers, stroke by stroke."""
    spec = dict(DEFAULT_SEQUENCE_SPEC)
    for drawing in _raws(2):
        raster = IncrementalRaster()
        for k, stroke in enumerate(drawing):
            raster.add_stroke(stroke, fmt="columns")
            whole = encode(drawing[:k + 1], spec, fmt="columns")
            assert whole[:, 4].sum() == k + 1  # one pen lift a stroke: the points are really there
            np.testing.assert_array_equal(encode_simplified(raster.simplified(), spec["max_points"]), whole)
            served = model_inputs.incremental_input(raster, raster.image(), {"size": 28, "sequence": spec})
            np.testing.assert_array_equal(served[1], whole)  # the worker's flat path


@pytest.mark.parametrize("epsilon", [2.5, 6.0, 12.0])
def test_a_coarser_simplification_served_stroke_by_stroke_equals_the_whole_drawings(epsilon: float):
    """`"rdp_epsilon"` in a sequence spec: fewer vertices (less of a shaky hand's wobble), the
    same on the worker's incremental path as when training or evaluating on whole drawings."""
    from inference.raster import normalize_strokes, simplify_arrays

    spec = dict(DEFAULT_SEQUENCE_SPEC, rdp_epsilon=epsilon)
    fewer = 0
    for drawing in _raws(3):
        raster = IncrementalRaster()
        for k, stroke in enumerate(drawing):
            raster.add_stroke(stroke, fmt="columns")
            whole = simplify_arrays(normalize_strokes(drawing[:k + 1], "columns"), resample=False, epsilon=epsilon)
            xs, ys, counts = raster.simplified_flat(epsilon)
            assert counts == [len(s) for s in whole]  # every stroke keeps its ends
            assert list(xs) == [float(v) for s in whole for v in s[:, 0]]
            assert list(ys) == [float(v) for s in whole for v in s[:, 1]]
            fewer += len(xs) < len(raster.simplified_flat()[0])
            served = model_inputs.incremental_input(raster, raster.image(), {"size": 28, "sequence": spec})
            np.testing.assert_array_equal(served[1], encode(drawing[:k + 1], spec, fmt="columns"))
    assert fewer  # it really is coarser than Google's epsilon 2
    with pytest.raises(ValueError, match="never explored"):
        raster.simplified_flat(1.0)


@pytest.fixture(scope="module")
def seq_ensemble(tmp_path_factory) -> Path:
    """A tiny CNN, a tiny sequence model, and both merged into one two-input network, with a
    categories.json that serves the merged one."""
    out = tmp_path_factory.mktemp("seq_models")
    common = ["--tiny", "--data", str(FIXTURES), "--labels", ",".join(LABELS), "--out", str(out)]
    assert train_main([*common, "--name", "cnn"]) == 0
    assert seq_main([*common, "--name", "seq", "--calibrate"]) == 0
    assert train_main([*common, "--name", "both", "--tflite-weights", "float32", "--write-categories",
                       "--ensemble-of", f"{out / 'cnn'},{out / 'seq'}"]) == 0
    return out


def test_merged_network_is_the_geometric_mean_of_raster_and_sequence_models(seq_ensemble: Path):
    card = json.loads((seq_ensemble / "both" / "card.json").read_text())
    assert card["input"]["size"] == 28 and card["input"]["sequence"]["max_points"] == 128
    assert [m["name"] for m in card["ensemble"]["members"]] == ["cnn", "seq"]
    raws = _raws()
    cnn = ModelRunner(seq_ensemble / "cnn", "keras").predict_drawings(raws)
    seq = ModelRunner(seq_ensemble / "seq", "keras").predict_drawings(raws)
    assert not np.allclose(cnn, seq, atol=1e-3)
    g = np.sqrt(cnn * seq)
    t = card["metrics"]["calibration"]["temperature"]  # refitted on the merged network
    g = g ** (1.0 / t)
    g /= g.sum(axis=1, keepdims=True)
    merged = ModelRunner(seq_ensemble / "both", "tflite").predict_drawings(raws)
    np.testing.assert_allclose(merged, g, atol=1e-5)
    # The serving runtime, with a batch that spans several buckets (4 + 2 + 1 + ...).
    x = model_inputs.stack([model_inputs.drawing_input(r, card["input"], fmt="columns") for r in raws])
    rt = load_runtime(seq_ensemble / "both", "litert", max_batch_size=4)
    np.testing.assert_allclose(rt.predict(x), merged, atol=1e-5)
    with pytest.raises(Exception, match="raster-only"):
        load_runtime(seq_ensemble / "both", "tf")


def test_a_merged_network_can_be_a_member_of_another(seq_ensemble: Path):
    """A shipped two-input network plus a new raster tower: the weighted geometric mean of the
    two, exactly (weights 2:1), still one network reading the image and the points."""
    out = seq_ensemble
    common = ["--tiny", "--data", str(FIXTURES), "--labels", ",".join(LABELS), "--out", str(out)]
    assert train_main([*common, "--name", "cnn2", "--seed", "99"]) == 0
    assert train_main([*common, "--name", "nested", "--tflite-weights", "float32",
                       "--ensemble-of", f"{out / 'both'},{out / 'cnn2'}", "--ensemble-weights", "2,1"]) == 0
    card = json.loads((out / "nested" / "card.json").read_text())
    assert card["input"]["sequence"]["max_points"] == 128 and card["input"]["size"] == 28
    raws = _raws()
    both = ModelRunner(out / "both", "keras").predict_drawings(raws)
    cnn2 = ModelRunner(out / "cnn2", "keras").predict_drawings(raws)
    g = (both ** 2 * cnn2) ** (1 / 3)
    g = g ** (1.0 / card["metrics"]["calibration"]["temperature"])
    g /= g.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ModelRunner(out / "nested", "tflite").predict_drawings(raws), g, atol=1e-5)


async def test_pool_serves_the_two_input_model_stroke_by_stroke(seq_ensemble: Path):
    raws = _raws(1)
    card = json.loads((seq_ensemble / "both" / "card.json").read_text())
    cols = list(range(len(LABELS)))
    async with open_recognizer(seq_ensemble, workers=1, max_batch_size=4, max_wait_ms=0, max_queue=64) as rec:
        for i, raw in enumerate(raws):
            points = [list(zip(*s)) for s in raw]  # what a tablet sends: (x, y, t) points
            for n in range(1, len(points) + 1):
                guesses = await rec.recognize(RecognizeRequest(f"d{i}", "custom", tuple(LABELS), points[:n], len(LABELS)))
            want = mask_probs(ModelRunner(seq_ensemble / "both", "tflite").predict_drawings([raw]), cols)[0]
            got = {g.label: g.probability for g in guesses}
            np.testing.assert_allclose([got[label] for label in LABELS], want, atol=1e-4)
    assert card["input"]["sequence"]["encoder"] == "sequence"


def test_a_sequence_model_trained_on_a_coarser_simplification_is_served_with_it(seq_ensemble: Path):
    """`--seq-epsilon`: the card says how its points were simplified, a merged network carries
    that to the server, and members that simplify differently are not merged into one input."""
    out = seq_ensemble
    common = ["--tiny", "--data", str(FIXTURES), "--labels", ",".join(LABELS), "--out", str(out)]
    for bad in ("1.0", "x"):
        with pytest.raises(SystemExit, match="seq-epsilon"):
            seq_main([*common, "--name", "bad", "--seq-epsilon", bad])
    assert seq_main([*common, "--name", "seq6", "--seq-epsilon", "6"]) == 0
    card = json.loads((out / "seq6" / "card.json").read_text())
    assert card["input"]["rdp_epsilon"] == 6.0
    assert "rdp_epsilon" not in json.loads((out / "seq" / "card.json").read_text())["input"]
    assert train_main([*common, "--name", "both6", "--ensemble-of", f"{out / 'cnn'},{out / 'seq6'}"]) == 0
    merged = json.loads((out / "both6" / "card.json").read_text())
    assert merged["input"]["sequence"]["rdp_epsilon"] == 6.0
    raws = _raws(1)
    seq6 = ModelRunner(out / "seq6", "keras").predict_drawings(raws)
    cnn = ModelRunner(out / "cnn", "keras").predict_drawings(raws)
    g = np.sqrt(cnn * seq6)  # not --calibrate: the plain geometric mean
    g /= g.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ModelRunner(out / "both6", "keras").predict_drawings(raws), g, atol=1e-4)
    with pytest.raises(SystemExit, match="sequence spec differ"):
        train_main([*common, "--name", "mixed", "--ensemble-of", f"{out / 'both'},{out / 'seq6'}"])


def test_conv_pool1_is_the_conv_tower_pooling_from_its_first_layer():
    """The same weights as "conv" (pooling has none), every layer after the first on half the
    steps: 128 points reach the time pooling as 4 steps instead of 8."""
    from inference.training.sequence_model import SEQ_ARCHS, build_sequence_net

    assert "conv_pool1" in SEQ_ARCHS
    nets = {arch: build_sequence_net(128, 7, tiny=True, arch=arch) for arch in ("conv", "conv_pool1")}
    assert nets["conv"].count_params() == nets["conv_pool1"].count_params()
    def steps(net) -> list[int]:
        """Each convolution's steps, then what the max+mean over time sees."""
        convs = [layer.output.shape[1] for layer in net.layers if layer.name.startswith("conv")]
        pool = next(layer for layer in net.layers if layer.name.startswith("global_max"))
        return [*convs, pool.input.shape[1]]

    assert steps(nets["conv"]) == [128, 128, 64, 32, 16, 8]
    assert steps(nets["conv_pool1"]) == [128, 64, 32, 16, 8, 4]
    with pytest.raises(SystemExit, match="seq-arch"):
        seq_main(["--seq-arch", "lstm9", "--tiny", "--data", str(FIXTURES)])
