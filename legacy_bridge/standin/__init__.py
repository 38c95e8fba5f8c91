"""A stand-in for the school's Spring service, speaking `docs/legacy-spring-api.md` to the letter,
bad days included. Steer it from tests through `StandinState`; run it with `StandinServer`
(a real uvicorn on a real port, in a thread) or `python -m legacy_bridge.standin --port 8081`.
"""
from .app import Fault, StandinState, create_app, sample_state, school_state
from .server import StandinServer

__all__ = ["Fault", "StandinServer", "StandinState", "create_app", "sample_state", "school_state"]
