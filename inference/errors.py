"""The errors recognition raises: one tree, so callers can catch `InferenceError` and say why.

Every error carries a message meant for a log line or a protocol error frame.
"""
from __future__ import annotations


class InferenceError(Exception):
    """Anything that went wrong while recognising a drawing."""


class ModelLoadError(InferenceError):
    """A model directory or `categories.json` is missing, malformed or unreadable."""


class UnknownCategoryError(InferenceError):
    """No model serves this category."""

    def __init__(self, category: str) -> None:
        super().__init__(f"no model serves category {category!r}")
        self.category = category


class UnknownLabelError(InferenceError):
    """The request asks for labels that the category's model cannot recognise."""

    def __init__(self, category: str, labels: tuple[str, ...], model: str) -> None:
        names = ", ".join(repr(label) for label in labels)
        super().__init__(f"model {model!r} serving category {category!r} does not know "
                         f"label(s) {names}")
        self.category = category
        self.labels = labels
        self.model = model


class BadRequestError(InferenceError):
    """The request itself is malformed (no labels, bad top_k, strokes that are not points)."""


class OverloadedError(InferenceError):
    """The queue is full: the pool refuses new work instead of letting latency grow unbounded."""


class SupersededError(InferenceError):
    """A newer request for the same drawing replaced this one while it was still queued.

    The newer request carries the same drawing plus more strokes, so its guesses are the ones to
    show; callers normally just drop this request.
    """

    def __init__(self, drawing_key: str) -> None:
        super().__init__(f"superseded by a newer request for drawing {drawing_key!r}")
        self.drawing_key = drawing_key


class WorkerCrashedError(InferenceError):
    """The worker computing this request died, and so did the one retry."""


class PoolClosedError(InferenceError):
    """The pool is shut down (or never started, or could not start its workers)."""
