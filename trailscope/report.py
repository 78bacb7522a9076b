"""What a report says, as plain data: the scope, the inputs it rests on, what the logs cover,
the organization's state, the root sessions and findings, and a timeline to draw.

Templates get this dict and nothing else (no DataFrames), so a user's template can be written
against `trailscope report --format json`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope import __version__, findings, integrity, schema, sessions
from trailscope.errors import TrailscopeError
from trailscope.output import times_python_holds
from trailscope.period import ALL_TIME, Period

if TYPE_CHECKING:
    import polars as pl

    from trailscope.analysis import Analysis

UTC = dt.UTC
SEVERITIES = findings.SEVERITIES


@dataclass(frozen=True)
class Scope:
    """What a report looks at. Empty means everything the database holds."""

    period: Period = ALL_TIME
    accounts: tuple[str, ...] = ()
    principal: str | None = None
    session: str | None = None
    title: str = "Root activity report"

    @classmethod
    def month(cls, month: str, **kw: Any) -> Scope:
        """The calendar month YYYY-MM, in UTC."""
        period = Period.month(month)
        assert period.since is not None
        return cls(period=period, title=f"Monthly root activity report, {period.since:%B %Y}", **kw)

    @classmethod
    def of(
        cls,
        *,
        month: str | None = None,
        period: Period = ALL_TIME,
        accounts: Sequence[str] = (),
        principal: str | None = None,
        session: str | None = None,
    ) -> Scope:
        """A calendar month's report, or an incident report when anything narrows it, or the
        report of everything."""
        kw: dict[str, Any] = {
            "accounts": tuple(accounts),
            "principal": principal,
            "session": session,
        }
        if month:
            return cls.month(month, **kw)
        focused = principal or session or accounts or period.bounded()
        return cls(period=period, title="Incident report" if focused else cls.title, **kw)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.period.since),
            "until": _iso(self.period.until),
            "accounts": list(self.accounts),
            "principal": self.principal,
            "session": self.session,
            "title": self.title,
        }


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Plain rows: times as ISO text in UTC (unknown where Python cannot hold one), everything
    else as is."""
    out = []
    for row in times_python_holds(df).rows(named=True):
        out.append(
            {
                k: _iso(v)
                if isinstance(v, dt.datetime)
                else (v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in row.items()
            }
        )
    return out


def build(
    analysis: Analysis,
    scope: Scope,
    *,
    generated_at: dt.datetime | None = None,
    allow_list: str | Path | None = None,
) -> dict[str, Any]:
    """Everything a report shows, as JSON-ready data. Each part is selected in SQL by the
    scope: its period (the logs' own when it has none), accounts, principal and session."""
    # the period the events span, of those at possible times (ingest rejects the others; a
    # database written otherwise may hold infinity or year 9999, which would make it endless)
    first, last = analysis.con.sql(
        "select min(event_time), max(event_time) from events "
        "where event_time between $began and $latest",
        params={
            "began": schema.CLOUDTRAIL_BEGAN,
            "latest": dt.datetime.now(UTC) + schema.FUTURE_SLACK,
        },
    ).fetchall()[0]
    if first is None:
        raise TrailscopeError(f"{analysis.database} holds no events: nothing to report")
    period = Period(scope.period.since or first, scope.period.until or last)
    assert period.since is not None and period.until is not None
    accounts = list(scope.accounts)
    root_sessions = sessions.sessions(
        analysis,
        period=period,
        accounts=accounts,
        caller_like=scope.principal,
        session=scope.session,
    )
    ids = None
    if scope.session:  # one root session: its findings, by the call's eventID or the issued key
        ids = [*root_sessions["session_id"], *root_sessions["access_key_id"].drop_nulls()]
    raised = findings.findings(
        analysis,
        period=period,
        accounts=accounts,
        principal_like=scope.principal,
        session_ids=ids,
        allow_list=allow_list,
    )
    raised = (
        raised.with_columns(
            rank=raised["severity"].replace_strict(SEVERITIES, list(range(5)), default=5)
        )
        .sort("rank", "event_time", "finding_id")
        .drop("rank")
    )
    long_term = ["false"] if scope.session else period.conditions("event_time")
    if accounts:
        long_term.append("list_contains($accounts, account_id)")
    if scope.principal:  # the root user of the account, as a caller's ARN
        long_term.append(
            "contains(concat('arn:aws:iam::', account_id, ':root'), lower($principal))"
        )
    credentials = []
    if accounts:
        credentials.append("list_contains($accounts, account_id)")
    if scope.session:
        credentials.append("list_contains($targets, account_id)")
    changes = period.conditions("event_time")
    if accounts:
        changes.append(
            "(list_contains($accounts, account_id) or list_contains($accounts, actor_account))"
        )
    values = {
        **period.params(),
        "accounts": accounts,
        "principal": scope.principal,
        "targets": root_sessions["target_account_id"].drop_nulls().to_list(),
    }
    context: dict[str, Any] = {
        "title": scope.title,
        "scope": scope.as_dict(),
        "period": {
            "since": _iso(period.since),
            "until": _iso(period.until),
            "logs_first": _iso(first),
            "logs_last": _iso(last),
        },
        "generated_at": _iso(generated_at or dt.datetime.now(UTC)),
        "version": __version__,
        "inputs": _inputs(analysis),
        "coverage": _coverage(analysis, period, accounts),
        "rejected": _rows(analysis.run("rejected_inputs").head(50)),
        # the organization's state at the end of the period (within the logs' window)
        "state": _rows(analysis.run("org_state_at", at=min(period.until, last))),
        "changes": _rows(analysis.run("org_state_changes", where=" and ".join(changes), **values)),
        "findings": _rows(raised),
        "counts": _counts(raised),
        "sessions": _session_rows(root_sessions, raised),
        "long_term_root": _rows(
            analysis.run("root_long_term_activity", where=" and ".join(long_term), **values)
        ),
        "credentials": _rows(
            analysis.run("root_credentials", where=" and ".join(credentials), **values)
        ),
    }
    context["timeline"] = _timeline(context, period.since, period.until)
    context["integrity"] = integrity.section(analysis, period.since, period.until, accounts)
    return context


def _counts(raised: pl.DataFrame) -> dict[str, Any]:
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_severity.update(raised.group_by("severity").len().iter_rows())
    by_check = dict(sorted(raised.group_by("check").len().iter_rows()))
    accepted = int(raised["accepted"].sum()) if len(raised) else 0
    return {
        "total": len(raised),
        "severity": by_severity,
        "check": by_check,
        "accepted": accepted,
    }


SESSION_CHECKS = ("duration", "task_scope", "authorization")


def _session_rows(root_sessions: pl.DataFrame, raised: pl.DataFrame) -> list[dict[str, Any]]:
    """Each session with the verdict of its three checks: the worst finding, or ok."""
    worst: dict[tuple[str, str], str] = {}
    for row in raised.iter_rows(named=True):
        key = (row["session_id"] or "", row["check"])
        if key not in worst:  # findings come worst first
            worst[key] = row["severity"]
    rows = _rows(root_sessions.sort("issued_at", "session_id", nulls_last=True))
    for row in rows:
        row["checks"] = {c: worst.get((row["session_id"], c), "ok") for c in SESSION_CHECKS}
        row["orphan"] = worst.get((row["session_id"], "orphan"))
    return rows


def _inputs(analysis: Analysis) -> dict[str, Any]:
    """What the report rests on, so it can be reproduced."""
    con = analysis.con
    files = {status: 0 for status in ("ingested", "empty", "rejected", "skipped")}
    files.update(con.sql("select status, count(*) from files group by 1").fetchall())
    runs = _rows(
        analysis.sql(
            "select run_id, started_at, finished_at, sources, trailscope_version "
            "from ingest_runs order by run_id"
        )
    )
    counts = con.sql(
        "select (select count(*) from events), (select count(*) from event_sources),"
        " (select count(*) from rejected)"
    ).fetchall()[0]
    return {
        "database": Path(analysis.database).name,
        "files": files,
        "runs": runs,
        "events": counts[0],
        "copies": counts[1],
        "rejected": counts[2],
    }


def _coverage(analysis: Analysis, period: Period, accounts: list[str]) -> list[dict[str, Any]]:
    """Per account and region: the days with events, and the days missing between them."""
    df = analysis.sql(
        """
        select account_id, aws_region, min(day) as first_day, max(day) as last_day,
               count(*) as days, sum(events) as events,
               list(day order by day) as present
        from (select recipient_account_id as account_id, aws_region,
                     cast(event_time as date) as day, count(*) as events
              from events
              where event_time between $since and $until
                and (len($accounts) = 0 or list_contains($accounts, recipient_account_id))
              group by all)
        group by all
        order by account_id, aws_region""",
        **period.params(),
        accounts=accounts,
    )
    out = []
    for row in df.rows(named=True):
        present = set(row.pop("present"))
        span = (row["last_day"] - row["first_day"]).days + 1
        gaps = [row["first_day"] + dt.timedelta(days=i) for i in range(span)]
        row["gaps"] = [d.isoformat() for d in gaps if d not in present]
        out.append({k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()})
    return out


TIMELINE_WIDTH = 960  # drawing units of the SVG's viewBox; it scales to the page


def _timeline(context: dict[str, Any], since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """Positions to draw, computed here so the template only places shapes: lanes of marks
    (a point in time) and bars (a span), each with the text of its tooltip."""
    span = max((until - since).total_seconds(), 1.0)

    def x(t: str | None) -> float:
        if t is None:
            return 0.0
        when = dt.datetime.fromisoformat(t)
        return round(max(0.0, min(1.0, (when - since).total_seconds() / span)) * TIMELINE_WIDTH, 1)

    session_marks: list[dict[str, Any]] = []
    session_bars: list[dict[str, Any]] = []
    for r in context["sessions"]:
        start = r["issued_at"] or r["first_event_at"]
        end = r["last_event_at"] or start
        worst = next((v for v in r["checks"].values() if v != "ok"), None) or r["orphan"]
        label = (
            f"{start} {r['session_kind']} {r['task_policy'] or ''} on "
            f"{r['target_account_id'] or ''} by {r['caller_arn'] or 'unknown caller'} "
            f"({r['outcome']})"
        )
        if r["outcome"] == "failed" or not r["events"]:
            session_marks.append(
                {
                    "x": x(start),
                    "kind": "failed" if r["outcome"] == "failed" else "change",
                    "label": label,
                }
            )
        else:
            session_bars.append(
                {
                    "x": x(start),
                    "w": max(x(end) - x(start), 2.0),
                    "kind": "finding" if worst else "ok",
                    "label": label,
                }
            )
    marks = [
        {
            "x": x(f["event_time"]),
            "kind": f["severity"],
            "label": f"{f['event_time']} {f['severity']}: {f['title']}",
        }
        for f in context["findings"]
    ]
    root = [
        {
            "x": x(e["event_time"]),
            "kind": "high",
            "label": f"{e['event_time']} {e['account_id']} {e['event_name']} ({e['credential']})",
        }
        for e in context["long_term_root"]
    ]
    lanes = [
        {"name": "root sessions", "marks": session_marks, "bars": session_bars},
        {"name": "findings", "marks": marks, "bars": []},
        {"name": "root, long-term", "marks": root, "bars": []},
        {
            "name": "organization changes",
            "marks": [
                {
                    "x": x(c["event_time"]),
                    "kind": "failed"
                    if c["outcome"] != "succeeded"
                    else ("finding" if c["finding"] else "change"),
                    "label": f"{c['event_time']} {c['action']} {c['subject'] or ''} ({c['outcome']})",
                }
                for c in context["changes"]
            ],
            "bars": [],
        },
    ]
    days = []
    day = since.replace(hour=0, minute=0, second=0, microsecond=0)
    if (until - since).days <= 62:
        while day <= until:
            if day >= since:
                days.append({"x": x(_iso(day)), "label": f"{day:%m-%d}"})
            day += dt.timedelta(days=1)
    return {"width": TIMELINE_WIDTH, "lanes": lanes, "ticks": days}
