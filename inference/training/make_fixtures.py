"""Build `tests/fixtures/quickdraw/` from the Quick, Draw! data: `python -m inference.training.make_fixtures`.

- `raw/<label>.ndjson`: ~5 real raw drawings (with timing) for every label of models/categories.json,
  picked with a seed among the raw drawings. Training never uses raw drawings nor their key_ids
  (`inference.training.data.load_labels` holds them out), so these are unseen by every model.
  Coordinates are rounded to whole pixels and times to whole ms to keep the fixture small.
- `simplified/<label>.ndjson` (cat, dog, car, apple): the simplified versions of the picked raw
  drawings (same key_ids, so also held out), for the simplification tests, and 8 more simplified
  drawings without a raw version, which the training smoke test trains on.
- `sketchrnn/face.npz` (5 sketches, stroke-3), `bitmaps/cloud.npy` (5 numpy_bitmap rows),
  `binary/cat.bin` (Google's binary format, written by `inference.datasets.write_bin`).
- `manifest.json`: every raw fixture (in `raw/<label>.ndjson`) with its label, key_id, stroke count, and what the shipped
  model guesses within the category (top-1, probability) at the time of writing.

Credit: Quick, Draw! dataset, Google, CC BY 4.0 (https://github.com/googlecreativelab/quickdraw-dataset).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from inference.datasets import read_ndjson, write_bin
from inference.training.categories import DATASET_CREDIT
from inference.training.data import _stable_seed

REPO = Path(__file__).resolve().parents[2]
SMOKE_LABELS = ("cat", "dog", "car", "apple")


def _round_drawing(drawing: list) -> list:
    out = []
    for s in drawing:
        xs = [int(round(float(v))) for v in s[0]]
        ys = [int(round(float(v))) for v in s[1]]
        st = [int(round(float(v))) for v in s[2]] if len(s) > 2 else None
        out.append([xs, ys, st] if st is not None else [xs, ys])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "quickdraw")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "quickdraw")
    ap.add_argument("--per-label", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-points", type=int, default=80, help="prefer raw drawings with at most this many points")
    ap.add_argument("--categories-file", type=Path, default=REPO / "models" / "categories.json")
    args = ap.parse_args(argv)
    cats = json.loads(args.categories_file.read_text(encoding="utf-8"))["categories"]
    labels = sorted({t["label"] for c in cats for t in c["topics"]})
    if args.out.exists():
        shutil.rmtree(args.out)
    for sub in ("raw", "simplified", "sketchrnn", "bitmaps", "binary"):
        (args.out / sub).mkdir(parents=True)
    manifest = []
    for label in labels:
        rng = np.random.default_rng(_stable_seed(args.seed, label))  # picks do not depend on the other labels
        raw = list(read_ndjson(args.data / "strokes" / "raw" / f"{label}.ndjson"))
        size = [sum(len(st[0]) for st in s.drawing) for s in raw]
        short = [i for i in rng.permutation(len(raw)) if size[i] <= args.max_points][: args.per_label]
        if len(short) < args.per_label:  # too few short ones: fill with the shortest others
            short += [i for i in np.argsort(size, kind="stable") if i not in short][: args.per_label - len(short)]
        pick = [raw[i] for i in sorted(short)]
        with (args.out / "raw" / f"{label}.ndjson").open("w", encoding="utf-8") as fh:
            for s in pick:
                obj = {"word": s.word, "countrycode": s.countrycode, "recognized": s.recognized,
                       "key_id": s.key_id, "drawing": _round_drawing(s.drawing)}
                fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
                manifest.append({"label": label, "key_id": s.key_id,
                                 "strokes": len(s.drawing), "points": sum(len(st[0]) for st in s.drawing)})
        if label in SMOKE_LABELS:
            ids = {s.key_id for s in pick}
            all_simp = list(read_ndjson(args.data / "strokes" / "simplified" / f"{label}.ndjson"))
            raw_ids = {s.key_id for s in raw}
            # The picked raw drawings' own simplified versions (held out, for the simplification
            # tests), then 8 drawings that have no raw version (the smoke test trains on them).
            simp = [s for s in all_simp if s.key_id in ids][:8] + [s for s in all_simp if s.key_id not in raw_ids][:8]
            with (args.out / "simplified" / f"{label}.ndjson").open("w", encoding="utf-8") as fh:
                for s in simp:
                    fh.write(json.dumps({"word": s.word, "countrycode": s.countrycode, "recognized": s.recognized,
                                         "key_id": s.key_id, "drawing": s.drawing}, separators=(",", ":")) + "\n")
            if label == "cat":
                write_bin(args.out / "binary" / "cat.bin", simp[:4])
    face = np.load(args.data / "strokes" / "sketchrnn" / "face.npz", allow_pickle=True, encoding="latin1")
    key = "sketches" if "sketches" in face.files else "test"
    np.savez(args.out / "sketchrnn" / "face.npz", sketches=np.array(list(face[key][:5]), dtype=object))
    cloud = np.load(args.data / "bitmaps" / "extra_28px" / "cloud.npy")[:5]
    np.save(args.out / "bitmaps" / "cloud.npy", cloud)
    _annotate(manifest, args.out, cats)
    _golden(args.out)
    (args.out / "manifest.json").write_text(json.dumps({"dataset_credit": DATASET_CREDIT, "drawings": manifest}, separators=(",", ":"), ensure_ascii=False).replace('},{"label"', '},\n{"label"') + "\n", encoding="utf-8")
    (args.out / "README.md").write_text(__doc__, encoding="utf-8")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(manifest)} raw drawings for {len(labels)} labels, {total / 1e6:.2f} MB")
    return 0


GOLDEN_DRAWINGS = [("raw/cat.ndjson", 0), ("raw/car.ndjson", 0), ("raw/apple.ndjson", 1), ("raw/dog.ndjson", 2)]


def _golden(out: Path) -> None:
    """Golden rasters (default spec) of a few fixture drawings, for tests/inference/test_raster.py."""
    from inference.raster import DEFAULT_SPEC, rasterize

    (out / "golden").mkdir(exist_ok=True)
    imgs = []
    for rel, i in GOLDEN_DRAWINGS:
        obj = json.loads((out / rel).read_text(encoding="utf-8").splitlines()[i])
        imgs.append(rasterize(obj["drawing"], DEFAULT_SPEC))
    np.save(out / "golden" / "raster_28_ink.npy", np.stack(imgs))


def _annotate(manifest: list[dict], out: Path, cats: list[dict]) -> None:
    """Add what the shipped model guesses within each of the label's categories."""
    from inference.evaluate import ModelRunner, mask_probs
    from inference.raster import rasterize

    runners: dict[str, ModelRunner] = {}
    by_file: dict[str, list[dict]] = {}
    for s in (out / "raw").glob("*.ndjson"):
        by_file[s.stem] = [json.loads(l) for l in s.read_text(encoding="utf-8").splitlines() if l]
    for m in manifest:
        drawing = next(o["drawing"] for o in by_file[m["label"]] if o["key_id"] == m["key_id"])
        m["guesses"] = {}
        for c in cats:
            labels = [t["label"] for t in c["topics"]]
            if m["label"] not in labels or not (REPO / "models" / c["model"] / "model.tflite").exists():
                continue
            r = runners.setdefault(c["model"], ModelRunner(REPO / "models" / c["model"]))
            p = mask_probs(r.predict(rasterize(drawing, r.spec, fmt="columns")[None]), [r.labels.index(l) for l in labels])[0]
            best = int(p.argmax())
            m["guesses"][c["code"]] = {"top1": labels[best], "p": round(float(p[best]), 3),
                                       "target_rank": int((p > p[labels.index(m["label"])]).sum()) + 1}


if __name__ == "__main__":
    raise SystemExit(main())
