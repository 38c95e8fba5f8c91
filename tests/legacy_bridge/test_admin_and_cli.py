"""The admin "sync now" endpoint and `python -m legacy_bridge sync`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI

from legacy_bridge import open_bridge
from legacy_bridge.retry import RetryPolicy
from legacy_bridge.standin import Fault
from server.routes import admin_topics

from .conftest import known_labels

REPO = Path(__file__).resolve().parents[2]


def admin_app(source) -> FastAPI:
    app = FastAPI()
    app.include_router(admin_topics.router)
    app.state.topic_source = source
    return app


async def test_sync_now_needs_the_admin_token(standin, state, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    async with open_bridge(standin.url, "test-key", known_labels=known_labels, data_dir=tmp_path,
                           schedule=False, retry=RetryPolicy(attempts=1)) as source:
        transport = httpx.ASGITransport(app=admin_app(source))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.post("/admin/topics/sync")).status_code == 401
            bad = await http.post("/admin/topics/sync", headers={"X-Admin-Token": "nope"})
            assert bad.status_code == 401
            assert state.count() == 0  # nothing reached the service
            ok = await http.post("/admin/topics/sync", headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200
            body = ok.json()
            assert body["result"]["ok"] and body["result"]["skipped"] == ["animals/unicorn"]
            assert body["status"]["state"] == "fresh"
            state.mode = Fault("status", 503)
            failed = await http.post("/admin/topics/sync", headers={"X-Admin-Token": "s3cret"})
            assert failed.status_code == 502
            assert "503" in failed.json()["result"]["error"]
            assert len(await source.categories()) == 2  # still serving the last good set
            monkeypatch.delenv("ADMIN_TOKEN")
            closed = await http.post("/admin/topics/sync", headers={"X-Admin-Token": "s3cret"})
            assert closed.status_code == 503


def test_cli_sync_stores_the_last_good_set(standin, tmp_path):
    env = {**os.environ, "LEGACY_API_URL": standin.url, "LEGACY_API_KEY": "test-key",
           "DATA_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-m", "legacy_bridge", "sync"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stored = json.loads((tmp_path / "topics-last-good.json").read_text(encoding="utf-8"))
    assert [c["code"] for c in stored["categories"]] == ["animals", "food"]
    assert stored["categories"][0]["name_ko"] == "동물"
    env["LEGACY_API_KEY"] = "wrong"
    bad = subprocess.run([sys.executable, "-m", "legacy_bridge", "sync"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "AuthenticationFailed" in bad.stdout


async def test_sync_is_refused_when_topics_are_bundled(monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")

    class Bundled:
        async def categories(self):
            return []

    app = FastAPI()
    app.include_router(admin_topics.router)
    app.state.topics = Bundled()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.post("/admin/topics/sync", headers={"X-Admin-Token": "s3cret"})
    assert r.status_code == 409 and "LEGACY_API_URL" in r.json()["detail"]
