"""A database of a test's own on the machine's shared MariaDB (127.0.0.1:3306, root)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest

MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """Create an empty utf8mb4 database named `<prefix>_<random>`, yield its SQLAlchemy URL
    (aiomysql), drop it afterwards. A MariaDB that is down fails the test with what to do."""
    try:
        conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="",
                               connect_timeout=5)
    except pymysql.MySQLError:
        pytest.fail("MariaDB on 127.0.0.1:3306 is down: run scripts/ensure_services.sh")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield f"mysql+aiomysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
