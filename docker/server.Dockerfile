# syntax=docker/dockerfile:1
# The Doodle Quest game server: FastAPI + WebSockets, with its LiteRT inference worker pool
# (worker processes inside the container, see inference/pool.py).
#
#   docker build -f docker/server.Dockerfile -t doodle-quest/server .      # from the repo root
#
# The same image runs the one-shot migration (`python -m legacy_bridge migrate`) and the demo
# Spring stand-in (`python -m legacy_bridge.standin`); see docker/compose.yaml.

# 0. The C part of the worker's per-stroke arithmetic (inference/_fastpath.c, see setup.py),
#    compiled in the full image, which has a compiler; the slim image below has none. Same
#    Python and Debian release, so the same ABI. Without it the server still works (the same
#    arithmetic in Python, bit for bit), at about half the guesses a core.
FROM python:3.11.14-bookworm AS fastpath
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY inference/_fastpath.c inference/
RUN pip install --no-cache-dir setuptools==80.9.0 \
    && python setup.py build_ext --inplace \
    && ls inference/_fastpath*.so

# Pinned by exact version: bump it on purpose (and rebuild), never by surprise.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# 1. Third-party packages first, in their own layer: a code change does not re-download
#    TensorFlow. The list is the [project] dependencies of pyproject.toml (not the dev extra),
#    each held to the exact version in constraints.txt.
#    greenlet: SQLAlchemy's asyncio engine needs it, and sqlalchemy 2.1 no longer installs it
#    unless asked for (`sqlalchemy[asyncio]`); in the dev venv it only comes with playwright.
COPY pyproject.toml constraints.txt README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt greenlet \
    && rm /tmp/requirements.txt

# 2. The project itself, installed the same way `make` does (minus the dev extra). The wheel
#    holds only the .py files, so the server runs from these sources in /app (the page under
#    server/static and the Alembic files under legacy_bridge/results are not in the wheel).
COPY server/ server/
COPY game/ game/
COPY inference/ inference/
COPY legacy_bridge/ legacy_bridge/
COPY models/ models/
COPY --from=fastpath /src/inference/_fastpath*.so inference/
RUN pip install -c constraints.txt . \
    && rm -rf build ./*.egg-info

# An unprivileged user; DATA_DIR (the local SQLite fallback outbox and the last good topic set)
# is the only place it writes. Mount a volume there (compose gives each replica its own).
RUN groupadd --system --gid 10001 dq \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/doodle-quest --create-home dq \
    && chmod 0750 /var/lib/doodle-quest
USER 10001:10001

# Settings (see the README's table). HOST must be 0.0.0.0 inside a container.
ENV PYTHONPATH=/app \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/var/lib/doodle-quest \
    MODELS_DIR=/app/models
EXPOSE 8000

# /healthz answers once the lifespan has opened the store, the worker pool and the result sink.
# The slim image has no curl: Python's urllib does the probe.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "server"]
