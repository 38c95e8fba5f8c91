"""Prometheus metrics of the bridge (module-level: one set per process)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge

SPRING_REQUESTS = Counter(
    "doodle_bridge_spring_requests_total",
    "HTTP requests to the Spring service, by outcome (ok, not_modified, 4xx, 5xx, refused, "
    "timeout, not_json, circuit_open)",
    ["outcome"],
)
TOPIC_REFRESHES = Counter(
    "doodle_bridge_topic_refreshes_total", "Topic refreshes from the Spring service, by result",
    ["result"],
)
TOPICS_SKIPPED = Counter(
    "doodle_bridge_topics_skipped_total",
    "Topics or categories left out, by category and reason (unknown_label: no model recognises "
    "the topic; too_few_playable_topics: the category has fewer than 2 playable topics)",
    ["category", "reason"],
)
CATEGORIES_SERVED = Gauge(
    "doodle_bridge_categories_served", "Categories from the Spring service being served now",
)
TOPICS_SERVED = Gauge(
    "doodle_bridge_topics_served", "Playable topics from the Spring service being served now",
)
TOPICS_UNPLAYABLE = Gauge(
    "doodle_bridge_topics_unplayable",
    "Active topics of the Spring service left out now because no model recognises them",
)
TOPICS_AGE = Gauge(
    "doodle_bridge_topics_age_seconds",
    "Age of the set of topics being served (since it was last fetched successfully)",
)
TOPICS_LAST_SUCCESS = Gauge(
    "doodle_bridge_topics_last_success_timestamp_seconds",
    "Unix time of the last successful topic refresh",
)
BREAKER_OPEN = Gauge(
    "doodle_bridge_breaker_open", "1 while the Spring circuit breaker is open or half-open",
)

RESULTS_BACKLOG = Gauge(
    "doodle_results_backlog", "Finished games kept in the local outbox, not yet in the database",
)
RESULTS_WRITTEN = Counter(
    "doodle_results_games_written_total", "Games written to the results database, by result "
    "(inserted, duplicate)", ["result"],
)
RESULTS_WRITE_ERRORS = Counter(
    "doodle_results_write_errors_total", "Failed attempts to write a game to the database",
)
RESULTS_DEAD_LETTERS = Counter(
    "doodle_results_dead_letters_total",
    "Outbox entries set aside because they can never be written (kept for a human to inspect)",
)
