"""A raster module that draws nothing: benchmarks use it to measure the pool without rasterising.

Same interface as `inference.raster.IncrementalRaster`; never used to serve.
"""
from __future__ import annotations

from array import array

import numpy as np


class IncrementalRaster:
    def __init__(self, spec: dict) -> None:
        size = int(spec["size"])
        self._image = np.zeros((size, size, len(spec.get("channels", ["ink"]))), np.float32)

    def add_stroke(self, stroke) -> None:
        pass

    def image(self) -> np.ndarray:
        return self._image

    def simplified_flat(self, epsilon: float = 2.0) -> tuple[array, array, list[int]]:
        """No vertices: a model that reads points too gets an all-zero sequence (without this
        every request of such a model failed, and the scenario measured failures)."""
        return array("d"), array("d"), []
