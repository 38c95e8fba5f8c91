"""Training of the recognition models (`python -m inference.train`)."""
