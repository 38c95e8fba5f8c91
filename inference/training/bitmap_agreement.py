"""How close our rasteriser is to Google's 28x28 numpy_bitmap rows: `python -m inference.training.bitmap_agreement`.

For each class of `bitmaps/qd_bitmaps_26.npz` (Google's own rows, different drawings), render up to
`--n` simplified drawings of the same class with `inference.raster.rasterize_simplified` and
compare pixel statistics: mean ink, share of inked pixels, share of solid pixels (>= 0.99), and
the mean absolute difference between the two classes' mean images. A line-width sweep shows the
chosen width is the closest. Also: nearest-mean-image classification across the 26 classes
(each Google row assigned to the class whose mean *rendered* image is nearest), which is high only
if the two renderings agree class by class.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from inference.datasets import read_ndjson
from inference.raster import DEFAULT_SPEC, rasterize_simplified

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "quickdraw")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--widths", default="12,14,16,18")
    args = ap.parse_args(argv)
    b = np.load(args.data / "bitmaps" / "qd_bitmaps_26.npz")
    names = [str(c) for c in b["class_names"]]
    drawings = {c: [s.drawing for s in read_ndjson(args.data / "strokes" / "simplified" / f"{c}.ndjson", limit=args.n)] for c in names}
    google = {c: b["x"][b["y"] == i][: 4 * args.n].astype(np.float32) / 255.0 for i, c in enumerate(names)}
    out: dict = {"classes": len(names), "per_width": {}}
    for w in [float(v) for v in args.widths.split(",")]:
        spec = dict(DEFAULT_SPEC, line_width=w)
        ours = {c: np.stack([rasterize_simplified(d, spec)[..., 0] for d in drawings[c]]) for c in names}
        stats = {
            "mean_ink_google": float(np.mean([google[c].mean() for c in names])),
            "mean_ink_ours": float(np.mean([ours[c].mean() for c in names])),
            "inked_share_google": float(np.mean([(google[c] > 0).mean() for c in names])),
            "inked_share_ours": float(np.mean([(ours[c] > 0).mean() for c in names])),
            "solid_share_google": float(np.mean([(google[c] >= 0.99).mean() for c in names])),
            "solid_share_ours": float(np.mean([(ours[c] >= 0.99).mean() for c in names])),
            "mean_image_l1": float(np.mean([np.abs(google[c].mean(0) - ours[c].mean(0)).mean() for c in names])),
        }
        means = np.stack([ours[c].mean(0).ravel() for c in names])
        hits = total = 0
        for i, c in enumerate(names):
            g = google[c].reshape(len(google[c]), -1)
            d = ((g[:, None, :] - means[None]) ** 2).sum(-1)
            hits += int((d.argmin(1) == i).sum())
            total += len(g)
        stats["nearest_mean_image_accuracy"] = hits / total
        # Reference: the same rule with Google's own class means (the ceiling for this rule).
        gmeans = np.stack([google[c].mean(0).ravel() for c in names])
        ghits = sum(int((((google[c].reshape(len(google[c]), -1)[:, None, :] - gmeans[None]) ** 2).sum(-1).argmin(1) == i).sum()) for i, c in enumerate(names))
        stats["nearest_mean_image_accuracy_google_means"] = ghits / total
        out["per_width"][str(w)] = stats
        print(w, json.dumps(stats))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
