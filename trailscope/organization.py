"""The organization's access state, rebuilt from the logs alone: thin calls over the org query
modules (org_state_at, organization_identity; org_state_intervals and org_state_changes are
queries of their own)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from trailscope.analysis import Analysis

# the kinds of state org_state_at and org_state_intervals report, in their order
KINDS = (
    "delegated_admin",
    "management_account",
    "membership",
    "root_feature",
    "service_linked_role",
    "trusted_access",
)


def state_at(analysis: Analysis, at: datetime) -> dict[str, pl.DataFrame]:
    """The state at `at`, one frame per kind in KINDS (empty when the logs say nothing of that
    kind). Rows whose `known` is false were inferred, not seen."""
    df = analysis.run("org_state_at", at=at)
    return {kind: df.filter(df["kind"] == kind) for kind in KINDS}


def identity(
    analysis: Analysis, management_account: str = "", organization_id: str = ""
) -> pl.DataFrame:
    """What the logs show of the management account and organization ID, against what the
    caller states (empty: not stated)."""
    return analysis.run(
        "organization_identity",
        management_account=management_account,
        organization_id=organization_id,
    )
