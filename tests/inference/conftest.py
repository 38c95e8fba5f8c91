"""Fixtures for the inference pool tests: throwaway models and a raster that can be held up.

The models are random-weight CNNs in the shipped format (`bench/inference/toy_model.py`), built
once per session in a temporary directory, so these tests never depend on `models/`.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

STALL_MARK = -7777.0  # a stroke starting at x == STALL_MARK holds the worker (see below)
STALL_ENV = "DOODLE_TEST_STALL_FILE"


class IncrementalRaster:
    """`inference.raster.IncrementalRaster`, except that a stroke starting at x == STALL_MARK
    blocks while the file named by $DOODLE_TEST_STALL_FILE exists.

    The worker-crash tests use it to hold a request in flight for as long as they need (they
    kill the worker meanwhile), instead of racing a fast worker. Workers import it as
    `tests.inference.conftest`.
    """

    def __init__(self, spec):
        from inference.raster import IncrementalRaster as Real

        self._real = Real(spec)

    def add_stroke(self, stroke):
        if len(stroke) and stroke[0][0] == STALL_MARK:
            flag = os.environ.get(STALL_ENV)
            while flag and os.path.exists(flag):
                time.sleep(0.01)  # inside the worker: stands in for a very slow computation
            return
        self._real.add_stroke(stroke)

    def image(self):
        return self._real.image()


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory) -> Path:
    """A models/ tree with one model per category (animals, food)."""
    from bench.inference.toy_model import build_toy_models_dir

    return build_toy_models_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def shared_toy_models(tmp_path_factory) -> Path:
    """A models/ tree whose one model serves both categories through label masks."""
    from bench.inference.toy_model import build_toy_models_dir

    return build_toy_models_dir(tmp_path_factory.mktemp("shared_models"), shared=True)
