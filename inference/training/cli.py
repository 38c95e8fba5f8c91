"""`python -m inference.train`: train a recognition model and write its model directory.

Reads Google's files in every format under `--data` (raw/simplified .ndjson, .bin, sketch-rnn
.npz; numpy_bitmap .npy / .npz with `--bitmaps`), splits them per class with a seed (raw drawings
with timing are held out: never trained on, measured as "real"), rasterises with the serving
rasteriser (`inference.raster.rasterize`), trains a small CNN and writes `models/<name>/`:
labels.json, model.keras, model.tflite, saved_model/, card.json, card.md, confusion_<cat>.png.

    python -m inference.train --categories animals,fruit_veg,vehicles --name qd_v0 --epochs 8
    python -m inference.train --tiny --data tests/fixtures/quickdraw --out /tmp/m   # seconds
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "quickdraw"
TFLITE_WEIGHTS = ("int8", "float32")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m inference.train", description="Train a Doodle Quest recognition model.")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Quick, Draw! files (searched recursively)")
    ap.add_argument("--out", type=Path, default=REPO / "models", help="models folder")
    ap.add_argument("--name", default=None, help="model directory name")
    ap.add_argument("--categories", default="animals,fruit_veg,vehicles", help="category codes, comma-separated, or 'all'")
    ap.add_argument("--labels", default=None, help="train on these labels (comma-separated) instead of categories")
    ap.add_argument("--categories-json", type=Path, default=None, help="read categories (codes, labels) from this categories.json")
    ap.add_argument("--write-categories", action="store_true", help="write models/categories.json mapping the categories to this model")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-per-class", type=int, default=None, help="cap training drawings per class")
    ap.add_argument("--test-per-class", type=int, default=60)
    ap.add_argument("--val-per-class", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1234, help="seeds the split (held-out test, validation) and, "
                    "unless --train-seed is given, the training's own random draws")
    ap.add_argument("--train-seed", type=int, default=None,
                    help="seeds weight initialisation, augmentation and shuffling only: another member of an "
                         "ensemble on the very same split (default: --seed)")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", default="ink", help="raster channels: ink, or ink,order")
    ap.add_argument("--line-width", type=float, default=16.0)
    ap.add_argument("--arch", default="small", choices=("tiny", "lite", "lite_wide", "small", "medium"))
    ap.add_argument("--aug-copies", type=int, default=1, help="augmented renderings per training drawing")
    ap.add_argument("--aug-fraction", type=float, default=1.0, help="share of training drawings augmented per copy")
    ap.add_argument("--aug", default="classic", choices=("classic", "childlike"),
                    help="augmentation: classic (affine, wobble, a dropped stroke) or childlike (inference.training.childlike)")
    ap.add_argument("--aug-missing", type=float, default=0.35, help="childlike: chance that parts are left out")
    ap.add_argument("--aug-drop-rate", type=float, default=0.3, help="childlike: share of strokes then left out")
    ap.add_argument("--aug-strength", default=None, metavar="LO,HI",
                    help="childlike: each drawing's distortion strength drawn uniformly from LO..HI (default: 1.0 for all)")
    ap.add_argument("--fresh-aug", action="store_true", help="a new augmented copy every epoch (instead of --aug-copies fixed ones)")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--all-classes", action="store_true",
                    help="train on every class found under --data; categories (for metrics) from --categories-json or models/categories.json")
    ap.add_argument("--hold-out-unrecognized", action="store_true",
                    help="keep simplified drawings marked recognized:false out of training (a real hard test set)")
    ap.add_argument("--calibrate", action="store_true", help="temperature-scale on the validation split, baked into the output layer")
    ap.add_argument("--bitmaps", action="store_true", help="also train on 28 px bitmap rows (.npy/.npz) of the labels")
    ap.add_argument("--bitmaps-per-class", type=int, default=None, help="cap bitmap rows per label (default: --max-per-class)")
    ap.add_argument("--balance-prior", action="store_true",
                    help="remove the labels' unequal shares of training images from the output (logit adjustment)")
    ap.add_argument("--tflite-weights", default="int8", choices=TFLITE_WEIGHTS,
                    help="model.tflite weights: int8 (dynamic-range quantisation, the default) or float32")
    ap.add_argument("--ensemble-of", default=None, metavar="DIR,DIR",
                    help="train nothing: merge these trained model directories (same labels and raster) into one "
                         "network serving their geometric-mean ensemble (inference.training.ensemble), then "
                         "calibrate (--calibrate), export and measure it like a trained model")
    ap.add_argument("--ensemble-weights", default=None, metavar="W,W",
                    help="with --ensemble-of: one weight per member (the weighted geometric mean; default equal)")
    ap.add_argument("--teacher", type=Path, default=None, metavar="DIR",
                    help="distil: learn this trained model's probabilities on every training image (with "
                         "--distill-weight of them, the rest the label); same labels and raster spec")
    ap.add_argument("--distill-weight", type=float, default=0.8, help="with --teacher: the teacher's share of each target")
    ap.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                    help="mixup (Zhang et al., 2018): blend each batch with itself shuffled, weight ~ Beta(ALPHA, ALPHA); 0: off")
    ap.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA",
                    help="CutMix (Yun et al., 2019): a box of each image replaced by the same box of another "
                         "image of the batch, targets mixed by the box's share; box share ~ Beta(ALPHA, ALPHA), "
                         "at most half; 0: off (not with --mixup)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.5, help="early-recognition probability threshold")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--prepare-only", action="store_true", help="rasterise the splits into var/raster_cache and stop")
    ap.add_argument("--tiny", action="store_true", help="smoke test: 1 epoch, 20 drawings a class, tiny net")
    args = ap.parse_args(argv)
    # Parsed once, here: a malformed --aug-strength is refused before hours of rasterising.
    args.childlike = childlike_params(args)
    if args.mixup > 0 and args.cutmix > 0:
        raise SystemExit("--mixup and --cutmix: choose one")
    if args.train_seed is None:
        args.train_seed = args.seed
    if args.tiny:
        args.epochs = 1
        args.max_per_class = args.max_per_class or 20
        args.test_per_class = min(args.test_per_class, 2)
        args.val_per_class = min(args.val_per_class, 1)
        args.arch = "tiny"
        args.aug_copies = min(args.aug_copies, 1)
        args.workers = 1
    return args


def resolve_categories(args: argparse.Namespace) -> list[dict[str, Any]]:
    """[{code, name_ko, name_en, topics: [{label, name_ko, name_en}]}] for the requested categories."""
    from inference.training.categories import CANDIDATES

    if args.labels:
        labels = [l.strip() for l in args.labels.split(",") if l.strip()]
        return [{"code": "custom", "name_ko": "사용자 정의", "name_en": "Custom", "topics": [{"label": l, "name_ko": l, "name_en": l} for l in labels]}]
    if args.categories_json or args.all_classes:
        path = args.categories_json or REPO / "models" / "categories.json"
        return json.loads(path.read_text(encoding="utf-8"))["categories"]
    codes = None if args.categories == "all" else [c.strip() for c in args.categories.split(",")]
    known = {c[0] for c in CANDIDATES}
    if codes:
        unknown = set(codes) - known
        if unknown:
            raise SystemExit(f"unknown categories {sorted(unknown)}; known: {sorted(known)}")
    cats = []
    for code, ko, en, topics in CANDIDATES:
        if codes is None or code in codes:
            cats.append({"code": code, "name_ko": ko, "name_en": en, "topics": [{"label": l, "name_ko": k, "name_en": l} for l, k in topics]})
    return cats


def export_model(model: Any, out_dir: Path, tflite_weights: str = "int8") -> dict[str, int]:
    """model.keras, saved_model/ (TF Serving, float32) and model.tflite (LiteRT); sizes in bytes.

    `tflite_weights="int8"`: LiteRT's dynamic-range quantisation (weights stored as int8,
    activations quantised per batch on the fly, float32 in and out). Measured on qd_kids_v8: the
    same top-1/top-3 to the decimal on the 4,404 held-out raw drawings, probabilities within
    0.03 of float32, and half the CPU per image (models/README.md)."""
    import keras

    # Save an uncompiled copy: the optimizer state would triple the file for nothing.
    plain = keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    plain.save(out_dir / "model.keras")
    sm = out_dir / "saved_model"
    if sm.exists():
        shutil.rmtree(sm)
    model.export(str(sm), format="tf_saved_model", verbose=False)
    write_tflite(sm, out_dir / "model.tflite", tflite_weights)
    sizes = {p.name: p.stat().st_size for p in out_dir.iterdir() if p.is_file()}
    sizes["saved_model"] = sum(p.stat().st_size for p in sm.rglob("*") if p.is_file())
    return sizes


def _own_share(n: Any, alpha: float, seed: int) -> Any:
    """Per image of a batch of `n`: lam ~ Beta(alpha, alpha) (two gammas), folded to >= 0.5, the
    share a mixed image keeps of itself (its own label stays the larger part)."""
    import tensorflow as tf

    g1 = tf.random.gamma([n], alpha, seed=seed)
    g2 = tf.random.gamma([n], alpha, seed=seed + 1)
    lam = g1 / (g1 + g2)
    return tf.maximum(lam, 1.0 - lam)


def mixup_batch(alpha: float, seed: int):
    """A tf.data map blending a batch (images, one-hot or soft targets) with a shuffled copy of
    itself: one Beta(alpha, alpha) weight per image, images and targets alike."""
    import tensorflow as tf

    def mix(x, y):
        n = tf.shape(x)[0]
        lam = _own_share(n, alpha, seed)
        perm = tf.random.shuffle(tf.range(n), seed=seed)
        lx = tf.reshape(lam, [-1, 1, 1, 1])
        ly = tf.reshape(lam, [-1, 1])
        return lx * x + (1 - lx) * tf.gather(x, perm), ly * y + (1 - ly) * tf.gather(y, perm)

    return mix


def cutmix_batch(alpha: float, seed: int):
    """A tf.data map pasting into each image of a batch (images, one-hot or soft targets) a box of
    a shuffled partner: the box's share of the image is 1 - lam, lam ~ Beta(alpha, alpha) kept
    >= 0.5 (the image keeps its own label as the larger part, as in `mixup_batch`), its centre
    uniform and the box clipped to the image; the targets are mixed by the share really pasted.
    On a drawing this leaves a part out and puts a stranger's part in: a floating, foreign piece
    and a missing one, the two distortions the child-likeness proxy costs most."""
    import tensorflow as tf

    def mix(x, y):
        n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        side = tf.sqrt(1.0 - _own_share(n, alpha, seed))
        bh = tf.cast(side * tf.cast(h, tf.float32), tf.int32)
        bw = tf.cast(side * tf.cast(w, tf.float32), tf.int32)
        cy = tf.random.uniform([n], 0, h, dtype=tf.int32, seed=seed + 2)
        cx = tf.random.uniform([n], 0, w, dtype=tf.int32, seed=seed + 3)
        rows, cols = tf.range(h)[None, :], tf.range(w)[None, :]
        in_rows = (rows >= (cy - bh // 2)[:, None]) & (rows < (cy - bh // 2 + bh)[:, None])
        in_cols = (cols >= (cx - bw // 2)[:, None]) & (cols < (cx - bw // 2 + bw)[:, None])
        box = tf.cast(in_rows[:, :, None] & in_cols[:, None, :], x.dtype)[..., None]
        perm = tf.random.shuffle(tf.range(n), seed=seed)
        share = tf.reduce_mean(box, axis=[1, 2, 3])[:, None]
        return x * (1 - box) + tf.gather(x, perm) * box, (1 - share) * y + share * tf.gather(y, perm)

    return mix


def write_tflite(saved_model: Path, path: Path, weights: str = "int8") -> None:
    """Convert an exported SavedModel to LiteRT, float32 or with int8 weights (dynamic range)."""
    import tensorflow as tf

    if weights not in TFLITE_WEIGHTS:
        raise ValueError(f"tflite weights must be one of {TFLITE_WEIGHTS}, not {weights!r}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if weights == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    path.write_bytes(conv.convert())


def _with_points(x: np.ndarray, drawings: list, spec: dict, workers: int) -> Any:
    """Rasters -> (rasters, point sequences) for a model whose spec reads points too; else x."""
    from inference.inputs import sequence_spec

    seq = sequence_spec(spec)
    if seq is None:
        return x
    from inference.training.sequence_model import encode_many

    return x, encode_many(drawings, seq, workers).astype(np.float32)


def _cache_dir(spec: dict) -> Path:
    """Raster cache keyed by the spec and `inference.raster.RASTER_VERSION`."""
    import hashlib

    import inference.raster as raster

    h = hashlib.sha256(json.dumps([spec, raster.RASTER_VERSION], sort_keys=True).encode()).hexdigest()[:16]
    return REPO / "var" / "raster_cache" / h


def _render_all(drawings: list, spec: dict, workers: int, desc: str) -> np.ndarray:
    """Rasterise with the serving rasteriser (`inference.raster.rasterize`), with a progress bar."""
    from inference.training.data import rasterize_many

    with tqdm(total=len(drawings), desc=desc, unit="img", file=sys.stderr, mininterval=2) as bar:
        return rasterize_many(drawings, spec, workers, bar)


def _render_split(part: dict[str, list], labels: list[str], spec: dict, workers: int, desc: str, use_cache: bool) -> np.ndarray:
    """Rasters of a split part in label order; per-label cache in var/raster_cache (by key_ids)."""
    import hashlib

    cache = _cache_dir(spec)
    paths, missing = {}, []
    for l in labels:
        keys = "\n".join(f"{l}:{s.key_id}" for s in part[l])
        paths[l] = cache / f"{hashlib.sha256(keys.encode()).hexdigest()[:24]}.npy"
        if not (use_cache and paths[l].exists()):
            missing.append(l)
    if missing:
        drawings = [s.drawing for l in missing for s in part[l]]
        arr = _render_all(drawings, spec, workers, desc)
        if use_cache:
            cache.mkdir(parents=True, exist_ok=True)
        start, fresh = 0, {}
        for l in missing:
            n = len(part[l])
            fresh[l] = arr[start : start + n]
            start += n
            if use_cache:
                np.save(paths[l], fresh[l])
    else:
        fresh = {}
    print(f"[train] {desc}: {len(labels) - len(missing)} labels from cache, {len(missing)} rendered", file=sys.stderr)
    size, ch = spec["size"], len(spec["channels"])
    parts = [fresh[l] if l in fresh else np.load(paths[l]) for l in labels]
    return np.concatenate(parts) if parts else np.zeros((0, size, size, ch), dtype=np.float16)


def _to_u8(x: np.ndarray) -> np.ndarray:
    """Rasters in 0..1 as the bytes they were drawn from (the rasteriser works in 0..255)."""
    if x.dtype == np.uint8:
        return x
    return np.rint(np.asarray(x, dtype=np.float32) * 255).astype(np.uint8)


def childlike_params(args: argparse.Namespace) -> dict[str, Any]:
    """The child-like augmentation's parameters from the command line (as the card records them)."""
    params: dict[str, Any] = {"missing": args.aug_missing, "drop_rate": args.aug_drop_rate}
    if args.aug_strength:
        try:
            lo, hi = (float(v) for v in args.aug_strength.split(","))
        except ValueError:
            lo = hi = float("nan")
        if not 0 < lo <= hi:
            raise SystemExit(f"--aug-strength: need LO,HI with 0 < LO <= HI, got {args.aug_strength!r}")
        params["strength_range"] = (lo, hi)
    return params


def _augment_all(drawings: list, spec: dict, workers: int, seed: int, desc: str, kind: str = "classic",
                 params: dict | None = None) -> np.ndarray:
    from inference.training.augment import _aug_chunk
    from inference.training.childlike import _childlike_chunk

    chunk_fn = _childlike_chunk if kind == "childlike" else _aug_chunk
    chunk = 512
    if kind == "childlike":
        parts = [(drawings[i : i + chunk], dict(spec), seed + i, dict(params or {})) for i in range(0, len(drawings), chunk)]
    else:
        parts = [(drawings[i : i + chunk], dict(spec), seed + i) for i in range(0, len(drawings), chunk)]
    out = []
    with tqdm(total=len(drawings), desc=desc, unit="img", file=sys.stderr, mininterval=2) as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers) as ex:
                for arr in ex.map(chunk_fn, parts):
                    out.append(arr)
                    bar.update(len(arr))
        else:
            for p in parts:
                arr = chunk_fn(p)
                out.append(arr)
                bar.update(len(arr))
    if not out:
        return np.zeros((0, spec["size"], spec["size"], len(spec["channels"])), dtype=np.float16)
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m inference.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from inference.evaluate import ModelRunner, early_curve, mask_probs, topk_metrics
    from inference.inputs import raster_spec
    from inference.training.categories import DATASET_CREDIT
    from inference.training.data import flatten, load_labels, split_balanced
    from inference.training.model import build_cnn, count_macs
    from inference.training.report import card_markdown, confusion_png

    t0 = time.time()
    keras.utils.set_random_seed(args.train_seed)
    cats = resolve_categories(args)
    labels: list[str] = []
    if args.all_classes:
        from inference.datasets import find_class_files

        labels = sorted(find_class_files(args.data, (".ndjson", ".bin", ".npz")))
        cats = categories_over(cats, set(labels))
    for c in cats:
        for t in c["topics"]:
            if t["label"] not in labels:
                labels.append(t["label"])
    name = args.name or ("tiny" if args.tiny else f"qd_{len(labels)}")
    spec = {
        "size": args.size,
        "channels": [c.strip() for c in args.channels.split(",")],
        "line_width": args.line_width,
        "padding": 16.0,
        "layout": "NHWC",
        "dtype": "float32",
        "range": [0, 1],
        "rasterizer": "inference.raster.rasterize",
    }
    print(f"[train] {len(cats)} categories, {len(labels)} labels, data {args.data}", file=sys.stderr)
    data = load_labels(args.data, labels, with_bitmaps=args.bitmaps, hold_out_unrecognized=args.hold_out_unrecognized)
    if args.all_classes:  # every class with trainable drawings (Google's files: all of them)
        labels = [l for l in labels if data[l].pool]
        cats = categories_over(cats, set(labels))
    missing = [l for l in labels if not data[l].pool]
    if missing:
        raise SystemExit(f"no training drawings for {missing} under {args.data}")
    split = split_balanced(data, args.seed, args.test_per_class, args.val_per_class, args.max_per_class)
    tr_d, tr_y = flatten(split.train, labels)
    va_d, va_y = flatten(split.val, labels)
    te_d, te_y = flatten(split.test, labels)
    use_cache = not args.tiny
    print(f"[train] train {len(tr_d)} val {len(va_d)} test {len(te_d)} real(raw, held out) {sum(len(v) for v in split.real.values())}", file=sys.stderr)
    if args.prepare_only:
        for part in ("train", "val", "test"):
            _render_split(getattr(split, part), labels, spec, args.workers, f"rasterise {part}", True)
        return 0
    x_val = _render_split(split.val, labels, spec, args.workers, "rasterise val", use_cache)
    members_cards: list[dict[str, Any]] = []
    weights = [float(v) for v in args.ensemble_weights.split(",")] if args.ensemble_weights else None
    history: dict[str, list[float]] = {}
    prior: dict[str, Any] | None = None  # an ensemble's members have their own baked in
    if args.ensemble_of:
        from inference.training.ensemble import load_members, merge_members

        members, m_labels, m_spec, members_cards = load_members([Path(d) for d in args.ensemble_of.split(",") if d])
        if m_labels != labels or raster_spec(m_spec) != spec:
            raise SystemExit("--ensemble-of: the members' labels and raster spec must equal this command's "
                             "(train them with the same --all-classes/--categories, --size, --channels, --line-width)")
        try:
            model = merge_members(members, name="doodle_ensemble_" + "_".join(str(c["name"]) for c in members_cards),
                                  weights=weights)
        except ValueError as exc:
            raise SystemExit(f"--ensemble-of: {exc}") from None
        if "sequence" in m_spec:  # a stroke-sequence member: the network reads points too
            spec = m_spec
            x_val = _with_points(x_val, va_d, spec, args.workers)
        train_s = time.time() - t0
    else:
        x_tr = _render_split(split.train, labels, spec, args.workers, "rasterise train", use_cache)
        y_parts = [tr_y]
        x_parts = [x_tr]
        # Fresh augmentation: one new copy per epoch (rendered up front, used once each).
        fresh: list[tuple[np.ndarray, np.ndarray]] = []
        for k in range(args.epochs if args.fresh_aug else args.aug_copies):
            pick = np.random.default_rng(args.train_seed + 17 * k).random(len(tr_d)) < args.aug_fraction
            idx = np.flatnonzero(pick)
            xa = _augment_all([tr_d[i] for i in idx], spec, args.workers, args.train_seed * 1000 + k * 7919, f"augment {k + 1}", args.aug,
                              args.childlike)
            if args.fresh_aug:  # kept as bytes: 14 epochs of 40 px, 2 channels in float16 filled 24 GiB
                fresh.append((_to_u8(xa), tr_y[idx]))
            else:
                x_parts.append(xa)
                y_parts.append(tr_y[idx])
        if args.bitmaps and spec["size"] == 28 and spec["channels"] == ["ink"]:
            cap = args.bitmaps_per_class or args.max_per_class or 10**9
            for i, l in enumerate(labels):
                if data[l].bitmaps:
                    b = np.concatenate(data[l].bitmaps)[:cap]
                    x_parts.append((b.astype(np.float16) / 255)[..., None])
                    y_parts.append(np.full(len(b), i, dtype=np.int32))
        x_train = np.concatenate(x_parts)
        y_train = np.concatenate(y_parts)
        del x_parts
        print(f"[train] training images {len(x_train)} (with augmentation) in {time.time() - t0:.0f}s", file=sys.stderr)

        model = build_cnn(spec["size"], len(spec["channels"]), len(labels), args.arch)
        per_epoch = len(x_train) + (len(fresh[0][0]) if fresh else 0)
        steps = max(1, int(np.ceil(per_epoch / args.batch_size))) * args.epochs
        sched = keras.optimizers.schedules.CosineDecay(args.lr, steps, alpha=0.02)
        n_out = len(labels)
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
        model.compile(optimizer=keras.optimizers.Adam(sched), loss=loss, metrics=["accuracy"])
        one_hot = lambda x, y: (x, tf.one_hot(y, n_out))  # noqa: E731 - label smoothing needs one-hot targets

        teacher = None
        if args.teacher:
            from inference.training.distill import load_teacher, soft_targets

            teacher = load_teacher(args.teacher, labels, spec)

        def dataset(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
            # The images stay uint8 (the rasteriser's own values) until a batch is taken: a float32
            # copy of a whole epoch is 4x the bytes, and at 40 px with two channels it did not fit.
            to_float = lambda xb, yb: (tf.cast(xb, tf.float32) * (1 / 255), yb)  # noqa: E731
            x_u8 = _to_u8(x)
            if teacher is not None:  # soft targets (float16), already one row per label
                soft = soft_targets(teacher, x_u8, y, n_out, args.distill_weight)
                ds = tf.data.Dataset.from_tensor_slices((x_u8, soft)).map(lambda xb, yb: (xb, tf.cast(yb, tf.float32)))
            else:
                ds = tf.data.Dataset.from_tensor_slices((x_u8, y))
            ds = ds.shuffle(min(len(x), 400_000), seed=seed, reshuffle_each_iteration=True).batch(args.batch_size).map(to_float)
            ds = ds if teacher is not None else ds.map(one_hot)
            if args.mixup > 0:
                ds = ds.map(mixup_batch(args.mixup, seed))
            if args.cutmix > 0:
                ds = ds.map(cutmix_batch(args.cutmix, seed))
            return ds.prefetch(2)

        # No image-space shifting or scaling: the rasteriser centres and scales every drawing, so the
        # model never sees those; the stroke-level augmentation (augment.py, childlike.py) does the rest.
        val = (tf.data.Dataset.from_tensor_slices((x_val.astype(np.float32), va_y)).batch(512).map(one_hot)
               if len(x_val) else None)
        from inference.training.progress import TqdmEpochs

        bar = TqdmEpochs(args.epochs)
        if fresh:
            x_train_u8 = _to_u8(x_train)
            for e, (xa, ya) in enumerate(fresh):
                xe = np.concatenate([x_train_u8, xa])
                ye = np.concatenate([y_train, ya])
                h = model.fit(dataset(xe, ye, args.train_seed + e), initial_epoch=e, epochs=e + 1, validation_data=val, verbose=0, callbacks=[bar])
                for k, v in h.history.items():
                    history.setdefault(k, []).extend(float(x) for x in v)
                del xe, ye
        else:
            h = model.fit(dataset(x_train, y_train, args.train_seed), epochs=args.epochs, validation_data=val, verbose=0, callbacks=[bar])
            history = {k: [float(x) for x in v] for k, v in h.history.items()}
        bar.bar.close()
        train_s = time.time() - t0
        if args.balance_prior:
            from inference.training.calibration import bake_prior_correction

            seen = np.bincount(y_train, minlength=n_out) + (np.bincount(fresh[0][1], minlength=n_out) if fresh else 0)
            shift = bake_prior_correction(model, seen)
            prior = {"images_per_epoch": {l: int(seen[i]) for i, l in enumerate(labels)},
                     "max_shift": float(np.abs(shift).max())}
            print(f"[train] prior correction baked in (largest logit shift {prior['max_shift']:.2f})", file=sys.stderr)
    calibration: dict[str, Any] | None = None
    if args.calibrate and len(va_y):
        from inference.training.calibration import bake_temperature, fit_temperature

        val_cols = category_columns(cats, labels)
        x_fit = [part.astype(np.float32) for part in x_val] if isinstance(x_val, tuple) else x_val.astype(np.float32)
        temperature = fit_temperature(model.predict(x_fit, batch_size=1024, verbose=0), va_y, val_cols)
        bake_temperature(model, temperature)
        calibration = {"temperature": temperature, "fitted_on": "validation split, masked to each category"}
        print(f"[train] temperature {temperature:.3f} (baked into the output layer)", file=sys.stderr)

    out_dir = args.out / name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    # card.json is needed by the runner; write a first version, then the full one.
    card: dict[str, Any] = {"name": name, "input": spec, "labels": labels}
    (out_dir / "card.json").write_text(json.dumps(card), encoding="utf-8")
    sizes = export_model(model, out_dir, args.tflite_weights)

    # ---- measure through the serving path: rasterise + LiteRT model + category mask
    runner = ModelRunner(out_dir, "tflite")
    x_te = _render_split(split.test, labels, raster_spec(spec), args.workers, "rasterise test", use_cache).astype(np.float32)
    x_te = _with_points(x_te, te_d, spec, args.workers)
    p_te = runner.predict(x_te)
    metrics: dict[str, Any] = {"threshold": args.threshold, "categories": {}}
    for c in cats:
        code = c["code"]
        clabels = [t["label"] for t in c["topics"]]
        cols = [labels.index(l) for l in clabels]
        entry: dict[str, Any] = {"labels": clabels}
        sel = np.isin(te_y, cols)
        y_local = np.array([cols.index(v) for v in te_y[sel]], dtype=np.int64)
        m = topk_metrics(mask_probs(p_te[sel], cols), y_local, len(cols))
        entry["test"] = {"n": m["n"], "top1": m["top1"], "top3": m["top3"],
                         "per_class_top1": {clabels[k]: v for k, v in m["per_class_top1"].items()}}
        entry["confusion_test"] = m["confusion"]
        real_d, real_y = [], []
        for k, l in enumerate(clabels):
            for s in split.real.get(l, []):
                real_d.append(s.drawing)
                real_y.append(k)
        if real_d:
            ry = np.asarray(real_y)
            mr = topk_metrics(mask_probs(runner.predict_drawings(real_d), cols), ry, len(cols))
            entry["real"] = {"n": mr["n"], "top1": mr["top1"], "top3": mr["top3"],
                             "per_class_top1": {clabels[k]: v for k, v in mr["per_class_top1"].items()},
                             "early_recognition": early_curve(runner, real_d, ry, cols, args.threshold)}
        # Early recognition on the simplified test drawings too (more drawings, no timing needed).
        # (at most 20 drawings a label: each point of the curve re-rasterises every drawing)
        idx = np.flatnonzero(sel)
        sub = np.concatenate([np.flatnonzero(y_local == k)[:20] for k in range(len(cols))])
        entry["test"]["early_recognition"] = early_curve(runner, [te_d[idx[i]] for i in sub], y_local[sub], cols, args.threshold)
        metrics["categories"][code] = entry
        confusion_png(out_dir / f"confusion_{code}.png", m["confusion"], clabels, f"{name} / {code}: held-out test, top-1 (row %)")
    cv = list(metrics["categories"].values())
    overall: dict[str, Any] = {
        "test_top1": float(np.mean([e["test"]["top1"] for e in cv])),
        "test_top3": float(np.mean([e["test"]["top3"] for e in cv])),
        "test_early_recognition": np.mean([e["test"]["early_recognition"]["recognized"] for e in cv], axis=0).tolist(),
    }
    with_real = [e for e in cv if "real" in e]
    if with_real:
        overall["real_top1"] = float(np.mean([e["real"]["top1"] for e in with_real]))
        overall["real_top3"] = float(np.mean([e["real"]["top3"] for e in with_real]))
        overall["real_early_recognition"] = np.mean([e["real"]["early_recognition"]["recognized"] for e in with_real], axis=0).tolist()
        overall["real_n"] = int(sum(e["real"]["n"] for e in with_real))
    metrics["overall"] = overall
    metrics["history"] = history
    from inference.training.card_extras import measure_extras

    metrics.update(measure_extras(runner, cats, labels, split, x_te, te_y, out_dir, name, args.threshold, calibration))

    card = {
        "name": name,
        "description": ("Doodle Quest drawing recogniser: small CNNs over the rasterised strokes and a stroke-sequence "
                        "network over the drawing's points, as one network; softmax over labels.json."
                        if "sequence" in spec else
                        "Doodle Quest drawing recogniser: a small CNN over rasterised strokes; softmax over labels.json."),
        "input": spec,
        "output": {"kind": "softmax", "labels": "labels.json", "masking": "keep the category's labels, renormalise"},
        "labels": labels,
        "categories": [c["code"] for c in cats],
        "augmentation": ({"members": [c.get("augmentation") for c in members_cards]} if members_cards else
                         {"kind": args.aug, "fresh_each_epoch": args.fresh_aug, "fraction": args.aug_fraction,
                          "label_smoothing": args.label_smoothing,
                          **(args.childlike if args.aug == "childlike" else {}),
                          **({"mixup_alpha": args.mixup} if args.mixup > 0 else {}),
                          **({"cutmix_alpha": args.cutmix} if args.cutmix > 0 else {})}),
        "architecture": {"name": model.name, "arch": "ensemble" if members_cards else args.arch,
                         "params": int(model.count_params()), "macs": count_macs(model)},
        **({"ensemble": {
            "combination": ("normalised " + ("weighted " if args.ensemble_weights else "")
                            + "geometric mean of the members' probabilities, as one network "
                            "(inference.training.ensemble.merge_members), temperature fitted again"),
            "members": [{"name": c["name"], "command": c.get("command"), "architecture": c.get("architecture"),
                         "train_seconds": c.get("train_seconds"), "prior_correction": bool(c.get("prior_correction")),
                         "weight": weights[i] if weights else 1.0}
                        for i, c in enumerate(members_cards)]}} if members_cards else {}),
        "tflite_weights": args.tflite_weights,
        "files": sizes,
        "metrics": metrics,
        **({"distillation": {"teacher": str(args.teacher), "teacher_name": args.teacher.name, "weight": args.distill_weight}}
           if args.teacher else {}),
        "seed": args.seed,
        **({"train_seed": args.train_seed} if args.train_seed != args.seed else {}),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "train_seconds": round(train_s, 1),
        "data": {
            "dir": str(args.data),
            "summary": ((f"The members' training data (their cards); the same seeded split, so {len(te_d)} drawings held out "
                         f"for test ({args.test_per_class}/class) and the validation split the temperature is fitted on "
                         f"were never trained on by any member, raw drawings with timing held out entirely.")
                        if members_cards else
                        (f"{len(tr_d)} simplified drawings for training (+{args.aug_copies} augmented rendering(s) of {args.aug_fraction:.0%} of them"
                         f"{', + bitmap rows' if args.bitmaps else ''}), {len(te_d)} held out for test "
                         f"({args.test_per_class}/class, seeded), raw drawings with timing held out entirely.")),
            "train_per_class": {l: len(split.train[l]) for l in labels},
        },
        **({"prior_correction": prior} if prior else {}),
        "dataset_credit": DATASET_CREDIT,
        "license_note": "Trained on the Quick, Draw! dataset by Google, licensed CC BY 4.0.",
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "card.md").write_text(card_markdown(card), encoding="utf-8")
    print(json.dumps({"model": name, "overall": overall, "seconds": round(time.time() - t0)}, indent=1), file=sys.stderr)
    if args.write_categories:
        write_categories(args.out / "categories.json", cats, name)
    return 0


def categories_over(cats: list[dict[str, Any]], labels: set[str]) -> list[dict[str, Any]]:
    """The categories' topics among `labels`; a category left with fewer than two is dropped
    (metrics per category over the labels a model knows: all of them on Google's files)."""
    kept = [dict(c, topics=[t for t in c["topics"] if t["label"] in labels]) for c in cats]
    return [c for c in kept if len(c["topics"]) >= 2]


def category_columns(cats: list[dict[str, Any]], labels: list[str]) -> list[list[int]]:
    """Each category's output columns (the label mask), in the category's topic order."""
    index = {l: i for i, l in enumerate(labels)}
    return [[index[t["label"]] for t in c["topics"] if t["label"] in index] for c in cats]


def write_categories(path: Path, cats: list[dict[str, Any]], model_name: str | dict[str, str]) -> None:
    from inference.training.categories import DATASET_CREDIT

    out = []
    for i, c in enumerate(cats, 1):
        out.append({
            "code": c["code"], "name_ko": c["name_ko"], "name_en": c["name_en"],
            "model": model_name if isinstance(model_name, str) else model_name[c["code"]],
            "stage_count": 5, "age_min": 3, "age_max": 8, "sort_order": i,
            "topics": c["topics"],
        })
    path.write_text(json.dumps({"dataset_credit": DATASET_CREDIT, "categories": out}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
