"""Choose each category's shipped labels from the measured confusions, and measure the result.

`python -m inference.training.select_labels --model qd_all --per-category 20`

For every candidate category (inference.training.categories.CANDIDATES) served by the model, the
held-out test split of the training run (same seed, same class-balanced split) is predicted with
the shipped LiteRT model through the serving path; while a category has more than
`--per-category` labels, the label whose removal most raises the category's top-1 (i.e. the one
most confused with the others) is dropped. The shipped categories go to models/categories.json,
and their metrics (held-out test, real raw drawings, early-recognition curves) into the model's
card.json / card.md under "shipped".
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from inference.evaluate import ModelRunner, early_curve, mask_probs, topk_metrics
from inference.raster import rasterize
from inference.training.categories import CANDIDATES, DATASET_CREDIT
from inference.training.cli import write_categories
from inference.training.data import load_labels, raster_for_training, split_balanced
from inference.training.report import card_markdown, confusion_png

REPO = Path(__file__).resolve().parents[2]


def _top1(p: np.ndarray, y: np.ndarray, cols: list[int]) -> float:
    sel = np.isin(y, cols)
    local = {c: i for i, c in enumerate(cols)}
    yy = np.array([local[v] for v in y[sel]])
    return float((mask_probs(p[sel], cols).argmax(axis=1) == yy).mean())


def choose(p: np.ndarray, y: np.ndarray, cols: list[int], keep: int, protect: int = 0) -> list[int]:
    """Greedy: drop the label whose removal raises top-1 the most, until `keep` remain."""
    cols = list(cols)
    while len(cols) > keep:
        best, best_acc = None, -1.0
        for c in cols[protect:]:
            rest = [k for k in cols if k != c]
            acc = _top1(p, y, rest)
            if acc > best_acc:
                best, best_acc = c, acc
        cols.remove(best)
    return cols


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--per-category", type=int, default=20)
    ap.add_argument("--protect", type=int, default=6, help="never drop a category's first N labels (the iconic ones)")
    ap.add_argument("--categories", default="all")
    args = ap.parse_args(argv)
    mdir = args.models / args.model
    card = json.loads((mdir / "card.json").read_text(encoding="utf-8"))
    runner = ModelRunner(mdir, "tflite")
    labels = runner.labels
    seed = card["seed"]
    import re

    cmd = card["command"]

    def opt(name: str, default: str) -> str:
        m = re.search(rf"--{name}[ =](\S+)", cmd)
        return m.group(1) if m else default

    data_dir = Path(card["data"]["dir"])
    test_per_class = int(opt("test-per-class", "60"))
    val_per_class = int(opt("val-per-class", "30"))
    data = load_labels(data_dir, labels)
    split = split_balanced(data, seed, test_per_class, val_per_class, None)
    te_d, te_y = [], []
    for i, l in enumerate(labels):
        for s in split.test[l]:
            te_d.append(s.drawing)
            te_y.append(i)
    te_y = np.asarray(te_y)
    spec = card["input"]
    p = runner.predict(np.stack([raster_for_training(d, spec) for d in te_d]).astype(np.float32))
    codes = None if args.categories == "all" else args.categories.split(",")
    shipped_cats, metrics = [], {"threshold": 0.5, "categories": {}}
    for code, ko, en, topics in CANDIDATES:
        if codes and code not in codes:
            continue
        names = dict(topics)
        cand = [labels.index(l) for l, _ in topics if l in labels]
        if len(cand) < len(topics):
            continue
        cols = choose(p, te_y, cand, args.per_category, args.protect)
        clabels = [labels[c] for c in cols]
        sel = np.isin(te_y, cols)
        local = {c: i for i, c in enumerate(cols)}
        yy = np.array([local[v] for v in te_y[sel]])
        m = topk_metrics(mask_probs(p[sel], cols), yy, len(cols))
        idx = np.flatnonzero(sel)
        sub = np.concatenate([np.flatnonzero(yy == k)[:20] for k in range(len(cols))])
        test_d = [te_d[idx[i]] for i in sub]
        entry: dict[str, Any] = {
            "labels": clabels,
            "dropped": [labels[c] for c in cand if c not in cols],
            "candidate_top1": _top1(p, te_y, cand),
            "test": {"n": m["n"], "top1": m["top1"], "top3": m["top3"],
                     "per_class_top1": {clabels[k]: v for k, v in m["per_class_top1"].items()},
                     "early_recognition": early_curve(runner, test_d, yy[sub], cols)},
            "confusion_test": m["confusion"],
        }
        real_d, real_y = [], []
        for k, l in enumerate(clabels):
            for s in split.real.get(l, []):
                real_d.append(s.drawing)
                real_y.append(k)
        if real_d:
            ry = np.asarray(real_y)
            pr = mask_probs(runner.predict(np.stack([rasterize(d, spec, fmt="columns") for d in real_d])), cols)
            mr = topk_metrics(pr, ry, len(cols))
            entry["real"] = {"n": mr["n"], "top1": mr["top1"], "top3": mr["top3"],
                             "per_class_top1": {clabels[k]: v for k, v in mr["per_class_top1"].items()},
                             "early_recognition": early_curve(runner, real_d, ry, cols)}
        metrics["categories"][code] = entry
        confusion_png(mdir / f"confusion_{code}.png", m["confusion"], clabels, f"{args.model} / {code}: held-out test, top-1 (row %)")
        shipped_cats.append({"code": code, "name_ko": ko, "name_en": en,
                             "topics": [{"label": l, "name_ko": names[l], "name_en": l} for l in clabels]})
        print(f"{code:14s} cand top1 {entry['candidate_top1']:.3f} -> {m['top1']:.3f} top3 {m['top3']:.3f} "
              f"real {entry.get('real', {}).get('top1', float('nan')):.3f} dropped {entry['dropped']}")
    cv = list(metrics["categories"].values())
    metrics["overall"] = {
        "test_top1": float(np.mean([e["test"]["top1"] for e in cv])),
        "test_top3": float(np.mean([e["test"]["top3"] for e in cv])),
        "test_early_recognition": np.mean([e["test"]["early_recognition"]["recognized"] for e in cv], axis=0).tolist(),
        "real_top1": float(np.mean([e["real"]["top1"] for e in cv if "real" in e])),
        "real_top3": float(np.mean([e["real"]["top3"] for e in cv if "real" in e])),
        "real_early_recognition": np.mean([e["real"]["early_recognition"]["recognized"] for e in cv if "real" in e], axis=0).tolist(),
        "real_n": int(sum(e["real"]["n"] for e in cv if "real" in e)),
    }
    card["metrics_all_candidates"] = card.get("metrics_all_candidates", card["metrics"])
    card["metrics"] = metrics
    card["categories"] = [c["code"] for c in shipped_cats]
    card["selection"] = f"python -m inference.training.select_labels --model {args.model} --per-category {args.per_category} --protect {args.protect}"
    card["dataset_credit"] = DATASET_CREDIT
    (mdir / "card.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (mdir / "card.md").write_text(card_markdown(card), encoding="utf-8")
    write_categories(args.models / "categories.json", shipped_cats, args.model)
    print(json.dumps(metrics["overall"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
