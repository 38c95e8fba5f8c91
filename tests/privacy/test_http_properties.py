"""The consent, erasure and export endpoints driven with generated ids, names, dates and bodies
(hypothesis): every answer is a documented 2xx or 4xx with a reason, never a 500, and a refused
request changes nothing in the database (compared row by row before and after).

The app is the real routers on the embedded SQLite results database; the checks that the data
really goes are in test_deletion.py and test_erasure_on_disk.py."""
from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import tarfile
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from game.ids import is_player_id
from legacy_bridge.bridge import create_results_engine
from legacy_bridge.results import privacy, repo
from legacy_bridge.results.migrate import upgrade
from server.errors import install_error_handlers
from tests.export.test_routes import CT, RT, app_for
from tests.privacy.conftest import CHILD_FIRST
from tests.privacy.helpers import make_game

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


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite results database at the newest schema, migrated once (Alembic is slow on a
    busy machine); each test works on a copy of it."""
    path = tmp_path_factory.mktemp("template") / "results.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def api(tmp_path, migrated_sqlite) -> Iterator[Api]:
    db_path = tmp_path / "results.sqlite3"
    shutil.copyfile(migrated_sqlite, db_path)
    engine = create_results_engine(f"sqlite+aiosqlite:///{db_path}")
    app = app_for(engine, consent_token="consent-secret", research_token="research-secret")
    install_error_handlers(app)  # as create_app does
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, db_path)
        client.portal.call(engine.dispose)


def send(api: Api, method: str, url: str, body: object = None):
    """A request with `body` as JSON text escaped to ASCII (so a lone surrogate such as
    "\\ud800" reaches the server as a JSON escape, as any client could send it)."""
    if method == "GET":
        return api.client.get(url, headers=CT)
    return api.client.request(method, url, content=json.dumps(body),
                              headers={**CT, "Content-Type": "application/json"})


@pytest.fixture(params=["sqlite", "mariadb"])
def export_client(request, tmp_path) -> Iterator[TestClient]:
    """The export endpoint on SQLite and on the real MariaDB, with a few consented drawings
    (queries that only read: no snapshot needed)."""
    if request.param == "mariadb":
        url = request.getfixturevalue("mariadb_session_url")
    else:
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "results.sqlite3")
        url = f"sqlite+aiosqlite:///{tmp_path / 'results.sqlite3'}"
    engine = create_results_engine(url)
    app = app_for(engine, consent_token="consent-secret", research_token="research-secret")
    install_error_handlers(app)

    async def seed() -> None:
        async with engine.begin() as conn:
            for table in CHILD_FIRST:
                await conn.execute(table.delete())
        await privacy.record_consent(engine=engine, player_id="kid-export1",
                                     policy_version="2026-11", granted_by_role="guardian",
                                     now=datetime(2026, 1, 1))
        await repo.write_game(engine=engine, game=make_game(1, player="kid-export1"))

    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(seed)
        yield client
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
    r = send(api, "POST", url_of(player_id, "/consent"), {"role": "guardian"})
    assert_refused_cleanly(r, before, api)


@HYPOTHESIS
@given(player_id=player_ids)
def test_consent_is_recorded_exactly_for_valid_player_ids(api, player_id):
    before = api.snapshot()
    r = send(api, "POST", url_of(player_id, "/consent"), {"role": "guardian"})
    if is_player_id(player_id):
        assert r.status_code == 201, r.text
        assert r.json()["consent"]["active"] is True
    else:
        assert_refused_cleanly(r, before, api)


JOINERS = {"\u200c", "\u200d"}


def name_is_keepable(name: str) -> bool:
    """docs/privacy.md's rule for the adult's name, written out here."""
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
           and c not in JOINERS for c in name):
        return False
    kept = unicodedata.normalize("NFC", name).strip(" ")
    return bool(kept.strip()) and len(kept) <= 128


NASTY_NAMES = ["a\u0000b", "Ms Kim\n", "\u202eKim", "Kim\u2066x", "\ud800", "", "   ",
               "x" * 129, "Ms\tKim", "\x1b[31mKim"]
names = st.one_of(st.sampled_from(NASTY_NAMES), st.text(max_size=140),
                  st.sampled_from(["Ms Kim", "김민지", "Ana María", "زهرا\u200cمحمدی", "O'Brien"]))


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_a_refused_name_does_not_supersede_the_childs_consent(api, name):
    url = url_of("kid-name-0001", "/consent")
    first = send(api, "POST", url, {"role": "guardian", "name": "Parent"})
    assert first.status_code == 201, first.text
    before = api.snapshot()
    r = send(api, "POST", url, {"role": "teacher", "name": name})
    assert_refused_cleanly(r, before, api)
    assert "name" in r.text
    r = send(api, "POST", url_of("kid-name-0001", "/consent/withdraw"),
             {"role": "teacher", "name": name})
    assert_refused_cleanly(r, before, api)
    (consent,) = send(api, "GET", url).json()["consents"]
    assert consent["active"] and consent["granted_by_name"] == "Parent"


@HYPOTHESIS
@given(name=names, role=st.sampled_from(["guardian", "teacher", "child", ""]),
       policy=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["2026-11", "v1.2_b"])))
def test_consent_bodies_are_kept_exactly_when_valid(api, name, role, policy):
    body = {"role": role, "name": name}
    if policy is not None:
        body["policy_version"] = policy
    before = api.snapshot()
    r = send(api, "POST", url_of("kid-body-0001", "/consent"), body)
    valid = (role in ("guardian", "teacher") and name_is_keepable(name)
             and (policy is None or re.fullmatch(r"[A-Za-z0-9._-]{1,32}", policy, re.ASCII)))
    if valid:
        assert r.status_code == 201, r.text
        kept = r.json()["consent"]["granted_by_name"]
        assert kept == unicodedata.normalize("NFC", name).strip(" ")
    else:
        assert_refused_cleanly(r, before, api)


bodies = st.one_of(
    st.none(), st.integers(), st.text(max_size=20),
    st.dictionaries(st.sampled_from(["role", "name", "policy_version", "child_name", "x"]),
                    st.one_of(st.none(), st.text(max_size=10), st.integers(),
                              st.sampled_from(["guardian", "teacher"]),
                              st.lists(st.integers(), max_size=2)), max_size=4))


@HYPOTHESIS
@given(player_id=player_ids, body=bodies,
       endpoint=st.sampled_from(["consent", "withdraw", "erase", "get"]))
def test_any_request_to_the_privacy_endpoints_is_answered_without_a_server_error(
        api, player_id, body, endpoint):
    method, tail, ok = {"consent": ("POST", "/consent", 201),
                        "withdraw": ("POST", "/consent/withdraw", 200),
                        "erase": ("DELETE", "", 200), "get": ("GET", "/consent", 200)}[endpoint]
    before = api.snapshot()
    r = send(api, method, url_of(player_id, tail), body)
    assert r.status_code == ok or 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code != ok or method == "GET":
        assert api.snapshot() == before
    if r.status_code >= 400:
        assert r.json().get("detail")


EXTREME_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01",
                 "9999-12-31T23:59:59.999999", "2026-02-30", "2026-09-21T25:00", "yesterday",
                 "", " ", "2026-09-21T14:00:00Z", "2026-09-21T14:00:00+09:00", "\x00",
                 "2026-09-21T14:00:00+24:00", "+002026-09-21"]
# Valid values are drawn about as often as bad ones, so both paths get many examples.
plain_times = st.one_of(st.none(), st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
    timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()))
times = st.one_of(plain_times, plain_times, plain_times, st.sampled_from(EXTREME_TIMES),
                  st.text(max_size=30),
                  st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))


def expected_time(text: str | None):
    """None (absent), a naive UTC datetime, or "bad": an independent reading of the rule."""
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt
    except (ValueError, OverflowError):
        return "bad"


def test_the_date_that_raised_overflow_is_a_400_with_a_reason(api):
    r = api.client.get("/research/export", headers=RT,
                       params={"since": "0001-01-01T00:00:00+14:00"})
    assert r.status_code == 400 and "since" in r.json()["detail"]
    assert "UTC" in r.json()["detail"]


@HYPOTHESIS
@given(since=times, until=times,
       age_band=st.one_of(st.lists(st.sampled_from(["3-4", "5-6", "7-8"]), max_size=2),
                          st.lists(st.sampled_from(["3-4", "5-6", "7-8"]), max_size=2),
                          st.lists(st.one_of(st.sampled_from(["9-10", ""]),
                                             st.text(max_size=5)), min_size=1, max_size=2)),
       recognized=st.one_of(st.none(), st.none(),
                            st.sampled_from(["true", "false", "1", "0", "no", " TRUE "]),
                            st.sampled_from(["maybe", "", "2"]), st.text(max_size=5)),
       label=st.lists(st.text(max_size=20), max_size=2),
       category=st.lists(st.text(max_size=20), max_size=2))
def test_any_export_query_is_a_200_tar_or_a_400_with_a_reason(
        export_client, since, until, age_band, recognized, label, category):
    params: dict[str, object] = {"age_band": age_band, "label": label, "category": category}
    for key, value in (("since", since), ("until", until), ("recognized", recognized)):
        if value is not None:
            params[key] = value
    r = export_client.get("/research/export", headers=RT, params=params)
    s, u = expected_time(since), expected_time(until)
    good = ("bad" not in (s, u) and not (s and u and s >= u)
            and all(b in ("3-4", "5-6", "7-8") for b in age_band)
            and (recognized is None or recognized.strip().lower()
                 in {"true", "false", "1", "0", "yes", "no"}))
    event("valid query" if good else "refused query")  # both kinds occur (statistics)
    if good:
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-type"] == "application/x-tar"
    else:
        assert r.status_code == 400, (r.status_code, r.text[:300])
        assert r.json()["detail"]


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=plain_times, until=plain_times,
       age_band=st.lists(st.sampled_from(["3-4", "5-6", "7-8"]), max_size=3),
       recognized=st.sampled_from([None, "true", "false"]),
       label=st.lists(st.sampled_from(["cat", "dog", "house plant", "고양이"]), max_size=2))
def test_every_valid_export_query_is_a_tar_of_what_it_asked_for(
        export_client, since, until, age_band, recognized, label):
    s, u = expected_time(since), expected_time(until)
    assume(not (s and u and s >= u))
    params = {"age_band": age_band, "label": label,
              **{k: v for k, v in (("since", since), ("until", until),
                                   ("recognized", recognized)) if v is not None}}
    r = export_client.get("/research/export", headers=RT, params=params)
    assert r.status_code == 200, r.text[:300]
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        manifest = json.load(tar.extractfile(tar.getnames()[0]))
    assert manifest["filters"]["age_bands"] == age_band
    assert manifest["filters"]["labels"] == label
