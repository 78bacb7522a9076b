"""What a report says, as plain data: the scope, the inputs it rests on, what the logs cover,
the organization's state, the root sessions and findings, and a timeline to draw.

Templates get this dict and nothing else (no DataFrames), so a user's template can be written
against `trailscope report --format json`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from trailscope import __version__, schema
from trailscope.errors import TrailscopeError
from trailscope.output import times_python_holds

if TYPE_CHECKING:
    from trailscope.trail import Trail

UTC = dt.UTC
SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True)
class Scope:
    """What a report looks at. Empty means everything the database holds."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    accounts: tuple[str, ...] = ()
    principal: str | None = None
    session: str | None = None
    title: str = "Root activity report"

    @classmethod
    def month(cls, month: str, **kw: Any) -> Scope:
        """The calendar month YYYY-MM, in UTC."""
        try:
            first = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        except ValueError as e:
            raise TrailscopeError(f"--month takes YYYY-MM, not {month!r}") from e
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return cls(
            since=first,
            until=following - dt.timedelta(microseconds=1),
            title=f"Monthly root activity report, {first:%B %Y}",
            **kw,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
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
    trail: Trail,
    scope: Scope,
    *,
    generated_at: dt.datetime | None = None,
    allow_list: str | Path | None = None,
) -> dict[str, Any]:
    """Everything a report shows, as JSON-ready data."""
    con = trail.con
    # the period the events span, of those at possible times (ingest rejects the others; a
    # database written otherwise may hold infinity or year 9999, which would make it endless)
    first, last = con.sql(
        "select min(event_time), max(event_time) from events "
        "where event_time between $began and $latest",
        params={
            "began": schema.CLOUDTRAIL_BEGAN,
            "latest": dt.datetime.now(UTC) + schema.FUTURE_SLACK,
        },
    ).fetchall()[0]
    if first is None:
        raise TrailscopeError(f"{trail.path} holds no events: nothing to report")
    since = scope.since or first
    until = scope.until or last
    end_of_view = min(until, last)
    context: dict[str, Any] = {
        "title": scope.title,
        "scope": scope.as_dict(),
        "period": {
            "since": _iso(since),
            "until": _iso(until),
            "logs_first": _iso(first),
            "logs_last": _iso(last),
        },
        "generated_at": _iso(generated_at or dt.datetime.now(UTC)),
        "version": __version__,
        "inputs": _inputs(trail),
        "coverage": _coverage(trail, since, until, scope.accounts),
        "rejected": _rows(trail.query("rejected_inputs").head(50)),
        # the organization's state at the end of the period (within the logs' window)
        "state": _rows(trail.query("org_state_at", at=end_of_view)),
        "changes": _rows(
            _scoped(
                trail.query("org_state_changes"),
                "event_time",
                since,
                until,
                scope.accounts,
                "account_id",
                "actor_account",
            )
        ),
    }
    findings = _scoped(
        trail.findings(allow_list=allow_list),
        "event_time",
        since,
        until,
        scope.accounts,
        "account_id",
    )
    sessions = _scoped(
        trail.sessions(),
        "issued_at",
        since,
        until,
        scope.accounts,
        "target_account_id",
        "caller_account_id",
    )
    long_term = _scoped(
        trail.query("root_long_term_activity"),
        "event_time",
        since,
        until,
        scope.accounts,
        "account_id",
    )
    credentials = _scoped(
        trail.query("root_credentials"), None, since, until, scope.accounts, "account_id"
    )
    if scope.principal:  # a caller: case-insensitive part of its ARN (a role session name...)
        needle = scope.principal.lower()
        findings = findings.filter(
            pl.col("principal").str.to_lowercase().str.contains(needle, literal=True)
        )
        sessions = sessions.filter(
            pl.col("caller_arn").str.to_lowercase().str.contains(needle, literal=True)
        )
        long_term = long_term.filter(
            pl.concat_str(pl.lit("arn:aws:iam::"), "account_id", pl.lit(":root")).str.contains(
                needle, literal=True
            )
        )
    if scope.session:  # one root session: by the call's eventID or the issued key
        sessions = sessions.filter(
            (pl.col("session_id") == scope.session) | (pl.col("access_key_id") == scope.session)
        )
        ids = [*sessions["session_id"].to_list(), *sessions["access_key_id"].drop_nulls()]
        findings = findings.filter(pl.col("session_id").is_in(ids))
        long_term = long_term.clear()
        credentials = credentials.filter(
            pl.col("account_id").is_in(sessions["target_account_id"].drop_nulls().to_list())
        )
    findings = (
        findings.with_columns(
            rank=findings["severity"].replace_strict(SEVERITIES, list(range(5)), default=5)
        )
        .sort("rank", "event_time", "finding_id")
        .drop("rank")
    )
    context |= {
        "findings": _rows(findings),
        "counts": _counts(findings),
        "sessions": _session_rows(sessions, findings),
        "long_term_root": _rows(long_term),
        "credentials": _rows(credentials),
    }
    context["timeline"] = _timeline(context, since, until)
    return context


def _scoped(
    df: pl.DataFrame,
    time: str | None,
    since: dt.datetime,
    until: dt.datetime,
    accounts: tuple[str, ...],
    *account_columns: str,
) -> pl.DataFrame:
    """Rows in the period (when `time` names their time column) and about the accounts."""
    if time is not None:
        df = df.filter(pl.col(time).is_between(since, until) | pl.col(time).is_null())
    if accounts:
        df = df.filter(pl.any_horizontal(pl.col(c).is_in(accounts) for c in account_columns))
    return df


def _counts(findings: pl.DataFrame) -> dict[str, Any]:
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_severity.update(findings.group_by("severity").len().iter_rows())
    by_check = dict(sorted(findings.group_by("check").len().iter_rows()))
    accepted = int(findings["accepted"].sum()) if len(findings) else 0
    return {
        "total": len(findings),
        "severity": by_severity,
        "check": by_check,
        "accepted": accepted,
    }


SESSION_CHECKS = ("duration", "task_scope", "authorization")


def _session_rows(sessions: pl.DataFrame, findings: pl.DataFrame) -> list[dict[str, Any]]:
    """Each session with the verdict of its three checks: the worst finding, or ok."""
    raised: dict[tuple[str, str], str] = {}
    for row in findings.iter_rows(named=True):
        key = (row["session_id"] or "", row["check"])
        if key not in raised:  # findings come worst first
            raised[key] = row["severity"]
    rows = _rows(sessions.sort("issued_at", "session_id", nulls_last=True))
    for row in rows:
        row["checks"] = {c: raised.get((row["session_id"], c), "ok") for c in SESSION_CHECKS}
        row["orphan"] = raised.get((row["session_id"], "orphan"))
    return rows


def _inputs(trail: Trail) -> dict[str, Any]:
    """What the report rests on, so it can be reproduced."""
    con = trail.con
    files = {status: 0 for status in ("ingested", "empty", "rejected", "skipped")}
    files.update(con.sql("select status, count(*) from files group by 1").fetchall())
    runs = _rows(
        trail.sql(
            "select run_id, started_at, finished_at, sources, trailscope_version "
            "from ingest_runs order by run_id"
        )
    )
    counts = con.sql(
        "select (select count(*) from events), (select count(*) from event_sources),"
        " (select count(*) from rejected)"
    ).fetchall()[0]
    return {
        "database": Path(trail.path).name,
        "files": files,
        "runs": runs,
        "events": counts[0],
        "copies": counts[1],
        "rejected": counts[2],
    }


def _coverage(
    trail: Trail, since: dt.datetime, until: dt.datetime, accounts: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Per account and region: the days with events, and the days missing between them."""
    df = trail.sql(
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
        since=since,
        until=until,
        accounts=list(accounts),
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
