"""A raster module that draws nothing: benchmarks use it to measure the pool without rasterising.

Same interface as `inference.raster.IncrementalRaster`; never used to serve.
"""
from __future__ import annotations

import numpy as np


class IncrementalRaster:
    def __init__(self, spec: dict) -> None:
        size = int(spec["size"])
        self._image = np.zeros((size, size, len(spec.get("channels", ["ink"]))), np.float32)

    def add_stroke(self, stroke) -> None:
        pass

    def image(self) -> np.ndarray:
        return self._image
