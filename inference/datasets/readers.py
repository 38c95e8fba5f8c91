"""File-format readers for Quick, Draw! data (see the package docstring)."""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

STROKE_SUFFIXES = (".ndjson", ".bin", ".npz")


@dataclass(slots=True)
class Sketch:
    """One drawing: its class, id and strokes in Google's column format."""

    word: str
    key_id: str
    drawing: list[list[list[float]]]
    countrycode: str = ""
    recognized: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_time(self) -> bool:
        return bool(self.drawing) and len(self.drawing[0]) >= 3


def class_name_from_path(path: str | Path) -> str:
    """`.../full_simplified_cat.ndjson` or `.../cat.ndjson` -> "cat"."""
    name = Path(path).name
    for suffix in (".ndjson", ".bin", ".npy", ".npz", ".full"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for prefix in ("full_simplified_", "full_raw_", "full_numpy_bitmap_", "full_binary_", "simplified_", "raw_"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def read_ndjson(path: str | Path, limit: int | None = None) -> Iterator[Sketch]:
    """Raw or simplified `.ndjson` (one JSON object a line); bad lines raise with the line number."""
    path = Path(path)
    fallback_word = class_name_from_path(path)
    count = 0
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
                drawing = obj["drawing"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a Quick, Draw! ndjson line ({exc})") from None
            yield Sketch(
                word=str(obj.get("word", fallback_word)),
                key_id=str(obj.get("key_id", f"{path.stem}:{lineno}")),
                drawing=drawing,
                countrycode=str(obj.get("countrycode", "")),
                recognized=obj.get("recognized"),
                extra={k: v for k, v in obj.items() if k not in ("word", "key_id", "drawing", "countrycode", "recognized")},
            )
            count += 1
            if limit is not None and count >= limit:
                return


def _read_exact(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise EOFError
    return data


def read_bin(path: str | Path, limit: int | None = None) -> Iterator[Sketch]:
    """Google's binary simplified format (`.bin`), little-endian, per drawing:
    key_id uint64, countrycode 2 chars, recognized uint8, timestamp uint32, n_strokes uint16,
    then per stroke n_points uint16, x uint8[n_points], y uint8[n_points]."""
    path = Path(path)
    word = class_name_from_path(path)
    count = 0
    with path.open("rb") as fh:
        while True:
            head = fh.read(8)
            if not head:
                return
            try:
                if len(head) != 8:
                    raise EOFError
                (key_id,) = struct.unpack("<Q", head)
                country = _read_exact(fh, 2).decode("ascii", "replace").rstrip("\x00")
                (recognized,) = struct.unpack("<B", _read_exact(fh, 1))
                (timestamp,) = struct.unpack("<I", _read_exact(fh, 4))
                (n_strokes,) = struct.unpack("<H", _read_exact(fh, 2))
                drawing = []
                for _ in range(n_strokes):
                    (n_points,) = struct.unpack("<H", _read_exact(fh, 2))
                    xs = np.frombuffer(_read_exact(fh, n_points), dtype=np.uint8).tolist()
                    ys = np.frombuffer(_read_exact(fh, n_points), dtype=np.uint8).tolist()
                    drawing.append([xs, ys])
            except EOFError:
                raise ValueError(f"{path}: truncated .bin record after {count} drawings") from None
            yield Sketch(word, str(key_id), drawing, country, bool(recognized), {"timestamp": timestamp})
            count += 1
            if limit is not None and count >= limit:
                return


def _epoch_seconds(value: Any) -> int:
    """ndjson timestamps are strings ("2017-03-02 23:25:10.07453 UTC"); .bin stores uint32 seconds."""
    if isinstance(value, (int, float)):
        return int(value)
    import datetime as dt

    try:
        text = str(value).replace(" UTC", "")
        return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp())
    except ValueError:
        return 0


def write_bin(path: str | Path, sketches: list[Sketch]) -> None:
    """Write simplified (0..255) sketches in Google's binary format (for tests and exports)."""
    with Path(path).open("wb") as fh:
        for s in sketches:
            fh.write(struct.pack("<Q", int(s.key_id)))
            fh.write((s.countrycode or "  ").encode("ascii")[:2].ljust(2, b"\x00"))
            fh.write(struct.pack("<B", 1 if s.recognized else 0))
            fh.write(struct.pack("<I", _epoch_seconds(s.extra.get("timestamp", 0))))
            fh.write(struct.pack("<H", len(s.drawing)))
            for stroke in s.drawing:
                xs = np.clip(np.rint(stroke[0]), 0, 255).astype(np.uint8)
                ys = np.clip(np.rint(stroke[1]), 0, 255).astype(np.uint8)
                fh.write(struct.pack("<H", len(xs)))
                fh.write(xs.tobytes())
                fh.write(ys.tobytes())


def stroke3_to_strokes(s3: np.ndarray) -> list[list[list[float]]]:
    """sketch-rnn stroke-3 `[dx, dy, pen_lifted_after]` rows -> column strokes (absolute)."""
    s3 = np.asarray(s3, dtype=np.float64)
    if s3.ndim != 2 or s3.shape[1] < 3:
        raise ValueError(f"stroke-3 must be (n, 3), got {s3.shape}")
    xy = np.cumsum(s3[:, :2], axis=0)
    ends = np.flatnonzero(s3[:, 2] > 0) + 1
    strokes = []
    start = 0
    for end in list(ends) + [len(s3)]:
        if end > start:
            part = xy[start:end]
            strokes.append([part[:, 0].tolist(), part[:, 1].tolist()])
        start = end
    return strokes


def strokes_to_stroke3(drawing: list) -> np.ndarray:
    """Column strokes -> stroke-3 int16 (first row's dx/dy are the absolute start)."""
    rows = []
    for stroke in drawing:
        xs, ys = stroke[0], stroke[1]
        for i, (x, y) in enumerate(zip(xs, ys)):
            rows.append([x, y, 1 if i == len(xs) - 1 else 0])
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    out = arr.copy()
    out[1:, :2] = np.diff(arr[:, :2], axis=0)
    return np.rint(out).astype(np.int16)


def read_sketchrnn_npz(path: str | Path, splits: tuple[str, ...] = ("train", "valid", "test", "sketches"), limit: int | None = None) -> Iterator[Sketch]:
    """sketch-rnn `.npz`: arrays of stroke-3 drawings under `train`/`valid`/`test` (or `sketches`)."""
    path = Path(path)
    word = class_name_from_path(path)
    data = np.load(path, allow_pickle=True, encoding="latin1")
    count = 0
    for split in splits:
        if split not in data.files:
            continue
        for i, s3 in enumerate(data[split]):
            yield Sketch(word, f"{path.stem}:{split}:{i}", stroke3_to_strokes(s3), extra={"split": split})
            count += 1
            if limit is not None and count >= limit:
                return


def read_bitmap_npy(path: str | Path) -> np.ndarray:
    """`numpy_bitmap` `.npy`: (n, 784) uint8 -> (n, 28, 28) uint8 (0 background, 255 ink)."""
    arr = np.load(path, mmap_mode="r")
    if arr.ndim == 2 and arr.shape[1] == 784:
        return np.asarray(arr, dtype=np.uint8).reshape(-1, 28, 28)
    if arr.ndim == 3:
        return np.asarray(arr, dtype=np.uint8)
    raise ValueError(f"{path}: expected (n, 784) or (n, h, w) bitmaps, got {arr.shape}")


def read_bitmap_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Bitmap bundles: {"x": (n, h, w) uint8, "y": labels (class index) or None, "class_names"}."""
    data = np.load(path, allow_pickle=False)
    if "x" in data.files:
        return {"x": data["x"], "y": data["y"], "class_names": np.asarray(data["class_names"]).astype(str)}
    if "images" in data.files:
        word = class_name_from_path(path)
        x = data["images"]
        return {"x": x, "y": np.zeros(len(x), dtype=np.int16), "class_names": np.array([word])}
    raise ValueError(f"{path}: not a bitmap .npz (keys {data.files})")


def is_sketchrnn_npz(path: str | Path) -> bool:
    data = np.load(path, allow_pickle=True, encoding="latin1")
    return any(k in data.files for k in ("train", "valid", "test", "sketches"))


def read_strokes(path: str | Path, limit: int | None = None) -> Iterator[Sketch]:
    """Any stroke file by suffix: `.ndjson`, `.bin`, sketch-rnn `.npz`."""
    path = Path(path)
    if path.suffix == ".ndjson":
        return read_ndjson(path, limit)
    if path.suffix == ".bin":
        return read_bin(path, limit)
    if path.suffix == ".npz":
        return read_sketchrnn_npz(path, limit=limit)
    raise ValueError(f"{path}: not a stroke file (.ndjson, .bin, sketch-rnn .npz)")


def find_class_files(root: str | Path, suffixes: tuple[str, ...] = STROKE_SUFFIXES) -> dict[str, list[Path]]:
    """All files under `root` with these suffixes, grouped by class name (file name)."""
    out: dict[str, list[Path]] = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and p.suffix in suffixes:
            out.setdefault(class_name_from_path(p), []).append(p)
    return out
