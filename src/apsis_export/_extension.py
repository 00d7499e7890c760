"""The compiled extension (``_native.c``), built at install when a C compiler is there.

Its parts serve different rooms: the fast engine's compiled step (``_engines/_compiled.py``)
and the JSONL sink's join of lines (``sinks/_jsonl.py``) each take theirs from here, so no
sink imports an engine. ``APSIS_EXPORT_PURE=1`` in the environment switches it off.
"""

from __future__ import annotations

import os

try:
    from . import _native as native
except ImportError:  # installed without a C compiler
    native = None  # type: ignore[assignment]  # typed as the module (_native.pyi); None only here

#: True when the extension is built and not switched off by APSIS_EXPORT_PURE=1.
ENABLED = native is not None and os.environ.get("APSIS_EXPORT_PURE", "") in ("", "0")
