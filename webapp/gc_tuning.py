"""Garbage collector settings for a serving process.

By default CPython runs a young collection every 700 container allocations, and every tenth of those rescans
the objects that survived: tens of thousands of them, loaded once at import (FastAPI, pydantic, Jinja2, Dramatiq)
and never freed. A request allocates a few thousand containers, so the collector ran several times per request
and cost about a seventh of the job partial's time, plus tail latency (see bench/README.md).
"""

from __future__ import annotations

import gc

#: Young collections every 50 000 allocations instead of 700; older generations rarer in proportion.
SERVING_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_serving() -> None:
    """Once startup is done: what exists now lives as long as the process, so the collector stops scanning it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
