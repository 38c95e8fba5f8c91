"""The fast rasteriser paths draw exactly the pixels the models were trained on.

`IncrementalRaster` keeps simplified strokes and a supersampled canvas between strokes, and
`rdp_significance` runs depth-first in Python for small inputs; both are only speed-ups, so the
images must stay bit-identical (np.array_equal, not allclose):

- incremental == plain `rasterize` of the same prefix, for every prefix of every fixture drawing;
- both == golden prefix images made by the rasteriser as it was before these speed-ups
  (`golden_raster_prefixes.npz`: 53 fixture drawings, every prefix, stored as uint8 levels,
  which the float32 images are exactly: level * (1 / 255) in float32);
- the depth-first RDP == the breadth-first numpy RDP, significance for significance.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference import raster
from inference.raster import DEFAULT_SPEC, IncrementalRaster, rasterize

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw" / "raw"
GOLDEN = Path(__file__).resolve().parent / "golden_raster_prefixes.npz"
ORDER_SPEC = dict(DEFAULT_SPEC, size=32, channels=["ink", "order"])


def _drawings(path: Path) -> list[list[list[tuple]]]:
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    return [[list(zip(*s)) for s in json.loads(l)["drawing"]] for l in lines]


def _prefix_images(drawing, spec) -> list[np.ndarray]:
    inc = IncrementalRaster(spec)
    out = []
    for stroke in drawing:
        inc.add_stroke(stroke)
        out.append(inc.image())
    return out


def _from_levels(levels: np.ndarray) -> np.ndarray:
    return np.arange(256, dtype=np.float32)[levels] * (1.0 / 255.0)


@pytest.mark.parametrize("path", sorted(RAW.glob("*.ndjson")), ids=lambda p: p.stem)
def test_incremental_equals_rasterize_at_every_prefix(path: Path) -> None:
    for drawing in _drawings(path):
        for k, image in enumerate(_prefix_images(drawing, DEFAULT_SPEC), 1):
            expected = rasterize(drawing[:k], DEFAULT_SPEC)
            assert image.dtype == expected.dtype == np.float32
            assert np.array_equal(image, expected), f"{path.stem}: differs after stroke {k}"


def test_incremental_equals_rasterize_with_order_channel() -> None:
    for path in sorted(RAW.glob("*.ndjson"))[::20]:
        for drawing in _drawings(path)[:2]:
            for k, image in enumerate(_prefix_images(drawing, ORDER_SPEC), 1):
                assert np.array_equal(image, rasterize(drawing[:k], ORDER_SPEC)), (path.stem, k)


def _golden_drawings(names: np.ndarray) -> list:
    out = []
    for name in names:
        label, i = str(name).rsplit("#", 1)
        out.append(_drawings(RAW / f"{label}.ndjson")[int(i)])
    return out


@pytest.mark.parametrize(("key", "spec"), [("ink", DEFAULT_SPEC), ("order", ORDER_SPEC)])
def test_prefix_images_equal_the_pre_speedup_rasteriser(key: str, spec: dict) -> None:
    golden = np.load(GOLDEN)
    drawings = _golden_drawings(golden["drawings" if key == "ink" else "order_drawings"])
    expected = _from_levels(golden[key])
    incremental = [img for d in drawings for img in _prefix_images(d, spec)]
    plain = [rasterize(d[:k], spec) for d in drawings for k in range(1, len(d) + 1)]
    assert len(incremental) == len(plain) == len(expected)
    for i, (a, b, e) in enumerate(zip(incremental, plain, expected)):
        assert np.array_equal(a, e), f"incremental image {i} differs from the golden one"
        assert np.array_equal(b, e), f"rasterize image {i} differs from the golden one"


def test_image_is_a_fresh_array_each_time() -> None:
    """The kept canvas is internal: changing a returned image changes nothing later."""
    drawing = _drawings(RAW / "cat.ndjson")[0]
    inc = IncrementalRaster(DEFAULT_SPEC)
    inc.add_stroke(drawing[0])
    first = inc.image()
    first[:] = 0.5
    assert np.array_equal(inc.image(), rasterize(drawing[:1]))
    for stroke in drawing[1:]:
        inc.add_stroke(stroke)
        inc.image()[:] = 0.0
    assert np.array_equal(inc.image(), rasterize(drawing))


def test_depth_first_rdp_equals_numpy_rdp() -> None:
    rng = np.random.default_rng(7)
    for t in range(400):
        n = int(rng.integers(1, 300))
        if t % 3 == 0:  # small integer grid: many equal distances and closed spans
            p = rng.integers(0, 6, size=(n, 2)).astype(float)
            p[-1] = p[0]
        else:
            p = np.cumsum(rng.normal(size=(n, 2)), axis=0) * float(rng.choice([0.01, 1.0, 300.0]))
        cuts = sorted(set(rng.integers(1, max(n, 2), size=int(rng.integers(0, 4))).tolist()))
        bounds = sorted({0, *[c for c in cuts if 0 < c < n]}) + [n]
        for eps in (0.0, 0.5, 2.0):
            fast = raster._rdp_significance_dfs(p, eps, bounds)
            slow = raster._rdp_significance_levels(p, eps, bounds)
            assert np.array_equal(fast, slow), (t, eps)
            assert np.array_equal(raster.rdp_significance(p, eps, cuts), slow)
