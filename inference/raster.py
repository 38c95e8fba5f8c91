"""Stroke preprocessing and rasterising, shared by training and serving.

The same functions turn a drawing into the model's input when training (`inference.train`), when
evaluating (`inference.evaluate`) and when serving (the worker pool), so what a model learns is
exactly what the server feeds it.

Pipeline (Google's "simplified" preprocessing, then Google-like 28x28 rendering):

1. `simplify_drawing`: align to the top-left (subtract min x/y), scale uniformly so the longer side
   is 255, resample each stroke at 1-pixel spacing, Ramer-Douglas-Peucker with epsilon 2.0.
2. `render_simplified`: centre the 0..255 drawing in a 256 box, add `padding` on every side, draw
   lines `line_width` wide (in 256-box units) with round caps and joins, white ink on black,
   anti-aliased by drawing at 4x the size and box-filtering down.

The input spec is the model card's `"input"` object, e.g.::

    {"size": 28, "channels": ["ink"], "line_width": 16.0, "padding": 16.0,
     "layout": "NHWC", "dtype": "float32", "range": [0, 1]}

Channels: "ink" (every stroke at full intensity) and "order" (stroke i of n drawn at intensity
1 - 0.8 * i / max(n - 1, 1), so earlier strokes are brighter; later strokes overwrite earlier
ones where they cross, like Google's ordered renderings used by strong Quick, Draw! models).
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from inference.fastpath import fast as _fast

__all__ = [
    "DEFAULT_SPEC",
    "IncrementalRaster",
    "RDP_EPSILON",
    "normalize_strokes",
    "rasterize",
    "rasterize_simplified",
    "rdp",
    "render_simplified",
    "simplify_drawing",
]

#: Bumped whenever the pixels `rasterize` produces change (training caches rasters by it).
RASTER_VERSION = 2

#: The spec of a model that does not say otherwise: Google's numpy_bitmap look.
DEFAULT_SPEC: dict[str, Any] = {
    "size": 28,
    "channels": ["ink"],
    "line_width": 16.0,
    "padding": 16.0,
    "layout": "NHWC",
    "dtype": "float32",
    "range": [0, 1],
}

_SIMPLIFIED_SIDE = 255.0  # Google: the longer side is scaled to 255
_BOX = 256.0  # the box the 0..255 drawing is centred in before padding
#: Google's Ramer-Douglas-Peucker epsilon (0..255 space): the raster's, and a sequence input's default.
RDP_EPSILON = 2.0
_SUPERSAMPLE = 4  # anti-aliasing: draw at 4x, box-filter down
_KNOWN_CHANNELS = frozenset({"ink", "order"})


# --------------------------------------------------------------------------- input formats


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _stroke_kind(stroke: Any) -> str:
    """Classify one stroke: "points" ((x, y[, t]) per point), "columns" ([xs], [ys][, [ts]])
    or "ambiguous" (a 2- or 3-point stroke whose shape fits both)."""
    if isinstance(stroke, np.ndarray):
        if stroke.ndim != 2:
            raise ValueError(f"a stroke array must be 2-D, got shape {stroke.shape}")
        if stroke.shape[1] in (2, 3) and stroke.shape[0] not in (2, 3):
            return "points"
        if stroke.shape[0] in (2, 3) and stroke.shape[1] not in (2, 3):
            return "columns"
        return "ambiguous"
    if not isinstance(stroke, Sequence) or isinstance(stroke, (str, bytes)):
        raise ValueError(f"a stroke must be a sequence, got {type(stroke).__name__}")
    if len(stroke) == 0:
        return "points"
    first = stroke[0]
    if _is_number(first):
        raise ValueError("a stroke must be a list of points or of coordinate lists, not numbers")
    if len(stroke) not in (2, 3):
        return "points"
    lengths = {len(part) for part in stroke}
    if len(lengths) != 1:
        return "points"  # columns must all have the same length
    (n,) = lengths
    if n not in (2, 3):
        return "columns"
    return "ambiguous"


def normalize_strokes(strokes: Any, fmt: str | None = None) -> list[np.ndarray]:
    """Turn a drawing in any accepted format into a list of float64 (n, 2) x/y arrays.

    Accepted: strokes of points `(x, y)` / `(x, y, t_ms)` (what the tablet sends), Google's
    `[[xs], [ys]]` / `[[xs], [ys], [ts]]` (ndjson), or numpy arrays of either shape. `fmt` forces
    "points" or "columns"; otherwise the format is detected per drawing (a 2- or 3-point stroke
    fits both shapes: it follows the other strokes, and is read as points if all are ambiguous).
    Empty strokes are dropped.
    """
    if strokes is None:
        raise ValueError("drawing is None")
    if not isinstance(strokes, (Sequence, np.ndarray)) or isinstance(strokes, (str, bytes)):
        raise ValueError(f"a drawing must be a list of strokes, got {type(strokes).__name__}")
    if fmt is None:
        kinds = {_stroke_kind(s) for s in strokes} - {"ambiguous"}
        if len(kinds) > 1:
            raise ValueError("a drawing mixes point-list and column-list strokes")
        fmt = kinds.pop() if kinds else "points"
    if fmt not in ("points", "columns"):
        raise ValueError(f"unknown stroke format {fmt!r}")
    out: list[np.ndarray] = []
    for stroke in strokes:
        try:
            arr = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a stroke has non-numeric or ragged coordinates: {exc}") from None
        if arr.size == 0:
            continue
        if arr.ndim != 2:
            raise ValueError(f"a stroke must be 2-D, got shape {arr.shape}")
        if fmt == "columns":
            arr = arr.T
        if arr.shape[1] < 2:
            raise ValueError(f"a point needs x and y, got shape {arr.shape}")
        xy = np.ascontiguousarray(arr[:, :2])
        # A finite sum means finite coordinates (inf and nan propagate); only an overflowing or
        # non-finite sum needs the element-wise check.
        if not math.isfinite(xy.sum()) and not np.isfinite(xy).all():
            raise ValueError("a stroke has non-finite coordinates")
        out.append(xy)
    return out


# --------------------------------------------------------------------------- simplification


def rdp_significance(points: np.ndarray, epsilon: float, breaks: Sequence[int] = ()) -> np.ndarray:
    """Ramer-Douglas-Peucker run as a tree: the significance of every point of an (n, 2) polyline.

    A point's significance is the smallest split distance on its path in the RDP recursion
    (its own distance, capped by its parents'); ends are infinitely significant; points never
    split (explored down to `epsilon`) get 0. Then, for every e >= epsilon, RDP(points, e) is
    exactly `points[significance > e]`: a stroke is simplified once and re-thresholded when the
    drawing's scale changes (see `IncrementalRaster`).

    `breaks` are indices where a new polyline starts (several strokes concatenated): they and
    the point before them are ends. Small inputs (a stroke as drawn, tens of points) are split
    depth-first in plain Python, which avoids numpy's per-call cost; large ones (many resampled
    strokes) split all open spans of all strokes together, one numpy pass per level of the
    recursion. Both compute every distance with the same float64 operations, so they give
    bit-identical significances.
    """
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    bounds = sorted({0, *[int(b) for b in breaks if 0 < b < n]}) + [n]
    if n <= _RDP_DFS_MAX_POINTS and len(bounds) <= _RDP_DFS_MAX_POLYLINES:
        return _rdp_significance_dfs(points, epsilon, bounds)
    return _rdp_significance_levels(points, epsilon, bounds)


#: Up to this many points (and polylines), `rdp_significance` runs depth-first in Python.
_RDP_DFS_MAX_POINTS = 1024
_RDP_DFS_MAX_POLYLINES = 8
#: Spans with more interior points than this get their distances from numpy, not a Python loop.
_RDP_DFS_NUMPY_SPAN = 40
#: Coordinates beyond this could overflow the cross product; such inputs take the numpy path,
#: whose inf/nan handling the depth-first loop does not reproduce.
_RDP_DFS_MAX_ABS = 1e150


def _rdp_significance_dfs(points: np.ndarray, epsilon: float, bounds: list[int]) -> np.ndarray:
    """`rdp_significance` depth-first: same splits, same float64 arithmetic as the numpy version
    (a - b, products, abs, division, np.hypot), so the same significances bit for bit.

    Python floats are IEEE doubles like numpy's float64 and neither fuses operations; only the
    hypotenuse must come from np.hypot (math.hypot rounds differently in about 0.5 % of cases).
    """
    if not np.abs(points).max() < _RDP_DFS_MAX_ABS:
        return _rdp_significance_levels(points, epsilon, bounds)
    xs, ys = points.T.tolist()
    return np.array(_rdp_dfs(points, xs, ys, epsilon, bounds), dtype=np.float64)


def _rdp_dfs(points: np.ndarray, xs: list[float], ys: list[float], epsilon: float, bounds: list[int]) -> list[float]:
    """`_rdp_significance_dfs` given the coordinates also as lists (xs, ys); returns a list."""
    n = len(points)
    px = points[:, 0]
    py = points[:, 1]
    sig = [0.0] * n
    inf = float("inf")
    hypot = np.hypot
    big = _RDP_DFS_NUMPY_SPAN
    stack = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        sig[a] = inf
        sig[b - 1] = inf
        stack.append((a, b - 1, inf))
    while stack:
        s, e, cap = stack.pop()
        if e - s < 2:
            continue
        ax = xs[s]
        ay = ys[s]
        dx = xs[e] - ax
        dy = ys[e] - ay
        seg = float(hypot(dx, dy))
        if e - s - 1 > big:
            rx = px[s + 1:e] - ax
            ry = py[s + 1:e] - ay
            if seg > 0:
                dist = np.abs(rx * dy - ry * dx) / seg
            else:
                dist = hypot(rx, ry)
            j = int(dist.argmax())  # the first maximum, as the numpy version picks it
            best = float(dist[j])
            mid = s + 1 + j
        elif seg > 0:
            best = -1.0
            mid = s
            for i in range(s + 1, e):
                d = abs((xs[i] - ax) * dy - (ys[i] - ay) * dx) / seg
                if d > best:
                    best = d
                    mid = i
        else:  # a closed span: distance to the (coincident) ends
            dist = hypot(px[s + 1:e] - ax, py[s + 1:e] - ay)
            j = int(dist.argmax())
            best = float(dist[j])
            mid = s + 1 + j
        if best > epsilon:
            val = best if best < cap else cap
            sig[mid] = val
            stack.append((mid, e, val))
            stack.append((s, mid, val))
    return sig


def _rdp_significance_levels(points: np.ndarray, epsilon: float, bounds: list[int]) -> np.ndarray:
    """`rdp_significance` breadth-first: all open spans of all polylines split together, one
    numpy pass per level of the recursion (cost grows with the depth, not the point count)."""
    n = len(points)
    sig = np.zeros(n, dtype=np.float64)
    bounds = np.array(bounds, dtype=np.int64)
    s = bounds[:-1]
    e = bounds[1:] - 1
    sig[s] = np.inf
    sig[e] = np.inf
    cap = np.full(len(s), np.inf)
    px = points[:, 0]
    py = points[:, 1]
    while True:
        live = (e - s) >= 2
        if not live.all():
            s, e, cap = s[live], e[live], cap[live]
        if len(s) == 0:
            break
        lengths = e - s - 1
        span = np.repeat(np.arange(len(s)), lengths)
        first = np.cumsum(lengths) - lengths
        idx = np.arange(len(span)) - first[span] + s[span] + 1
        ax, ay = px[s], py[s]
        dx, dy = px[e] - ax, py[e] - ay
        seg = np.hypot(dx, dy)
        rx = px[idx] - ax[span]
        ry = py[idx] - ay[span]
        segs = seg[span]
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(segs > 0, np.abs(rx * dy[span] - ry * dx[span]) / segs, np.hypot(rx, ry))
        best = np.maximum.reduceat(dist, first)
        # First index of each span's maximum (as argmax would pick it).
        pos = np.where(dist == best[span], np.arange(len(dist)), len(dist))
        mid = idx[np.minimum.reduceat(pos, first)]
        split = best > epsilon
        if not split.any():
            break
        s, e, mid, val = s[split], e[split], mid[split], np.minimum(best[split], cap[split])
        sig[mid] = val
        s, e, cap = np.concatenate([s, mid]), np.concatenate([mid, e]), np.concatenate([val, val])
    return sig


def rdp(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on an (n, 2) polyline; keeps the first and last point."""
    if len(points) < 3:
        return points
    return points[rdp_significance(points, epsilon) > epsilon]


def _resample(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points every `spacing` along the polyline (arc length), keeping both ends."""
    if len(points) < 2:
        return points
    seg = np.hypot(*np.diff(points, axis=0).T)
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    total = cum[-1]
    if total <= spacing:
        return points[[0, -1]] if total > 0 else points[:1]
    at = np.arange(0.0, total, spacing)
    if total - at[-1] > 1e-9:
        at = np.append(at, total)
    x = np.interp(at, cum, points[:, 0])
    y = np.interp(at, cum, points[:, 1])
    return np.stack([x, y], axis=1)


def _bbox(strokes: Sequence[np.ndarray]) -> tuple[float, float, float, float]:
    mins = np.min([s.min(axis=0) for s in strokes], axis=0)
    maxs = np.max([s.max(axis=0) for s in strokes], axis=0)
    return float(mins[0]), float(mins[1]), float(maxs[0]), float(maxs[1])


def _scale_for(bbox: tuple[float, float, float, float]) -> float:
    extent = max(bbox[2] - bbox[0], bbox[3] - bbox[1])
    return _SIMPLIFIED_SIDE / extent if extent > 0 else 1.0


def simplify_arrays(strokes: Sequence[np.ndarray], resample: bool = True, epsilon: float = RDP_EPSILON) -> list[np.ndarray]:
    """Google's simplification on normalised (n, 2) arrays; returns float (m, 2) arrays in 0..255.

    With `resample=True` (Google's exact recipe) each scaled stroke is resampled at 1-pixel
    spacing before RDP. With `resample=False` (the serving path) RDP runs on the drawn vertices
    in raw space with epsilon 2 / scale -- the same as epsilon 2 after scaling, since distances
    scale linearly -- and the kept vertices are then scaled; the polylines differ from the
    resampled version by under a pixel of the 256 box, and the result can be reproduced a stroke
    at a time (`IncrementalRaster`). `epsilon` (in the 0..255 space; Google's is 2) is for the
    stroke-sequence input, which may keep fewer vertices than the raster (`inference.sequence`).
    """
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        return []
    bbox = _bbox(strokes)
    scale = _scale_for(bbox)
    origin = np.array(bbox[:2])
    if not resample:
        eps = epsilon / scale
        allp = np.concatenate(strokes) if len(strokes) > 1 else strokes[0]
        breaks = np.cumsum([len(s) for s in strokes])[:-1]
        keep = rdp_significance(allp, eps, breaks) > eps
        kept = (allp - origin) * scale
        return [kept[a:b][keep[a:b]] for a, b in zip(np.concatenate(([0], breaks)), np.cumsum([len(s) for s in strokes]))]
    return [rdp(_resample((s - origin) * scale), epsilon) for s in strokes]


def simplify_drawing(strokes: Any, fmt: str | None = None) -> list[list[list[int]]]:
    """Google's simplified format of a drawing: a list of strokes `[[xs], [ys]]`, ints 0..255.

    Aligns to the top-left, scales so the longer side is 255 (aspect kept), resamples every
    stroke at 1-pixel spacing and applies Ramer-Douglas-Peucker with epsilon 2.0. Input: any
    format `normalize_strokes` accepts, in any canvas size and offset.
    """
    out = []
    for s in simplify_arrays(normalize_strokes(strokes, fmt)):
        r = np.rint(s).astype(int)
        out.append([r[:, 0].tolist(), r[:, 1].tolist()])
    return out


# --------------------------------------------------------------------------- rendering


def _spec_value(spec: Mapping[str, Any] | None, key: str) -> Any:
    if spec is not None and key in spec:
        return spec[key]
    return DEFAULT_SPEC[key]


def _check_spec(spec: Mapping[str, Any] | None) -> tuple[int, list[str], float, float]:
    size = int(_spec_value(spec, "size"))
    channels = list(_spec_value(spec, "channels"))
    unknown = set(channels) - _KNOWN_CHANNELS
    if unknown:
        raise ValueError(f"unknown raster channels {sorted(unknown)}")
    if size < 4 or not channels:
        raise ValueError("raster spec needs size >= 4 and at least one channel")
    return (
        size,
        channels,
        float(_spec_value(spec, "line_width")),
        float(_spec_value(spec, "padding")),
    )


# Drawing goes straight to Pillow's C objects (`Image.core`: the same `fill`, `draw_lines`,
# `draw_ellipse`, `reduce` and raw encoder that `Image.new`, `ImageDraw.line`,
# `ImageDraw.ellipse(fill=...)`, `Image.reduce` and `Image.tobytes` call), skipping their Python
# wrappers, which cost more than the drawing itself at this size. Pillow is pinned
# (pyproject.toml); tests/inference/test_raster_identity.py checks the pixels against golden
# images made through the public API.


def _new_canvas(big: int) -> Any:
    """A black supersampled "L" canvas (a Pillow core image) and its drawing object."""
    canvas = Image.core.fill("L", (big, big), 0)
    return canvas, Image.core.draw(canvas, 0)


def _draw_polylines(
    draw: Any, flat: list[float], counts: Sequence[int], fills: Sequence[int], width_px: float
) -> None:
    """Draw pixel-space polylines, given as one flat x, y, x, y... list and a point count each.

    Lines `width_px` wide (PIL cuts their ends square), with a disc on both ends (round caps) and
    a disc for a single-point stroke (a tap). Every stroke overwrites its pixels with its fill
    (no blending in mode "L"), so strokes of one fill can be drawn in any order, or added later,
    with the same result.
    """
    w = max(1, int(round(width_px)))
    r = w / 2.0
    line = draw.draw_lines
    disc = draw.draw_ellipse
    pos = 0
    for m, fill in zip(counts, fills):
        ink = draw.draw_ink(fill)
        end = pos + 2 * m
        x, y = flat[pos], flat[pos + 1]
        if m > 1:
            line(flat[pos:end], ink, w)
            disc((x - r, y - r, x + r, y + r), ink, 1)
            x, y = flat[end - 2], flat[end - 1]
        # Joints are left as PIL draws them: a dot on every vertex costs 4x the time and changes
        # the 28 px image by < 0.5%.
        disc((x - r, y - r, x + r, y + r), ink, 1)
        pos = end


#: uint8 -> float32 in 0..1, the same float32 products as `array.astype(float32) * (1 / 255)`.
_UNIT_LUT = np.arange(256, dtype=np.float32) * (1.0 / 255.0)


def _order_fills(n: int) -> list[int]:
    """The "order" channel's fills: earlier strokes brighter, 255 down to 51."""
    return [int(round(255 * (1.0 - 0.8 * i / max(n - 1, 1)))) for i in range(n)]


def _geometry(size: int, line_width: float, padding: float) -> tuple[int, float, float]:
    """Supersampled canvas side, 256-box -> canvas factor and pen width in canvas pixels."""
    big = size * _SUPERSAMPLE
    k = big / (_BOX + 2.0 * padding)
    return big, k, line_width * k


def _to_pixels(points: np.ndarray, maxs: np.ndarray, k: float, padding: float) -> list[float]:
    """Simplified (m, 2) points -> flat canvas coordinates."""
    # Centre the drawing's box in the 256 box (Google's renderings are centred).
    offset = (_BOX - maxs) / 2.0 + padding
    # PIL's pixel (i, j) covers [i, i+1): shift by half a pixel so coordinates are pixel edges.
    return ((points + offset) * k - 0.5).ravel().tolist()


def _downsample(canvas: Any, big: int) -> np.ndarray:
    """Box-filter the supersampled canvas down (Pillow's reduce): float32 flat, in 0..1."""
    small = canvas.reduce((_SUPERSAMPLE, _SUPERSAMPLE), (0, 0, big, big))
    side = big // _SUPERSAMPLE
    encoder = Image.core.raw_encoder("L", "L")
    encoder.setimage(small, (0, 0, side, side))
    chunks = []
    while True:
        _, err, data = encoder.encode(max(65536, side * 4))
        chunks.append(data)
        if err:
            break
    if err < 0:
        raise RuntimeError(f"Pillow's raw encoder failed ({err})")
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return _UNIT_LUT.take(np.frombuffer(data, dtype=np.uint8))


def render_simplified(strokes: Sequence[np.ndarray], spec: Mapping[str, Any] | None = None) -> np.ndarray:
    """Render already-simplified (0..255) float (n, 2) strokes to float32 (H, W, C) in 0..1.

    Drawn with PIL at `_SUPERSAMPLE` times the size and box-filtered down (anti-aliasing), with a
    round pen `line_width` wide in 256-box units, white ink on black.
    """
    size, channels, line_width, padding = _check_spec(spec)
    out = np.zeros((size, size, len(channels)), dtype=np.float32)
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        return out
    big, k, width_px = _geometry(size, line_width, padding)
    points = np.concatenate(strokes) if len(strokes) > 1 else strokes[0]
    flat = _to_pixels(points, points.max(axis=0), k, padding)
    counts = [len(s) for s in strokes]
    for c, name in enumerate(channels):
        canvas, draw = _new_canvas(big)
        fills = [255] * len(counts) if name == "ink" else _order_fills(len(counts))
        _draw_polylines(draw, flat, counts, fills, width_px)
        out[:, :, c] = _downsample(canvas, big).reshape(size, size)
    return out


def rasterize(strokes: Any, spec: Mapping[str, Any] | None = None, fmt: str | None = None) -> np.ndarray:
    """Rasterise a drawing for a model: float32 (size, size, channels) in 0..1, NHWC without N.

    `strokes` in any format `normalize_strokes` accepts (raw canvas points with time, or Google's
    raw/simplified `[[xs], [ys](, [ts])]`); `spec` is the model card's `"input"` object. The
    drawing is simplified (Google's rules, see `simplify_arrays`) and rendered
    (`render_simplified`). An empty drawing gives an all-zero image.
    """
    return render_simplified(simplify_arrays(normalize_strokes(strokes, fmt), resample=False), spec)


def rasterize_simplified(strokes: Any, spec: Mapping[str, Any] | None = None) -> np.ndarray:
    """Rasterise a drawing that is already in Google's simplified 0..255 format (no resimplifying).

    Used for training on the simplified files; equal to `rasterize` up to the re-simplification of
    an already simplified drawing (idempotent to within rounding).
    """
    return render_simplified(normalize_strokes(strokes, "columns"), spec)


# --------------------------------------------------------------------------- incremental


class IncrementalRaster:
    """A drawing that grows a stroke at a time, rasterised on demand; equal to `rasterize`.

    Each stroke is simplified once, when added, in its own raw canvas space: `rdp_significance`
    down to the RDP epsilon of the moment (2 / scale). The global scale depends on the bounding
    box of all strokes so far, which only grows, so the scale only falls and the raw epsilon only
    rises: a later, larger epsilon is applied exactly by thresholding the cached significances.
    `image()` therefore equals `rasterize(all strokes so far, spec)` exactly, while adding a
    stroke costs only that stroke's RDP.

    Rendering is incremental too: the simplified points are kept while the scale and origin
    hold, and the supersampled "ink" canvas is kept while the drawing's placement (scale, origin
    and simplified extent) holds, so a stroke inside the drawing so far only draws itself. Ink
    strokes all have the same fill and overwrite their pixels, so the kept canvas is the very
    canvas a full re-render would draw. "order" channels (fills depend on the stroke count) are
    re-rendered every time.
    """

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        size, channels, line_width, padding = _check_spec(spec)
        self.spec = dict(spec) if spec is not None else dict(DEFAULT_SPEC)
        self._size, self._channels, self._padding = size, channels, padding
        self._big, self._k, self._width_px = _geometry(size, line_width, padding)
        # Per stroke: raw-space x and y of its vertices and their RDP significance, computed in
        # C (`inference.fastpath`, when built) or in plain Python floats (IEEE doubles, the same
        # arithmetic as numpy's float64: strokes are tens of points, where numpy's per-call cost
        # dominates), the same bits either way, and kept as arrays of doubles.
        self._xs: list[array] = []
        self._ys: list[array] = []
        self._significance: list[array] = []
        self._bbox = [math.inf, math.inf, -math.inf, -math.inf]  # raw min x, min y, max x, max y
        # Simplified x and y of the kept vertices of the first len(_counts) strokes, for one
        # (scale, origin); their count per stroke and their max (the drawing's extent).
        self._simp_key: tuple[float, float, float] | None = None
        self._sx = array("d")
        self._sy = array("d")
        self._counts: list[int] = []
        self._smax = [-math.inf, -math.inf]
        # Supersampled ink canvas: the placement it was drawn at, the strokes and points it holds.
        self._canvas: Any = None
        self._draw: Any = None
        self._canvas_key: tuple[float, ...] | None = None
        self._canvas_strokes = 0
        self._canvas_points = 0
        # Coarser simplifications (an epsilon above Google's 2, for a sequence input):
        # epsilon -> [(scale, origin), x's, y's, counts], kept up to date like the above.
        self._coarse: dict[float, list] = {}

    def __len__(self) -> int:
        return len(self._xs)

    def _scale(self) -> float:
        return _scale_for(tuple(self._bbox))

    def add_stroke(self, stroke: Any, fmt: str | None = None) -> None:
        """Add one stroke: points `(x, y[, t])` or columns `[[xs], [ys](, [ts])]`."""
        if _fast is not None and self._add_stroke_fast(stroke, fmt):
            return
        arrays = normalize_strokes([stroke], fmt)
        if not arrays:
            return
        pts = arrays[0]
        xs, ys = pts.T.tolist()
        eps = self._grow_bbox(min(xs), min(ys), max(xs), max(ys))
        extent = max(-min(xs), max(xs), -min(ys), max(ys))  # max |coordinate|
        if len(pts) <= _RDP_DFS_MAX_POINTS and extent < _RDP_DFS_MAX_ABS:
            sig = _rdp_dfs(pts, xs, ys, eps, [0, len(pts)])
        else:
            sig = rdp_significance(pts, eps).tolist()
        # Kept as arrays of doubles, not lists or tuples of float objects: a worker holds
        # thousands of drawings in progress, and a garbage collection visits every float of
        # every kept list (mostly cache misses): 130 ms for one full collection in a worker
        # holding 1,000 drawings, against ~4 us more CPU per stroke for the arrays
        # (inference/gc_policy.py, bench/inference/README.md).
        self._xs.append(array("d", xs))
        self._ys.append(array("d", ys))
        self._significance.append(array("d", sig))

    def _grow_bbox(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """Grow the drawing's raw box by a new stroke's; the raw-space RDP epsilon it now has."""
        bbox = self._bbox
        self._bbox = [min(bbox[0], x0), min(bbox[1], y0), max(bbox[2], x1), max(bbox[3], y1)]
        return RDP_EPSILON / self._scale()

    def _add_stroke_fast(self, stroke: Any, fmt: str | None) -> bool:
        """`add_stroke` through the C build for the tablet's usual stroke (a list of points of
        plain numbers); False, having changed nothing, for anything else."""
        # A 2- or 3-point stroke may be columns; `normalize_strokes` decides those.
        if type(stroke) not in (list, tuple) or fmt not in (None, "points") or (fmt is None and len(stroke) in (2, 3)):
            return False
        parsed = _fast.points(stroke)
        if parsed is None:
            return False
        bx, by, x0, y0, x1, y1 = parsed
        if not max(-x0, x1, -y0, y1) < _RDP_DFS_MAX_ABS:
            return False
        sig = _fast.rdp(bx, by, self._grow_bbox(x0, y0, x1, y1))
        for kept, data in ((self._xs, bx), (self._ys, by), (self._significance, sig)):
            values = array("d")
            values.frombytes(data)
            kept.append(values)
        return True

    def _simplified(self) -> None:
        """Bring the simplified vertices (`_sx`, `_sy`, `_counts`, `_smax`) up to date."""
        scale = self._scale()
        ox, oy = self._bbox[0], self._bbox[1]
        key = (scale, ox, oy)
        if key != self._simp_key:
            self._simp_key, self._sx, self._sy, self._counts = key, array("d"), array("d"), []
            self._smax = [-math.inf, -math.inf]
        if len(self._counts) < len(self._xs):
            mx, my = self._extend_kept(RDP_EPSILON, key, self._sx, self._sy, self._counts)
            self._smax = [max(self._smax[0], mx), max(self._smax[1], my)]

    def _extend_kept(self, epsilon: float, key: tuple[float, float, float], sx: array, sy: array,
                     counts: list[int]) -> tuple[float, float]:
        """Append the simplified vertices at `epsilon` of the strokes from `len(counts)` on, for
        `key` = (scale, origin x, origin y); returns their max x and y."""
        scale, ox, oy = key
        eps = epsilon / scale  # as simplify_arrays computes it
        mx = my = -math.inf
        done = len(counts)
        if _fast is not None:
            keep = _fast.keep
            for xs, ys, sig in zip(self._xs[done:], self._ys[done:], self._significance[done:]):
                kx, ky, m, smx, smy = keep(xs, ys, sig, eps, ox, oy, scale)
                sx.frombytes(kx)
                sy.frombytes(ky)
                counts.append(m)
                mx = max(mx, smx)
                my = max(my, smy)
            return mx, my
        for xs, ys, sig in zip(self._xs[done:], self._ys[done:], self._significance[done:]):
            # (p - origin) * scale, as simplify_arrays computes it on arrays.
            nx = [(x - ox) * scale for x, v in zip(xs, sig) if v > eps]
            ny = [(y - oy) * scale for y, v in zip(ys, sig) if v > eps]
            sx.extend(nx)
            sy.extend(ny)
            counts.append(len(nx))
            mx = max(mx, max(nx))
            my = max(my, max(ny))
        return mx, my

    def _pixels(self, start: int) -> list[float]:
        """Flat canvas x, y, x, y... of the simplified vertices from index `start` on."""
        k = self._k
        mx, my = self._smax
        # As `_to_pixels`: centre the drawing's box in the 256 box, shift by half a pixel.
        offx = (_BOX - mx) / 2.0 + self._padding
        offy = (_BOX - my) / 2.0 + self._padding
        if _fast is not None:
            return _fast.pixels(self._sx, self._sy, start, offx, offy, k)
        fx = [(x + offx) * k - 0.5 for x in self._sx[start:]]
        fy = [(y + offy) * k - 0.5 for y in self._sy[start:]]
        flat = fx + fy
        flat[0::2] = fx
        flat[1::2] = fy
        return flat

    def simplified(self) -> list[np.ndarray]:
        """The drawing so far in simplified 0..255 space (float (m, 2) arrays)."""
        if not self._xs:
            return []
        self._simplified()
        out, a = [], 0
        for m in self._counts:
            out.append(np.array([self._sx[a:a + m], self._sy[a:a + m]], dtype=np.float64).T.copy())
            a += m
        return out

    def simplified_flat(self, epsilon: float = RDP_EPSILON) -> tuple[array, array, list[int]]:
        """The drawing so far in simplified 0..255 space as kept: all x's, all y's (arrays of
        doubles, not to be changed) and each stroke's vertex count; what `simplified` splits.

        A larger `epsilon` than Google's 2 gives `simplify_arrays(..., resample=False,
        epsilon=epsilon)` of the strokes so far, exactly: the kept significances are thresholded
        higher (a stroke's ends are always kept, so every stroke keeps a vertex)."""
        if not self._xs:
            return array("d"), array("d"), []
        if epsilon == RDP_EPSILON:
            self._simplified()
            return self._sx, self._sy, self._counts
        if not epsilon > RDP_EPSILON:
            raise ValueError(f"an epsilon below {RDP_EPSILON} was never explored (got {epsilon!r})")
        scale = self._scale()
        ox, oy = self._bbox[0], self._bbox[1]
        key = (scale, ox, oy)
        cached = self._coarse.get(epsilon)
        if cached is None or cached[0] != key:
            cached = self._coarse[epsilon] = [key, array("d"), array("d"), []]
        _, sx, sy, counts = cached
        if len(counts) < len(self._xs):
            self._extend_kept(epsilon, key, sx, sy, counts)
        return sx, sy, counts

    def image(self) -> np.ndarray:
        """The model input for the drawing so far: float32 (H, W, C) in 0..1."""
        size, channels = self._size, self._channels
        if not self._xs:
            return np.zeros((size, size, len(channels)), dtype=np.float32)
        self._simplified()
        ink = None
        if "ink" in channels:
            placement = (*self._simp_key, *self._smax)
            if placement != self._canvas_key:
                self._canvas, self._draw = _new_canvas(self._big)
                self._canvas_key, self._canvas_strokes, self._canvas_points = placement, 0, 0
            counts = self._counts[self._canvas_strokes:]
            if counts:
                flat = self._pixels(self._canvas_points)
                _draw_polylines(self._draw, flat, counts, [255] * len(counts), self._width_px)
                self._canvas_strokes = len(self._counts)
                self._canvas_points = len(self._sx)
            ink = _downsample(self._canvas, self._big)
            if len(channels) == 1:
                return ink.reshape(size, size, 1)
        out = np.empty((size, size, len(channels)), dtype=np.float32)
        for c, name in enumerate(channels):
            if name == "ink":
                out[:, :, c] = ink.reshape(size, size)
            else:
                canvas, draw = _new_canvas(self._big)
                n = len(self._counts)
                _draw_polylines(draw, self._pixels(0), self._counts, _order_fills(n), self._width_px)
                out[:, :, c] = _downsample(canvas, self._big).reshape(size, size)
        return out


# --------------------------------------------------------------------------- benchmark


def _bench(argv: list[str] | None = None) -> int:
    """`python -m inference.raster --bench FILE.ndjson...`: microseconds per rasterisation (JSON)."""
    import argparse
    import json
    import time

    ap = argparse.ArgumentParser(prog="python -m inference.raster")
    ap.add_argument("--bench", nargs="+", required=True, help="raw or simplified .ndjson files")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", type=int, default=28)
    args = ap.parse_args(argv)
    drawings = []
    for path in args.bench:
        with open(path, encoding="utf-8") as fh:
            drawings += [json.loads(line)["drawing"] for line in fh if line.strip()]
    spec = dict(DEFAULT_SPEC, size=args.size)
    points = [[list(zip(*s)) for s in d] for d in drawings]

    def per_call(fn, items) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            for it in items:
                fn(it)
            best = min(best, (time.perf_counter() - t) / len(items))
        return best * 1e6

    n_strokes = sum(len(d) for d in drawings)

    def incremental(d):
        r = IncrementalRaster(spec)
        for s in d:
            r.add_stroke(s)
            r.image()

    res = {
        "drawings": len(drawings),
        "mean_points": sum(sum(len(s[0]) for s in d) for d in drawings) / len(drawings),
        "mean_strokes": n_strokes / len(drawings),
        "rasterize_us": per_call(lambda d: rasterize(d, spec, fmt="columns"), drawings),
        "incremental_add_and_image_us_per_stroke": per_call(incremental, points) * len(drawings) / n_strokes,
    }
    simplified = [simplify_arrays(normalize_strokes(d, "columns"), resample=False) for d in drawings]
    res["render_only_us"] = per_call(lambda s: render_simplified(s, spec), simplified)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(_bench())
