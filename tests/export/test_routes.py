"""The consent and research HTTP endpoints: tokens, consent flow, withdrawal, erasure, and the
export streamed as a tar (read back with the standard tarfile module)."""
from __future__ import annotations

import asyncio
import io
import json
import tarfile

import httpx
import pytest
from fastapi import FastAPI

from legacy_bridge.bridge import create_results_engine
from legacy_bridge.results import privacy, repo
from legacy_bridge.results.migrate import upgrade
from server.routes import consent, export
from server.settings import Settings
from tests.privacy.helpers import T0_MS, make_game


def app_for(engine, **settings) -> FastAPI:
    app = FastAPI()
    app.include_router(consent.router)
    app.include_router(export.router)
    app.state.settings = Settings(_env_file=None, **settings)
    app.state.results_engine = engine
    app.state.privacy_local_stores = privacy.LocalStores()
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


CT = {"Authorization": "Bearer consent-secret"}
RT = {"Authorization": "Bearer research-secret"}


@pytest.fixture
async def sqlite_only(tmp_path):
    """The HTTP layer on the embedded SQLite (the database tests cover MariaDB too)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'results.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_results_engine(url)
    yield engine
    await engine.dispose()


async def test_endpoints_are_closed_without_tokens_and_refuse_wrong_ones(sqlite_only):
    async with client(app_for(sqlite_only)) as c:
        r = await c.get("/research/export", headers=RT)
        assert r.status_code == 503 and "RESEARCH_TOKEN" in r.text
        r = await c.get("/privacy/players/kid-0001/consent", headers=CT)
        assert r.status_code == 503
    app = app_for(sqlite_only, consent_token="consent-secret", research_token="research-secret")
    async with client(app) as c:
        for path, good in (("/research/export", RT), ("/privacy/players/kid-0001/consent", CT)):
            assert (await c.get(path)).status_code == 401
            bad = await c.get(path, headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401 and "nope" not in bad.text
        # the consent token does not open the export, nor the other way round
        assert (await c.get("/research/export", headers=CT)).status_code == 401
        assert (await c.get("/privacy/players/kid-0001/consent", headers=RT)).status_code == 401


async def test_consent_export_withdraw_erase_over_http(sqlite_only):
    engine = sqlite_only
    app = app_for(engine, consent_token="consent-secret", research_token="research-secret",
                  consent_policy_version="2026-11", export_countrycode="KR")
    async with client(app) as c:
        r = await c.post("/privacy/players/kid-0001/consent", headers=CT,
                         json={"role": "guardian", "name": "Parent"})
        assert r.status_code == 201, r.text
        assert r.json()["consent"]["policy_version"] == "2026-11"
        r = await c.post("/privacy/players/kid-0002/consent", headers=CT, json={"role": "child"})
        assert r.status_code == 422
        # games played after the consent
        for i, kid in enumerate(("kid-0001", "kid-0002")):
            await repo.write_game(engine=engine, game=make_game(
                i, player=kid, started_at_ms=T0_MS + 10**12))
        r = await c.get("/research/export", headers=RT, params={"label": "cat"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
        with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
            names = tar.getnames()
            assert names[0].endswith("/manifest.json")
            manifest = json.load(tar.extractfile(names[0]))
            raw = [n for n in names if "/raw/" in n]
            lines = tar.extractfile(raw[0]).read().decode().splitlines()
        assert manifest["counts"]["drawings"] == 1 and len(lines) == 1  # kid-0001's cat only
        assert manifest["filters"]["labels"] == ["cat"]
        assert json.loads(lines[0])["countrycode"] == "KR"
        assert b"kid-0001" not in r.content

        r = await c.get("/research/export", headers=RT, params={"age_band": "9-10"})
        assert r.status_code == 400 and "age band" in r.text
        r = await c.get("/research/export", headers=RT, params={"since": "yesterday"})
        assert r.status_code == 400 and "since" in r.json()["detail"]

        r = await c.post("/privacy/players/kid-0001/consent/withdraw", headers=CT,
                         json={"role": "teacher"})
        assert r.status_code == 200 and r.json()["deleted"]["drawings"] == 2
        r = await c.get("/privacy/players/kid-0001/consent", headers=CT)
        assert r.json()["active"] is False and len(r.json()["consents"]) == 1
        r = await c.get("/research/export", headers=RT)
        with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
            assert json.load(tar.extractfile(tar.getnames()[0]))["counts"]["drawings"] == 0

        r = await c.request("DELETE", "/privacy/players/kid-0002", headers=CT,
                            json={"role": "guardian"})
        assert r.status_code == 200 and r.json()["deleted"]["games"] == 1
    counts = await repo.table_counts(engine=engine)
    assert counts["games"] == 1  # kid-0001's school result stays; kid-0002 is gone
