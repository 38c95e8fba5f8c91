from tests.privacy.conftest import mariadb_session_url, results_engine  # noqa: F401
