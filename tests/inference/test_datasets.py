"""Readers for every Quick, Draw! format, on the committed fixtures and tiny files written in tmp."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.datasets import (
    Sketch,
    class_name_from_path,
    find_class_files,
    read_bin,
    read_bitmap_npy,
    read_bitmap_npz,
    read_ndjson,
    read_sketchrnn_npz,
    read_strokes,
    stroke3_to_strokes,
    strokes_to_stroke3,
    write_bin,
)
from inference.raster import rasterize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw"


def test_raw_ndjson_has_timing() -> None:
    sketches = list(read_ndjson(FIXTURES / "raw" / "cat.ndjson"))
    assert len(sketches) >= 3
    s = sketches[0]
    assert s.word == "cat" and s.key_id and s.has_time
    xs, ys, ts = s.drawing[0]
    assert len(xs) == len(ys) == len(ts)
    assert ts == sorted(ts)


def test_simplified_ndjson_is_0_to_255_without_time() -> None:
    for s in read_ndjson(FIXTURES / "simplified" / "cat.ndjson"):
        assert not s.has_time
        assert all(0 <= v <= 255 for st in s.drawing for v in st[0] + st[1])


def test_ndjson_limit_and_bad_line(tmp_path: Path) -> None:
    p = tmp_path / "dog.ndjson"
    good = json.dumps({"word": "dog", "key_id": "1", "drawing": [[[0, 10], [0, 10]]]})
    p.write_text(good + "\n\n" + good + "\n{not json\n")
    assert len(list(read_ndjson(p, limit=1))) == 1
    with pytest.raises(ValueError, match=r"dog.ndjson:4"):
        list(read_ndjson(p))


def test_bin_roundtrip_and_truncation(tmp_path: Path) -> None:
    sketches = list(read_ndjson(FIXTURES / "simplified" / "cat.ndjson"))[:3]
    p = tmp_path / "full_binary_cat.bin"
    write_bin(p, sketches)
    back = list(read_bin(p))
    assert [b.key_id for b in back] == [s.key_id for s in sketches]
    assert all(b.word == "cat" for b in back)
    for a, b in zip(sketches, back):
        assert b.drawing == a.drawing
    committed = list(read_strokes(FIXTURES / "binary" / "cat.bin"))
    assert committed and committed[0].drawing
    data = p.read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-3])
    with pytest.raises(ValueError, match="truncated"):
        list(read_bin(tmp_path / "cut.bin"))


def test_stroke3_roundtrip() -> None:
    drawing = [[[10, 20, 30], [5, 5, 40]], [[0, 3], [0, 4]]]
    s3 = strokes_to_stroke3(drawing)
    assert s3.dtype == np.int16 and s3.shape == (5, 3)
    assert stroke3_to_strokes(s3) == [[[10.0, 20.0, 30.0], [5.0, 5.0, 40.0]], [[0.0, 3.0], [0.0, 4.0]]]


def test_sketchrnn_npz_fixture_and_splits(tmp_path: Path) -> None:
    faces = list(read_sketchrnn_npz(FIXTURES / "sketchrnn" / "face.npz"))
    assert len(faces) == 5 and faces[0].word == "face"
    assert rasterize(faces[0].drawing, fmt="columns").max() > 0.5
    p = tmp_path / "pig.npz"
    s3 = strokes_to_stroke3([[[0, 10, 20], [0, 10, 0]]])
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = s3, s3
    np.savez(p, train=arr, valid=arr[:1], test=arr[:1])
    got = list(read_strokes(p))
    assert len(got) == 4 and {g.extra["split"] for g in got} == {"train", "valid", "test"}


def test_bitmap_npy_and_npz(tmp_path: Path) -> None:
    x = read_bitmap_npy(FIXTURES / "bitmaps" / "cloud.npy")
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    p = tmp_path / "bundle.npz"
    np.savez(p, x=x, y=np.array([0, 1, 0, 1, 0], dtype=np.int16), class_names=np.array(["cloud", "sun"]))
    b = read_bitmap_npz(p)
    assert b["x"].shape == (5, 28, 28) and list(b["class_names"]) == ["cloud", "sun"]
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(ValueError):
        read_bitmap_npy(tmp_path / "bad.npy")


def test_class_names_from_google_file_names() -> None:
    assert class_name_from_path("x/full_simplified_alarm clock.ndjson") == "alarm clock"
    assert class_name_from_path("full_raw_cat.ndjson") == "cat"
    assert class_name_from_path("full_numpy_bitmap_The Eiffel Tower.npy") == "The Eiffel Tower"
    assert class_name_from_path("cat.bin") == "cat"


def test_find_class_files_groups_by_class() -> None:
    files = find_class_files(FIXTURES)
    assert {p.parent.name for p in files["cat"]} >= {"raw", "simplified", "binary"}
    assert "face" in files


def test_unknown_suffix_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        read_strokes(tmp_path / "cat.csv")


def test_sketch_has_time_false_for_empty() -> None:
    assert not Sketch("x", "1", []).has_time
