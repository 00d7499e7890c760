"""The one compiled module, apsis_export._native (the fast engine's compiled step).

optional=True: where it cannot be built (no C compiler), the package installs without
it and the fast engine does the same work in Python, slower (docs/engines.md, docs/performance.md).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "apsis_export._native",
            ["src/apsis_export/_native.c"],
            optional=True,
            extra_compile_args=["-O2", "-std=c99"],
        )
    ]
)
