"""Findings: what the checks raise, in one shape, with stable IDs, filters and an allow-list.

Every check is a query module named `check_<something>.sql` whose outputs are FINDING_COLUMNS;
`findings()` runs them all. A finding's ID is the first 16 hex digits of
sha256("<check>/<rule>/<evidence event IDs, comma-joined>"), computed in the modules: the same
logs give the same IDs. The allow-list marks findings as accepted (approved break-glass use),
never hides them.

Allow-list format (JSON, so it reads the same on every supported Python):

    {"accept": [
      {"reason": "quarterly root-credential audit, change CHG-1042",
       "expires": "2026-12-31",
       "check": "duration",
       "account": "4000000000*",
       "principal": "arn:aws:sts::400000000001:assumed-role/AWSReservedSSO_RootAccessAdmin_*"}
    ]}

`reason` and `expires` are required, and at least one matcher: `finding_id`, `check`, `rule`,
`severity`, `account`, `principal`, `session_id` (account and principal take shell globs). An
entry accepts matching findings whose event_time is up to the end of `expires` (a date, UTC, or
an ISO time): approval covers activity in its period, not whatever comes after.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope import analysis
from trailscope.errors import TrailscopeError

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from trailscope.trail import Trail

FINDING_COLUMNS = (
    "finding_id",
    "check",
    "rule",
    "severity",
    "account_id",
    "principal",
    "session_id",
    "event_time",
    "title",
    "explanation",
    "evidence_event_ids",
    "context_event_ids",
)
OUTPUT_COLUMNS = (*FINDING_COLUMNS, "accepted", "accepted_reason")
SEVERITIES = ("critical", "high", "medium", "low", "info")  # most severe first
CHECKS = (
    "duration",
    "task_scope",
    "authorization",
    "orphan",
    "root_outside_assumeroot",
    "duplicate_conflict",
)
# what a terminal table shows; csv and json carry every column
TABLE_COLUMNS = ("finding_id", "severity", "check", "account_id", "event_time", "title", "accepted")
CHECK_PREFIX = "check_"
_MATCHERS = ("finding_id", "check", "rule", "severity", "account", "principal", "session_id")


class BadAllowList(TrailscopeError):
    """The allow-list file cannot be read or an entry is malformed."""


@dataclass(frozen=True)
class Finding:
    """One finding, as every check reports it."""

    finding_id: str
    check: str
    rule: str
    severity: str
    account_id: str | None
    principal: str | None
    session_id: str | None
    event_time: datetime
    title: str
    explanation: str
    evidence_event_ids: tuple[str, ...]
    context_event_ids: tuple[str, ...] = ()
    accepted: bool = False
    accepted_reason: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Finding:
        def ids(text: str | None) -> tuple[str, ...]:
            return tuple(i for i in (text or "").split(",") if i)

        return cls(
            finding_id=row["finding_id"],
            check=row["check"],
            rule=row["rule"],
            severity=row["severity"],
            account_id=row["account_id"],
            principal=row["principal"],
            session_id=row["session_id"],
            event_time=row["event_time"],
            title=row["title"],
            explanation=row["explanation"],
            evidence_event_ids=ids(row["evidence_event_ids"]),
            context_event_ids=ids(row.get("context_event_ids")),
            accepted=bool(row.get("accepted", False)),
            accepted_reason=row.get("accepted_reason"),
        )


def finding_id(check: str, rule: str, evidence_event_ids: Iterable[str]) -> str:
    """The stable ID the check modules compute: same check, rule and evidence, same ID."""
    text = f"{check}/{rule}/{','.join(evidence_event_ids)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AllowEntry:
    """One approval: findings matching every given field are accepted, for the reason given,
    when they happened no later than `until`."""

    reason: str
    until: datetime
    match: tuple[tuple[str, str], ...]

    def accepts(self, row: dict[str, Any]) -> bool:
        if row["event_time"] is None or row["event_time"] > self.until:
            return False
        for key, pattern in self.match:
            value = row["account_id" if key == "account" else key]
            if value is None:
                return False
            if key in ("account", "principal"):
                if not fnmatchcase(value, pattern):
                    return False
            elif value != pattern:
                return False
        return True


def _until(text: str, where: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadAllowList(
                f"{where}: expires {text!r} is neither a date (2026-12-31) nor an ISO time"
            ) from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return end - timedelta(microseconds=1)


def load_allow_list(path: str | Path) -> tuple[AllowEntry, ...]:
    """Read an allow-list file (see the module docstring for its format)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadAllowList(f"cannot read allow-list {path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("accept"), list):
        raise BadAllowList(f'{path}: expected a JSON object with an "accept" list')
    entries = []
    for n, item in enumerate(data["accept"], 1):
        where = f"{path}: accept entry {n}"
        if not isinstance(item, dict):
            raise BadAllowList(f"{where} is not an object")
        unknown = set(item) - {"reason", "expires", *_MATCHERS}
        if unknown:
            raise BadAllowList(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if not all(isinstance(v, str) for v in item.values()):
            raise BadAllowList(f"{where}: every value must be text")
        if not item.get("reason") or not item.get("expires"):
            raise BadAllowList(f"{where} needs a reason and an expires date")
        match = tuple((k, item[k]) for k in _MATCHERS if item.get(k))
        if not match:
            raise BadAllowList(
                f"{where} matches everything: give at least one of {', '.join(_MATCHERS)}"
            )
        entries.append(AllowEntry(item["reason"], _until(item["expires"], where), match))
    return tuple(entries)


def check_modules() -> tuple[str, ...]:
    """The names of the check modules: every query module named check_*."""
    return tuple(n for n in analysis.load_queries() if n.startswith(CHECK_PREFIX))


def _con(source: Trail | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    from trailscope.trail import Trail

    return source.con if isinstance(source, Trail) else source


def run_checks(source: Trail | duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every check module's findings, in one frame of FINDING_COLUMNS."""
    import polars as pl

    from trailscope.output import times_python_holds

    queries = analysis.load_queries()
    frames = []
    for name in check_modules():
        query = queries[name]
        if query.outputs != FINDING_COLUMNS:
            raise TrailscopeError(
                f"check module {name} does not return the findings columns "
                f"({', '.join(FINDING_COLUMNS)})"
            )
        # a time Python cannot hold (infinity, from a database written otherwise) is unknown
        frames.append(times_python_holds(analysis.run_query(_con(source), query)))
    if not frames:
        return pl.DataFrame(schema=dict.fromkeys(FINDING_COLUMNS, pl.String))
    return pl.concat(frames, how="vertical_relaxed")


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def accept(df: pl.DataFrame, entries: Sequence[AllowEntry]) -> pl.DataFrame:
    """Add `accepted` and `accepted_reason`: the first allow-list entry a finding matches."""
    import polars as pl

    reasons = []
    for row in df.iter_rows(named=True):
        reasons.append(next((e.reason for e in entries if e.accepts(row)), None))
    return df.with_columns(
        pl.Series("accepted", [r is not None for r in reasons], dtype=pl.Boolean),
        pl.Series("accepted_reason", reasons, dtype=pl.String),
    )


def findings(
    source: Trail | duckdb.DuckDBPyConnection,
    *,
    severity: str | None = None,
    account: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    check: str | Sequence[str] | None = None,
    allow_list: str | Path | Sequence[AllowEntry] | None = None,
) -> pl.DataFrame:
    """All findings, most recent last. `severity` keeps that level and worse; `account`,
    `check` (one name or several), `since` and `until` (inclusive, UTC when naive) filter;
    `allow_list` (a file or loaded entries) marks approved ones as accepted."""
    import polars as pl

    if severity is not None and severity not in SEVERITIES:
        raise TrailscopeError(
            f"unknown severity {severity!r}; choose one of {', '.join(SEVERITIES)}"
        )
    df = run_checks(source)
    if check is not None:
        wanted = {check} if isinstance(check, str) else set(check)
        known = {*CHECKS, *df["check"].unique().to_list()}
        if wanted - known:
            raise TrailscopeError(
                f"unknown check {', '.join(sorted(wanted - known))}; "
                f"choose from {', '.join(sorted(known))}"
            )
        df = df.filter(pl.col("check").is_in(sorted(wanted)))
    if severity is not None:
        df = df.filter(pl.col("severity").is_in(SEVERITIES[: SEVERITIES.index(severity) + 1]))
    if account:
        df = df.filter(pl.col("account_id") == account)
    if since is not None:
        df = df.filter(pl.col("event_time") >= _utc(since))
    if until is not None:
        df = df.filter(pl.col("event_time") <= _utc(until))
    entries: Sequence[AllowEntry] = ()
    if isinstance(allow_list, (str, Path)):
        entries = load_allow_list(allow_list)
    elif allow_list is not None:
        entries = allow_list
    df = accept(df, entries).sort("event_time", "check", "rule", "finding_id")
    return df.select(OUTPUT_COLUMNS)


def as_findings(df: pl.DataFrame) -> list[Finding]:
    """The rows of a findings frame as Finding objects."""
    return [Finding.from_row(row) for row in df.iter_rows(named=True)]


def for_format(df: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """What to print in `fmt`: a terminal table gets TABLE_COLUMNS, files get everything."""
    return df.select(TABLE_COLUMNS) if fmt == "table" else df
