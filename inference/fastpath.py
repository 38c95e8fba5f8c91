"""The C build of the worker's per-stroke arithmetic (`inference/_fastpath.c`), or None.

`setup.py` compiles it when the project is installed (`make` does); without a C compiler the
install still works and `inference.raster` / `inference.sequence` run the same arithmetic in
Python, with the same results bit for bit (tests/inference/test_fastpath.py), about twice as
slowly per stroke. `INFERENCE_PURE_PYTHON=1` turns the C build off (to compare the two).
"""
from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("INFERENCE_PURE_PYTHON", "").strip().lower() in ("1", "true", "yes"):
        return None
    try:
        from inference import _fastpath
    except ImportError:
        return None
    return _fastpath


#: The compiled module, or None (not built, or turned off).
fast: ModuleType | None = _load()
