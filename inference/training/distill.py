"""Knowledge distillation (Hinton et al., 2015): train the small serving network on a larger
teacher's probabilities instead of hard labels alone.

The teacher (any model directory with `model.keras`, e.g. an ensemble merged by
`inference.training.ensemble`) scores every training image of every epoch, the child-like copies
included, and the student learns `weight * teacher + (1 - weight) * one-hot`. The teacher's
probabilities carry what a single label cannot ("this cat looks a bit like a dog"), which is how
an ensemble's accuracy can be served at one network's cost.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def load_teacher(model_dir: Path, labels: list[str], spec: dict) -> object:
    """The teacher's Keras model; its labels and raster spec must be the student's."""
    from inference.training.ensemble import load_members

    (model,), t_labels, t_spec, _ = load_members([Path(model_dir)])
    if t_labels != labels or t_spec != spec:
        raise SystemExit(f"--teacher {model_dir}: its labels or raster spec differ from this command's")
    return model


def soft_targets(teacher: object, images_u8: np.ndarray, y: np.ndarray, n_out: int, weight: float,
                 batch_size: int = 2048) -> np.ndarray:
    """float16 (n, n_out) targets: `weight` of the teacher's probabilities plus the rest one-hot.

    The images are the uint8 rasters training keeps; they are scored in slices so a whole epoch
    never exists as float32."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"distillation weight must be within 0..1, not {weight}")
    out = np.empty((len(images_u8), n_out), dtype=np.float16)
    for start in range(0, len(images_u8), batch_size * 8):
        part = images_u8[start:start + batch_size * 8].astype(np.float32) * (1 / 255)
        p = np.asarray(teacher.predict(part, batch_size=batch_size, verbose=0), dtype=np.float32)
        p *= weight
        p[np.arange(len(p)), y[start:start + len(p)]] += 1.0 - weight
        out[start:start + len(p)] = p
    return out
