"""Which model serves which category, and which labels it may answer with.

`models/categories.json` lists the bundled categories, each with the model directory that serves
it and its topics, and may name a `shared_model`: the model that serves categories defined at run
time (by default the model most bundled categories use). A model may serve one category (its
labels are the category's) or several (a shared model): then each category is a label mask over
the model's outputs. Either way a request is answered over the labels it names, which must all be
among the category's current labels.

The bundled categories are only the embedded default. Categories from the school's Spring
service are installed at run time with `assign_categories`: a category's labels are then exactly
its topics (those a shipped model knows), served by the shipped model that knows most of them,
and they follow every sync. A bundled category the service does not name stays resolvable, so
the bundled topics can still be played when the service never answered.

Reading the registry imports no runtime: the server process uses it to refuse bad requests
before they reach a worker.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
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
                 models: dict[str, ModelInfo], shared_model: str | None = None) -> None:
        self.models_dir = Path(models_dir)
        self._bundled = categories
        self._runtime: dict[str, CategoryModel] = {}
        self._models = models
        if shared_model is None:
            shared_model = _most_used_model(categories) or next(iter(models), None)
        if shared_model is not None and shared_model not in models:
            raise ModelLoadError(f"shared model {shared_model!r} is not loaded")
        self.shared_model = shared_model
        self._index: dict[str, dict[str, int]] = {
            name: {label: i for i, label in enumerate(info.labels)}
            for name, info in models.items()}
        # Spring's labels are lower case ("the eiffel tower"); a model may spell one otherwise.
        self._folded: dict[str, dict[str, int]] = {
            name: {label.casefold(): i for label, i in index.items()}
            for name, index in self._index.items()}

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
            shared = doc.get("shared_model")
            if shared is not None and not isinstance(shared, str):
                raise TypeError("\"shared_model\" must be a model directory name")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        models: dict[str, ModelInfo] = {}

        def model_info(name: str, what: str) -> ModelInfo:
            if "/" in name or name in ("", ".", ".."):
                raise ModelLoadError(f"{path}: {what} names a bad model {name!r}")
            if name not in models:
                models[name] = read_model_info(models_dir / name)
            return models[name]

        if shared is not None:  # first: it is the one asked first for run-time categories
            model_info(shared, "\"shared_model\"")
        categories: dict[str, CategoryModel] = {}
        for entry in entries:
            try:
                code, model = str(entry["code"]), str(entry["model"])
                topics = entry.get("topics")
            except (KeyError, TypeError, AttributeError) as exc:
                raise ModelLoadError(f"{path}: each category needs \"code\" and \"model\" "
                                     f"({exc!r} in {entry!r})") from exc
            if code in categories:
                raise ModelLoadError(f"{path}: category {code!r} is listed twice")
            known = set(model_info(model, f"category {code!r}").labels)
            if topics is None:  # no topic list: the whole model serves the category
                wanted = known
            else:
                wanted = {str(t["label"]) for t in topics}
            missing = wanted - known
            if missing:
                log.warning("category %r: model %r does not know %s; they will be refused",
                            code, model, sorted(missing))
            categories[code] = CategoryModel(code, model, frozenset(wanted & known))
        if not models:
            raise ModelLoadError(f"{path}: names no model (no categories, no \"shared_model\")")
        return cls(models_dir, categories, models, shared)

    @property
    def models(self) -> dict[str, ModelInfo]:
        """Every shipped model (each a category or the shared model uses), by directory name."""
        return dict(self._models)

    def categories(self) -> list[str]:
        """The category codes: bundled ones in file order, then those assigned at run time."""
        return list(self._bundled) + [c for c in self._runtime if c not in self._bundled]

    def model_for(self, category: str) -> CategoryModel:
        """The model serving `category`; `UnknownCategoryError` if none does."""
        served = self._runtime.get(category) or self._bundled.get(category)
        if served is None:
            raise UnknownCategoryError(category)
        return served

    def known_labels(self, category: str) -> frozenset[str]:
        """The labels `category` can be answered with (empty if no model serves it)."""
        served = self._runtime.get(category) or self._bundled.get(category)
        return served.labels if served is not None else frozenset()

    # --- which shipped model knows a label

    def _output(self, model: str, label: str) -> int | None:
        """The output index of `label` in `model` (exact spelling first, then any case)."""
        index = self._index[model].get(label)
        return index if index is not None else self._folded[model].get(label.casefold())

    def _search_order(self) -> list[str]:
        """Shipped models, the shared model first (it wins ties), then in file order."""
        rest = [m for m in self._models if m != self.shared_model]
        return ([self.shared_model] if self.shared_model else []) + rest

    def models_knowing(self, label: str) -> tuple[str, ...]:
        """Every shipped model that knows `label`, the shared model first: the single answer to
        "can the game recognise drawings of this?" (empty: no shipped model can)."""
        return tuple(m for m in self._search_order() if self._output(m, label) is not None)

    def model_for_labels(self, labels: Sequence[str]) -> str | None:
        """The shipped model knowing the most of `labels` (ties: the shared model, then file
        order); None when no shipped model knows any of them."""
        best, best_count = None, 0
        for model in self._search_order():
            count = sum(1 for label in set(labels) if self._output(model, label) is not None)
            if count > best_count:
                best, best_count = model, count
        return best

    def check_labels(self, category: str, labels: Sequence[str]) -> dict[str, str | None]:
        """Whether each of a category's topics could be played if `assign_categories` named it
        with `labels`: per label None (playable) or why not, in words a teacher understands.
        Changes nothing."""
        model = self.model_for_labels(labels)
        verdicts: dict[str, str | None] = {}
        for label in labels:
            if model is not None and self._output(model, label) is not None:
                verdicts[label] = None
            elif self.models_knowing(label):
                verdicts[label] = (f"the drawing model that recognises this category "
                                   f"({model}) does not know {label!r}; only another model does")
            else:
                verdicts[label] = (f"the game cannot recognise drawings of {label!r} yet: "
                                   "none of its drawing models has learnt it")
        return verdicts

    def assign_categories(self, categories: Mapping[str, Sequence[str]]) -> None:
        """From now on serve exactly these categories with exactly these labels (replacing the
        previous assignment; bundled categories not named stay as they are).

        Each category is served by `model_for_labels(labels)`; labels that model does not know
        are left out of its mask (logged), so a request for them is refused.
        """
        runtime: dict[str, CategoryModel] = {}
        for code, labels in categories.items():
            model = self.model_for_labels(labels)
            if model is None:
                log.warning("category %r: no shipped model knows any of %s", code, sorted(labels))
                continue
            known = frozenset(label for label in labels if self._output(model, label) is not None)
            if len(known) < len(set(labels)):
                log.warning("category %r: model %r does not know %s; they will be refused", code,
                            model, sorted(set(labels) - known))
            runtime[str(code)] = CategoryModel(str(code), model, known)
        self._runtime = runtime  # one assignment: a request never sees half of a sync

    # --- requests

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
        outputs = tuple(self._output(served.model, label) for label in labels)
        assert all(i is not None for i in outputs)  # labels are a subset of what it knows
        return served.model, outputs  # type: ignore[return-value]


def _most_used_model(categories: Mapping[str, CategoryModel]) -> str | None:
    """The model most categories use (the first of them in file order on a tie)."""
    counts = Counter(c.model for c in categories.values())
    if not counts:
        return None
    top = max(counts.values())
    return next(c.model for c in categories.values() if counts[c.model] == top)
