"""The bridge to the school's systems: topics from the Spring service
(`docs/legacy-spring-api.md`) and finished games into the results database (`docs/database.md`).

Entry points for the server: `open_bridge(...)` and `open_results(...)`.
"""
from .bridge import create_results_engine, open_bridge, open_results
from .errors import BridgeError
from .results.sink import ResultsSink
from .source import RefreshResult, SpringTopicSource

__all__ = ["BridgeError", "RefreshResult", "ResultsSink", "SpringTopicSource",
           "create_results_engine", "open_bridge", "open_results"]
