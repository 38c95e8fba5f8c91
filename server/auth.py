"""Bearer-token dependencies for the consent and research endpoints.

The tokens come from `Settings` (`CONSENT_TOKEN`, `RESEARCH_TOKEN`), found at
`app.state.settings` or `app.state.services.settings` (override `get_settings` to inject).
An unset token closes its endpoints (503); a missing or wrong one is refused (401). Tokens are
compared in constant time and never logged or echoed.
"""
from __future__ import annotations

import secrets

from fastapi import Depends, Header, HTTPException, Request, status

from server.settings import Settings


def get_settings(request: Request) -> Settings:
    """Dependency: the app's settings (`app.state.settings`, else `app.state.services.settings`,
    else read from the environment)."""
    state = request.app.state
    settings = getattr(state, "settings", None)
    if settings is None:
        services = getattr(state, "services", None)
        settings = getattr(services, "settings", None)
    if settings is None:
        settings = Settings()
        state.settings = settings
    return settings


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def _check(expected: str | None, authorization: str | None, what: str, env: str) -> None:
    if not expected:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"{what} endpoints are disabled: {env} is not set")
    given = _bearer(authorization)
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing or wrong {what} token",
                            headers={"WWW-Authenticate": "Bearer"})


def require_consent_token(authorization: str | None = Header(default=None),
                          settings: Settings = Depends(get_settings)) -> None:
    """Dependency: `Authorization: Bearer <CONSENT_TOKEN>` (guardians' and teachers' app)."""
    _check(settings.consent_token, authorization, "consent", "CONSENT_TOKEN")


def require_research_token(authorization: str | None = Header(default=None),
                           settings: Settings = Depends(get_settings)) -> None:
    """Dependency: `Authorization: Bearer <RESEARCH_TOKEN>` (researchers)."""
    _check(settings.research_token, authorization, "research", "RESEARCH_TOKEN")


def require_admin_token(authorization: str | None = Header(default=None),
                        settings: Settings = Depends(get_settings)) -> None:
    """Dependency: `Authorization: Bearer <ADMIN_TOKEN>` (teachers opening classes)."""
    _check(settings.admin_token, authorization, "admin", "ADMIN_TOKEN")
