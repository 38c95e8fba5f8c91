"""What of a finished game the results tables can hold, checked before writing.

The engine refuses points the tables cannot store (`out_of_range`), so this should never find
anything. It is the last line of defence: one value the database would refuse (a point time
beyond an INT column, a NaN in a JSON column) must not make MariaDB refuse the whole game and
send every other drawing of it to the dead letters. Such a stroke is left out of the written
record, and the sink keeps the untouched original as a dead letter for a human.
"""
from __future__ import annotations

import math
from dataclasses import replace

from game.records import FinishedGame

INT_MIN = -(2**31)  # MariaDB INT, the type of drawings.*_t_ms and drawing_strokes.t_*_ms
INT_MAX = 2**31 - 1


def _bad_point(point: object) -> bool:
    if not isinstance(point, list | tuple) or len(point) != 3:
        return True
    for value in point:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        if not math.isfinite(value):
            return True
    return not INT_MIN <= point[2] <= INT_MAX


def storable(game: FinishedGame) -> tuple[FinishedGame, list[str]]:
    """The game with every stroke the tables cannot hold left out, and what was left out.

    Returns `game` itself (and no problems) when everything can be stored.
    """
    problems: list[str] = []
    stages = []
    for stage in game.stages:
        kept = []
        for index, stroke in enumerate(stage.strokes):
            if any(_bad_point(p) for p in stroke):
                problems.append(f"stage {stage.index} stroke {index}: a point the tables "
                                "cannot hold (not finite, or a time beyond INT)")
            else:
                kept.append(stroke)
        stages.append(stage if len(kept) == len(stage.strokes) else
                      replace(stage, strokes=tuple(kept)))
    if not problems:
        return game, []
    return replace(game, stages=tuple(stages)), problems
