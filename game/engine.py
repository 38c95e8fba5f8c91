"""The game engine: a pure state machine in the manner of websockets' sans-I/O `Protocol`.

`new_game` builds a game's first state; `handle(state, command, now_ms=..., rules=...)` changes the
state in place and returns a `Transition` with the events for the tablet and the effects for the
I/O layer (points and guesses to append, a guess to request, a finished game to record). It never
reads a clock, a socket or a store: `now_ms` is passed in, and `GameState.next_deadline_ms()` tells
the I/O layer when to deliver the next `Tick`.
"""
from __future__ import annotations

import math
import random
from dataclasses import replace

from game.commands import (
    AppendGuess,
    AppendPoints,
    Command,
    Connected,
    Disconnected,
    EndClassRound,
    EndGame,
    Event,
    GameFinished,
    GuessResult,
    RequestGuess,
    Skip,
    StageEnded,
    StartClassRound,
    StrokeChunk,
    Tick,
    Transition,
)
from game.errors import ProtocolViolation, UnknownCategory
from game.records import GameOutcome, StageOutcome
from game.rules import ClassPace, GameRules
from game.state import GameState, Phase, StageSummary, TopicPlan
from game.topics import Category, Topic

#: The most stages a game may have, class rounds included (the Redis store expires a game's
#: stage keys up to `game.store.redis.STAGE_KEYS_MAX`, 64; a school day never comes near).
MAX_STAGES = 64


def plan_topics(category: Category, *, rules: GameRules, seed: str, age_band: str | None = None,
                pace: ClassPace | None = None) -> list[TopicPlan]:
    """Draw the stages' topics from the category without repeats (deterministic for a seed).

    The age band scales each topic's time limit and caps the stage count (`GameRules.for_band`);
    a teacher's `pace` for the class replaces either number outright.
    """
    if not category.topics:
        raise UnknownCategory(f"category {category.code!r} has no topics")
    band = rules.for_band(age_band)
    stage_count = category.stage_count or rules.default_stage_count
    if band.max_stages is not None:
        stage_count = min(stage_count, band.max_stages)
    if pace is not None and pace.stage_count is not None:
        stage_count = pace.stage_count
    stage_count = max(1, min(stage_count, len(category.topics)))
    chosen = random.Random(seed).sample(list(category.topics), stage_count)

    def time_limit(t: Topic) -> float:
        if pace is not None and pace.time_limit_s is not None:
            return round(float(pace.time_limit_s), 1)
        return round(float(t.time_limit_s or rules.default_time_limit_s) * band.time_scale, 1)

    return [
        TopicPlan(label=t.label, name_ko=t.name_ko, name_en=t.name_en, time_limit_s=time_limit(t))
        for t in chosen
    ]


def new_game(
    *,
    game_id: str,
    player_id: str,
    category: Category,
    rules: GameRules,
    now_ms: int,
    canvas_width: int,
    canvas_height: int,
    age_band: str | None = None,
    class_code: str | None = None,
    connection: str | None = None,
    class_round: StartClassRound | None = None,
    pace: ClassPace | None = None,
) -> tuple[GameState, Transition]:
    """Create a game and start its first stage; `connection` is the socket it is played on;
    `pace`, the teacher's time and stage count for the class (`plan_topics`).

    A game started while its class draws a round (`class_round`) begins with the round's stage,
    its own stages after it, if it can take the round (its category has the topic and the
    round's deadline is ahead); otherwise it plays its own stages alone.
    """
    state = GameState(
        game_id=game_id,
        player_id=player_id,
        category=category.code,
        category_name_ko=category.name_ko,
        category_name_en=category.name_en,
        plan=plan_topics(category, rules=rules, seed=game_id, age_band=age_band, pace=pace),
        labels=list(category.labels),
        started_at_ms=now_ms,
        canvas_width=canvas_width,
        canvas_height=canvas_height,
        age_band=age_band,
        class_code=class_code,
        presence=connection,
    )
    transition = Transition(changed=True)
    if (class_round is not None and class_round.topic.label in state.labels
            and class_round.deadline_ms > now_ms):
        state.plan.insert(0, class_round.topic)
        _start_stage(state, 0, now_ms, transition, deadline_ms=class_round.deadline_ms,
                     round_id=class_round.round_id)
    else:
        _start_stage(state, 0, now_ms, transition)
    state.version = 1
    return state, transition


def handle(state: GameState, command: Command, *, now_ms: int, rules: GameRules) -> Transition:
    """Apply `command` to `state` (in place) and return what follows from it.

    Raises:
        ProtocolViolation: the command is not allowed now; `state` is left unchanged.
    """
    transition = Transition()
    match command:
        case StrokeChunk():
            if command.stage == state.late_stage and not (
                state.phase == Phase.DRAWING and command.stage == state.stage
            ):
                _on_late_chunk(state, command, now_ms, rules, transition)
            else:
                _on_stroke_chunk(state, command, rules, transition)
            _reclaim_presence(state, command.connection, transition)
        case Skip():
            _require_drawing(state, command.stage)
            _end_stage(state, StageOutcome.SKIPPED, now_ms, rules, transition)
            _reclaim_presence(state, command.connection, transition)
        case GuessResult():
            _on_guess(state, command, now_ms, rules, transition)
        case Tick():
            _on_tick(state, now_ms, rules, transition)
        case StartClassRound():
            _on_round_start(state, command, now_ms, rules, transition)
        case EndClassRound():
            if state.phase == Phase.DRAWING and state.round_id == command.round_id:
                _end_stage(state, StageOutcome.TIMEOUT, now_ms, rules, transition)
        case EndGame():
            if state.phase == Phase.DRAWING:
                _end_stage(state, StageOutcome.TIMEOUT, now_ms, rules, transition, last=True)
            elif state.phase == Phase.INTERMISSION:
                _finish(state, GameOutcome.COMPLETED, now_ms, transition)
        case Disconnected() if state.phase == Phase.FINISHED:
            if state.record_at_ms is not None:
                _record(state, transition)  # its tablet has left: no late stroke will come
        case Connected():
            if command.player_id is not None and command.player_id != state.player_id:
                raise ProtocolViolation("resume_failed", "that game is not yours")
            if (not state.connected or state.abandon_at_ms is not None
                    or state.presence != command.connection):
                state.connected = True
                state.abandon_at_ms = None
                state.presence = command.connection
                transition.changed = True
        case Disconnected():
            holds_presence = (command.connection is None or state.presence is None
                              or command.connection == state.presence)
            if state.phase != Phase.FINISHED and state.connected and holds_presence:
                state.connected = False
                state.abandon_at_ms = now_ms + rules.resume_grace_ms
                transition.changed = True
    if transition.changed:
        state.version += 1
    return transition


def stage_start_event(state: GameState, now_ms: int) -> Event:
    """The `stage_start` event for the running stage (also sent again on resume)."""
    topic = state.topic
    return Event(
        "stage_start",
        {
            "stage": state.stage,
            "stage_count": state.stage_count,
            "topic": {"label": topic.label, "name_ko": topic.name_ko, "name_en": topic.name_en},
            "time_limit_s": topic.time_limit_s,
            "started_at_ms": state.stage_started_at_ms,
            "deadline_ms": state.deadline_ms,
            "server_now_ms": now_ms,
            "received": [
                {"points": n, "ended": e}
                for n, e in zip(state.stroke_points, state.stroke_ended, strict=True)
            ],
            # only on a class round's stage: the old message stays exactly as it was
            **({"round": True} if state.round_id is not None else {}),
        },
    )


def stage_result_event(state: GameState, stage: int) -> Event:
    """The `stage_result` event of a finished stage (also sent again on resume)."""
    summary = state.stages[stage]
    topic = state.plan[stage]
    next_at = state.deadline_ms if state.phase == Phase.INTERMISSION else None
    return Event(
        "stage_result",
        {
            "stage": stage,
            "topic": {"label": topic.label, "name_ko": topic.name_ko, "name_en": topic.name_en},
            "outcome": summary.outcome.value,
            "recognized": summary.outcome == StageOutcome.RECOGNIZED,
            "time_ms": summary.ended_at_ms - summary.started_at_ms,
            "guesses": [list(g) for g in summary.final_guesses],
            "next_stage_at_ms": next_at,
        },
    )


def game_over_event(state: GameState) -> Event:
    """The `game_over` event: every stage played, with its result and final guesses."""
    stages = []
    for index, summary in enumerate(state.stages):
        topic = state.plan[index]
        stages.append(
            {
                "stage": index,
                "topic": {"label": topic.label, "name_ko": topic.name_ko, "name_en": topic.name_en},
                "outcome": summary.outcome.value,
                "time_ms": summary.ended_at_ms - summary.started_at_ms,
                "time_to_recognize_ms": summary.time_to_recognize_ms,
                "guesses": [list(g) for g in summary.final_guesses],
            }
        )
    return Event(
        "game_over",
        {
            "game_id": state.game_id,
            "outcome": state.outcome.value if state.outcome else None,
            "recognized": sum(s.outcome == StageOutcome.RECOGNIZED for s in state.stages),
            "stages": stages,
        },
    )


# --- internals


def _require_drawing(state: GameState, stage: int) -> None:
    if state.phase == Phase.FINISHED:
        raise ProtocolViolation("game_over", "the game is over")
    if stage != state.stage or state.phase != Phase.DRAWING:
        running = f"stage {state.stage} is running" if state.phase == Phase.DRAWING else (
            f"stage {state.stage} has ended"
        )
        raise ProtocolViolation("wrong_stage", f"stage {stage} is not being drawn: {running}")


def _on_stroke_chunk(
    state: GameState, chunk: StrokeChunk, rules: GameRules, transition: Transition
) -> None:
    _require_drawing(state, chunk.stage)
    stroke_count = len(state.stroke_points)
    if chunk.stroke > stroke_count or chunk.stroke < 0:
        raise ProtocolViolation(
            "stroke_out_of_order",
            f"stroke {chunk.stroke} cannot start yet: the next stroke is {stroke_count}",
        )
    if chunk.stroke == stroke_count:
        if chunk.start != 0:
            raise ProtocolViolation(
                "points_missing", f"stroke {chunk.stroke} is new: its first chunk must start at 0"
            )
        if stroke_count >= rules.max_strokes_per_stage:
            raise ProtocolViolation(
                "too_many_strokes", f"a stage takes at most {rules.max_strokes_per_stage} strokes"
            )
        have = 0
    else:
        have = state.stroke_points[chunk.stroke]
        if chunk.start > have:
            raise ProtocolViolation(
                "points_missing",
                f"stroke {chunk.stroke} has {have} points; a chunk starting at {chunk.start} "
                "leaves a gap: send again from point "
                f"{have}",
            )
    new_points = chunk.points[have - chunk.start :]
    if chunk.stroke < stroke_count and state.stroke_ended[chunk.stroke]:
        if new_points:
            raise ProtocolViolation(
                "stroke_ended", f"stroke {chunk.stroke} has ended and takes no more points"
            )
        return  # a resend of what we already have: nothing to do
    if have + len(new_points) > rules.max_points_per_stroke:
        raise ProtocolViolation(
            "too_many_points", f"a stroke takes at most {rules.max_points_per_stroke} points"
        )
    if state.points_this_stage + len(new_points) > rules.max_points_per_stage:
        raise ProtocolViolation(
            "too_many_points", f"a stage takes at most {rules.max_points_per_stage} points"
        )
    _check_in_canvas(state, new_points, rules)
    if chunk.stroke == stroke_count:
        state.stroke_points.append(0)
        state.stroke_ended.append(False)
    state.stroke_points[chunk.stroke] += len(new_points)
    if new_points:
        transition.effects.append(AppendPoints(state.stage, chunk.stroke, tuple(new_points)))
    if chunk.end:
        state.stroke_ended[chunk.stroke] = True
        transition.events.append(
            Event(
                "ack",
                {
                    "stage": state.stage,
                    "stroke": chunk.stroke,
                    "points": state.stroke_points[chunk.stroke],
                },
            )
        )
    transition.changed = True
    if new_points or chunk.end:
        transition.effects.append(RequestGuess(state.stage, stroke_ended=chunk.end))


def _on_late_chunk(
    state: GameState, chunk: StrokeChunk, now_ms: int, rules: GameRules, transition: Transition
) -> None:
    """A stroke of the stage that ended last, arriving after its result (see GameRules).

    Kept when the child began it before the result and finished it within the grace, by the
    points' own times, and it arrives within the window; never guessed (the result stands).
    """
    stage = state.late_stage
    summary = state.stages[stage]
    result_t_ms = summary.ended_at_ms - summary.started_at_ms
    limit_t_ms = min(result_t_ms + rules.late_stroke_grace_ms,
                     round(state.plan[stage].time_limit_s * 1000))
    ended = f"stage {stage} has ended"
    if state.late_until_ms is None or now_ms > state.late_until_ms:
        raise ProtocolViolation("wrong_stage", f"{ended}: its strokes came too late")
    counts, ends = state.late_stroke_points, state.late_stroke_ended
    if chunk.stroke > len(counts) or chunk.stroke < 0:
        raise ProtocolViolation("wrong_stage", f"{ended}: stroke {chunk.stroke} is not the "
                                f"next one ({len(counts)})")
    if chunk.stroke == len(counts) and chunk.start != 0:
        # The rest of a stroke whose beginning was refused (or never came): refused alike.
        raise ProtocolViolation("wrong_stage", f"{ended}: stroke {chunk.stroke} was not taken")
    have = counts[chunk.stroke] if chunk.stroke < len(counts) else 0
    if chunk.start > have:
        raise ProtocolViolation("points_missing", f"stroke {chunk.stroke} has {have} points: "
                                f"send again from point {have}")
    new_points = chunk.points[have - chunk.start:]
    if chunk.stroke < len(counts) and ends[chunk.stroke]:
        if new_points:
            raise ProtocolViolation("stroke_ended", f"stroke {chunk.stroke} has ended")
    else:
        if chunk.stroke == len(counts):
            if not new_points or new_points[0][2] > result_t_ms:
                raise ProtocolViolation("wrong_stage", f"{ended}: a stroke begun after its "
                                        f"result ({result_t_ms} ms) is not part of its drawing")
            if len(counts) >= rules.max_strokes_per_stage:
                raise ProtocolViolation("too_many_strokes", f"a stage takes at most "
                                        f"{rules.max_strokes_per_stage} strokes")
        late = [p for p in new_points if p[2] > limit_t_ms]
        if late:
            raise ProtocolViolation("wrong_stage", f"{ended}: a point drawn at {late[0][2]} ms, "
                                    f"after its result and grace ({limit_t_ms} ms)")
        if have + len(new_points) > rules.max_points_per_stroke or (
            sum(counts) + len(new_points) > rules.max_points_per_stage
        ):
            raise ProtocolViolation("too_many_points", "a stroke or stage over its points limit")
        _check_in_canvas(state, new_points, rules)
        if chunk.stroke == len(counts):
            counts.append(0)
            ends.append(False)
        counts[chunk.stroke] += len(new_points)
        if new_points:
            transition.effects.append(AppendPoints(stage, chunk.stroke, tuple(new_points)))
        if chunk.end:
            ends[chunk.stroke] = True
        state.stages[stage] = replace(summary, stroke_count=len(counts))
    transition.changed = True
    if chunk.end:  # also for a resend of an ended stroke: the tablet learns it is kept
        transition.events.append(
            Event("ack", {"stage": stage, "stroke": chunk.stroke, "points": counts[chunk.stroke]})
        )


def _check_in_canvas(state: GameState, points: tuple, rules: GameRules) -> None:
    margin = rules.canvas_margin_px
    for x, y, t in points:
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(t)):
            raise ProtocolViolation("out_of_range", "coordinates must be finite numbers")
        if not (-margin <= x <= state.canvas_width + margin) or not (
            -margin <= y <= state.canvas_height + margin
        ):
            raise ProtocolViolation(
                "out_of_range",
                f"point ({x}, {y}) is outside the {state.canvas_width}x{state.canvas_height} canvas",
            )
        if t < 0:
            raise ProtocolViolation("out_of_range", f"time {t} ms is negative")
        if t > rules.max_point_time_ms:
            # Refused now, while the tablet can hear it: accepted, it would make the whole
            # finished game unwritable to the results database.
            raise ProtocolViolation(
                "out_of_range",
                f"time {t} ms is more than {rules.max_point_time_ms} ms after the stage started",
            )


def _reclaim_presence(state: GameState, connection: str | None, transition: Transition) -> None:
    """A child drawing on a game marked disconnected is evidently there: the socket the stroke
    came from holds the presence now, and the grace stops."""
    if connection is None or state.connected or state.phase == Phase.FINISHED:
        return
    state.connected = True
    state.abandon_at_ms = None
    state.presence = connection
    transition.changed = True


def _on_guess(
    state: GameState, result: GuessResult, now_ms: int, rules: GameRules, transition: Transition
) -> None:
    if state.phase != Phase.DRAWING or result.stage != state.stage:
        return  # a late answer for a stage that has ended: nothing to show
    if result.points_seen <= state.last_guess_points:
        return  # an older drawing than the one already guessed
    state.last_guess_points = result.points_seen
    state.last_guesses = [tuple(g) for g in result.guesses]
    t_ms = now_ms - state.stage_started_at_ms
    transition.changed = True
    transition.effects.append(AppendGuess(state.stage, t_ms, result.guesses))
    transition.events.append(
        Event(
            "guess",
            {
                "stage": state.stage,
                "points": result.points_seen,
                "t_ms": t_ms,
                "guesses": [list(g) for g in result.guesses],
            },
        )
    )
    if rules.for_band(state.age_band).recognition.accepts(state.topic.label, result.guesses):
        _end_stage(state, StageOutcome.RECOGNIZED, now_ms, rules, transition)


def _on_tick(state: GameState, now_ms: int, rules: GameRules, transition: Transition) -> None:
    if state.phase == Phase.FINISHED:
        if state.record_at_ms is not None and now_ms >= state.record_at_ms:
            _record(state, transition)  # the late strokes' window has closed
        return
    if state.abandon_at_ms is not None and now_ms >= state.abandon_at_ms:
        if state.phase == Phase.DRAWING:
            _close_stage(state, StageOutcome.ABANDONED, now_ms)
        _finish(state, GameOutcome.ABANDONED, now_ms, transition)
        return
    if state.deadline_ms is None or now_ms < state.deadline_ms:
        return
    if state.phase == Phase.DRAWING:
        _end_stage(state, StageOutcome.TIMEOUT, now_ms, rules, transition)
    elif state.phase == Phase.INTERMISSION:
        _start_stage(state, state.stage + 1, now_ms, transition)


def _on_round_start(state: GameState, command: StartClassRound, now_ms: int, rules: GameRules,
                    transition: Transition) -> None:
    """Insert the round's stage after the current one and start it now (see `StartClassRound`)."""
    if state.phase == Phase.FINISHED:
        raise ProtocolViolation("game_over", "the game is over: it cannot join the round")
    if state.round_id == command.round_id or any(
            s.round_id == command.round_id for s in state.stages):
        return  # already drawing (or drawn) this round: applied twice, nothing more to do
    if command.topic.label not in state.labels:
        raise ProtocolViolation("unknown_topic", f"{command.topic.label!r} is not a topic of "
                                f"this game's category {state.category!r}")
    if command.deadline_ms <= now_ms:
        raise ProtocolViolation("round_over", "the round's deadline has already passed")
    if state.stage_count >= MAX_STAGES:
        raise ProtocolViolation("too_many_stages", f"a game has at most {MAX_STAGES} stages")
    # Inserted after the stage being drawn (or the one just ended, in an intermission): the
    # stages played keep their indices, and the game's own next stages follow the round.
    state.plan.insert(state.stage + 1, command.topic)
    if state.phase == Phase.DRAWING:
        # Its drawing is kept (late strokes too) and the page praises it like a time-out.
        _end_stage(state, StageOutcome.TIMEOUT, now_ms, rules, transition, next_at_ms=now_ms)
    _start_stage(state, state.stage + 1, now_ms, transition, deadline_ms=command.deadline_ms,
                 round_id=command.round_id)


def _start_stage(state: GameState, stage: int, now_ms: int, transition: Transition, *,
                 deadline_ms: int | None = None, round_id: str | None = None) -> None:
    state.phase = Phase.DRAWING
    state.stage = stage
    state.stage_started_at_ms = now_ms
    state.round_id = round_id
    state.deadline_ms = deadline_ms if deadline_ms is not None else (
        now_ms + round(state.plan[stage].time_limit_s * 1000))
    state.stroke_points = []
    state.stroke_ended = []
    state.last_guess_points = -1
    state.last_guesses = []
    transition.changed = True
    transition.events.append(stage_start_event(state, now_ms))


def _close_stage(state: GameState, outcome: StageOutcome, now_ms: int) -> StageSummary:
    recognized = outcome == StageOutcome.RECOGNIZED
    summary = StageSummary(
        outcome=outcome,
        started_at_ms=state.stage_started_at_ms,
        ended_at_ms=now_ms,
        time_to_recognize_ms=(now_ms - state.stage_started_at_ms) if recognized else None,
        final_guesses=tuple(state.last_guesses),
        stroke_count=len(state.stroke_points),
        round_id=state.round_id,
    )
    state.stages.append(summary)
    return summary


def _end_stage(
    state: GameState, outcome: StageOutcome, now_ms: int, rules: GameRules, transition: Transition,
    *, next_at_ms: int | None = None, last: bool = False,
) -> None:
    """End the stage being drawn; the next one starts after the intermission (or `next_at_ms`),
    unless it is the last (or `last`: the game ends with it)."""
    _close_stage(state, outcome, now_ms)
    if rules.late_stroke_window_ms > 0:
        state.late_stage = state.stage
        state.late_stroke_points = list(state.stroke_points)
        state.late_stroke_ended = list(state.stroke_ended)
        state.late_until_ms = now_ms + rules.late_stroke_window_ms
    transition.changed = True
    transition.effects.append(StageEnded(state.stage, outcome))
    last = last or state.stage + 1 >= state.stage_count
    if not last:
        state.phase = Phase.INTERMISSION
        state.deadline_ms = next_at_ms if next_at_ms is not None else now_ms + rules.intermission_ms
    transition.events.append(stage_result_event(state, state.stage))
    if last:
        _finish(state, GameOutcome.COMPLETED, now_ms, transition)


def _finish(state: GameState, outcome: GameOutcome, now_ms: int, transition: Transition) -> None:
    state.phase = Phase.FINISHED
    state.deadline_ms = None
    state.abandon_at_ms = None
    state.ended_at_ms = now_ms
    state.outcome = outcome
    transition.changed = True
    transition.events.append(game_over_event(state))
    late = state.late_until_ms is not None and state.late_until_ms > now_ms
    if outcome == GameOutcome.COMPLETED and late:
        state.record_at_ms = state.late_until_ms  # or sooner, when the tablet leaves
    else:
        _record(state, transition)


def _record(state: GameState, transition: Transition) -> None:
    """The finished game goes to the results: it takes no more strokes."""
    state.late_stage = -1
    state.late_stroke_points = []
    state.late_stroke_ended = []
    state.late_until_ms = None
    state.record_at_ms = None
    transition.changed = True
    transition.effects.append(GameFinished())
