"""Lay out `models/` for TensorFlow Serving: `models.config`, `batching.config`, version dirs.

TF Serving wants `<base_path>/<name>/<version>/saved_model.pb`; the training pipeline writes
`models/<name>/saved_model/` (see `inference/training/cli.py`). This script, used by
`docker/worker.Dockerfile` at build time, writes into `--out`:

- `models.config`: a `model_config_list` with every model that `models/categories.json` names,
- `batching.config`: server-side batching close to the in-process pool's defaults,
- `models.txt`: the model names, one a line (the container's health check reads it),
- with `--copy`: `<name>/<version>/`, a copy of `models/<name>/saved_model/`, with the model's
  `labels.json` and `card.json` under `assets.extra/` (TF Serving ignores that folder; a client
  maps output indices to labels with it).

    python docker/tfserving_models.py --models-dir models --out build/tfserving --copy

Only the standard library: it runs in a bare `python` image. Exits 2 with a message naming the
problem when `categories.json` is missing or unreadable, or a model has no exported SavedModel.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class LayoutError(Exception):
    """The models directory cannot be served as it is; the message says why."""


def serving_models(models_dir: Path) -> list[str]:
    """The model directory names `categories.json` uses (its `shared_model`, which serves the
    school's own categories, first), in first-use order, each checked to have an exported
    SavedModel (`<name>/saved_model/saved_model.pb`)."""
    path = Path(models_dir) / "categories.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        names = [str(doc["shared_model"])] if doc.get("shared_model") else []
        names += [str(entry["model"]) for entry in doc["categories"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LayoutError(f"cannot read the models of {path}: {exc!r}") from exc
    unique = list(dict.fromkeys(names))
    if not unique:
        raise LayoutError(f"{path} names no model")
    for name in unique:
        if not _NAME.match(name):
            raise LayoutError(f"{path}: model name {name!r} is not a plain directory name")
        pb = Path(models_dir) / name / "saved_model" / "saved_model.pb"
        if not pb.is_file():
            raise LayoutError(f"model {name!r} has no exported SavedModel ({pb} is missing); "
                              "train or export it with `python -m inference.train`")
    return unique


def render_model_config(names: list[str], base_path: str) -> str:
    """A ModelServerConfig in protobuf text format serving each model's newest version."""
    base = base_path.rstrip("/") or "/"
    blocks = "".join(
        "  config {\n"
        f"    name: \"{name}\"\n"
        f"    base_path: \"{base}/{name}\"\n"
        "    model_platform: \"tensorflow\"\n"
        "  }\n"
        for name in names
    )
    return f"model_config_list {{\n{blocks}}}\n"


def render_batching_config(*, max_batch_size: int, batch_timeout_ms: float,
                           threads: int, max_enqueued_batches: int) -> str:
    """BatchingParameters in protobuf text format (`--batching_parameters_file`)."""
    if max_batch_size < 1 or threads < 1 or max_enqueued_batches < 1 or batch_timeout_ms < 0:
        raise LayoutError("batching numbers must be positive (the timeout may be 0)")
    micros = round(batch_timeout_ms * 1000)
    # Allowed batch sizes: the same powers-of-two buckets the LiteRT runtime uses, so padding
    # stays bounded and each size is traced once.
    sizes, b = [], 1
    while b < max_batch_size:
        sizes.append(b)
        b *= 2
    sizes.append(max_batch_size)
    # A plain `repeated int64` in BatchingParameters (the others are Int64Value wrappers).
    allowed = "".join(f"allowed_batch_sizes: {s}\n" for s in sizes)
    return (f"max_batch_size {{ value: {max_batch_size} }}\n"
            f"batch_timeout_micros {{ value: {micros} }}\n"
            f"max_enqueued_batches {{ value: {max_enqueued_batches} }}\n"
            f"num_batch_threads {{ value: {threads} }}\n"
            f"{allowed}"
            "pad_variable_length_inputs: false\n")


def copy_versions(models_dir: Path, out: Path, names: list[str], version: int) -> None:
    """`out/<name>/<version>/` from `models_dir/<name>/saved_model/`, labels in assets.extra."""
    for name in names:
        src = Path(models_dir) / name
        dst = out / name / str(version)
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src / "saved_model", dst)
        extra = dst / "assets.extra"
        extra.mkdir(exist_ok=True)
        for meta in ("labels.json", "card.json"):
            if (src / meta).is_file():
                shutil.copy2(src / meta, extra / meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python docker/tfserving_models.py", description=__doc__.split("\n")[0])
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--out", type=Path, required=True, help="folder to write into")
    ap.add_argument("--base-path", default="/models", help="where --out is mounted in TF Serving")
    ap.add_argument("--version", type=int, default=1, help="version directory for each model")
    ap.add_argument("--copy", action="store_true", help="also copy the SavedModels into --out")
    ap.add_argument("--max-batch-size", type=int, default=64)
    ap.add_argument("--batch-timeout-ms", type=float, default=2.0)
    ap.add_argument("--batch-threads", type=int, default=2)
    ap.add_argument("--max-enqueued-batches", type=int, default=64)
    args = ap.parse_args(argv)
    try:
        if args.version < 1:
            raise LayoutError("--version must be 1 or more")
        names = serving_models(args.models_dir)
        batching = render_batching_config(
            max_batch_size=args.max_batch_size, batch_timeout_ms=args.batch_timeout_ms,
            threads=args.batch_threads, max_enqueued_batches=args.max_enqueued_batches)
    except LayoutError as exc:
        print(f"tfserving_models: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.config").write_text(render_model_config(names, args.base_path), encoding="utf-8")
    (args.out / "batching.config").write_text(batching, encoding="utf-8")
    (args.out / "models.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    if args.copy:
        copy_versions(args.models_dir, args.out, names, args.version)
    print(f"tfserving_models: {len(names)} model(s) -> {args.out}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
