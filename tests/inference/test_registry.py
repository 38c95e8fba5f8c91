"""The model registry: which model serves a category, and which labels it may answer with."""
from __future__ import annotations

import json
import shutil

import pytest

from inference.errors import (BadRequestError, InferenceError, ModelLoadError,
                              UnknownCategoryError, UnknownLabelError)
from inference.registry import ModelRegistry


def test_one_model_per_category(toy_models):
    reg = ModelRegistry.load(toy_models)
    assert reg.categories() == ["animals", "food"]
    assert reg.model_for("animals").model == "toy_animals"
    assert reg.model_for("food").model == "toy_food"
    assert "cat" in reg.known_labels("animals") and "cat" not in reg.known_labels("food")
    model, index = reg.resolve("food", ("banana", "apple"))
    labels = json.loads((toy_models / "toy_food" / "labels.json").read_text())
    assert model == "toy_food"
    assert [labels[i] for i in index] == ["banana", "apple"]


def test_shared_model_serves_categories_through_label_masks(shared_toy_models):
    reg = ModelRegistry.load(shared_toy_models)
    assert reg.model_for("animals").model == reg.model_for("food").model == "toy_shared"
    assert reg.known_labels("animals").isdisjoint(reg.known_labels("food"))
    with pytest.raises(UnknownLabelError):  # the model knows "apple", but not for animals
        reg.resolve("animals", ("cat", "apple"))
    labels = json.loads((shared_toy_models / "toy_shared" / "labels.json").read_text())
    _, index = reg.resolve("food", ("apple",))
    assert labels[index[0]] == "apple"


def test_unknown_label_is_refused_naming_label_and_category(toy_models):
    reg = ModelRegistry.load(toy_models)
    with pytest.raises(UnknownLabelError) as info:
        reg.resolve("animals", ("cat", "spaceship"))
    message = str(info.value)
    assert "'spaceship'" in message and "'animals'" in message and "'cat'" not in message
    assert info.value.labels == ("spaceship",) and info.value.category == "animals"
    assert isinstance(info.value, InferenceError)


def test_unknown_category(toy_models):
    reg = ModelRegistry.load(toy_models)
    assert reg.known_labels("planets") == frozenset()
    with pytest.raises(UnknownCategoryError, match="'planets'"):
        reg.resolve("planets", ("mars",))


@pytest.mark.parametrize("labels", [(), ("cat", "cat")])
def test_empty_or_repeated_labels_are_bad_requests(toy_models, labels):
    with pytest.raises(BadRequestError):
        ModelRegistry.load(toy_models).resolve("animals", labels)


@pytest.fixture
def editable_models(toy_models, tmp_path):
    target = tmp_path / "models"
    shutil.copytree(toy_models, target)
    return target


def test_topics_the_model_does_not_know_are_left_out(editable_models):
    doc = json.loads((editable_models / "categories.json").read_text())
    doc["categories"][0]["topics"].append({"label": "unicorn", "name_ko": "유니콘",
                                           "name_en": "unicorn"})
    (editable_models / "categories.json").write_text(json.dumps(doc))
    reg = ModelRegistry.load(editable_models)
    assert "unicorn" not in reg.known_labels("animals")
    with pytest.raises(UnknownLabelError, match="unicorn"):
        reg.resolve("animals", ("unicorn",))


def test_missing_model_directory_fails_loading(editable_models):
    shutil.rmtree(editable_models / "toy_food")
    with pytest.raises(ModelLoadError, match="toy_food"):
        ModelRegistry.load(editable_models)


@pytest.mark.parametrize("text", ["not json", "{}", '{"categories": [{"code": "x"}]}',
                                  '{"categories": [{"code": "x", "model": "../etc"}]}'])
def test_malformed_categories_json_fails_loading(editable_models, text):
    (editable_models / "categories.json").write_text(text)
    with pytest.raises(ModelLoadError):
        ModelRegistry.load(editable_models)
