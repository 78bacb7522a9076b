"""Forensic pivots: from one suspicious thing (an access key, a principal, a session, an IP, an
account) to everything connected to it, in time order, and what each identity did.

Both run query modules (queries/timeline.sql, queries/identity_summary.sql) with the pivots
as DuckDB named parameters. The credential lineage they rest on (queries/credential_*.sql) is
computed from the pivot's events: only the keys they reach are walked, up to their origin and,
with `follow`, down to the keys issued from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trailscope.errors import TrailscopeError
from trailscope.period import ALL_TIME, Period

if TYPE_CHECKING:
    import polars as pl

    from trailscope.analysis import Analysis


# what a terminal table shows by default; the other formats, and --columns all, every column
TIMELINE_COLUMNS = (
    "event_time",
    "reached",
    "account_id",
    "event_name",
    "error_code",
    "identity_arn",
    "access_key_id",
    "source_ip",
    "origin_kind",
)
SUMMARY_COLUMNS = (
    "identity",
    "events",
    "failed_events",
    "first_seen",
    "last_seen",
    "regions",
    "source_ips",
    "access_keys",
)


class NoPivot(TrailscopeError):
    """A timeline was asked for with nothing to pivot on."""


@dataclass(frozen=True)
class Pivots:
    """What to select events by: every pivot given must match (see queries/timeline.sql).

    access_key: the key that signed the event. principal: exactly the caller's ARN, principal
    ID, session issuer (a role's ARN: all its sessions) or invoking service. principal_like: a
    case-insensitive part of one of those or of the user name. session: a role or federated
    session ARN, an issued access key, or the eventID of the call that issued it (an
    AssumeRoot session's ID). ip: the source IP. account: the account that received the event
    or owns the caller. period: bounds the rows returned. follow: add what was done with keys
    issued, hop after hop, from the matching events' keys. Empty strings count as not given.
    """

    access_key: str | None = None
    principal: str | None = None
    principal_like: str | None = None
    session: str | None = None
    ip: str | None = None
    account: str | None = None
    period: Period = ALL_TIME
    follow: bool = False

    def given(self) -> bool:
        """Whether anything narrows the events down."""
        return self.period.bounded() or any(self._pivots().values())

    def _pivots(self) -> dict[str, str | None]:
        return {
            "access_key": self.access_key or None,
            "principal": self.principal or None,
            "principal_like": self.principal_like or None,
            "session": self.session or None,
            "ip": self.ip or None,
            "account": self.account or None,
        }

    def params(self) -> dict[str, Any]:
        """The modules' parameters."""
        return {**self._pivots(), **self.period.params(), "follow": self.follow}


def timeline(analysis: Analysis, pivots: Pivots) -> pl.DataFrame:
    """Every event connected to the pivots, in time order: the matching events, the calls that
    issued their keys, and with `follow` everything done downstream of those keys; each row
    with its key's lineage (origin_kind, origin, origin_in_logs, depth)."""
    if not pivots.given():
        raise NoPivot(
            "a timeline needs a pivot: an access key, principal, session, IP, "
            "account or time range (the summary covers every identity)"
        )
    return analysis.run("timeline", **pivots.params())


def summary(analysis: Analysis, pivots: Pivots) -> pl.DataFrame:
    """One row per identity, over the events the pivots select (every event without them):
    event counts, first and last seen, APIs that succeeded and failed, regions, source IPs,
    user agents, access keys, accounts and key origins; most events first."""
    return analysis.run("identity_summary", **pivots.params())
