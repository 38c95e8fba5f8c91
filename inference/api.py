"""The small interface between the game and recognition.

The game hands over a drawing's strokes (canvas pixels with time) and the labels it may be
compared with; it gets back the best labels with probabilities. Everything else (rasterising,
batching, models, runtimes) stays inside `inference/`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

# One point as the tablet sends it: x and y in canvas pixels, t in ms since the stage started.
Point = tuple[float, float, float]
Stroke = Sequence[Point]


@dataclass(frozen=True, slots=True)
class Guess:
    """One label the recogniser thinks the drawing may be."""

    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class RecognizeRequest:
    """What the game asks of recognition.

    Attributes:
        drawing_key: identifies the drawing (game id + stage); a newer request with the same key
            supersedes one still queued (latest wins).
        category: the category code; it selects the model.
        labels: the labels of the category; probabilities are computed over these only.
        strokes: every stroke of the drawing so far, in order.
        top_k: how many guesses to return.
    """

    drawing_key: str
    category: str
    labels: tuple[str, ...]
    strokes: Sequence[Stroke]
    top_k: int = 3


class Recognizer(Protocol):
    """Anything that guesses drawings: the worker pool, or a direct in-process model."""

    async def recognize(self, request: RecognizeRequest) -> list[Guess]:
        """Return up to `request.top_k` guesses, most probable first."""
        ...

    def known_labels(self, category: str) -> frozenset[str]:
        """The labels the model serving `category` can recognise (empty if none serves it)."""
        ...


class LabelCatalogue(Protocol):
    """What a recogniser offers a topic source whose categories change at run time (the
    school's Spring service): which topics it can recognise, and following each sync."""

    def check_labels(self, category: str, labels: Sequence[str]) -> dict[str, str | None]:
        """Per label of the category's topics: None when it can be recognised, else why not (in
        words a teacher understands). Changes nothing."""
        ...

    def assign_categories(self, categories: Mapping[str, Sequence[str]]) -> None:
        """From now on recognise exactly these categories, each within exactly these labels."""
        ...
