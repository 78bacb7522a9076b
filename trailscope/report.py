"""What a report says, as plain data: what it covers (period, accounts, filters, database,
ingest runs and source files with their SHA-256, checks), what the logs lack (coverage, and a
warning for each gap), the organization's state, the root sessions and findings with the
evidence events behind each, an incident's events one by one, and a timeline to draw.

Templates get this dict and nothing else (no DataFrames), so a user's template can be written
against `trailscope report --format json`. Times are ISO 8601 text in UTC with a Z; lists of
event IDs are lists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope import __version__, coverage, findings, integrity, sessions
from trailscope.errors import TrailscopeError
from trailscope.output import times_python_holds
from trailscope.period import ALL_TIME, Period, iso

if TYPE_CHECKING:
    import polars as pl

    from trailscope.analysis import Analysis

UTC = dt.UTC
SEVERITIES = findings.SEVERITIES
EVIDENCE_LIMIT = 50  # evidence and context events shown per finding; all are in its ID lists
INCIDENT_LIMIT = 1000  # events an incident report lists one by one
LONG_TERM_LIMIT = 1000  # events of root use with long-term credentials listed; all are counted
FILES_LIMIT = 500  # source files listed; `trailscope query source_files` gives every one
# characters of one text shown: log text can be any length (a forged file's 200,000-character
# user agent took a browser minutes to lay out, and longer to print); the database keeps all
TEXT_LIMIT = 2000


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
        if month and period.bounded():
            raise TrailscopeError(
                f"--month {month} and --since/--until both say the period: give one of them"
            )
        if month:
            return cls.month(month, **kw)
        focused = principal or session or accounts or period.bounded()
        return cls(period=period, title="Incident report" if focused else cls.title, **kw)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": iso(self.period.since),
            "until": iso(self.period.until),
            "accounts": list(self.accounts),
            "principal": self.principal,
            "session": self.session,
            "title": self.title,
        }


def _ids(text: str | None) -> list[str]:
    return [i for i in (text or "").split(",") if i]


def _text(value: str) -> str:
    """A text shown whole, or its first TEXT_LIMIT characters and how many more there are."""
    if len(value) <= TEXT_LIMIT:
        return value
    return f"{value[:TEXT_LIMIT]}… [{len(value) - TEXT_LIMIT:,} more characters not shown]"


def _rows(df: pl.DataFrame, *, cut: bool = True) -> list[dict[str, Any]]:
    """Plain rows: times as ISO text in UTC (unknown where Python cannot hold one), event ID
    lists (`*_event_ids`, comma-joined in the modules) as lists, texts cut at TEXT_LIMIT
    (unless not `cut`: what is hashed or parsed), everything else as is."""
    out = []
    for row in times_python_holds(df).rows(named=True):
        out.append(
            {
                k: iso(v)
                if isinstance(v, dt.datetime)
                else v.isoformat()
                if isinstance(v, dt.date)
                else _ids(v)
                if k.endswith("_event_ids")
                else _text(v)
                if cut and isinstance(v, str)
                else v
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
    first, last = coverage.logs_window(analysis)
    if first is None or last is None:
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
    raised = findings.findings(  # worst first
        analysis,
        period=period,
        accounts=accounts,
        principal_like=scope.principal,
        session_ids=ids,
        allow_list=allow_list,
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
    covered = coverage.coverage(analysis, period, accounts)
    context: dict[str, Any] = {
        "title": scope.title,
        "scope": scope.as_dict(),
        "period": {
            "since": iso(period.since),
            "until": iso(period.until),
            "logs_first": iso(first),
            "logs_last": iso(last),
        },
        "generated_at": iso(generated_at or dt.datetime.now(UTC)),
        "version": __version__,
        "inputs": _inputs(analysis, period, accounts),
        "coverage": covered,
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
    _add_evidence(analysis, context["findings"])
    focused = bool(scope.principal or scope.session)
    context["incident"] = _incident(analysis, context) if focused else None
    context["timeline"] = _timeline(context, period.since, period.until)
    context["integrity"] = integrity.section(analysis, period.since, period.until, accounts)
    context["checks"] = _checks(analysis, context["integrity"])
    context["allow_list"] = _allow_list(allow_list)
    # listed up to a limit (10,000 rows did not print); the incident and timeline had all
    context["long_term_root_count"] = len(context["long_term_root"])
    context["long_term_root"] = context["long_term_root"][:LONG_TERM_LIMIT]
    matched = context["sessions"] or context["findings"] or context["long_term_root"]
    warnings = list(covered["warnings"])
    if focused and not matched and not covered["empty"]:
        what = f"principal {scope.principal!r}" if scope.principal else f"session {scope.session!r}"
        warnings.insert(
            0,
            f"Nothing matches the {what} in this period: no root session, finding or root "
            "event. Check the filter's spelling before reading this as a clean result.",
        )
    context["warnings"] = warnings
    context["empty"] = covered["empty"] or (focused and not matched)
    context["headline"] = (
        "Nothing to report on: the logs hold no event of this report's scope"
        if covered["empty"]
        else "Nothing matches this report's filters: check them before reading it as clean"
        if context["empty"]
        else "Coverage is incomplete: no finding here is not a clean result for what the logs lack"
        if warnings
        else None
    )
    return context


def verdict(
    raised: Iterable[dict[str, Any]], *, complete: bool, empty: bool, fail_on: str | None
) -> str:
    """What a run found, for its exit status: "findings" when a finding at `fail_on` or worse
    is present and not accepted by the allow-list; else "empty" when the scope holds nothing
    to look at; else "incomplete" when `fail_on` was asked for and the coverage is incomplete
    (no finding in a period the logs do not cover is no clean bill); else "clean"."""
    if fail_on is not None:
        worst = SEVERITIES.index(fail_on)
        if any(not f["accepted"] and f["severity"] in SEVERITIES[: worst + 1] for f in raised):
            return "findings"
    if empty:
        return "empty"
    if fail_on is not None and not complete:
        return "incomplete"
    return "clean"


def _add_evidence(analysis: Analysis, rows: list[dict[str, Any]]) -> None:
    """Each finding's evidence: its evidence events and then its context events, the first
    EVIDENCE_LIMIT, each with what the record says (queries/event_details.sql)."""
    wanted = {
        r["finding_id"]: [
            *(("evidence", i) for i in r["evidence_event_ids"]),
            *(("context", i) for i in r["context_event_ids"]),
        ]
        for r in rows
    }
    ids = sorted({i for events in wanted.values() for _, i in events[:EVIDENCE_LIMIT]})
    details = _details(analysis, ids)
    for r in rows:
        events = wanted[r["finding_id"]]
        r["evidence"] = [
            {"role": role, **details[i]} for role, i in events[:EVIDENCE_LIMIT] if i in details
        ]
        r["evidence_more"] = max(len(events) - EVIDENCE_LIMIT, 0)


# what a terminal table of `trailscope findings --evidence` shows by default
EVIDENCE_COLUMNS = (
    "finding_id",
    "severity",
    "role",
    "event_time",
    "account_id",
    "event_name",
    "parameters",
    "source_ip",
    "error_code",
)


def evidence(analysis: Analysis, found: pl.DataFrame) -> pl.DataFrame:
    """One row per event each finding of `found` rests on, its evidence events and then its
    context events (role), in the findings' order: the finding's ID, severity, check and
    title, then the event as queries/event_details.sql gives it."""
    import polars as pl

    parts = []
    for role, column in (("evidence", "evidence_event_ids"), ("context", "context_event_ids")):
        parts.append(
            found.with_row_index("n")
            .select(
                "n",
                "finding_id",
                "severity",
                "check",
                "title",
                pl.lit(role).alias("role"),
                pl.col(column).fill_null("").str.split(",").alias("event_id"),
            )
            .explode("event_id")
            .filter(pl.col("event_id") != "")
        )
    wanted = pl.concat(parts)
    ids = sorted(set(wanted["event_id"]))
    details = analysis.run("event_details", event_ids=",".join(ids))
    return (
        wanted.join(details, on="event_id", how="inner")
        .sort("n", pl.col("role") != "evidence", "event_time", "event_id")
        .drop("n")
        .select("finding_id", "severity", "check", "title", "role", *details.columns)
    )


def _details(analysis: Analysis, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = _rows(analysis.run("event_details", event_ids=",".join(ids)))
    return {r["event_id"]: r for r in rows}


def _incident(analysis: Analysis, context: dict[str, Any]) -> dict[str, Any]:
    """An incident's events one by one, in time order: each root session's AssumeRoot call and
    the events made with its key (with their task scope and seconds after issue), and root use
    with long-term credentials; the first INCIDENT_LIMIT."""
    session_ids = [s["session_id"] for s in context["sessions"]]
    made = _rows(
        analysis.run(
            "root_session_events",
            where="list_contains($sessions, session_id)",
            sessions=session_ids,
        )
    )

    def part(name: str, session: str, made: dict[str, Any] | None = None) -> dict[str, Any]:
        made = made or {}
        return {
            "part": name,
            "session_id": session,
            "scope": made.get("scope"),
            "seconds_after_issue": made.get("seconds_after_issue"),
            "after_expiry": made.get("after_expiry"),
        }

    what: dict[str, dict[str, Any]] = {}
    for s in context["sessions"]:
        if s["session_kind"] == "assume_root":  # its session_id is the call's eventID
            what[s["session_id"]] = part("AssumeRoot call", s["session_id"])
    for e in made:
        what[e["event_id"]] = part("root session", e["session_id"], e)
    for e in context["long_term_root"]:
        what[e["event_id"]] = part(f"root, {e['credential']}", e["episode_id"])
    details = _details(analysis, sorted(what))
    events = sorted(
        ({**what[i], **d} for i, d in details.items()),
        key=lambda e: (e["event_time"], e["event_id"]),
    )
    return {"events": events[:INCIDENT_LIMIT], "more": max(len(events) - INCIDENT_LIMIT, 0)}


def _checks(analysis: Analysis, verified: dict[str, Any]) -> list[dict[str, Any]]:
    """Every check, whether it ran on this database, and what limits it."""
    missing = findings.unavailable(analysis)
    out = []
    for name in findings.checks(analysis):
        note = ""
        if name in missing:
            note = f"not run: the database lacks {', '.join(missing[name])} (made before it)"
        elif name == "integrity" and not verified.get("verified"):
            note = "nothing to check: trailscope verify has not run on this database"
        title = analysis.module(findings.CHECK_PREFIX + name).title
        out.append({"name": name, "ran": name not in missing, "title": title, "note": note})
    return out


def _allow_list(path: str | Path | None) -> dict[str, Any] | None:
    """The allow-list the findings were read with: its name, SHA-256 and entries."""
    if path is None:
        return None
    data = Path(path).read_bytes()
    return {
        "file": Path(path).name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "entries": len(findings.load_allow_list(path)),
    }


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


def _inputs(analysis: Analysis, period: Period, accounts: Sequence[str]) -> dict[str, Any]:
    """What the report rests on, so it can be reproduced: the database, its ingest runs, and
    the source files this scope's events were read from (the first FILES_LIMIT listed, with
    the SHA-256 of every one's `<sha256>  <path>` line, sorted, as sha256sum writes them)."""
    files = {status: 0 for status in ("ingested", "empty", "rejected", "skipped")}
    files.update(analysis.rows("select status, count(*) from files group by 1"))
    runs = _rows(
        analysis.sql(
            "select run_id, started_at, finished_at, sources, trailscope_version "
            "from ingest_runs order by run_id"
        ),
        cut=False,
    )
    for run in runs:  # JSON in the database; the report's JSON keeps it JSON
        run["sources"] = json.loads(run["sources"]) if run["sources"] else None
    counts = analysis.rows(
        "select (select count(*) from events), (select count(*) from event_sources),"
        " (select count(*) from rejected)"
    )[0]
    where = "list_contains($accounts, account_id)" if accounts else ""
    sources = analysis.run("source_files", where=where, accounts=list(accounts), **period.params())
    by_file: dict[int, dict[str, Any]] = {}
    for r in _rows(sources, cut=False):
        f = by_file.setdefault(r["file_id"], {**r, "events": 0, "accounts": []})
        f["events"] += r["events"]
        f["accounts"].append(r["account_id"])
        f["first_event"] = min(f["first_event"], r["first_event"])
        f["last_event"] = max(f["last_event"], r["last_event"])
    listed = sorted(by_file.values(), key=lambda f: (f["path"], f["file_id"]))
    for f in listed:
        del f["account_id"]
    manifest = "".join(f"{f['sha256']}  {f['path']}\n" for f in listed)
    return {
        "database": Path(analysis.database).name,
        "files": files,
        "runs": runs,
        "events": counts[0],
        "copies": counts[1],
        "rejected": counts[2],
        "sources": {
            "files": len(listed),
            "bytes": sum(f["size"] or 0 for f in listed),
            "events": sum(f["events"] for f in listed),
            "manifest_sha256": hashlib.sha256(manifest.encode()).hexdigest(),
            "listed": listed[:FILES_LIMIT],
            "more": max(len(listed) - FILES_LIMIT, 0),
        },
    }


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
    every = -(-(until - since).days // 14) or 1  # a label on every day, or every few: 14 at most
    if (until - since).days <= 62:
        n = 0
        while day <= until:
            if day >= since:
                label = f"{day:%m-%d}" if n % every == 0 else ""
                days.append({"x": x(iso(day)), "label": label})
                n += 1
            day += dt.timedelta(days=1)
    return {"width": TIMELINE_WIDTH, "lanes": lanes, "ticks": days}
