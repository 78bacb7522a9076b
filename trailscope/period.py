"""One notion of time: a period between two UTC instants, parsed once where the user gave it.

A bare day as `since` is its first moment and as `until` its last, everywhere (`--until
2026-10-07` keeps that whole day); an ISO time keeps the zone it names, and one without a zone
is UTC. The CLI parses its options with `parse_time`, the library (Trail) its arguments with
`Period.of`; below them everything takes a `Period` and filters in SQL with its conditions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trailscope.errors import TrailscopeError

UTC = dt.UTC
Moment = str | dt.datetime | dt.date | None


class BadTime(TrailscopeError):
    """A since, until or month that is not a date or time."""


def parse_time(value: Moment, *, end: bool) -> dt.datetime | None:
    """A day (the whole of it: its start, or with `end` its last moment) or an ISO time, in
    UTC; None or an empty string for no bound."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, dt.date):
        t = dt.datetime.combine(value, dt.time.max if end else dt.time.min)
    else:
        try:  # a day: --until 2024-01-31 means the whole of that day
            return parse_time(dt.date.fromisoformat(value), end=end)
        except ValueError:
            pass
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError as e:
            raise BadTime(
                f"not a date or ISO time: {value!r} (use 2024-01-31 or 2024-01-31T12:00:00Z)"
            ) from e
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: dt.datetime | None) -> str | None:
    """A time as every output writes it: ISO 8601 in UTC with a Z, to the second."""
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Period:
    """From `since` to `until`, both included; None is no bound on that side."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def of(cls, since: Moment = None, until: Moment = None) -> Period:
        """The period the user asked for (see parse_time); its since after its until is a
        typo, not a period without logs."""
        period = cls(parse_time(since, end=False), parse_time(until, end=True))
        if period.since is not None and period.until is not None and period.since > period.until:
            raise BadTime(
                f"--since {iso(period.since)} is after --until {iso(period.until)}: "
                "no period lies between them"
            )
        return period

    @classmethod
    def month(cls, month: str) -> Period:
        """The calendar month YYYY-MM, in UTC."""
        try:
            first = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        except ValueError as e:
            raise BadTime(f"--month takes YYYY-MM, not {month!r}") from e
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return cls(first, following - dt.timedelta(microseconds=1))

    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def conditions(self, column: str) -> list[str]:
        """SQL conditions keeping rows whose `column` is in the period, with the named
        parameters $since and $until (see params)."""
        return [
            *([f"{column} >= $since"] if self.since is not None else []),
            *([f"{column} <= $until"] if self.until is not None else []),
        ]

    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


ALL_TIME = Period()  # no bound on either side
