"""`python -m bench.baseline_server`: serve the reference first version on HOST:PORT."""
from __future__ import annotations

import os

import uvicorn


def main() -> None:
    uvicorn.run("bench.baseline_server.app:app", host=os.environ.get("HOST", "127.0.0.1"),
                port=int(os.environ.get("PORT", "8100")), log_level="warning")


if __name__ == "__main__":
    main()
