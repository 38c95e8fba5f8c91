"""Which model serves which category, and which labels it may answer with.

`models/categories.json` lists categories, each with the model directory that serves it and its
topics. A model may serve one category (its labels are the category's) or several (a shared
model): then each category is a label mask over the model's outputs. Either way a request is
answered over the labels it names, which must all be known to the category's model.

Reading the registry imports no runtime: the server process uses it to refuse bad requests
before they reach a worker.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from inference.errors import (BadRequestError, ModelLoadError, UnknownCategoryError,
                              UnknownLabelError)
from inference.runtime import ModelInfo, read_model_info

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CategoryModel:
    """A category and the model that serves it."""

    category: str
    model: str  # model directory name under models/
    labels: frozenset[str]  # the category's labels that the model knows (its label mask)


class ModelRegistry:
    """Categories, their models and label sets, read from a `models/` directory."""

    def __init__(self, models_dir: Path, categories: dict[str, CategoryModel],
                 models: dict[str, ModelInfo]) -> None:
        self.models_dir = Path(models_dir)
        self._categories = categories
        self._models = models
        self._index: dict[str, dict[str, int]] = {
            name: {label: i for i, label in enumerate(info.labels)}
            for name, info in models.items()}

    @classmethod
    def load(cls, models_dir: Path) -> "ModelRegistry":
        """Read `categories.json` and every model directory it names.

        Topics the model does not know are left out of the category's labels (and logged), so a
        request for them is refused with `UnknownLabelError` rather than answered wrongly.
        """
        models_dir = Path(models_dir)
        path = models_dir / "categories.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            entries = doc["categories"]
            if not isinstance(entries, list):
                raise TypeError("\"categories\" must be a list")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        models: dict[str, ModelInfo] = {}
        categories: dict[str, CategoryModel] = {}
        for entry in entries:
            try:
                code, model = str(entry["code"]), str(entry["model"])
                topics = entry.get("topics")
            except (KeyError, TypeError) as exc:
                raise ModelLoadError(f"{path}: each category needs \"code\" and \"model\" "
                                     f"({exc!r} in {entry!r})") from exc
            if code in categories:
                raise ModelLoadError(f"{path}: category {code!r} is listed twice")
            if "/" in model or model in ("", ".", ".."):
                raise ModelLoadError(f"{path}: category {code!r} names a bad model {model!r}")
            if model not in models:
                models[model] = read_model_info(models_dir / model)
            known = set(models[model].labels)
            if topics is None:  # no topic list: the whole model serves the category
                wanted = known
            else:
                wanted = {str(t["label"]) for t in topics}
            missing = wanted - known
            if missing:
                log.warning("category %r: model %r does not know %s; they will be refused",
                            code, model, sorted(missing))
            categories[code] = CategoryModel(code, model, frozenset(wanted & known))
        return cls(models_dir, categories, models)

    @property
    def models(self) -> dict[str, ModelInfo]:
        """Every model a category uses, by directory name."""
        return dict(self._models)

    def categories(self) -> list[str]:
        """The category codes, in file order."""
        return list(self._categories)

    def model_for(self, category: str) -> CategoryModel:
        """The model serving `category`; `UnknownCategoryError` if none does."""
        try:
            return self._categories[category]
        except KeyError:
            raise UnknownCategoryError(category) from None

    def known_labels(self, category: str) -> frozenset[str]:
        """The labels `category` can be answered with (empty if no model serves it)."""
        served = self._categories.get(category)
        return served.labels if served is not None else frozenset()

    def resolve(self, category: str, labels: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
        """Check a request's labels; return the model name and each label's output index.

        Raises `UnknownCategoryError`, `UnknownLabelError` naming the labels and category, or
        `BadRequestError` for an empty or repeated label list.
        """
        served = self.model_for(category)
        if not labels:
            raise BadRequestError(f"a request for category {category!r} names no labels")
        unknown = tuple(label for label in labels if label not in served.labels)
        if unknown:
            raise UnknownLabelError(category, unknown, served.model)
        if len(set(labels)) != len(labels):
            raise BadRequestError(f"a request for category {category!r} repeats a label")
        index = self._index[served.model]
        return served.model, tuple(index[label] for label in labels)
