"""Forensic pivots: from one suspicious thing (an access key, a principal, a session, an IP, an
account) to everything connected to it, in time order, and what each identity did.

Both run query modules (queries/timeline.sql, queries/identity_summary.sql) with the pivots
as DuckDB named parameters; the credential lineage they rest on is in queries/credential_*.sql.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from trailscope.errors import TrailscopeError
from trailscope.sources import parse_time

if TYPE_CHECKING:
    import polars as pl

    from trailscope.trail import Trail


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
    or owns the caller. since/until: bound the rows returned. follow: add what was done with
    keys issued, hop after hop, from the matching events' keys.
    """

    access_key: str | None = None
    principal: str | None = None
    principal_like: str | None = None
    session: str | None = None
    ip: str | None = None
    account: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    follow: bool = False

    @classmethod
    def make(
        cls,
        *,
        access_key: str | None = None,
        principal: str | None = None,
        principal_like: str | None = None,
        session: str | None = None,
        ip: str | None = None,
        account: str | None = None,
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
        follow: bool = False,
    ) -> Pivots:
        """Pivots from user input: empty strings mean not given; since/until are a day (its
        start, or for until its end) or an ISO time, UTC unless it says otherwise."""
        return cls(
            access_key=access_key or None,
            principal=principal or None,
            principal_like=principal_like or None,
            session=session or None,
            ip=ip or None,
            account=account or None,
            since=parse_time(since, end=False),
            until=parse_time(until, end=True),
            follow=follow,
        )

    def given(self) -> bool:
        """Whether anything narrows the events down."""
        return any(v is not None for k, v in asdict(self).items() if k != "follow")

    def params(self) -> dict[str, Any]:
        return asdict(self)


def timeline(
    trail: Trail,
    *,
    access_key: str | None = None,
    principal: str | None = None,
    principal_like: str | None = None,
    session: str | None = None,
    ip: str | None = None,
    account: str | None = None,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    follow: bool = False,
) -> pl.DataFrame:
    """Every event connected to the pivots, in time order: the matching events, the calls that
    issued their keys, and with `follow` everything done downstream of those keys; each row
    with its key's lineage (origin_kind, origin, origin_in_logs, depth)."""
    pivots = Pivots.make(
        access_key=access_key,
        principal=principal,
        principal_like=principal_like,
        session=session,
        ip=ip,
        account=account,
        since=since,
        until=until,
        follow=follow,
    )
    if not pivots.given():
        raise NoPivot(
            "a timeline needs a pivot: an access key, principal, session, IP, "
            "account or time range (the summary covers every identity)"
        )
    return trail.query("timeline", **pivots.params())


def summary(
    trail: Trail,
    *,
    access_key: str | None = None,
    principal: str | None = None,
    principal_like: str | None = None,
    session: str | None = None,
    ip: str | None = None,
    account: str | None = None,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    follow: bool = False,
) -> pl.DataFrame:
    """One row per identity, over the events the pivots select (every event without them):
    event counts, first and last seen, APIs that succeeded and failed, regions, source IPs,
    user agents, access keys, accounts and key origins; most events first."""
    pivots = Pivots.make(
        access_key=access_key,
        principal=principal,
        principal_like=principal_like,
        session=session,
        ip=ip,
        account=account,
        since=since,
        until=until,
        follow=follow,
    )
    return trail.query("identity_summary", **pivots.params())
