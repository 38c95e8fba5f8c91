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


# --- categories assigned at run time (the school's Spring service)

def fake_model(models_dir, name, labels):
    """A model directory as the registry reads it (labels and card; no weights needed)."""
    (models_dir / name).mkdir(parents=True)
    (models_dir / name / "labels.json").write_text(json.dumps(labels))
    (models_dir / name / "card.json").write_text(json.dumps({"input": {"size": 28}}))


@pytest.fixture
def two_models(tmp_path):
    """`small` serves the bundled `animals`; `big` knows more and serves nothing bundled."""
    models = tmp_path / "models"
    fake_model(models, "small", ["cat", "dog", "bird"])
    fake_model(models, "big", ["cat", "dog", "bird", "book", "clock", "The Eiffel Tower"])
    doc = {"categories": [{"code": "animals", "model": "small",
                           "topics": [{"label": "cat"}, {"label": "dog"}]}]}
    (models / "categories.json").write_text(json.dumps(doc))
    return models


def test_the_shared_model_defaults_to_the_one_the_bundled_categories_use(two_models):
    reg = ModelRegistry.load(two_models)
    assert reg.shared_model == "small" and set(reg.models) == {"small"}


def test_shared_model_entry_names_the_model_for_categories_not_bundled(two_models):
    doc = json.loads((two_models / "categories.json").read_text())
    (two_models / "categories.json").write_text(json.dumps({"shared_model": "big", **doc}))
    reg = ModelRegistry.load(two_models)
    assert reg.shared_model == "big" and set(reg.models) == {"small", "big"}
    assert reg.models_knowing("cat") == ("big", "small")  # the shared model first
    assert reg.models_knowing("book") == ("big",) and reg.models_knowing("unicorn") == ()
    assert reg.model_for_labels(["cat", "dog"]) == "big"  # a tie goes to the shared model
    assert reg.model_for("animals").model == "small"  # the bundled choice is kept


def test_assigned_categories_are_masked_to_exactly_their_labels(two_models):
    doc = json.loads((two_models / "categories.json").read_text())
    (two_models / "categories.json").write_text(json.dumps({"shared_model": "big", **doc}))
    reg = ModelRegistry.load(two_models)
    assert reg.check_labels("things", ["book", "clock", "unicorn"]) == {
        "book": None, "clock": None,
        "unicorn": "the game cannot recognise drawings of 'unicorn' yet: none of its drawing "
                   "models has learnt it"}
    assert reg.known_labels("things") == frozenset()  # checking changes nothing
    reg.assign_categories({"things": ["book", "clock", "unicorn"], "animals": ["bird", "cat"]})
    assert reg.model_for("things").model == "big"
    assert reg.known_labels("things") == {"book", "clock"}
    assert reg.known_labels("animals") == {"bird", "cat"}  # the school's animals, not bundled
    with pytest.raises(UnknownLabelError):
        reg.resolve("animals", ("cat", "dog"))
    labels = json.loads((two_models / "big" / "labels.json").read_text())
    model, index = reg.resolve("things", ("clock", "book"))
    assert model == "big" and [labels[i] for i in index] == ["clock", "book"]
    assert reg.categories() == ["animals", "things"]
    # The next sync replaces the assignment: "clock" moved away, "things" gone.
    reg.assign_categories({"home": ["clock", "book"]})
    with pytest.raises(UnknownCategoryError):
        reg.resolve("things", ("book",))
    assert reg.known_labels("animals") == {"cat", "dog"}  # back to the bundled default
    assert reg.resolve("home", ("clock",))[0] == "big"


def test_a_label_spelt_in_another_case_is_the_models_label(two_models):
    doc = json.loads((two_models / "categories.json").read_text())
    (two_models / "categories.json").write_text(json.dumps({"shared_model": "big", **doc}))
    reg = ModelRegistry.load(two_models)
    assert reg.models_knowing("the eiffel tower") == ("big",)
    reg.assign_categories({"town": ["the eiffel tower", "clock"]})
    labels = json.loads((two_models / "big" / "labels.json").read_text())
    _, index = reg.resolve("town", ("the eiffel tower",))
    assert labels[index[0]] == "The Eiffel Tower"


def test_a_bad_shared_model_entry_fails_loading(two_models):
    doc = json.loads((two_models / "categories.json").read_text())
    (two_models / "categories.json").write_text(json.dumps({"shared_model": "gone", **doc}))
    with pytest.raises(ModelLoadError, match="gone"):
        ModelRegistry.load(two_models)
