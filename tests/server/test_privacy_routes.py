"""Consent and export endpoints in the assembled app, on the real embedded results database."""
from __future__ import annotations

from fastapi.testclient import TestClient

from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import FixedTopics, ScriptedRecognizer

CONSENT = {"Authorization": "Bearer consent-secret"}
RESEARCH = {"Authorization": "Bearer research-secret"}


def test_consent_and_export_are_wired_with_their_own_tokens(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, consent_token="consent-secret",
                        research_token="research-secret")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics()))
    with TestClient(app) as client:
        url = "/privacy/players/player-0001/consent"
        client.portal.call(app.state.results.wait_drained, 60)  # the schema is migrated
        assert client.post(url, json={"role": "guardian"}).status_code == 401
        assert client.post(url, json={"role": "guardian"}, headers=RESEARCH).status_code == 401
        recorded = client.post(url, json={"role": "guardian"}, headers=CONSENT)
        assert recorded.status_code in (200, 201), recorded.text
        assert client.get("/research/export", headers=CONSENT).status_code == 401
        export = client.get("/research/export", headers=RESEARCH)
        assert export.status_code == 200, export.text[:300]
