"""`python -m inference.training.remeasure models/<name>`: measure a trained model's card again.

Rebuilds the model's seeded split from its card's training command (same data folder, seed and
split sizes), then re-runs the card's proxy, Google's-misses and calibration measurements
(`inference.training.card_extras`) through the serving path and rewrites card.json and card.md.
Use it when the measurements change (a new proxy version), so every shipped card is measured
the same way without retraining.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inference.training.remeasure", description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--data", type=Path, default=None, help="the Quick, Draw! folder (default: the command's)")
    args = ap.parse_args(argv)
    from inference.evaluate import ModelRunner
    from inference import inputs as model_inputs
    from inference.training.card_extras import measure_extras
    from inference.training.cli import categories_over, parse_args, resolve_categories
    from inference.training.data import flatten, load_labels, split_balanced
    from inference.training.report import card_markdown

    d = args.model_dir
    card = json.loads((d / "card.json").read_text(encoding="utf-8"))
    train_args = parse_args(shlex.split(card["command"])[3:] + (["--data", str(args.data)] if args.data else []))
    labels = card["labels"]
    cats = categories_over(resolve_categories(train_args), set(labels))
    data = load_labels(train_args.data, labels, hold_out_unrecognized=train_args.hold_out_unrecognized)
    split = split_balanced(data, train_args.seed, train_args.test_per_class, train_args.val_per_class, train_args.max_per_class)
    te_d, te_y = flatten(split.test, labels)
    runner = ModelRunner(d, "tflite")
    x_te = model_inputs.stack([model_inputs.drawing_input(x, runner.spec, fmt="columns") for x in te_d])
    old = card["metrics"].get("calibration") or {}
    calibration = {k: old[k] for k in ("temperature", "fitted_on") if k in old} or None
    card["metrics"].update(measure_extras(runner, cats, labels, split, x_te, te_y, d, card["name"],
                                          card["metrics"]["threshold"], calibration))
    (d / "card.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (d / "card.md").write_text(card_markdown(card), encoding="utf-8")
    p = card["metrics"]["child_proxy"]["real"]
    print(f"{card['name']}: proxy (real) top-1 {p['mean_top1']:.3f}, recognised {p['mean_recognized']:.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
