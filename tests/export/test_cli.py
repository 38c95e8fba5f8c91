"""`python -m server.export`: filters from the command line, the output directory, bad input."""
from __future__ import annotations

import asyncio
import json

from legacy_bridge.bridge import create_results_engine
from legacy_bridge.results import privacy, repo
from legacy_bridge.results.migrate import upgrade
from server.export.__main__ import main
from tests.privacy.helpers import T0_MS, make_game


async def _seed(url: str) -> None:
    engine = create_results_engine(url)
    try:
        await privacy.record_consent(engine=engine, player_id="kid-0001", policy_version="v1",
                                     granted_by_role="guardian")
        await repo.write_game(engine=engine, game=make_game(
            1, player="kid-0001", labels=("cat", "dog"), started_at_ms=T0_MS + 10**12))
    finally:
        await engine.dispose()


def test_the_command_line_exports_with_filters(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}"
    upgrade(url)
    asyncio.run(_seed(url))
    out = tmp_path / "out"
    assert main(["--out", str(out), "--database-url", url, "--label", "dog",
                 "--age-band", "5-6", "--countrycode", "KR", "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"drawings": 1, "by_word": {"dog": 1}}
    assert manifest["filters"]["labels"] == ["dog"]
    assert "exported 1 drawings" in capsys.readouterr().out
    # the same directory again: refused with a clear message, nothing overwritten
    assert main(["--out", str(out), "--database-url", url, "--no-progress"]) == 2
    assert "not empty" in capsys.readouterr().err
