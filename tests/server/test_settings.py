"""Settings: embedded defaults, environment overrides, and the README's table."""
from __future__ import annotations

import pytest

from server.settings import REPO_ROOT, Settings


def test_unset_urls_mean_embedded_defaults(monkeypatch):
    for name in ("REDIS_URL", "DATABASE_URL", "LEGACY_API_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.redis_url is None and settings.database_url is None
    assert settings.legacy_api_url is None
    assert settings.default_time_limit_s == 40 and settings.default_stage_count == 5


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("DEFAULT_TIME_LIMIT_S", "25")
    settings = Settings(_env_file=None)
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.default_time_limit_s == 25


def test_readme_documents_every_setting():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [n.upper() for n in Settings.model_fields if f"`{n.upper()}`" not in readme]
    assert not missing, f"README lacks settings {missing}: run python -m server.settings_doc"
    assert "CC BY 4.0" in readme


def test_an_empty_url_means_unset(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("INFERENCE_WORKERS", "")
    settings = Settings(_env_file=None)
    assert settings.redis_url is None and settings.inference_workers is None


def test_websocket_compression_is_off_unless_asked(monkeypatch):
    monkeypatch.delenv("WS_PER_MESSAGE_DEFLATE", raising=False)
    assert Settings(_env_file=None).ws_per_message_deflate is False
    monkeypatch.setenv("WS_PER_MESSAGE_DEFLATE", "true")
    assert Settings(_env_file=None).ws_per_message_deflate is True


def test_websocket_implementation_is_uvicorns_choice_unless_asked(monkeypatch):
    monkeypatch.delenv("WS_PROTOCOL", raising=False)
    assert Settings(_env_file=None).ws_protocol == "auto"
    monkeypatch.setenv("WS_PROTOCOL", "websockets")
    assert Settings(_env_file=None).ws_protocol == "websockets"
    monkeypatch.setenv("WS_PROTOCOL", "tornado")
    with pytest.raises(ValueError, match="(?i)ws_protocol"):
        Settings(_env_file=None)
