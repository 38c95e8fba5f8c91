"""Evaluate a shipped model the way the server uses it: `python -m inference.evaluate`.

Stroke files (raw/simplified .ndjson, .bin, sketch-rnn .npz) go through the serving path:
`inference.raster.rasterize(strokes, card["input"])`, the model, then the probabilities masked to
the category's labels and renormalised. Bitmap files (.npy rows, .npz bundles) are scaled to 0..1
and fed directly (28 px single-channel models only).

Reports top-1/top-3 within each category (overall = mean over categories) and the
early-recognition curve: the share of drawings whose target is the top-1 guess with probability
>= threshold after the first 25/50/75/100% of their strokes.

    python -m inference.evaluate --data ../shared/data/quickdraw/strokes/raw --json
    python -m inference.evaluate --data tests/fixtures/quickdraw --category animals --json
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference import inputs as model_inputs

REPO = Path(__file__).resolve().parents[1]
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_THRESHOLD = 0.5


class ModelRunner:
    """Loads `models/<name>/` (LiteRT `model.tflite` by default, or `model.keras`) and predicts."""

    def __init__(self, model_dir: str | Path, runtime: str = "tflite") -> None:
        self.dir = Path(model_dir)
        self.card = json.loads((self.dir / "card.json").read_text())
        self.labels: list[str] = json.loads((self.dir / "labels.json").read_text())
        self.spec: dict[str, Any] = self.card["input"]
        self.runtime = runtime
        if runtime == "keras":
            import keras

            self._model = keras.models.load_model(self.dir / "model.keras", compile=False)
        elif runtime == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            self._interp = Interpreter(model_path=str(self.dir / "model.tflite"), num_threads=1)
            self._batch = 0
        else:
            raise ValueError(f"unknown runtime {runtime!r}")

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Softmax probabilities (n, len(labels)) for float32 model inputs (NHWC images, or
        point sequences for a sequence model)."""
        images = model_inputs.as_float32(images)
        n = model_inputs.rows(images)
        if n == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.runtime == "keras":
            x = list(images) if isinstance(images, tuple) else images
            return np.asarray(self._model.predict(x, batch_size=batch_size, verbose=0))
        out = []
        for i in range(0, n, batch_size):
            chunk = model_inputs.take(images, i, i + batch_size)
            parts = chunk if isinstance(chunk, tuple) else (chunk,)
            # Inputs matched by rank: the image is 4-D, a point sequence 3-D.
            details = sorted(self._interp.get_input_details(), key=lambda d: -len(d["shape"]))
            if len(parts[0]) != self._batch:
                for d, part in zip(details, parts):
                    self._interp.resize_tensor_input(d["index"], list(part.shape))
                self._interp.allocate_tensors()
                self._batch = len(parts[0])
            for d, part in zip(details, parts):
                self._interp.set_tensor(d["index"], part)
            self._interp.invoke()
            out.append(self._interp.get_tensor(self._interp.get_output_details()[0]["index"]).copy())
        return np.concatenate(out)

    def predict_drawings(self, drawings: Sequence[Any]) -> np.ndarray:
        """Probabilities for drawings in Google's column format, rasterised as this model's
        card says."""
        if len(drawings) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.predict(model_inputs.stack([model_inputs.drawing_input(d, self.spec, fmt="columns") for d in drawings]))


class EnsembleRunner:
    """Several models over the same labels, each on its own raster: the normalised geometric
    mean of their probabilities. For measuring what an ensemble would buy (`--model a+b`);
    the server serves one model."""

    def __init__(self, members: Sequence[ModelRunner]) -> None:
        if not members or any(m.labels != members[0].labels for m in members):
            raise ValueError("an ensemble's models must have the same labels in the same order")
        self.members = list(members)
        self.labels = members[0].labels
        self.spec: dict[str, Any] | None = None  # no single raster: no bitmap evaluation

    def predict_drawings(self, drawings: Sequence[Any]) -> np.ndarray:
        log_p = sum(np.log(m.predict_drawings(drawings) + 1e-7) for m in self.members)
        p = np.exp(log_p / len(self.members))
        return p / p.sum(axis=1, keepdims=True)


def runner_for(models_dir: Path, name: str, runtime: str = "tflite") -> ModelRunner | EnsembleRunner:
    """The model `name` under `models_dir` (or a path), or an ensemble for `a+b+...`."""
    names = [n for n in name.split("+") if n]
    if len(names) == 1:
        return ModelRunner(models_dir / names[0], runtime)
    return EnsembleRunner([ModelRunner(models_dir / n, runtime) for n in names])


def mask_probs(probs: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """Keep the category's columns and renormalise (what the pool does)."""
    sub = probs[:, list(columns)]
    return sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)


def topk_metrics(probs: np.ndarray, y: np.ndarray, n_labels: int) -> dict[str, Any]:
    """top-1/top-3, per-class top-1 and the confusion matrix (rows truth, columns guess)."""
    if len(y) == 0:
        return {"n": 0, "top1": None, "top3": None, "per_class_top1": {}, "confusion": []}
    order = np.argsort(-probs, axis=1)
    top1 = order[:, 0] == y
    top3 = (order[:, :3] == y[:, None]).any(axis=1)
    conf = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(conf, (y, order[:, 0]), 1)
    per_class = {}
    for c in range(n_labels):
        m = y == c
        per_class[c] = float(top1[m].mean()) if m.any() else None
    return {"n": int(len(y)), "top1": float(top1.mean()), "top3": float(top3.mean()), "per_class_top1": per_class, "confusion": conf.tolist()}


def early_curve(
    runner: ModelRunner | EnsembleRunner, drawings: Sequence[Any], y: np.ndarray, columns: Sequence[int], threshold: float = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """Share of drawings recognised (target top-1 with p >= threshold, within the category) after
    the first 25/50/75/100% of their strokes; also plain top-1 at each point."""
    if len(drawings) == 0:
        return {"fractions": list(FRACTIONS), "recognized": [], "top1": [], "threshold": threshold, "n": 0}
    recognised, top1 = [], []
    for f in FRACTIONS:
        prefixes = [d[: max(1, int(np.ceil(f * len(d))))] for d in drawings]
        p = mask_probs(runner.predict_drawings(prefixes), columns)
        best = p.argmax(axis=1)
        hit = best == y
        recognised.append(float((hit & (p[np.arange(len(y)), best] >= threshold)).mean()))
        top1.append(float(hit.mean()))
    return {"fractions": list(FRACTIONS), "recognized": recognised, "top1": top1, "threshold": threshold, "n": int(len(y))}


def load_categories(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or REPO / "models" / "categories.json"
    return json.loads(path.read_text(encoding="utf-8"))["categories"]


def _collect_strokes(data: Path, unrecognized_only: bool = False) -> dict[str, list[Any]]:
    from inference.datasets import find_class_files, read_strokes
    from inference.datasets.readers import is_sketchrnn_npz

    by_word: dict[str, list[Any]] = {}
    for _, paths in find_class_files(data, (".ndjson", ".bin", ".npz")).items():
        for p in paths:
            if p.suffix == ".npz" and not is_sketchrnn_npz(p):
                continue
            for s in read_strokes(p):
                if s.drawing and (not unrecognized_only or s.recognized is False):
                    by_word.setdefault(s.word, []).append(s.drawing)
    return by_word


def _collect_bitmaps(data: Path) -> dict[str, np.ndarray]:
    from inference.datasets import read_bitmap_npy, read_bitmap_npz
    from inference.datasets.readers import class_name_from_path, is_sketchrnn_npz

    out: dict[str, list[np.ndarray]] = {}
    for p in sorted(data.rglob("*")):
        if p.suffix == ".npy":
            out.setdefault(class_name_from_path(p), []).append(read_bitmap_npy(p))
        elif p.suffix == ".npz" and not is_sketchrnn_npz(p):
            b = read_bitmap_npz(p)
            if b["x"].shape[1:] != (28, 28):
                continue
            for i, name in enumerate(b["class_names"]):
                out.setdefault(str(name), []).append(b["x"][b["y"] == i])
    return {k: np.concatenate(v) for k, v in out.items()}


def evaluate(
    data: Path,
    categories: list[dict[str, Any]],
    models_dir: Path,
    runtime: str = "tflite",
    threshold: float = DEFAULT_THRESHOLD,
    max_per_label: int | None = None,
    seed: int = 0,
    child_proxy: bool = False,
    unrecognized_only: bool = False,
    proxy_strength: float = 1.0,
    proxy_distortions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Within-category accuracy of each category's model on the drawings under `data`.

    `child_proxy`: distort every drawing with `inference.child_proxy` first (the child-likeness
    proxy); `unrecognized_only`: only drawings Google's model missed (`recognized: false`).
    """
    strokes = _collect_strokes(data, unrecognized_only)
    if child_proxy:
        from inference.child_proxy import DISTORTIONS, child_proxy_set

        only = tuple(proxy_distortions or DISTORTIONS)
        strokes = {w: child_proxy_set(ds, strength=proxy_strength, distortions=only) for w, ds in strokes.items()}
    bitmaps = {} if (child_proxy or unrecognized_only) else _collect_bitmaps(data)
    runners: dict[str, ModelRunner | EnsembleRunner] = {}
    result: dict[str, Any] = {"data": str(data), "threshold": threshold, "runtime": runtime, "categories": {},
                              "child_proxy": child_proxy, "unrecognized_only": unrecognized_only,
                              "proxy_strength": proxy_strength if child_proxy else None,
                              "proxy_distortions": list(proxy_distortions) if child_proxy and proxy_distortions else None}
    rng = np.random.default_rng(seed)
    for cat in categories:
        name = cat["model"]
        if name not in runners:
            runners[name] = runner_for(models_dir, name, runtime)
        runner = runners[name]
        labels = [t["label"] for t in cat["topics"] if t["label"] in runner.labels]
        columns = [runner.labels.index(l) for l in labels]
        drawings, ys, bm, bys = [], [], [], []
        for i, label in enumerate(labels):
            ds = strokes.get(label, [])
            if max_per_label and len(ds) > max_per_label:
                ds = [ds[j] for j in rng.choice(len(ds), max_per_label, replace=False)]
            drawings += ds
            ys += [i] * len(ds)
            if label in bitmaps:
                b = bitmaps[label][: max_per_label or None]
                bm.append(b)
                bys += [i] * len(b)
        y = np.asarray(ys, dtype=np.int64)
        entry: dict[str, Any] = {"model": name, "labels": labels}
        if drawings:
            m = topk_metrics(mask_probs(runner.predict_drawings(drawings), columns), y, len(labels))
            entry["strokes"] = {
                "n": m["n"], "top1": m["top1"], "top3": m["top3"],
                "per_class_top1": {labels[c]: v for c, v in m["per_class_top1"].items() if v is not None},
                "early_recognition": early_curve(runner, drawings, y, columns, threshold),
            }
        if bm and runner.spec is not None and runner.spec.get("size") == 28 and len(runner.spec.get("channels", [])) == 1:
            x = np.concatenate(bm).astype(np.float32)[..., None] / 255.0
            m = topk_metrics(mask_probs(runner.predict(x), columns), np.asarray(bys), len(labels))
            entry["bitmaps"] = {"n": m["n"], "top1": m["top1"], "top3": m["top3"]}
        if "strokes" in entry or "bitmaps" in entry:
            result["categories"][cat["code"]] = entry
    for kind in ("strokes", "bitmaps"):
        vals = [e[kind] for e in result["categories"].values() if kind in e]
        if vals:
            result[kind] = {
                "categories": len(vals),
                "mean_top1": float(np.mean([v["top1"] for v in vals])),
                "mean_top3": float(np.mean([v["top3"] for v in vals])),
                "n": int(sum(v["n"] for v in vals)),
            }
            if kind == "strokes":
                curves = np.array([v["early_recognition"]["recognized"] for v in vals])
                result[kind]["early_recognition"] = dict(zip([str(f) for f in FRACTIONS], curves.mean(axis=0).tolist()))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inference.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "quickdraw" / "strokes" / "raw")
    ap.add_argument("--category", action="append", help="category code (repeatable); default all")
    ap.add_argument("--categories-file", type=Path, default=REPO / "models" / "categories.json")
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--runtime", choices=("tflite", "keras"), default="tflite")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--max-per-label", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print JSON (default: a short table)")
    ap.add_argument("--child-proxy", action="store_true", help="distort the drawings with the child-likeness proxy first")
    ap.add_argument("--proxy-strength", type=float, default=1.0,
                    help="with --child-proxy: its strength (inference.child_proxy.BAND_STRENGTH: 0.6 for 7-8, 1.6 for 3-4)")
    ap.add_argument("--proxy-only", default=None,
                    help="with --child-proxy: only these distortions, comma-separated (missing, proportions, floating, shaky, scribble, tilt)")
    ap.add_argument("--unrecognized-only", action="store_true", help="only drawings marked recognized: false (Google's misses)")
    ap.add_argument("--model", default=None, help="serve every category with this model directory instead of the file's; "
                         "'a+b' measures the ensemble of a and b (same labels, each its own raster)")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"no such data folder: {args.data}", file=sys.stderr)
        return 2
    cats = load_categories(args.categories_file)
    if args.category:
        unknown = set(args.category) - {c["code"] for c in cats}
        if unknown:
            print(f"unknown categories: {sorted(unknown)}", file=sys.stderr)
            return 2
        cats = [c for c in cats if c["code"] in args.category]
    if args.model:
        cats = [dict(c, model=args.model) for c in cats]
    res = evaluate(args.data, cats, args.models, args.runtime, args.threshold, args.max_per_label,
                   child_proxy=args.child_proxy, unrecognized_only=args.unrecognized_only,
                   proxy_strength=args.proxy_strength,
                   proxy_distortions=[d.strip() for d in args.proxy_only.split(",")] if args.proxy_only else None)
    if args.json:
        print(json.dumps(res, indent=1, ensure_ascii=False))
    else:
        for code, e in res["categories"].items():
            s = e.get("strokes")
            if s:
                er = " ".join(f"{v:.2f}" for v in s["early_recognition"]["recognized"])
                print(f"{code:14s} n={s['n']:5d} top1={s['top1']:.3f} top3={s['top3']:.3f} early={er}")
            if "bitmaps" in e:
                b = e["bitmaps"]
                print(f"{code:14s} bitmaps n={b['n']:5d} top1={b['top1']:.3f} top3={b['top3']:.3f}")
        for kind in ("strokes", "bitmaps"):
            if kind in res:
                print(kind, json.dumps(res[kind]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
