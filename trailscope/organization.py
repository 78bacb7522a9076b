"""The organization's access state, rebuilt from the logs alone: thin calls over the org query
modules (org_state_at, org_state_intervals, org_state_changes, organization_identity)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from trailscope import analysis

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from trailscope.trail import Trail

# the kinds of state org_state_at and org_state_intervals report, in their order
KINDS = (
    "delegated_admin",
    "management_account",
    "membership",
    "root_feature",
    "service_linked_role",
    "trusted_access",
)


def _con(source: Trail | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    from trailscope.trail import Trail

    return source.con if isinstance(source, Trail) else source


def state_at(
    source: Trail | duckdb.DuckDBPyConnection, at: datetime | str
) -> dict[str, pl.DataFrame]:
    """The state at `at` (UTC when naive), one frame per kind in KINDS (empty when the logs say
    nothing of that kind). Rows whose `known` is false were inferred, not seen."""
    df = analysis.run_query(_con(source), analysis.get_query("org_state_at"), at=at)
    return {kind: df.filter(df["kind"] == kind) for kind in KINDS}


def intervals(source: Trail | duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every interval of every kind of state, for joins on time ranges."""
    return analysis.run_query(_con(source), analysis.get_query("org_state_intervals"))


def changes(source: Trail | duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every attempted change, succeeded or failed, with whether the caller was allowed."""
    return analysis.run_query(_con(source), analysis.get_query("org_state_changes"))


def identity(
    source: Trail | duckdb.DuckDBPyConnection,
    management_account: str = "",
    organization_id: str = "",
) -> pl.DataFrame:
    """What the logs show of the management account and organization ID, against what the
    caller states (empty: not stated)."""
    return analysis.run_query(
        _con(source),
        analysis.get_query("organization_identity"),
        management_account=management_account,
        organization_id=organization_id,
    )
