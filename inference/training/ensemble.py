"""Merge trained models into one network that serves as their ensemble.

Two models with the same raster spec and labels, averaged as the normalised geometric mean of
their probabilities (what `inference.evaluate --model a+b` measures), become one Keras model: the
members' convolution towers side by side on one input, their penultimate features concatenated,
and one output layer holding both members' output layers at half weight. Because
softmax(z) = exp(z - logsumexp(z)), the geometric mean of softmax(z_1) and softmax(z_2),
renormalised, is softmax((z_1 + z_2) / 2): the merged output equals the ensemble exactly, and the
server sees one model (one predict, one file), with its temperature fitted again afterwards like
any other model (`calibration.bake_temperature` rewrites the layer named "probs").
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def merge_members(members: Sequence[object], name: str = "doodle_ensemble") -> object:
    """One Keras model computing the normalised geometric mean of `members`' softmax outputs.

    Each member must end in a softmax Dense layer named "probs" over the same labels, fed by its
    penultimate layer (the CNNs of `inference.training.model` do)."""
    import keras
    from keras import layers

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    shapes = {tuple(m.input_shape[1:]) for m in members}
    outs = {int(m.get_layer("probs").units) for m in members}
    if len(shapes) != 1 or len(outs) != 1:
        raise ValueError(f"members differ in input shape {shapes} or outputs {outs}")
    inp = keras.Input(shapes.pop(), name="image")
    features, kernels, biases = [], [], []
    for i, m in enumerate(members):
        probs = m.get_layer("probs")
        tower = keras.Model(m.inputs, probs.input, name=f"member{i + 1}")
        features.append(tower(inp))
        k, b = probs.get_weights()
        kernels.append(k / len(members))
        biases.append(b / len(members))
    out = layers.Dense(outs.pop(), activation="softmax", name="probs")(layers.Concatenate(name="features")(features))
    merged = keras.Model(inp, out, name=name)
    merged.get_layer("probs").set_weights([np.concatenate(kernels), np.sum(biases, axis=0)])
    return merged


def load_members(dirs: Sequence[Path]) -> tuple[list[object], list[str], dict, list[dict]]:
    """Load `model.keras` of each model directory; check they share labels and raster spec.
    Returns (models, labels, spec, cards)."""
    import json

    import keras

    models, cards, labels, spec = [], [], None, None
    for d in dirs:
        d = Path(d)
        card = json.loads((d / "card.json").read_text(encoding="utf-8"))
        lab = json.loads((d / "labels.json").read_text(encoding="utf-8"))
        if labels is None:
            labels, spec = lab, card["input"]
        elif lab != labels or card["input"] != spec:
            raise SystemExit(f"{d}: labels or raster spec differ from {dirs[0]}; an ensemble needs both equal")
        models.append(keras.models.load_model(d / "model.keras", compile=False))
        cards.append(card)
    return models, list(labels or []), dict(spec or {}), cards
