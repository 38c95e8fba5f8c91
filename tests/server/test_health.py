"""Health and readiness endpoints."""
from __future__ import annotations

from fastapi.testclient import TestClient

from server.app import create_app
from server.lifespan import Components
from server.settings import Settings
from tests.server.conftest import FixedTopics, ListSink, ScriptedRecognizer


class NoModels(ScriptedRecognizer):
    def known_labels(self, category: str) -> frozenset[str]:
        return frozenset()


def make_client(tmp_path, recognizer) -> TestClient:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    return TestClient(create_app(settings, Components(recognizer=recognizer, topics=FixedTopics(),
                                                      results=ListSink())))


def test_ready_when_store_and_models_are(tmp_path):
    with make_client(tmp_path, ScriptedRecognizer()) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["store"]["state"] == "ok"
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["ready"] is True
        assert health["topics"]["state"] == "bundled"


def test_not_ready_when_no_model_serves_a_category(tmp_path):
    with make_client(tmp_path, NoModels()) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["models"]["unserved_categories"] == ["animals"]
        assert client.get("/healthz").status_code == 200, "alive all the same"


def test_metrics_are_exposed(tmp_path):
    with make_client(tmp_path, ScriptedRecognizer()) as client:
        body = client.get("/metrics").text
        assert "dq_connections" in body and "dq_guess_latency_seconds" in body


def test_admin_topic_sync_uses_the_settings_token(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, admin_token="teacher-secret-token")
    app = create_app(settings, Components(recognizer=ScriptedRecognizer(), topics=FixedTopics(),
                                          results=ListSink()))
    with TestClient(app) as client:
        assert client.post("/admin/topics/sync").status_code == 401
        answer = client.post("/admin/topics/sync", headers={"Authorization": "Bearer teacher-secret-token"})
        assert answer.status_code == 409, "bundled topics: nothing to sync"


def test_the_pools_queue_and_counters_are_scraped(tmp_path):
    from inference.pool import PoolStats

    class PoolLike(ScriptedRecognizer):
        stats = PoolStats(submitted=7, completed=5, worker_restarts=1)

        def queued(self) -> int:
            return 2

    with make_client(tmp_path, PoolLike()) as client:
        body = client.get("/metrics").text
    assert "dq_inference_queued 2.0" in body
    assert "dq_inference_submitted_total 7.0" in body
    assert "dq_inference_worker_restarts_total 1.0" in body
