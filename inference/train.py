"""`python -m inference.train`: see `inference.training.cli`."""
from inference.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
