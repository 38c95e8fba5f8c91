"""Build the one C extension, `inference._fastpath` (everything else is in pyproject.toml).

Optional: without a C compiler the install still succeeds and the same code runs in Python
(`inference.raster` falls back), only slower. -ffp-contract=off: no fused multiply-add, so the
C arithmetic gives the very bits of its Python twin (tests/inference/test_fastpath.py).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "inference._fastpath",
            ["inference/_fastpath.c"],
            extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
            optional=True,
        )
    ]
)
