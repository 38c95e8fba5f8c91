"""`python -m server`: run the game server with the settings from the environment."""
from __future__ import annotations

import uvicorn

from server.app import create_app
from server.logs import configure
from server.settings import Settings


def _configured_settings() -> Settings:
    """The settings in the environment, with logging set up by them."""
    settings = Settings()
    configure(settings.log_level, json=settings.log_json)
    return settings


def app_from_environment():  # noqa: ANN201 - granian's factory target
    """The app for the settings in the environment (granian imports this in its worker)."""
    return create_app(_configured_settings())


def main() -> None:
    settings = _configured_settings()
    print(f"Doodle Quest: http://{settings.host}:{settings.port}/", flush=True)
    if settings.asgi_server == "granian":
        from granian.constants import Interfaces, Loops
        from granian.server import Server

        Server("server.__main__:app_from_environment", factory=True, address=settings.host,
               port=settings.port, interface=Interfaces.ASGI, workers=1, loop=Loops.uvloop,
               websockets=True, log_enabled=False).serve()
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # Above our own limit, so an oversized message gets a readable error; far above it, the
        # socket is closed by uvicorn before the message is buffered.
        ws_max_size=settings.max_message_bytes * 4,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws=settings.ws_protocol,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep our structured handler for uvicorn's loggers too
    )


if __name__ == "__main__":
    main()
