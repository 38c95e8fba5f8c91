"""Model-card measurements beyond accuracy: the child-likeness proxy, Google's misses, calibration.

All through the serving path (rasterise, LiteRT model, category mask), on drawings never trained on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inference import inputs as model_inputs
from inference.child_proxy import PROXY_SEED, PROXY_VERSION, child_proxy_drawing


def _recognised(p: np.ndarray, y: np.ndarray, threshold: float) -> float:
    best = p.argmax(axis=1)
    return float(((best == y) & (p[np.arange(len(y)), best] >= threshold)).mean())


def _score(runner: Any, drawings: list, y: np.ndarray, cols: list[int], threshold: float) -> dict[str, Any] | None:
    from inference.evaluate import mask_probs, topk_metrics

    if not drawings:
        return None
    p = mask_probs(runner.predict_drawings(drawings), cols)
    m = topk_metrics(p, y, len(cols))
    return {"n": m["n"], "top1": m["top1"], "top3": m["top3"], "recognized": _recognised(p, y, threshold)}


def _proxy_per_label(drawings: list, ys: list[int]) -> list:
    """The proxy of each drawing, numbered within its label in file order, as
    `inference.evaluate --child-proxy` numbers them: the card and the command agree exactly."""
    out, seen = [], {}
    for d, y in zip(drawings, ys):
        i = seen.get(y, 0)
        seen[y] = i + 1
        out.append(child_proxy_drawing(d, i))
    return out


def _mean(entries: list[dict[str, Any] | None], key: str) -> float | None:
    vals = [e[key] for e in entries if e]
    return float(np.mean(vals)) if vals else None


def measure_extras(
    runner: Any, cats: list[dict[str, Any]], labels: list[str], split: Any, x_te: Any, te_y: np.ndarray,
    out_dir: Path, name: str, threshold: float, calibration: dict[str, Any] | None,
) -> dict[str, Any]:
    """{"child_proxy": ..., "unrecognized": ..., "calibration": ...} for card.json["metrics"]."""
    from inference.evaluate import mask_probs
    from inference.training.calibration import reliability, reliability_png

    proxy_real, proxy_test, unrec = {}, {}, {}
    conf_after, correct, conf_before = [], [], []
    p_all = runner.predict(model_inputs.as_float32(x_te))
    t = (calibration or {}).get("temperature", 1.0)
    for c in cats:
        cl = [tp["label"] for tp in c["topics"] if tp["label"] in labels]
        cols = [labels.index(l) for l in cl]
        real_d, real_y, hard_d, hard_y, test_d, test_y = [], [], [], [], [], []
        for k, l in enumerate(cl):
            for s in split.real.get(l, []):
                real_d.append(s.drawing)
                real_y.append(k)
                if s.recognized is False:
                    hard_d.append(s.drawing)
                    hard_y.append(k)
            for s in split.unrecognized.get(l, []):
                hard_d.append(s.drawing)
                hard_y.append(k)
            # The proxy on at most 20 simplified test drawings a label (each is re-rasterised).
            for s in split.test.get(l, [])[:20]:
                test_d.append(s.drawing)
                test_y.append(k)
        proxy_real[c["code"]] = _score(runner, _proxy_per_label(real_d, real_y), np.asarray(real_y), cols, threshold)
        proxy_test[c["code"]] = _score(runner, _proxy_per_label(test_d, test_y), np.asarray(test_y), cols, threshold)
        unrec[c["code"]] = _score(runner, hard_d, np.asarray(hard_y), cols, threshold)
        sel = np.isin(te_y, cols)
        if sel.any():
            y_local = np.array([cols.index(v) for v in te_y[sel]])
            pa = mask_probs(p_all[sel], cols)
            pb = mask_probs(np.power(np.maximum(p_all[sel], 1e-30), t), cols)  # undo the baked temperature
            conf_after.append(pa.max(axis=1))
            conf_before.append(pb.max(axis=1))
            correct.append(pa.argmax(axis=1) == y_local)
    out: dict[str, Any] = {
        "child_proxy": {
            "version": PROXY_VERSION, "seed": PROXY_SEED,
            "what": "inference.child_proxy distortion of held-out drawings, then the serving path",
            "real": {"categories": proxy_real, "mean_top1": _mean(list(proxy_real.values()), "top1"),
                     "mean_top3": _mean(list(proxy_real.values()), "top3"),
                     "mean_recognized": _mean(list(proxy_real.values()), "recognized")},
            "test": {"categories": proxy_test, "mean_top1": _mean(list(proxy_test.values()), "top1"),
                     "mean_top3": _mean(list(proxy_test.values()), "top3"),
                     "mean_recognized": _mean(list(proxy_test.values()), "recognized")},
        },
        "unrecognized": {
            "what": "drawings Google's model missed (recognized: false), raw and held-out simplified, never trained on",
            "categories": unrec, "n": int(sum(e["n"] for e in unrec.values() if e)),
            "mean_top1": _mean(list(unrec.values()), "top1"), "mean_top3": _mean(list(unrec.values()), "top3"),
        },
    }
    if conf_after:
        ok = np.concatenate(correct)
        after = reliability(np.concatenate(conf_after), ok)
        before = reliability(np.concatenate(conf_before), ok)
        out["calibration"] = {**(calibration or {"temperature": 1.0, "fitted_on": "not fitted"}),
                              "test_ece_before": before["ece"], "test_ece_after": after["ece"],
                              "reliability_after": after["bins"], "reliability_before": before["bins"]}
        reliability_png(out_dir / "reliability.png", {"before": before, "after": after} if calibration else {"model": after},
                        f"{name}: held-out test, within category")
    return out
