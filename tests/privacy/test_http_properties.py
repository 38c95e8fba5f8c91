"""The consent, erasure and export endpoints driven with generated ids, names, dates and bodies
(hypothesis): every answer is a documented 2xx or 4xx with a reason, never a 500, and a refused
request changes nothing in the database (compared row by row before and after).

The app is the real routers on the embedded SQLite results database; the checks that the data
really goes are in test_deletion.py and test_erasure_on_disk.py."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from game.ids import is_player_id
from legacy_bridge.bridge import create_results_engine
from legacy_bridge.results.migrate import upgrade
from tests.export.test_routes import CT, RT, app_for

NASTY_IDS = ["..", "x", "😀" * 8, "abc\x00defgh", "abcd efgh\u202eij", "kid-0001\n",
             "a" * 65, "%2e%2e", "kid/0001x", "kid?0001x", "kid#0001x", " kid-0001"]
player_ids = st.one_of(st.sampled_from(NASTY_IDS), st.text(max_size=70),
                       st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True))
TABLES = ("research_consents", "deletion_log", "erasure_markers", "players", "games")
HYPOTHESIS = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


class Api:
    """A client of the app and a way to see every row of the tables a request may change."""

    def __init__(self, client: TestClient, db_path: Path) -> None:
        self.client = client
        self.db_path = db_path

    def snapshot(self) -> dict[str, list[tuple]]:
        db = sqlite3.connect(self.db_path)
        try:
            return {t: sorted(map(repr, db.execute(f"SELECT * FROM {t}").fetchall()))  # noqa: S608
                    for t in TABLES}
        finally:
            db.close()


@pytest.fixture
def api(tmp_path) -> Iterator[Api]:
    db_path = tmp_path / "results.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{db_path}")
    engine = create_results_engine(f"sqlite+aiosqlite:///{db_path}")
    app = app_for(engine, consent_token="consent-secret", research_token="research-secret")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, db_path)
        client.portal.call(engine.dispose)


def url_of(player_id: str, tail: str = "") -> str:
    return f"/privacy/players/{quote(player_id, safe='')}{tail}"


def assert_refused_cleanly(response, before, api: Api) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.json().get("detail"), response.text[:300]  # a reason is given
    assert api.snapshot() == before


@pytest.mark.parametrize("player_id", NASTY_IDS)
def test_consent_is_refused_for_ids_the_protocol_forbids(api, player_id):
    before = api.snapshot()
    r = api.client.post(url_of(player_id, "/consent"), headers=CT, json={"role": "guardian"})
    assert_refused_cleanly(r, before, api)


@HYPOTHESIS
@given(player_id=player_ids)
def test_consent_is_recorded_exactly_for_valid_player_ids(api, player_id):
    before = api.snapshot()
    r = api.client.post(url_of(player_id, "/consent"), headers=CT, json={"role": "guardian"})
    if is_player_id(player_id):
        assert r.status_code == 201, r.text
        assert r.json()["consent"]["active"] is True
    else:
        assert_refused_cleanly(r, before, api)
