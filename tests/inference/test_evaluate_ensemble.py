"""`inference.evaluate --model a+b`: an ensemble measured the way single models are."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.evaluate import EnsembleRunner, ModelRunner, runner_for

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
RAW = REPO / "tests" / "fixtures" / "quickdraw" / "raw"


def shipped_model() -> str:
    return json.loads((MODELS / "categories.json").read_text())["categories"][0]["model"]


def fixture_drawings(n: int = 12) -> list:
    out = []
    for path in sorted(RAW.glob("*.ndjson"))[:4]:
        out += [json.loads(line)["drawing"] for line in path.read_text().splitlines()[:3] if line]
    return out[:n]


def test_an_ensemble_of_one_model_with_itself_says_what_the_model_says():
    name = shipped_model()
    single = ModelRunner(MODELS / name)
    pair = runner_for(MODELS, f"{name}+{name}")
    assert isinstance(pair, EnsembleRunner) and pair.labels == single.labels
    drawings = fixture_drawings()
    alone, both = single.predict_drawings(drawings), pair.predict_drawings(drawings)
    assert both.shape == alone.shape == (len(drawings), len(single.labels))
    np.testing.assert_allclose(both.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(both, alone / alone.sum(axis=1, keepdims=True), atol=1e-4)


def test_an_ensemble_refuses_models_of_different_labels():
    single = ModelRunner(MODELS / shipped_model())

    class Other:
        labels = single.labels[::-1]

    with pytest.raises(ValueError, match="same labels"):
        EnsembleRunner([single, Other()])  # type: ignore[list-item]
