"""Where a benchmark's JSON goes: `bench/results/<name>-<UTC>.json`, and `latest-<name>.json`
(the one kept in git) unless asked not to."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def command_line(module: str, argv: list[str] | None) -> str:
    """The command that produced a report, for its JSON (`argv` as `main` got it)."""
    return f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])


def write_report(name: str, report: dict[str, Any], stamp: datetime, *, out: Path | None = None,
                 latest: bool = True) -> Path:
    """Write `report` as indented JSON to `out` (default: stamped under bench/results/) and,
    with `latest`, to `latest-<name>.json` too; returns where it went."""
    out = out or RESULTS / f"{name}-{stamp:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    out.write_text(text, encoding="utf-8")
    if latest:
        (RESULTS / f"latest-{name}.json").write_text(text, encoding="utf-8")
    return out
