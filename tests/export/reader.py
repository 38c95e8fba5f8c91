"""An independent reader of Google's Quick, Draw! formats, written from the dataset's
description (github.com/googlecreativelab/quickdraw-dataset), not from our writer:

- ndjson: one JSON object per line with `key_id` (string of digits, a 64-bit id), `word`,
  `countrycode`, `timestamp` ("2017-03-28 15:28:53.70205 UTC"), `recognized` (bool), `drawing`.
- raw drawing: strokes of [[x...], [y...], [t...]] with t in ms since the first point.
- simplified drawing: strokes of [[x...], [y...]]; aligned to the top-left (min 0), scaled so
  the longer side is 255, resampled with 1 px spacing, simplified with RDP epsilon 2.0.
- numpy_bitmap: .npy (NumPy format 1.0), uint8, shape (N, 784), 28x28 grayscale.
- binary (.bin, the simplified drawings), per drawing, little-endian: key_id uint64,
  countrycode 2 bytes, recognized uint8, timestamp uint32 (Unix seconds), n_strokes uint16,
  then per stroke n_points uint16, x uint8[n_points], y uint8[n_points]. No header, no count.
"""
from __future__ import annotations

import ast
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})? UTC$")
FIELDS = {"key_id", "word", "countrycode", "timestamp", "recognized", "drawing"}


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_record(rec: dict[str, Any], *, simplified: bool) -> None:
    assert set(rec) == FIELDS, set(rec) ^ FIELDS
    assert isinstance(rec["key_id"], str) and rec["key_id"].isdigit()
    assert 0 <= int(rec["key_id"]) < 2 ** 64
    assert isinstance(rec["word"], str) and rec["word"]
    assert isinstance(rec["countrycode"], str) and len(rec["countrycode"]) == 2
    assert TIMESTAMP.match(rec["timestamp"]), rec["timestamp"]
    assert isinstance(rec["recognized"], bool)
    drawing = rec["drawing"]
    assert isinstance(drawing, list) and drawing
    for stroke in drawing:
        assert len(stroke) == (2 if simplified else 3)
        n = len(stroke[0])
        assert n >= 1 and all(len(axis) == n for axis in stroke)
        if simplified:
            assert all(isinstance(v, int) and 0 <= v <= 255 for axis in stroke for v in axis)
        else:
            assert all(isinstance(v, int) for v in stroke[2])
    if simplified:
        xs = [v for s in drawing for v in s[0]]
        ys = [v for s in drawing for v in s[1]]
        # aligned top-left and scaled to 255 *before* RDP, which may drop an extreme vertex
        # lying within epsilon (2 px) of the kept polyline
        assert min(xs) <= 2 and min(ys) <= 2
        assert 253 <= max(max(xs), max(ys)) <= 255
    else:
        ts = [t for s in drawing for t in s[2]]
        assert min(ts) == 0 and ts == sorted(ts)  # ms since the first point


def read_npy(path: Path) -> tuple[tuple[int, ...], bytes]:
    """Shape and raw data of a NumPy v1/v2 .npy file of uint8, per the format spec."""
    raw = path.read_bytes()
    assert raw[:6] == b"\x93NUMPY"
    major = raw[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", raw[8:10]), 10
    else:
        (hlen,), start = struct.unpack("<I", raw[8:12]), 12
    header = ast.literal_eval(raw[start:start + hlen].decode("latin1"))
    assert (start + hlen) % 64 == 0
    assert header["descr"] in ("|u1", "u1", "<u1") and header["fortran_order"] is False
    data = raw[start + hlen:]
    shape = tuple(header["shape"])
    assert len(data) == math.prod(shape)
    return shape, data


def read_bin(path: Path) -> list[dict[str, Any]]:
    """Every drawing of a .bin file, as a dict like the ndjson records (key_id as a string of
    digits, drawing as [[x...], [y...]] per stroke, timestamp as Unix seconds). Asserts the file
    ends exactly after its last drawing."""
    raw = path.read_bytes()
    pos, out = 0, []
    while pos < len(raw):
        assert len(raw) - pos >= 17, "a truncated drawing header"
        key_id = int.from_bytes(raw[pos:pos + 8], "little")
        countrycode = raw[pos + 8:pos + 10].decode("ascii")
        recognized = raw[pos + 10]
        timestamp = int.from_bytes(raw[pos + 11:pos + 15], "little")
        n_strokes = int.from_bytes(raw[pos + 15:pos + 17], "little")
        pos += 17
        drawing = []
        for _ in range(n_strokes):
            n = int.from_bytes(raw[pos:pos + 2], "little")
            pos += 2
            xs, ys = list(raw[pos:pos + n]), list(raw[pos + n:pos + 2 * n])
            assert len(xs) == len(ys) == n, "a truncated stroke"
            pos += 2 * n
            drawing.append([xs, ys])
        assert recognized in (0, 1)
        out.append({"key_id": str(key_id), "countrycode": countrycode,
                    "recognized": bool(recognized), "timestamp": timestamp,
                    "drawing": drawing})
    assert pos == len(raw)
    return out


# --- Google's simplification, independently: align, scale to 255, resample 1 px, RDP 2.0

def _resample(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [pts[0]]
    carry = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        seg = math.hypot(x1 - x0, y1 - y0)
        d = 1.0 - carry
        while d <= seg:
            out.append((x0 + (x1 - x0) * d / seg, y0 + (y1 - y0) * d / seg))
            d += 1.0
        carry = seg - (d - 1.0)
    if out[-1] != pts[-1]:
        out.append(pts[-1])
    return out


def _rdp(pts: list[tuple[float, float]], eps: float) -> list[tuple[float, float]]:
    if len(pts) < 3:
        return pts
    (ax, ay), (bx, by) = pts[0], pts[-1]
    dx, dy = bx - ax, by - ay
    norm = math.hypot(dx, dy)
    best, idx = -1.0, 0
    for i in range(1, len(pts) - 1):
        px, py = pts[i]
        dist = (abs(dy * px - dx * py + bx * ay - by * ax) / norm if norm
                else math.hypot(px - ax, py - ay))
        if dist > best:
            best, idx = dist, i
    if best > eps:
        return _rdp(pts[:idx + 1], eps)[:-1] + _rdp(pts[idx:], eps)
    return [pts[0], pts[-1]]


def simplify(raw: list[list[list[float]]]) -> list[list[tuple[float, float]]]:
    xs = [x for s in raw for x in s[0]]
    ys = [y for s in raw for y in s[1]]
    mx, my = min(xs), min(ys)
    extent = max(max(xs) - mx, max(ys) - my) or 1.0
    k = 255.0 / extent
    return [_rdp(_resample([((x - mx) * k, (y - my) * k) for x, y in zip(s[0], s[1])]), 2.0)
            for s in raw]


def _seg_dist(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    L = dx * dx + dy * dy
    t = 0.0 if L == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / L))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def polyline_distance(p: list[tuple[float, float]], q: list[tuple[float, float]]) -> float:
    """The largest distance from a vertex of one polyline to the other polyline (both ways)."""
    def one_way(a, b):
        segs = list(zip(b, b[1:])) or [(b[0], b[0])]
        return max(min(_seg_dist(v, s0, s1) for s0, s1 in segs) for v in a)
    return max(one_way(p, q), one_way(q, p))
