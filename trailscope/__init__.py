"""trailscope: who used root-level power in an AWS organization, from CloudTrail alone.

import trailscope
trail = trailscope.Trail("trail.duckdb")
trail.ingest("sample_logs/")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Query", "Trail", "TrailscopeError", "__version__"]

if TYPE_CHECKING:
    from trailscope.analysis import Query
    from trailscope.errors import TrailscopeError
    from trailscope.trail import Trail

_LAZY = {
    "Trail": "trailscope.trail",
    "Query": "trailscope.analysis",
    "TrailscopeError": "trailscope.errors",
}


def __getattr__(name: str) -> Any:
    # PEP 562: `import trailscope.cli` must not pull in duckdb, polars or pyarrow.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trailscope' has no attribute {name!r}")
