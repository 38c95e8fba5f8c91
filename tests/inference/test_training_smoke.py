"""`python -m inference.train --tiny` end to end on the committed fixtures (seconds, no ../shared)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.evaluate import ModelRunner
from inference.evaluate import main as evaluate_main
from inference.raster import rasterize
from inference.training.cli import main as train_main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quickdraw"


def test_tiny_training_writes_a_complete_model_dir(tmp_path: Path, capsys) -> None:
    rc = train_main(["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog,car,apple",
                     "--out", str(tmp_path), "--name", "smoke", "--write-categories"])
    assert rc == 0
    d = tmp_path / "smoke"
    for name in ("labels.json", "model.keras", "model.tflite", "card.json", "card.md", "confusion_custom.png"):
        assert (d / name).is_file(), name
    assert (d / "saved_model" / "saved_model.pb").is_file()
    labels = json.loads((d / "labels.json").read_text())
    assert labels == ["cat", "dog", "car", "apple"]
    card = json.loads((d / "card.json").read_text())
    assert card["input"]["size"] == 28 and card["input"]["channels"] == ["ink"]
    assert "CC BY 4.0" in card["dataset_credit"] and card["seed"] == 1234
    m = card["metrics"]["categories"]["custom"]
    assert m["test"]["top1"] is not None and len(m["real"]["early_recognition"]["recognized"]) == 4
    # The LiteRT model gives probabilities over labels.json for the shared rasteriser's output.
    runner = ModelRunner(d, "tflite")
    raw = json.loads((FIXTURES / "raw" / "cat.ndjson").read_text().splitlines()[0])["drawing"]
    p = runner.predict(rasterize(raw, card["input"])[None])
    assert p.shape == (1, 4) and abs(float(p.sum()) - 1.0) < 1e-4
    keras_p = ModelRunner(d, "keras").predict(rasterize(raw, card["input"])[None])
    # model.tflite has int8 weights by default (dynamic-range quantisation): close, not equal
    assert card["tflite_weights"] == "int8"
    np.testing.assert_allclose(p, keras_p, atol=0.05)
    # evaluate reads the fixture folder through the same path and prints JSON.
    capsys.readouterr()
    assert evaluate_main(["--data", str(FIXTURES / "raw"), "--models", str(tmp_path),
                          "--categories-file", str(tmp_path / "categories.json"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["categories"]["custom"]["strokes"]["n"] >= 4 * 3


def test_tiny_training_with_every_class_childlike_augmentation_and_calibration(tmp_path: Path) -> None:
    rc = train_main(["--tiny", "--data", str(FIXTURES), "--all-classes", "--hold-out-unrecognized",
                     "--aug", "childlike", "--fresh-aug", "--label-smoothing", "0.1", "--calibrate",
                     "--bitmaps", "--balance-prior",
                     "--out", str(tmp_path), "--name", "smoke_all"])
    assert rc == 0
    d = tmp_path / "smoke_all"
    # Every class with trainable strokes in the folder (simplified files and a sketch-rnn set), sorted.
    assert json.loads((d / "labels.json").read_text()) == ["apple", "car", "cat", "dog", "face"]
    card = json.loads((d / "card.json").read_text())
    assert card["augmentation"] == {"kind": "childlike", "fresh_each_epoch": True, "fraction": 1.0, "label_smoothing": 0.1,
                                    "missing": 0.35, "drop_rate": 0.3}
    # the labels' unequal shares of training images are taken out again
    seen = np.array(list(card["prior_correction"]["images_per_epoch"].values()), dtype=float)
    logs = np.log(seen / seen.sum())
    assert np.isclose(card["prior_correction"]["max_shift"], np.abs(logs - logs.mean()).max(), atol=1e-4) and seen.std() > 0
    m = card["metrics"]
    assert m["calibration"]["temperature"] > 0 and 0 <= m["calibration"]["test_ece_after"] <= 1
    assert (d / "reliability.png").is_file()
    assert m["child_proxy"]["version"] and m["child_proxy"]["real"]["mean_top1"] is not None
    assert "unrecognized" in m and "Child-likeness proxy" in (d / "card.md").read_text()


def _geometric_mean(probs: list[np.ndarray]) -> np.ndarray:
    g = np.exp(np.mean([np.log(np.maximum(p, 1e-30)) for p in probs], axis=0))
    return g / g.sum(axis=1, keepdims=True)


def test_ensemble_of_two_trained_models_is_one_network_computing_their_geometric_mean(tmp_path: Path) -> None:
    common = ["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog,car,apple", "--out", str(tmp_path)]
    assert train_main([*common, "--name", "a"]) == 0
    assert train_main([*common, "--name", "b", "--seed", "7"]) == 0
    # float32 LiteRT here, so the exported file can be compared exactly with the members
    assert train_main([*common, "--name", "ab", "--tflite-weights", "float32",
                       "--ensemble-of", f"{tmp_path / 'a'},{tmp_path / 'b'}"]) == 0
    card = json.loads((tmp_path / "ab" / "card.json").read_text())
    assert [m["name"] for m in card["ensemble"]["members"]] == ["a", "b"]
    assert card["architecture"]["arch"] == "ensemble" and card["tflite_weights"] == "float32"
    md = (tmp_path / "ab" / "card.md").read_text()
    assert "An ensemble as one network" in md and "--name a" in md and "--seed 7" in md
    member_card = json.loads((tmp_path / "a" / "card.json").read_text())
    assert card["architecture"]["macs"] > member_card["architecture"]["macs"] * 1.9
    raws = [json.loads(line)["drawing"] for name in ("cat", "car")
            for line in (FIXTURES / "raw" / f"{name}.ndjson").read_text().splitlines()[:3]]
    x = np.stack([rasterize(r, card["input"]) for r in raws])
    members = [ModelRunner(tmp_path / n, "keras").predict(x) for n in ("a", "b")]  # float32
    assert not np.allclose(members[0], members[1], atol=1e-3)  # two different models
    merged = ModelRunner(tmp_path / "ab", "tflite").predict(x)
    np.testing.assert_allclose(merged, _geometric_mean(members), atol=1e-5)


def test_weighted_ensemble_is_the_weighted_geometric_mean(tmp_path: Path) -> None:
    common = ["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog,car,apple", "--out", str(tmp_path)]
    assert train_main([*common, "--name", "a"]) == 0
    assert train_main([*common, "--name", "b", "--seed", "7"]) == 0
    assert train_main([*common, "--name", "ab", "--tflite-weights", "float32", "--ensemble-weights", "3,1",
                       "--ensemble-of", f"{tmp_path / 'a'},{tmp_path / 'b'}"]) == 0
    card = json.loads((tmp_path / "ab" / "card.json").read_text())
    assert [m["weight"] for m in card["ensemble"]["members"]] == [3.0, 1.0]
    raws = [json.loads(line)["drawing"] for line in (FIXTURES / "raw" / "cat.ndjson").read_text().splitlines()[:4]]
    x = np.stack([rasterize(r, card["input"]) for r in raws])
    a, b = (ModelRunner(tmp_path / n, "keras").predict(x) for n in ("a", "b"))
    g = a ** 0.75 * b ** 0.25  # no --calibrate: no temperature
    assert card["metrics"]["calibration"]["fitted_on"] == "not fitted"
    g /= g.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ModelRunner(tmp_path / "ab", "tflite").predict(x), g, atol=1e-5)
    with pytest.raises(SystemExit, match="one positive weight per member"):
        train_main([*common, "--name", "bad", "--ensemble-weights", "1", "--ensemble-of", f"{tmp_path / 'a'},{tmp_path / 'b'}"])


def test_ensemble_members_must_share_labels(tmp_path: Path) -> None:
    common = ["--tiny", "--data", str(FIXTURES), "--out", str(tmp_path)]
    assert train_main([*common, "--labels", "cat,dog", "--name", "a"]) == 0
    assert train_main([*common, "--labels", "cat,car", "--name", "b"]) == 0
    with pytest.raises(SystemExit, match="labels or raster spec differ"):
        train_main([*common, "--labels", "cat,dog", "--name", "ab", "--ensemble-of", f"{tmp_path / 'a'},{tmp_path / 'b'}"])


def test_distillation_learns_from_a_teacher(tmp_path: Path) -> None:
    common = ["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog,car,apple", "--out", str(tmp_path)]
    assert train_main([*common, "--name", "teacher"]) == 0
    assert train_main([*common, "--name", "student", "--teacher", str(tmp_path / "teacher"),
                       "--distill-weight", "0.7", "--aug", "childlike", "--fresh-aug", "--mixup", "0.2"]) == 0
    card = json.loads((tmp_path / "student" / "card.json").read_text())
    assert card["augmentation"]["mixup_alpha"] == 0.2
    assert card["distillation"] == {"teacher": str(tmp_path / "teacher"), "teacher_name": "teacher", "weight": 0.7}
    assert "Distilled from `teacher`" in (tmp_path / "student" / "card.md").read_text()
    assert card["metrics"]["categories"]["custom"]["test"]["top1"] is not None


def test_soft_targets_mix_the_teacher_with_the_label() -> None:
    from inference.training.distill import soft_targets

    class Uniform:
        def predict(self, x, batch_size, verbose):
            return np.full((len(x), 4), 0.25, dtype=np.float32)

    t = soft_targets(Uniform(), np.zeros((5, 2, 2, 1), np.uint8), np.array([0, 1, 2, 3, 0]), 4, 0.8, batch_size=2)
    assert t.dtype == np.float16 and t.shape == (5, 4)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(t[1], [0.2, 0.4, 0.2, 0.2], atol=1e-3)
    with pytest.raises(ValueError, match="within 0..1"):
        soft_targets(Uniform(), np.zeros((1, 2, 2, 1), np.uint8), np.array([0]), 4, 1.5)


def _mixed_batch(mix, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a batch map (mixup, CutMix) over images with one label each, so a target names its
    partner; check what every such mix holds (targets sum to 1, each image keeps its own label
    as the larger part) and return the images, the targets and each image's own share."""
    import tensorflow as tf

    n = len(x)
    mx, my = (t.numpy() for t in mix(tf.constant(x), tf.constant(np.eye(n, dtype=np.float32))))
    np.testing.assert_allclose(my.sum(axis=1), 1.0, atol=1e-5)
    own = my[np.arange(n), np.arange(n)]
    assert (own >= 0.5 - 1e-6).all()
    return mx, my, own


def test_mixup_blends_each_image_with_another_keeping_its_own_label_the_larger_part() -> None:
    from inference.training.cli import mixup_batch

    n = 64
    x = np.zeros((n, 4, 4, 1), np.float32)
    x[:, 0, 0, 0] = np.arange(n) + 1
    mx, my, own = _mixed_batch(mixup_batch(0.4, seed=3), x)
    mixed = np.flatnonzero(own < 1 - 1e-3)
    assert len(mixed) > n // 2  # something was really mixed
    for i in mixed:  # the image is the same blend of the same two images as its target
        partner = int(np.argmax(np.where(np.arange(n) == i, -1, my[i])))
        assert np.isclose(my[i, partner], 1 - own[i], atol=1e-5)
        assert np.isclose(mx[i, 0, 0, 0], own[i] * (i + 1) + (1 - own[i]) * (partner + 1), atol=1e-3)


def test_train_seed_changes_the_training_draws_but_not_the_split(tmp_path: Path, monkeypatch) -> None:
    """`--train-seed`: another ensemble member on the very same held-out split (`--seed` picks
    the split; a member trained with another `--seed` would have seen others' test drawings)."""
    import inference.training.data as data

    split_seeds: list[int] = []
    real_split = data.split_balanced

    def recording_split(d, seed, *args, **kwargs):
        split_seeds.append(seed)
        return real_split(d, seed, *args, **kwargs)

    monkeypatch.setattr(data, "split_balanced", recording_split)
    common = ["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog,car,apple", "--out", str(tmp_path)]
    assert train_main([*common, "--name", "a"]) == 0
    assert train_main([*common, "--name", "b", "--train-seed", "7"]) == 0
    assert split_seeds == [1234, 1234]
    cards = [json.loads((tmp_path / n / "card.json").read_text()) for n in ("a", "b")]
    assert cards[0]["seed"] == cards[1]["seed"] == 1234
    assert "train_seed" not in cards[0] and cards[1]["train_seed"] == 7
    raws = [json.loads(line)["drawing"] for line in (FIXTURES / "raw" / "cat.ndjson").read_text().splitlines()[:3]]
    x = np.stack([rasterize(r, cards[0]["input"]) for r in raws])
    pa, pb = (ModelRunner(tmp_path / n, "keras").predict(x) for n in ("a", "b"))
    assert not np.allclose(pa, pb, atol=1e-3)  # other initial weights and draws: another model


def test_cutmix_pastes_a_box_of_another_image_and_mixes_the_targets_by_its_share() -> None:
    from inference.training.cli import cutmix_batch

    n, side = 64, 8  # image i is all (i + 1), so its pixels name their source
    x = np.broadcast_to((np.arange(n, dtype=np.float32) + 1)[:, None, None, None], (n, side, side, 1)).copy()
    mx, my, own = _mixed_batch(cutmix_batch(1.0, seed=5), x)
    mixed = np.flatnonzero(own < 1 - 1e-6)
    assert len(mixed) > n // 3
    for i in range(n):
        values, counts = np.unique(mx[i], return_counts=True)
        kept = counts[values == i + 1].sum() / side**2
        assert np.isclose(kept, own[i], atol=1e-5)  # the target says how much of the image is its own
        if i in mixed:
            partner = int(np.argmax(np.where(np.arange(n) == i, -1, my[i])))
            assert set(values.tolist()) == {i + 1.0, partner + 1.0}
            box = np.argwhere(mx[i, :, :, 0] == partner + 1)
            (r0, c0), (r1, c1) = box.min(axis=0), box.max(axis=0)
            assert len(box) == (r1 - r0 + 1) * (c1 - c0 + 1)  # one rectangle


def test_a_cutmix_run_trains_and_says_so_in_its_card(tmp_path: Path) -> None:
    assert train_main(["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog,car", "--out", str(tmp_path),
                       "--name", "cm", "--cutmix", "1.0"]) == 0
    card = json.loads((tmp_path / "cm" / "card.json").read_text())
    assert card["augmentation"]["cutmix_alpha"] == 1.0 and "mixup_alpha" not in card["augmentation"]


def test_mixup_and_cutmix_are_not_both_taken(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="choose one"):
        train_main(["--tiny", "--data", str(FIXTURES), "--labels", "cat,dog", "--out", str(tmp_path),
                    "--mixup", "0.2", "--cutmix", "1.0"])
