"""`python -m legacy_bridge.standin --port 8081 [--api-key dev-key]`: the stand-in with sample data."""
from __future__ import annotations

import argparse

import uvicorn

from .app import create_app, sample_state


def main() -> None:
    parser = argparse.ArgumentParser(description="Stand-in for the school's Spring service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--api-key", default="dev-key")
    args = parser.parse_args()
    print(f"Spring stand-in on http://{args.host}:{args.port}  (X-Api-Key: {args.api_key}); "
          f"faults: POST /__standin/fault?kind=status&status=503&count=3")
    uvicorn.run(create_app(sample_state(args.api_key)), host=args.host, port=args.port,
                log_level="info")


if __name__ == "__main__":
    main()
