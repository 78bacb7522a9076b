"""Coverage: what the logs of a period hold, and what they lack, as part of the answer.

A period with no logs gives no findings, and that is not a clean bill. For a period and its
accounts this says, from the query modules coverage_hours and coverage_accounts: per account
and region the database holds logs of (a region that delivered nothing the whole period too),
the days of the period with no event held and, on the other days, the hours without one; the
accounts of the organization (as its state rebuilt from the logs knows them) with no logs in
the period at all; how many records ingest could not read. Any of these makes the coverage
incomplete, and `warnings` says so in a sentence each.

An hour or a day without events is one where nothing was delivered: CloudTrail writes a file
every few minutes per account and region while there is activity, so nothing happened then or
its files are missing, and the logs cannot tell which. Quiet hours in a quiet region are common,
which is why they are listed and counted but a day without events, or an account without any,
is what makes coverage incomplete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from trailscope import schema
from trailscope.period import Period, iso

if TYPE_CHECKING:
    from trailscope.analysis import Analysis

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def logs_window(analysis: Analysis) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and last event the database holds (None, None when it holds none), of those
    at possible times: ingest rejects the others, and a database written otherwise may hold
    infinity or year 9999, which would make a report's period endless."""
    first, last = analysis.rows(
        "select min(event_time), max(event_time) from events "
        "where event_time between $began and $latest",
        began=schema.CLOUDTRAIL_BEGAN,
        latest=dt.datetime.now(dt.UTC) + schema.FUTURE_SLACK,
    )[0]
    return first, last


def _runs(
    starts: Iterable[dt.datetime], step: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Consecutive steps as (first, end) pairs, end exclusive."""
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for t in sorted(starts):
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], t + step)
        else:
            out.append((t, t + step))
    return out


def _day_ranges(days: Iterable[dt.datetime]) -> list[dict[str, Any]]:
    return [
        {"from": f"{a:%Y-%m-%d}", "to": f"{b - DAY:%Y-%m-%d}", "days": (b - a).days}
        for a, b in _runs(days, DAY)
    ]


def _hour_ranges(hours: Iterable[dt.datetime]) -> list[dict[str, Any]]:
    return [
        {"from": iso(a), "until": iso(b), "hours": (b - a) // HOUR} for a, b in _runs(hours, HOUR)
    ]


def _steps(start: dt.datetime, until: dt.datetime, step: dt.timedelta) -> int:
    """How many days or hours from `start` (one's beginning) the period up to `until` lasts
    into: a period ending on a boundary (--until 2026-10-08T00:00:00Z) ends with the step
    before it, and one that is an instant lasts into its own."""
    return max(1, -((start - until) // step))


def days_text(ranges: Sequence[dict[str, Any]]) -> str:
    """Day ranges as one line: 2026-10-01 to 2026-10-04, 2026-10-10."""
    return ", ".join(r["from"] if r["days"] == 1 else f"{r['from']} to {r['to']}" for r in ranges)


def hours_text(ranges: Sequence[dict[str, Any]]) -> str:
    """Hour ranges as one line, by day: 2026-10-05 00-06h, 19-24h; 2026-10-06 ..."""
    by_day: dict[str, list[str]] = {}
    for r in ranges:
        start = dt.datetime.fromisoformat(r["from"])
        end = dt.datetime.fromisoformat(r["until"])
        while start < end:  # a run across midnight is cut at it
            stop = min(end, (start + DAY).replace(hour=0))
            to = 24 if stop.hour == 0 else stop.hour
            by_day.setdefault(f"{start:%Y-%m-%d}", []).append(f"{start.hour:02d}-{to:02d}h")
            start = stop
    return "; ".join(f"{day} {', '.join(spans)}" for day, spans in by_day.items())


def coverage(analysis: Analysis, period: Period, accounts: Sequence[str] = ()) -> dict[str, Any]:
    """What the logs hold of `period` (the logs' own window where it has no bound) for
    `accounts` (all when empty), as JSON-ready data: since, until, days (of the period),
    events, complete, empty, days_without_logs (day ranges no account and region in scope has
    an event in), pairs (per account and region the database holds events of, in the period or
    not, so that a region silent the whole period is a gap: events, first and last hour, days
    with events, missing_days and missing (day ranges; of a pair silent the whole period, the
    days the period covers whole), quiet_hours and quiet (hour ranges, on the other days),
    with their text), accounts_without_logs, rejected (records ingest could
    not read: they may belong here) and warnings."""
    first, last = logs_window(analysis)
    since = period.since or first or period.until
    until = period.until or (max(last, since) if last and since else last or since)
    if since is None or until is None:  # an empty database and no bounds: nothing to cover
        since = until = dt.datetime.now(UTC)
    since = min(since, until)  # a bound past the logs' other end: its own day
    values = {"since": since, "until": until}
    where = "list_contains($accounts, account_id)" if accounts else ""
    hours = analysis.run("coverage_hours", where=where, accounts=list(accounts), **values)
    known = analysis.run("coverage_accounts", where=where, accounts=list(accounts), **values)
    (rejected,) = analysis.rows("select count(*) from rejected")[0]

    day0 = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    period_days = [day0 + DAY * i for i in range(_steps(day0, until, DAY))]
    hour0 = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    period_hours = [hour0 + HOUR * i for i in range(_steps(hour0, until, HOUR))]
    held: dict[tuple[str, str], dict[dt.datetime, int]] = {}
    for account, region, hour, n in hours.iter_rows():
        per_hour = held.setdefault((account, region), {})
        if hour is not None:  # None: the pair has events only outside the period
            per_hour[hour.astimezone(UTC)] = n
    # the days the period covers whole: where a pair has no event in the period at all, the
    # others (an incident's hours of a day) are quiet hours of it, the day may have events
    whole = [d for d in period_days if d >= since and d + DAY <= until + SECOND]
    pairs = []
    any_day: set[dt.datetime] = set()
    for (account, region), per_hour in held.items():
        days = {h.replace(hour=0) for h in per_hour}
        any_day |= days
        lacking = {d for d in (period_days if days else whole) if d not in days}
        missing = _day_ranges(lacking)
        quiet = _hour_ranges(
            h for h in period_hours if h.replace(hour=0) not in lacking and h not in per_hour
        )
        pairs.append(
            {
                "account_id": account,
                "aws_region": region,
                "events": sum(per_hour.values()),
                "first_hour": iso(min(per_hour, default=None)),
                "last_hour": iso(max(per_hour, default=None)),
                "days_with_events": len(days),
                "missing_days": sum(r["days"] for r in missing),
                "missing": missing,
                "missing_text": days_text(missing),
                "quiet_hours": sum(r["hours"] for r in quiet),
                "quiet": quiet,
                "quiet_text": hours_text(quiet),
            }
        )
    without = [
        {
            "account_id": r["account_id"],
            "why": "member" if r["member"] else "asked for",
            "member_from": iso(r["member_from"]),
            "member_until": iso(r["member_until"]),
            "member_known": r["member_known"],
        }
        for r in known.iter_rows(named=True)
        if r["events"] == 0 and (r["member"] or accounts)
    ]
    seen = {r["account_id"] for r in known.iter_rows(named=True)}
    without += [  # an account asked for is expected, whether or not the state knows it
        {
            "account_id": a,
            "why": "asked for",
            "member_from": None,
            "member_until": None,
            "member_known": None,
        }
        for a in accounts
        if a not in seen
    ]
    no_logs = _day_ranges(d for d in period_days if d not in any_day)
    events = sum(p["events"] for p in pairs)
    result: dict[str, Any] = {
        "since": iso(since),
        "until": iso(until),
        "days": len(period_days),
        "events": events,
        "empty": events == 0,
        "days_without_logs": no_logs,
        "days_without_logs_text": days_text(no_logs),
        "pairs": pairs,
        "accounts_without_logs": without,
        "rejected": rejected,
    }
    result["warnings"] = _warnings(result)
    result["complete"] = not result["warnings"]
    return result


def _warnings(c: dict[str, Any]) -> list[str]:
    """What makes the coverage incomplete, a sentence each."""
    out = []
    if c["empty"]:
        out.append(
            f"No logs at all: the database holds no event of this scope from {c['since']} to "
            f"{c['until']}. No finding here means nothing was looked at, not that all is well."
        )
    else:
        missing = sum(r["days"] for r in c["days_without_logs"])
        if missing:
            out.append(
                f"No logs at all on {missing} of the period's {c['days']} days: "
                f"{c['days_without_logs_text']}."
            )
        gaps = [p for p in c["pairs"] if p["missing_days"] > missing]
        if gaps:
            out.append(
                f"{len(gaps)} of the {len(c['pairs'])} account/region pairs with logs lack "
                "further days of the period (see Coverage)."
            )
    for why, who in (
        ("member", "Members of the organization"),
        ("asked for", "Accounts asked for"),
    ):
        if names := [a["account_id"] for a in c["accounts_without_logs"] if a["why"] == why]:
            out.append(f"{who} with no logs at all in the period: {', '.join(names)}.")
    if c["rejected"]:
        out.append(
            f"{c['rejected']:,} record(s) could not be read at ingest (see Not ingested); they "
            "may belong to this period."
        )
    return out
