"""Merge trained models into one network that serves as their ensemble.

Two models with the same raster spec and labels, averaged as the normalised geometric mean of
their probabilities (what `inference.evaluate --model a+b` measures), become one Keras model: the
members' convolution towers side by side on one input, their penultimate features concatenated,
and one output layer holding both members' output layers at half weight. Because
softmax(z) = exp(z - logsumexp(z)), the geometric mean of softmax(z_1) and softmax(z_2),
renormalised, is softmax((z_1 + z_2) / 2): the merged output equals the ensemble exactly, and the
server sees one model (one predict, one file), with its temperature fitted again afterwards like
any other model (`calibration.bake_temperature` rewrites the layer named "probs").

Members may read different inputs: raster CNNs (4-D input, "image") and stroke-sequence models
(`inference.training.sequence_model`, 3-D input, "points"). The merged network then has both
inputs, image first, and its card's input spec is the raster spec with the sequence spec under
`"sequence"` (`inference.inputs`), so the server feeds it both. A member may itself be a merged
network reading both (a shipped model plus a new tower): its output layer is one more set of
logits, so nesting keeps the weighted geometric mean exact.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def merge_members(members: Sequence[object], name: str = "doodle_ensemble",
                  weights: Sequence[float] | None = None) -> object:
    """One Keras model computing the normalised geometric mean of `members`' softmax outputs.

    Each member must end in a softmax Dense layer named "probs" over the same labels, fed by its
    penultimate layer (the CNNs of `inference.training.model` do). `weights` (default equal)
    make it the weighted geometric mean, softmax(sum_i w_i z_i) with the w_i normalised to 1."""
    import keras
    from keras import layers

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(members),) or not (w > 0).all():
        raise ValueError(f"need one positive weight per member, got {weights!r}")
    w = w / w.sum()
    outs = {int(m.get_layer("probs").units) for m in members}
    by_rank: dict[int, set] = {}
    for m in members:
        ranks = [len(t.shape) for t in m.inputs]
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"member {m.name} has two inputs of one rank {ranks}")
        for t in m.inputs:
            by_rank.setdefault(len(t.shape), set()).add(tuple(t.shape[1:]))
    if len(outs) != 1 or any(len(v) != 1 for v in by_rank.values()) or not set(by_rank) <= {3, 4}:
        raise ValueError(f"members differ in input shape {by_rank} or outputs {outs}")
    # Images (rank 4) first, then point sequences (rank 3): the order inference.inputs uses.
    inputs = {rank: keras.Input(by_rank[rank].pop(), name="image" if rank == 4 else "points")
              for rank in sorted(by_rank, reverse=True)}
    features, kernels, biases = [], [], []
    for i, m in enumerate(members):
        probs = m.get_layer("probs")
        tower = keras.Model(m.inputs, probs.input, name=f"member{i + 1}")
        feeds = [inputs[len(t.shape)] for t in m.inputs]
        features.append(tower(feeds if len(feeds) > 1 else feeds[0]))
        k, b = probs.get_weights()
        kernels.append(k * w[i])
        biases.append(b * w[i])
    out = layers.Dense(outs.pop(), activation="softmax", name="probs")(layers.Concatenate(name="features")(features))
    merged = keras.Model(list(inputs.values()) if len(inputs) > 1 else inputs[next(iter(inputs))], out, name=name)
    merged.get_layer("probs").set_weights([np.concatenate(kernels), np.sum(biases, axis=0)])
    return merged


def load_members(dirs: Sequence[Path]) -> tuple[list[object], list[str], dict, list[dict]]:
    """Load `model.keras` of each model directory; check they share labels, the raster members
    one raster spec and the sequence members one sequence spec. Returns (models, labels, spec,
    cards); `spec` is the raster spec, with the sequence spec under "sequence" if a member reads
    points (a sequence-only ensemble is not a served model: at least one raster member). A
    member that reads both (a merged network) brings both specs."""
    import json

    import keras

    from inference.sequence import is_sequence_spec

    models, cards, labels, specs = [], [], None, {"raster": None, "sequence": None}
    for d in dirs:
        d = Path(d)
        card = json.loads((d / "card.json").read_text(encoding="utf-8"))
        lab = json.loads((d / "labels.json").read_text(encoding="utf-8"))
        spec = dict(card["input"])
        if "sequence" in spec:  # a merged network: it reads both
            parts = {"sequence": spec.pop("sequence"), "raster": spec}
        else:
            parts = {"sequence" if is_sequence_spec(spec) else "raster": spec}
        if labels is None:
            labels = lab
        for kind, part in parts.items():
            if lab != labels or (specs[kind] is not None and part != specs[kind]):
                raise SystemExit(f"{d}: labels or {kind} spec differ from the other members; an ensemble needs both equal")
            specs[kind] = part
        models.append(keras.models.load_model(d / "model.keras", compile=False))
        cards.append(card)
    if specs["raster"] is None:
        raise SystemExit("an ensemble needs at least one raster model (the server always rasterises)")
    merged = dict(specs["raster"])
    if specs["sequence"] is not None:
        merged["sequence"] = specs["sequence"]
    return models, list(labels or []), merged, cards
