"""The FastAPI application: `create_app()` wires routes, the WebSocket and the lifespan."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server import teacher_ws, ws
from server.body_limit import BodyLimit
from server.errors import install_error_handlers
from server.routes import admin_topics, classes, consent, export, health, teacher
from server.lifespan import Components, lifespan_for
from server.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, components: Components | None = None) -> FastAPI:
    """Build the app. `components` lets tests inject a recogniser, a store or a result sink."""
    settings = settings or Settings()
    app = FastAPI(title="Doodle Quest", version="1", lifespan=lifespan_for(settings, components))

    @app.websocket("/ws/play")
    async def play(websocket: WebSocket) -> None:
        await ws.play(websocket, app.state.services)

    @app.websocket("/ws/teacher")
    async def teacher_watch(websocket: WebSocket) -> None:
        await teacher_ws.watch(websocket, app.state)

    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_body_bytes)
    app.include_router(health.router)
    app.include_router(classes.router)
    app.include_router(teacher.router)
    app.include_router(teacher.page_router)
    app.include_router(admin_topics.router)
    app.include_router(consent.router)
    app.include_router(export.router)
    # The bridge's admin routes take their token from our settings, like every other admin route.
    app.dependency_overrides[admin_topics.expected_admin_token] = lambda: settings.admin_token

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/categories")
    async def categories() -> list[dict[str, object]]:
        """The categories a tablet may play (for the start screen), each with its playable
        topics: with the Spring service, exactly the school's active categories as served."""
        cats = await app.state.services.games.topics.categories()
        return [
            {
                "code": c.code,
                "name_ko": c.name_ko,
                "name_en": c.name_en,
                "topics": len(c.topics),  # a count, as before; the topics themselves below
                "stage_count": c.stage_count,
                "age_min": c.age_min,
                "age_max": c.age_max,
                "playable_topics": [
                    {"label": t.label, "name_ko": t.name_ko, "name_en": t.name_en,
                     "time_limit_s": t.time_limit_s}
                    for t in c.topics
                ],
            }
            for c in cats
        ]

    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    return app
