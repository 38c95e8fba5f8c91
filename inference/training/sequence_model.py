"""A stroke-sequence recogniser (an experiment beside the raster CNNs): the drawing's points in
drawing order (`inference.sequence`), 1-D convolutions, a bidirectional LSTM, pooled over time.

The raster CNN sees the picture; this network sees how it was drawn (order, direction, where
the pen lifted), which is what the Kaggle 2018 Quick, Draw! entrants ensembled with their CNNs.
Trained on the same seeded split and child-like augmentation as the shipped CNNs, so it can be
measured beside them and with them (`python -m inference.evaluate --model cnn+seq`).

    python -m inference.training.sequence_model --all-classes --hold-out-unrecognized \
        --max-per-class 1500 --epochs 14 --aug childlike --aug-missing 0.7 --aug-drop-rate 0.5 \
        --fresh-aug --label-smoothing 0.1 --balance-prior --calibrate --name qd_seq_v1 --out var/seq

Its own options (the rest are `inference.train`'s, `--train-seed` among them): `--seq-arch
bilstm|conv`, `--max-points N` (default 128) and `--seq-epsilon E` (the points simplified with
RDP epsilon E >= 2 instead of Google's 2, written into the card's input spec as `rdp_epsilon`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from inference.raster import RDP_EPSILON
from inference.sequence import DEFAULT_SEQUENCE_SPEC, FEATURES, encode, encode_simplified, rdp_epsilon


# The convolutional towers by the layer they start pooling after (`_conv_net`).
_CONV_POOL_FROM = {"conv": 1, "conv_pool1": 0}
SEQ_ARCHS = ("bilstm", *_CONV_POOL_FROM)


def build_sequence_net(max_points: int, n_classes: int, width: int = 128, tiny: bool = False,
                       arch: str = "bilstm") -> Any:
    """arch "bilstm": Conv1D(48, 5) - Conv1D(64, 5) - pool - Conv1D(96, 3) - pool - BiLSTM(width)
    - max+mean - softmax. arch "conv": convolutions only (cheaper to serve), see `_conv_net`;
    "conv_pool1": the same layers pooling from the first one on, so every later layer sees half
    as many steps (LiteRT, int8 weights, one thread: ~27 against ~43 us a drawing)."""
    import keras
    from keras import layers

    if arch in _CONV_POOL_FROM:
        return _conv_net(max_points, n_classes, tiny, pool_from=_CONV_POOL_FROM[arch])
    c1, c2, c3, w = (8, 8, 16, 8) if tiny else (48, 64, 96, width)
    inp = keras.Input((max_points, len(FEATURES)), name="points")
    x = inp
    for i, (f, k) in enumerate(((c1, 5), (c2, 5), (c3, 3))):
        x = layers.Conv1D(f, k, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU()(x)
        if i:
            x = layers.MaxPooling1D(2)(x)
    # Unrolled (max_points / 4 = 32 steps): LiteRT converts plain ops, not TensorList loops.
    x = layers.Bidirectional(layers.LSTM(w, return_sequences=True, unroll=True), name="bilstm")(x)
    x = layers.Concatenate()([layers.GlobalMaxPooling1D()(x), layers.GlobalAveragePooling1D()(x)])
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="doodle_seq_bilstm")


def _conv_net(max_points: int, n_classes: int, tiny: bool, pool_from: int = 1) -> Any:
    """1-D convolutions only, pooling after each from layer `pool_from` on (128 -> 8 steps from
    the second layer, -> 4 from the first), then max+mean over time."""
    import keras
    from keras import layers

    widths = (8, 8, 8, 16, 16) if tiny else (32, 64, 96, 128, 192)
    inp = keras.Input((max_points, len(FEATURES)), name="points")
    x = inp
    for i, w in enumerate(widths):
        x = layers.Conv1D(w, 5 if i < 2 else 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU()(x)
        if i >= pool_from:
            x = layers.MaxPooling1D(2)(x)
    x = layers.Concatenate()([layers.GlobalMaxPooling1D()(x), layers.GlobalAveragePooling1D()(x)])
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="doodle_seq_conv")


def _encode_chunk(args: tuple[list, dict]) -> np.ndarray:
    drawings, spec = args
    return np.stack([encode(d, spec, fmt="columns") for d in drawings]).astype(np.float16)


def _childlike_chunk(args: tuple[list, dict, int, dict]) -> np.ndarray:
    from inference.raster import simplify_arrays
    from inference.training.childlike import childlike_copy, to_simplified_space

    drawings, spec, seed, params = args
    max_points, epsilon = int(spec["max_points"]), rdp_epsilon(spec)
    rng = np.random.default_rng(seed)
    out = np.zeros((len(drawings), max_points, len(FEATURES)), dtype=np.float16)
    for i, d in enumerate(drawings):
        strokes = childlike_copy(d, rng, **params)
        if strokes:
            # The augmented strokes are dense (shaken, resampled): simplify them as the server does.
            simplified = simplify_arrays(to_simplified_space(strokes), resample=False, epsilon=epsilon)
            out[i] = encode_simplified(simplified, max_points)
    return out


def _map_chunks(fn, parts: list, workers: int) -> np.ndarray:
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            return np.concatenate(list(ex.map(fn, parts)))
    return np.concatenate([fn(p) for p in parts])


def encode_many(drawings: list, spec: dict, workers: int) -> np.ndarray:
    """Column-format drawings -> float16 (n, max_points, 5), encoded as `spec` says."""
    if not drawings:
        return np.zeros((0, int(spec["max_points"]), len(FEATURES)), dtype=np.float16)
    parts = [(drawings[i:i + 512], spec) for i in range(0, len(drawings), 512)]
    return _map_chunks(_encode_chunk, parts, workers)


def childlike_many(drawings: list, spec: dict, workers: int, seed: int, params: dict) -> np.ndarray:
    """One child-like copy of each drawing (`inference.training.childlike`), encoded as `spec` says."""
    if not drawings:
        return np.zeros((0, int(spec["max_points"]), len(FEATURES)), dtype=np.float16)
    parts = [(drawings[i:i + 512], spec, seed + i, params) for i in range(0, len(drawings), 512)]
    return _map_chunks(_childlike_chunk, parts, workers)


def main(argv: list[str] | None = None) -> int:
    from inference.training.cli import categories_over, category_columns, export_model, parse_args, resolve_categories

    argv = list(sys.argv[1:] if argv is None else argv)
    command = "python -m inference.training.sequence_model " + " ".join(shlex.quote(a) for a in argv)
    own = {"--max-points": str(DEFAULT_SEQUENCE_SPEC["max_points"]), "--seq-arch": "bilstm",
           "--seq-epsilon": str(RDP_EPSILON)}
    for opt in own:  # our own options; the rest are inference.train's
        if opt in argv:
            i = argv.index(opt)
            own[opt] = argv[i + 1]
            del argv[i:i + 2]
    extra_points, seq_arch = int(own["--max-points"]), own["--seq-arch"]
    if seq_arch not in SEQ_ARCHS:
        raise SystemExit(f"--seq-arch must be one of {', '.join(SEQ_ARCHS)}")
    try:
        seq_epsilon = float(own["--seq-epsilon"])
    except ValueError:
        seq_epsilon = float("nan")
    if not seq_epsilon >= RDP_EPSILON:
        raise SystemExit(f"--seq-epsilon must be a number >= {RDP_EPSILON} (Google's simplification)")
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from inference.evaluate import ModelRunner, mask_probs, topk_metrics
    from inference.training.categories import DATASET_CREDIT
    from inference.training.data import flatten, load_labels, split_balanced

    t0 = time.time()
    keras.utils.set_random_seed(args.train_seed)
    cats = resolve_categories(args)
    if args.all_classes:
        from inference.datasets import find_class_files

        labels = sorted(find_class_files(args.data, (".ndjson", ".bin", ".npz")))
        cats = categories_over(cats, set(labels))
    else:
        labels = list(dict.fromkeys(t["label"] for c in cats for t in c["topics"]))
    data = load_labels(args.data, labels, hold_out_unrecognized=args.hold_out_unrecognized)
    labels = [l for l in labels if data[l].pool]
    cats = categories_over(cats, set(labels))
    split = split_balanced(data, args.seed, args.test_per_class, args.val_per_class, args.max_per_class)
    tr_d, tr_y = flatten(split.train, labels)
    va_d, va_y = flatten(split.val, labels)
    te_d, te_y = flatten(split.test, labels)
    L = extra_points
    spec = dict(DEFAULT_SEQUENCE_SPEC, max_points=L)
    if seq_epsilon != RDP_EPSILON:  # cards of the default encoding stay as they were
        spec["rdp_epsilon"] = seq_epsilon
    print(f"[seq] {len(labels)} labels, train {len(tr_d)} val {len(va_d)} test {len(te_d)}", file=sys.stderr)
    x_tr = encode_many(tr_d, spec, args.workers)
    x_va = encode_many(va_d, spec, args.workers).astype(np.float32)
    print(f"[seq] encoded in {time.time() - t0:.0f}s", file=sys.stderr)
    params = args.childlike
    n_out = len(labels)
    model = build_sequence_net(L, n_out, tiny=args.tiny, arch=seq_arch)
    copies = args.epochs if args.fresh_aug else 0
    per_epoch = len(x_tr) * (2 if copies else 1)
    steps = max(1, int(np.ceil(per_epoch / args.batch_size))) * args.epochs
    sched = keras.optimizers.schedules.CosineDecay(args.lr, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(sched, clipnorm=1.0),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing), metrics=["accuracy"])
    one_hot = lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, n_out))  # noqa: E731
    val = tf.data.Dataset.from_tensor_slices((x_va, va_y)).batch(512).map(one_hot) if len(x_va) else None
    history: dict[str, list[float]] = {}
    for e in range(args.epochs):
        if copies:
            xa = childlike_many(tr_d, spec, args.workers, args.train_seed * 1000 + e * 7919, params)
            xe, ye = np.concatenate([x_tr, xa]), np.concatenate([tr_y, tr_y])
        else:
            xe, ye = x_tr, tr_y
        ds = (tf.data.Dataset.from_tensor_slices((xe, ye)).shuffle(len(xe), seed=args.train_seed + e)
              .batch(args.batch_size).map(one_hot).prefetch(2))
        h = model.fit(ds, initial_epoch=e, epochs=e + 1, validation_data=val, verbose=0)
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(x) for x in v)
        print(f"[seq] epoch {e + 1}/{args.epochs} {time.time() - t0:.0f}s "
              + " ".join(f"{k} {v[-1]:.3f}" for k, v in history.items()), file=sys.stderr)
    train_s = time.time() - t0
    prior = None
    if args.balance_prior:
        from inference.training.calibration import bake_prior_correction

        seen = np.bincount(tr_y, minlength=n_out) * (2 if copies else 1)
        shift = bake_prior_correction(model, seen)
        prior = {"max_shift": float(np.abs(shift).max())}
    calibration = None
    if args.calibrate and len(x_va):
        from inference.training.calibration import bake_temperature, fit_temperature

        temperature = fit_temperature(model.predict(x_va, batch_size=1024, verbose=0), va_y, category_columns(cats, labels))
        bake_temperature(model, temperature)
        calibration = {"temperature": temperature, "fitted_on": "validation split, masked to each category"}
    name = args.name or "qd_seq"
    out_dir = args.out / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    card: dict[str, Any] = {"name": name, "input": spec, "labels": labels}
    (out_dir / "card.json").write_text(json.dumps(card), encoding="utf-8")
    try:
        sizes = export_model(model, out_dir, args.tflite_weights)
        runtime = "tflite"
    except Exception as exc:  # an LSTM LiteRT cannot take is a finding, not a lost run
        print(f"[seq] LiteRT export failed ({exc}); measured with Keras", file=sys.stderr)
        model.save(out_dir / "model.keras")
        sizes, runtime = {}, "keras"
    runner = ModelRunner(out_dir, runtime)
    p_te = runner.predict(encode_many(te_d, spec, args.workers).astype(np.float32))
    per_cat = {}
    for c in cats:
        cols = [labels.index(t["label"]) for t in c["topics"]]
        sel = np.isin(te_y, cols)
        y_local = np.array([cols.index(v) for v in te_y[sel]], dtype=np.int64)
        m = topk_metrics(mask_probs(p_te[sel], cols), y_local, len(cols))
        per_cat[c["code"]] = {"top1": m["top1"], "top3": m["top3"]}
    overall = {"test_top1": float(np.mean([v["top1"] for v in per_cat.values()])),
               "test_top3": float(np.mean([v["top3"] for v in per_cat.values()]))}
    card.update({
        "description": "Doodle Quest stroke-sequence recogniser (experiment): simplified points in drawing order, "
                       "1-D convolutions and a bidirectional LSTM; softmax over labels.json.",
        "output": {"kind": "softmax", "labels": "labels.json", "masking": "keep the category's labels, renormalise"},
        "categories": [c["code"] for c in cats],
        "augmentation": {"kind": "childlike" if copies else "none", "fresh_each_epoch": bool(copies),
                         "label_smoothing": args.label_smoothing, **params},
        "architecture": {"name": model.name, "arch": f"seq_{seq_arch}", "params": int(model.count_params())},
        "tflite_weights": args.tflite_weights if runtime == "tflite" else None,
        "files": sizes,
        "metrics": {"overall": overall, "categories": per_cat, "history": history,
                    **({"calibration": calibration} if calibration else {})},
        **({"prior_correction": prior} if prior else {}),
        "seed": args.seed,
        **({"train_seed": args.train_seed} if args.train_seed != args.seed else {}),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "train_seconds": round(train_s, 1),
        "data": {"dir": str(args.data), "train": len(tr_d), "test": len(te_d),
                 "summary": "inference.train's seeded split (the same held-out test, validation and raw drawings)."},
        "dataset_credit": DATASET_CREDIT,
        "license_note": "Trained on the Quick, Draw! dataset by Google, licensed CC BY 4.0.",
    })
    (out_dir / "card.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"model": name, "overall": overall, "seconds": round(time.time() - t0)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
