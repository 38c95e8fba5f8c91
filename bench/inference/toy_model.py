"""A throwaway model directory in the shipped format, for tests and benchmarks.

It has the shape of a typical Quick, Draw! CNN (two conv blocks and a dense layer on a 28x28
ink raster) with random weights: good enough to measure runtimes and check runtime parity, never
to recognise anything. The real models live in `models/` and come from training.
"""
from __future__ import annotations

import json
from pathlib import Path

DEFAULT_SPEC = {"size": 28, "channels": ["ink"], "layout": "NHWC"}


def build_toy_model_dir(model_dir: Path, labels: list[str], *, spec: dict | None = None,
                        seed: int = 0, formats: tuple[str, ...] = ("keras", "tflite", "saved_model")) -> Path:
    """Write `labels.json`, `card.json` and the requested model files into `model_dir`."""
    import keras
    import numpy as np
    import tensorflow as tf

    spec = dict(spec or DEFAULT_SPEC)
    size, channels = spec["size"], len(spec["channels"])
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((size, size, channels), name="raster"),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(len(labels)),
        keras.layers.Softmax(),
    ])
    # Random weights give nearly uniform outputs; sharpen them so parity tests compare something.
    last = model.layers[-2]
    w, b = last.get_weights()
    last.set_weights([w * 8.0, b])
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "labels.json").write_text(json.dumps(labels))
    (model_dir / "card.json").write_text(json.dumps({"name": model_dir.name, "input": spec,
                                                      "note": "toy model with random weights"}))
    if "keras" in formats:
        model.save(model_dir / "model.keras")
    if "saved_model" in formats or "tflite" in formats:
        model.export(str(model_dir / "saved_model"), verbose=False)
    if "tflite" in formats:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model_dir / "saved_model"))
        (model_dir / "model.tflite").write_bytes(converter.convert())
    np.random.seed(seed)
    return model_dir


def build_toy_models_dir(models_dir: Path, *, shared: bool = False, seed: int = 0) -> Path:
    """Write a `models/` tree with two categories.

    shared=False: one model per category. shared=True: one model over both label sets, so each
    category is served by a label mask.
    """
    animals = ["cat", "dog", "bird", "fish", "horse", "rabbit", "lion", "tiger", "bear", "pig",
               "cow", "sheep", "snake", "frog", "duck", "owl", "mouse", "monkey", "zebra", "whale"]
    food = ["apple", "banana", "pear", "grapes", "carrot", "pizza", "cake", "cookie", "donut",
            "bread", "cheese", "egg", "ice cream", "lollipop", "watermelon", "strawberry",
            "pineapple", "mushroom", "onion", "peanut"]
    models_dir.mkdir(parents=True, exist_ok=True)
    if shared:
        build_toy_model_dir(models_dir / "toy_shared", animals + food, seed=seed)
        model_of = {"animals": "toy_shared", "food": "toy_shared"}
    else:
        build_toy_model_dir(models_dir / "toy_animals", animals, seed=seed)
        build_toy_model_dir(models_dir / "toy_food", food, seed=seed + 1)
        model_of = {"animals": "toy_animals", "food": "toy_food"}
    categories = [
        {"code": code, "model": model_of[code],
         "topics": [{"label": label, "name_ko": label, "name_en": label} for label in labels]}
        for code, labels in (("animals", animals), ("food", food))
    ]
    (models_dir / "categories.json").write_text(json.dumps({"categories": categories},
                                                           ensure_ascii=False, indent=1))
    return models_dir
