"""`/healthz` (alive, with every part's status) and `/readyz` (may this process take tablets?)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


def _status_of(component: Any) -> dict[str, Any] | None:
    status = getattr(component, "status", None)
    if not callable(status):
        return None
    try:
        return status()
    except Exception as exc:  # a broken status must not break the health endpoint
        return {"state": "error", "error": str(exc)}


async def _report(request: Request) -> tuple[bool, dict[str, Any]]:
    state = request.app.state
    store_ok = await state.services.games.store.ping()
    categories = await state.topics.categories()
    unserved = [c.code for c in categories if not state.recognizer.known_labels(c.code)]
    report: dict[str, Any] = {
        "store": {"state": "ok" if store_ok else "unreachable"},
        "models": {
            "state": "ok" if categories and not unserved else "missing",
            "categories": len(categories),
            "unserved_categories": unserved,
            "pool": _status_of(state.recognizer),
        },
        "topics": _status_of(state.topics) or {"state": "bundled", "categories": len(categories)},
        "results": _status_of(state.results),
    }
    # The database may be away (results wait in the outbox) and the Spring service may be stale
    # (the last good topics are served): neither stops a child's game, so neither makes us unready.
    ready = store_ok and report["models"]["state"] == "ok"
    return ready, report


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """The process is alive; the status of every part it depends on."""
    ready, report = await _report(request)
    return {"status": "ok", "ready": ready, **report}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when this process can serve games (store reachable, models loaded), else 503."""
    ready, report = await _report(request)
    return JSONResponse({"ready": ready, **report}, status_code=200 if ready else 503)
