"""The C build of the per-stroke arithmetic (`inference._fastpath`) against its Python twins.

Bit for bit: the raster a child's guess is made from must not depend on whether the extension
was compiled. Each C function is compared with the Python code it replaces, on the fixture's
real drawings and on generated ones (duplicates, straight lines, closed loops, long spans,
huge and negative coordinates), and whole `IncrementalRaster`s are compared prefix by prefix
with the extension on and off.
"""
from __future__ import annotations

import json
import os
from array import array
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference import fastpath, raster, sequence
from inference.raster import DEFAULT_SPEC, IncrementalRaster, normalize_strokes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw" / "raw"
fast = fastpath.fast


def test_the_extension_is_built_where_the_tests_run() -> None:
    # `make test` installs the project, which compiles it; a silent fallback would only be slow,
    # so say so here rather than in a benchmark weeks later.
    if os.environ.get("INFERENCE_PURE_PYTHON"):
        pytest.skip("INFERENCE_PURE_PYTHON is set")
    assert fast is not None, "inference._fastpath is not built: pip install -e . (needs a C compiler)"


needs_fast = pytest.mark.skipif(fast is None, reason="inference._fastpath is not built")


def _fixture_drawings(limit_files: int = 8) -> list[list[list[list[float]]]]:
    out = []
    for path in sorted(FIXTURES.glob("*.ndjson"))[:limit_files]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append([[list(p) for p in zip(*s)] for s in json.loads(line)["drawing"]])
    return out


coordinate = st.one_of(
    st.integers(-2000, 2000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 1e-300, 5e149, -5e149]),
)
point = st.tuples(coordinate, coordinate).map(list)
stroke = st.one_of(
    st.lists(point, min_size=1, max_size=120),
    # Repeated and collinear points and closed loops: the spans RDP treats specially.
    st.lists(st.sampled_from([[0, 0], [10, 0], [20, 0], [10, 10], [0, 0]]), min_size=1, max_size=60),
)


def _python_rdp(xs: list[float], ys: list[float], eps: float) -> list[float]:
    pts = np.array([xs, ys], dtype=np.float64).T.copy()
    return raster._rdp_dfs(pts, xs, ys, eps, [0, len(xs)])


@needs_fast
@settings(max_examples=300, deadline=None)
@given(stroke, st.sampled_from([0.0, 0.5, 2.0, 7.3, 1e6]))
def test_rdp_equals_the_python_depth_first_rdp(points: list, eps: float) -> None:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    got = array("d")
    got.frombytes(fast.rdp(array("d", xs), array("d", ys), eps))
    assert got.tolist() == _python_rdp(xs, ys, eps)


@needs_fast
def test_rdp_equals_python_on_real_strokes_and_long_spans() -> None:
    # Strokes of hundreds of points take the numpy branch of the Python version (spans of more
    # than 40 interior points): the C loop must agree with it too.
    rng = np.random.default_rng(7)
    strokes = [s for d in _fixture_drawings() for s in d]
    strokes += [np.cumsum(rng.normal(0, 3, (n, 2)), axis=0).tolist() for n in (50, 300, 1500)]
    for s in strokes:
        xs = [float(p[0]) for p in s]
        ys = [float(p[1]) for p in s]
        for eps in (0.3, 2.0 / 1.7):
            got = array("d")
            got.frombytes(fast.rdp(array("d", xs), array("d", ys), eps))
            want = raster.rdp_significance(np.array([xs, ys]).T.copy(), eps)
            assert got.tolist() == want.tolist()


@needs_fast
@settings(max_examples=200, deadline=None)
@given(stroke)
def test_points_reads_what_normalize_strokes_reads(points: list) -> None:
    parsed = fast.points(points)
    (want,) = normalize_strokes([points], "points")
    assert parsed is not None
    bx, by, x0, y0, x1, y1 = parsed
    assert np.frombuffer(bx).tolist() == want[:, 0].tolist()
    assert np.frombuffer(by).tolist() == want[:, 1].tolist()
    xs, ys = want.T.tolist()
    assert (x0, y0, x1, y1) == (min(xs), min(ys), max(xs), max(ys))


@needs_fast
@pytest.mark.parametrize(
    "odd",
    [
        [],
        "abc",
        [[1, 2], [3, 4, 5]],  # ragged
        [[1, 2], [True, 4]],  # a bool
        [[1, 2], [np.float64(3.0), 4]],  # a numpy scalar
        [[1, 2], [float("nan"), 4]],
        [[1, 2], [3, float("inf")]],
        [[1, 2], [3, 4, "t"]],
        [[1], [2]],
        [[1, 2], 3],
        [[1, 2], [10**400, 4]],
        np.zeros((4, 2)),
    ],
)
def test_points_leaves_anything_unusual_to_python(odd) -> None:
    assert fast.points(odd) is None


@needs_fast
def test_points_reads_tuples_lists_and_a_time_column() -> None:
    parsed = fast.points([(1, 2), [3.5, -4], (5, 6)])
    assert parsed is not None and np.frombuffer(parsed[0]).tolist() == [1.0, 3.5, 5.0]
    parsed = fast.points([[1, 2, 0], [3.5, -4, 16], [0, 0, 2**70]])
    assert parsed is not None and np.frombuffer(parsed[1]).tolist() == [2.0, -4.0, 0.0]


def _raster_states(drawing: list, spec: dict, *, with_fast: bool, monkeypatch) -> list:
    monkeypatch.setattr(raster, "_fast", fast if with_fast else None)
    monkeypatch.setattr(sequence, "_fast", fast if with_fast else None)
    r = IncrementalRaster(spec)
    states = []
    for s in drawing:
        r.add_stroke(s)
        xs, ys, counts = r.simplified_flat()
        cx, cy, ccounts = r.simplified_flat(6.0)
        states.append((
            r.image().tobytes(),
            bytes(xs), bytes(ys), list(counts), bytes(cx), bytes(cy), list(ccounts),
            sequence.encode_flat(xs, ys, list(counts), 128).tobytes(),
            [a.tobytes() for a in r._significance],
        ))
    return states


@needs_fast
@pytest.mark.parametrize("channels", [["ink"], ["ink", "order"]])
def test_incremental_raster_is_the_same_with_and_without_the_c_build(channels, monkeypatch) -> None:
    spec = dict(DEFAULT_SPEC, channels=channels)
    for drawing in _fixture_drawings(limit_files=4):
        assert _raster_states(drawing, spec, with_fast=True, monkeypatch=monkeypatch) == \
            _raster_states(drawing, spec, with_fast=False, monkeypatch=monkeypatch)


@needs_fast
@settings(max_examples=60, deadline=None)
@given(st.lists(stroke, min_size=1, max_size=6))
def test_generated_drawings_are_the_same_with_and_without_the_c_build(drawing: list) -> None:
    with pytest.MonkeyPatch.context() as mp:
        assert _raster_states(drawing, dict(DEFAULT_SPEC), with_fast=True, monkeypatch=mp) == \
            _raster_states(drawing, dict(DEFAULT_SPEC), with_fast=False, monkeypatch=mp)


@needs_fast
def test_strokes_the_c_build_declines_still_go_in(monkeypatch) -> None:
    # Columns, 2-3 point strokes, numpy arrays, huge coordinates: the Python path takes them.
    odd = [
        [[0, 50, 100], [0, 80, 10]],  # columns of a 3-point stroke
        np.array([[5.0, 5.0], [60.0, 90.0], [120.0, 10.0], [130.0, 20.0]]),
        [[1e200, 0], [0, 1e200], [5, 5], [6, 6]],
        [[10, 10], [20, 30]],
    ]
    with_c = _raster_states(odd, dict(DEFAULT_SPEC), with_fast=True, monkeypatch=monkeypatch)
    without = _raster_states(odd, dict(DEFAULT_SPEC), with_fast=False, monkeypatch=monkeypatch)
    assert with_c == without


@needs_fast
def test_bad_strokes_get_the_python_error(monkeypatch) -> None:
    monkeypatch.setattr(raster, "_fast", fast)
    r = IncrementalRaster(dict(DEFAULT_SPEC))
    for bad, message in (([[1, 2], [3, "x"], [4, 5], [6, 7]], "non-numeric"),
                         ([[1, 2], [3, float("nan")], [4, 5], [6, 7]], "non-finite"),
                         ([[1, 2], [3, 4, 5], [4, 5], [6, 7]], "ragged")):
        with pytest.raises(ValueError, match=message):
            r.add_stroke(bad)
    assert len(r) == 0


@needs_fast
def test_encode_equals_the_numpy_encoding() -> None:
    rng = np.random.default_rng(3)
    for n, max_points in ((1, 128), (7, 128), (300, 128), (128, 128), (40, 16)):
        xs = array("d", rng.uniform(-50, 300, n).tolist())
        ys = array("d", rng.uniform(-50, 300, n).tolist())
        cuts = sorted(set(rng.integers(1, n + 1, 5).tolist()) | {n})
        counts = [b - a for a, b in zip([0] + cuts[:-1], cuts)]
        got = np.zeros((max_points, 5), dtype=np.float32)
        fast.encode(got, xs, ys, counts)
        want = sequence.encode_flat(list(xs), list(ys), counts, max_points)  # lists: numpy's path
        assert got.tobytes() == want.tobytes()


@needs_fast
@pytest.mark.parametrize("out", [np.zeros((64, 5), np.float64), np.zeros((128, 5), np.int32),
                                 np.zeros((5, 128), np.float32).T, b"\0" * 2560])
def test_encode_refuses_an_output_that_is_not_writable_contiguous_float32(out) -> None:
    with pytest.raises((TypeError, BufferError, ValueError)):
        fast.encode(out, array("d", [1.0, 2.0]), array("d", [3.0, 4.0]), [2])
