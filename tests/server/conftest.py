"""In-process app fixtures: the real server code with a stand-in recogniser and a list sink."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from game.records import FinishedGame
from game.rules import RecognitionRule, default_band_rules
from game.topics import Category, Topic
from inference.api import Guess, RecognizeRequest
from server.app import create_app
from server.lifespan import Components
from server.settings import Settings

CATEGORY = Category(
    "animals", "동물", "Animals",
    tuple(Topic(x, f"{x}-ko", x) for x in ["cat", "dog", "pig", "cow", "ant", "bee"]),
)


class FixedTopics:
    async def categories(self) -> list[Category]:
        return [CATEGORY]


UNSCRIPTED_P = 0.5 * min([RecognitionRule().min_probability] + [
    b.recognition.min_probability for b in default_band_rules().values()])


class ScriptedRecognizer:
    """Guesses `target` once the drawing has at least `points_to_recognize` points."""

    def __init__(self, points_to_recognize: int = 10**9) -> None:
        self.points_to_recognize = points_to_recognize
        self.requests: list[RecognizeRequest] = []
        self.target_by_key: dict[str, str] = {}

    async def recognize(self, request: RecognizeRequest) -> list[Guess]:
        self.requests.append(request)
        points = sum(len(s) for s in request.strokes)
        # Unscripted guesses stay below every band's recognition threshold, whatever the topic
        # (0.3 once passed the 3-4 rule, top-3 p >= 0.2, when the topic was the first label).
        label, probability = request.labels[0], UNSCRIPTED_P
        if points >= self.points_to_recognize and request.drawing_key in self.target_by_key:
            label, probability = self.target_by_key[request.drawing_key], 0.9
        return [Guess(label, probability), Guess(request.labels[1], 0.05)]

    def known_labels(self, category: str) -> frozenset[str]:
        return frozenset(CATEGORY.labels)


class ListSink:
    def __init__(self) -> None:
        self.games: list[FinishedGame] = []

    async def record(self, game: FinishedGame) -> None:
        self.games.append(game)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def recognizer() -> ScriptedRecognizer:
    return ScriptedRecognizer()


@pytest.fixture
def client(tmp_path, recognizer, sink) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, data_dir=tmp_path, intermission_ms=0, default_stage_count=3)
    app = create_app(settings, Components(recognizer=recognizer, topics=FixedTopics(), results=sink))
    with TestClient(app) as c:
        yield c
