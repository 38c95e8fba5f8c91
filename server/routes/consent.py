"""Consent and deletion endpoints for guardians and teachers (bearer `CONSENT_TOKEN`).

Include with `app.include_router(consent.router)`. Routes (player ids are the pseudonymous ids
the tablets use; the adult is named by role and optionally name, never the child):

- `POST   /privacy/players/{player_id}/consent`          record consent
- `GET    /privacy/players/{player_id}/consent`          consent records of the player
- `POST   /privacy/players/{player_id}/consent/withdraw` withdraw + delete the drawings
- `DELETE /privacy/players/{player_id}`                  deletion request: erase everything

Dependencies found on `app.state` (override to inject): `get_results_engine` (the results
`AsyncEngine`: `app.state.results_engine`, or the engine of `app.state.results`) and
`get_local_stores` (live game store from `app.state.services.games.store`, its Redis client for
the outbox stream, and the SQLite outbox file under DATA_DIR).
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from game.ids import InvalidPlayerId, check_player_id
from legacy_bridge.results import privacy
from legacy_bridge.results.consent_fields import check_adult_name, check_policy_version
from legacy_bridge.results.scrub import ScrubError
from server.auth import get_settings, require_consent_token
from server.settings import Settings

router = APIRouter(prefix="/privacy", tags=["privacy"],
                   dependencies=[Depends(require_consent_token)])

PlayerId = str
Role = Literal["guardian", "teacher"]


def get_results_engine(request: Request) -> AsyncEngine:
    """Dependency: the results database engine."""
    state = request.app.state
    engine = getattr(state, "results_engine", None)
    if engine is None:
        engine = getattr(getattr(state, "results", None), "engine", None)
    if engine is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the results database is not available on this server")
    sink_status = getattr(getattr(state, "results", None), "status", None)
    if callable(sink_status) and sink_status().get("schema_ready") is False:
        # The schema is migrated in the background (the server never waits for the database
        # to start): until then, say so rather than fail on a missing table.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the results database is not ready yet (migrating or unreachable)",
                            headers={"Retry-After": "5"})
    return engine


def get_local_stores(request: Request,
                     settings: Settings = Depends(get_settings)) -> privacy.LocalStores:
    """Dependency: every store besides the database that may hold a child's drawings."""
    state = request.app.state
    local = getattr(state, "privacy_local_stores", None)
    if local is not None:
        return local
    services = getattr(state, "services", None)
    store = getattr(getattr(services, "games", None), "store", None)
    redis = getattr(store, "client", None) if store is not None else None
    # The class gallery keeps drawings for a day; the classes keep seats by pseudonymous id.
    keepers = tuple(k for k in (getattr(state, "gallery", None), getattr(state, "classrooms", None))
                    if k is not None)
    return privacy.LocalStores(
        store=store, redis=redis,
        outbox_files=(Path(settings.data_dir) / "results-outbox.sqlite3",),
        drawing_keepers=keepers)


def _player(player_id: str) -> str:
    # The protocol's rule (game.ids), so consent can only be given for an id a tablet can use.
    try:
        return check_player_id(player_id)
    except InvalidPlayerId as e:
        raise HTTPException(422, f"player_id: {e}") from None


# The same checks as the privacy functions, here so that a bad field is a 422 naming the field.
AdultName = Annotated[str | None, AfterValidator(check_adult_name)]
PolicyVersion = Annotated[str | None, AfterValidator(
    lambda v: None if v is None else check_policy_version(v))]


@contextlib.asynccontextmanager
async def _deletion_may_fail() -> AsyncIterator[None]:
    """A store that is down, or files that could not be scrubbed, make a 503 that says to repeat
    the request (a deletion is idempotent and scrubs on every run), never a 500 and never a
    success while bytes remain."""
    try:
        yield
    except ScrubError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the rows are deleted but not yet every file: {e}; repeat the "
                            "request", headers={"Retry-After": "30"}) from None
    except (ConnectionError, TimeoutError, OSError, RedisError, DBAPIError, sqlite3.Error) as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"a store is unavailable ({type(e).__name__}); the deletion is not "
                            "complete: repeat the request", headers={"Retry-After": "30"}) from None


class ConsentIn(BaseModel):
    """Who records consent: the adult's role and, optionally, name (not the child's)."""

    model_config = ConfigDict(extra="forbid")
    role: Role
    name: AdultName = Field(None, description="The adult's name as known to the school.")
    policy_version: PolicyVersion = Field(
        None, description="Version of the consent text; default: the server's.")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    name: AdultName = None


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


@router.post("/players/{player_id}/consent", status_code=201)
async def record_consent(player_id: PlayerId, body: ConsentIn,
                         engine: AsyncEngine = Depends(get_results_engine),
                         settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    """Record research consent for the player (supersedes an active one)."""
    consent = await privacy.record_consent(
        engine=engine, player_id=_player(player_id),
        policy_version=body.policy_version or settings.consent_policy_version,
        granted_by_role=body.role, granted_by_name=body.name)
    return {"consent": consent.as_dict()}


@router.get("/players/{player_id}/consent")
async def get_consent(player_id: PlayerId,
                      engine: AsyncEngine = Depends(get_results_engine)) -> dict[str, Any]:
    """The player's consent records, oldest first, and whether one is active."""
    consents = await privacy.consents_of_player(engine=engine, player_id=_player(player_id))
    return {"active": any(c.active for c in consents),
            "consents": [c.as_dict() for c in consents]}


@router.post("/players/{player_id}/consent/withdraw")
async def withdraw_consent(player_id: PlayerId, body: WithdrawIn,
                           engine: AsyncEngine = Depends(get_results_engine),
                           local: privacy.LocalStores = Depends(get_local_stores)
                           ) -> dict[str, Any]:
    """Withdraw consent; the child's drawings are deleted everywhere now (results stay)."""
    player_id = _player(player_id)
    async with _deletion_may_fail():
        report = await privacy.withdraw_consent(engine=engine, player_id=player_id,
                                                withdrawn_by_role=body.role,
                                                withdrawn_by_name=body.name, local=local)
    return {"withdrawn": True, "deleted": report.counts, "scrubbed": report.scrubbed,
            "warnings": report.warnings}


@router.delete("/players/{player_id}")
async def erase_player(player_id: PlayerId, body: EraseIn,
                       engine: AsyncEngine = Depends(get_results_engine),
                       local: privacy.LocalStores = Depends(get_local_stores)) -> dict[str, Any]:
    """A deletion request: everything about the child is deleted everywhere now."""
    player_id = _player(player_id)
    async with _deletion_may_fail():
        report = await privacy.erase_player(engine=engine, player_id=player_id,
                                            requested_by_role=body.role, local=local)
    return {"erased": True, "deleted": report.counts, "scrubbed": report.scrubbed,
            "warnings": report.warnings}
