"""The one wall clock of the game's I/O layer (the engine itself never reads a clock)."""
from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000
