"""Running games: the engine plus a store, a topic source and a clock.

This is the layer between the socket handler and the pure engine: it creates and resumes games,
applies commands atomically through the store, and turns a finished game into its record.
"""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

from game import engine
from game.clock import now_ms as wall_clock_ms
from game.commands import Command, Connected, Event, StartClassRound, Transition
from game.errors import GameNotFound, UnknownCategory
from game.records import FinishedGame, GameOutcome, StageRecord
from game.rules import ClassPace, GameRules
from game.state import GameState, Phase
from game.store.base import GameStore
from game.topics import Category, TopicSource


class GameService:
    """Creates, resumes and advances games. Safe for many concurrent connections."""

    def __init__(
        self,
        store: GameStore,
        topics: TopicSource,
        rules: GameRules,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.store = store
        self.topics = topics
        self.rules = rules
        self.clock_ms = clock_ms
        # Told of every committed transition made here (the teacher's live roster listens):
        # it must be cheap and must not raise.
        self.observer: Callable[[GameState, Transition | None], None] | None = None

    async def category(self, code: str) -> Category:
        """The playable category `code`.

        Raises:
            UnknownCategory: no such category, or it has no playable topic.
        """
        for category in await self.topics.categories():
            if category.code == code and category.topics:
                return category
        raise UnknownCategory(f"there is no category {code!r} to play")

    @staticmethod
    def new_ids() -> tuple[str, str]:
        """A fresh game id and resume token (the token is a secret bearer of the game)."""
        return uuid.uuid4().hex, secrets.token_urlsafe(24)

    async def start(
        self,
        *,
        game_id: str,
        resume_token: str,
        player_id: str,
        category: Category,
        canvas_width: int,
        canvas_height: int,
        age_band: str | None = None,
        class_code: str | None = None,
        connection: str | None = None,
        class_round: StartClassRound | None = None,
        pace: ClassPace | None = None,
    ) -> GameState:
        """Create a game and start its first stage (its `stage_start` is published);
        `connection` is the socket that holds its presence; `class_round`, the round its class
        is drawing (the game starts with it, see `engine.new_game`); `pace`, the teacher's time
        and stage count for the class."""
        state, transition = engine.new_game(
            game_id=game_id,
            player_id=player_id,
            category=category,
            rules=self.rules,
            now_ms=self.clock_ms(),
            canvas_width=canvas_width,
            canvas_height=canvas_height,
            age_band=age_band,
            class_code=class_code,
            connection=connection,
            class_round=class_round,
            pace=pace,
        )
        await self.store.create(state, transition, resume_token=resume_token)
        if self.observer is not None:
            self.observer(state, transition)
        return state

    async def resume(self, resume_token: str, *, player_id: str | None = None,
                     connection: str | None = None) -> GameState:
        """Reattach to a game by its resume token; the socket `connection` then holds the
        game's presence.

        Raises:
            GameNotFound: the token is unknown or the game is gone.
            ProtocolViolation: `resume_failed`, the game is not `player_id`'s (nothing changed).
        """
        game_id = await self.store.game_for_token(resume_token)
        if game_id is None:
            raise GameNotFound("this resume token belongs to no game")
        state, _ = await self.command(game_id, Connected(connection, player_id))
        return state

    async def command(self, game_id: str, command: Command) -> tuple[GameState, Transition]:
        """Apply `command` to the game atomically; raises `ProtocolViolation` when not allowed."""

        def mutate(state: GameState) -> Transition:
            return engine.handle(state, command, now_ms=self.clock_ms(), rules=self.rules)

        state, transition = await self.store.apply(game_id, mutate)
        if self.observer is not None and transition.changed:
            self.observer(state, transition)
        return state, transition

    def snapshot_events(self, state: GameState) -> list[Event]:
        """What a (re)connecting tablet needs to see to be where the game is."""
        if state.phase == Phase.FINISHED:
            return [engine.game_over_event(state)]
        if state.phase == Phase.DRAWING:
            return [engine.stage_start_event(state, self.clock_ms())]
        return [engine.stage_result_event(state, len(state.stages) - 1)]

    async def finished_record(self, game_id: str) -> FinishedGame:
        """The record of a finished game, with every stage's strokes and guesses."""
        state = await self.store.load(game_id)
        if state is None or state.phase != Phase.FINISHED:
            raise GameNotFound(f"game {game_id} is not finished")
        stages = []
        for index, summary in enumerate(state.stages):
            topic = state.plan[index]
            strokes = await self.store.strokes(game_id, index)
            # A stroke acknowledged with no point (one empty `end` chunk) appended nothing to
            # the store; as the last stroke it would be missing from the record.
            strokes += [[] for _ in range(summary.stroke_count - len(strokes))]
            guesses = await self.store.guesses(game_id, index)
            stages.append(
                StageRecord(
                    index=index,
                    label=topic.label,
                    name_ko=topic.name_ko,
                    name_en=topic.name_en,
                    time_limit_s=topic.time_limit_s,
                    started_at_ms=summary.started_at_ms,
                    ended_at_ms=summary.ended_at_ms,
                    outcome=summary.outcome,
                    time_to_recognize_ms=summary.time_to_recognize_ms,
                    strokes=tuple(tuple(tuple(p) for p in s) for s in strokes),
                    guesses=tuple(guesses),
                    final_guesses=tuple(tuple(g) for g in summary.final_guesses),
                    canvas_width=state.canvas_width,
                    canvas_height=state.canvas_height,
                )
            )
        return FinishedGame(
            game_id=state.game_id,
            player_id=state.player_id,
            category=state.category,
            started_at_ms=state.started_at_ms,
            ended_at_ms=state.ended_at_ms or state.started_at_ms,
            outcome=state.outcome or GameOutcome.ABANDONED,
            stages=tuple(stages),
            age_band=state.age_band,
            class_code=state.class_code,
        )
