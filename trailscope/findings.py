"""Findings: what the checks raise, in one shape, with stable IDs, filters and an allow-list.

A check is a query module named `check_<name>.sql`, and that name is all it takes to join the
findings: `findings()` runs every such module, with no list to edit. The contract of a check
module, checked when it runs:

- its `outputs:` are exactly CHECK_COLUMNS, one row per finding: rule (the check's own name for
  what it found), severity (one of SEVERITIES), account_id, principal, session_id, event_time
  (when it happened; never null), title (one line), explanation (what the logs show and what to
  do; where they cannot settle a fact, say it is unknown), evidence_event_ids (the eventIDs the
  finding rests on, comma-joined, in time order), context_event_ids (events that explain it
  without being part of it, comma-joined; null or empty when none);
- a finding that rests on no event (a deleted log file, a digest) adds one more output column,
  finding_key, naming what it is about (a path), which its ID is made from instead;
- it stays plain runnable SQL with the usual header, ending in an ORDER BY, like any module.
A check that reads a table an older database lacks (integrity_files before `trailscope verify`
existed) raises nothing there.

This module adds what every finding shares, written once here: `check` = <name>, and
`finding_id` = the first 16 hex digits of sha256("<name>/<rule>/<evidence_event_ids>") (or
"<name>/<rule>/<finding_key>"), so the same logs give the same IDs; then filters (severity and worse, accounts, period, principal,
sessions, checks) in SQL and sorts worst first: by severity, then event_time, check, rule,
finding_id.

The allow-list marks findings as accepted (approved break-glass use), never hides them. Its
format (JSON, so it reads the same on every supported Python):

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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope.analysis import Query, sql_literal
from trailscope.errors import TrailscopeError
from trailscope.period import ALL_TIME, BadTime, Period, parse_time

if TYPE_CHECKING:
    import polars as pl

    from trailscope.analysis import Analysis

CHECK_COLUMNS = (
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
FINDING_COLUMNS = ("finding_id", "check", *CHECK_COLUMNS)
OUTPUT_COLUMNS = (*FINDING_COLUMNS, "accepted", "accepted_reason")
SEVERITIES = ("critical", "high", "medium", "low", "info")  # most severe first
# what a terminal table shows by default; the other formats carry every column
TABLE_COLUMNS = ("finding_id", "severity", "check", "account_id", "event_time", "title", "accepted")
CHECK_PREFIX = "check_"
# most severe first, as SQL: the order findings come in
_WORST_FIRST = (
    "case severity "
    + " ".join(f"when {sql_literal(s)} then {n}" for n, s in enumerate(SEVERITIES))
    + f" else {len(SEVERITIES)} end"
)
_MATCHERS = ("finding_id", "check", "rule", "severity", "account", "principal", "session_id")


class BadAllowList(TrailscopeError):
    """The allow-list file cannot be read or an entry is malformed."""


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
        until = parse_time(text, end=True)
    except BadTime:
        until = None
    if until is None:
        raise BadAllowList(
            f"{where}: expires {text!r} is neither a date (2026-12-31) nor an ISO time"
        )
    return until


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


def checks(analysis: Analysis) -> tuple[str, ...]:
    """The names of the checks: every query module check_<name>, as <name>."""
    return tuple(
        n.removeprefix(CHECK_PREFIX) for n in analysis.modules if n.startswith(CHECK_PREFIX)
    )


def unavailable(analysis: Analysis) -> dict[str, list[str]]:
    """The checks that cannot run on this database, with the tables it lacks that they read
    (an older database, made before the check existed)."""
    tables = analysis.tables()
    out = {}
    for name in checks(analysis):
        inputs = analysis.module(CHECK_PREFIX + name).inputs
        lacking = [i for i in inputs if i not in analysis.modules and "." not in i]
        if lacking := [i for i in lacking if i not in tables]:
            out[name] = lacking
    return out


def _raised(analysis: Analysis, names: Sequence[str]) -> Query:
    """The findings of the checks `names`, in FINDING_COLUMNS: each check module's rows with
    the columns every finding shares (the one place they are written)."""
    parts, used = [], []
    missing = unavailable(analysis)
    for name in names:
        module = analysis.module(CHECK_PREFIX + name)
        if module.outputs not in (CHECK_COLUMNS, (*CHECK_COLUMNS, "finding_key")):
            raise TrailscopeError(
                f"check module {module.name} does not return the check columns "
                f"({', '.join(CHECK_COLUMNS)}[, finding_key]): see trailscope/findings.py"
            )
        if name in missing:
            continue  # an older database, without a table the check reads
        key = "finding_key" if "finding_key" in module.outputs else "cast(null as varchar)"
        columns = ", ".join(CHECK_COLUMNS)
        parts.append(
            f'select {sql_literal(name)} as "check", {columns}, {key} as finding_key '
            f"from {module.name}"
        )
        used.append(module.name)
    union = "\n    union all\n    ".join(parts) or (
        "select "
        + ", ".join(
            f'cast(null as varchar) as "{c}"' for c in ("check", *CHECK_COLUMNS, "finding_key")
        )
        + " where false"
    )
    sql = f"""select
    substr(sha256(concat("check", '/', rule, '/', coalesce(finding_key, evidence_event_ids))),
           1, 16) as finding_id,
    "check", {", ".join(CHECK_COLUMNS[:-1])},
    nullif(context_event_ids, '') as context_event_ids
from (
    {union}
) as raised
order by {_WORST_FIRST}, event_time, "check", rule, finding_id"""
    return Query(
        name="raised_findings",
        title="Every check's findings",
        description="",
        inputs=tuple(used),
        outputs=FINDING_COLUMNS,
        params=(),
        tags=("findings",),
        sql=sql,
    )


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
    analysis: Analysis,
    *,
    period: Period = ALL_TIME,
    severity: str | None = None,
    accounts: Sequence[str] = (),
    check: str | Sequence[str] | None = None,
    principal_like: str | None = None,
    session_ids: Sequence[str] | None = None,
    allow_list: str | Path | Sequence[AllowEntry] | None = None,
) -> pl.DataFrame:
    """All findings, worst first (then by time), in OUTPUT_COLUMNS. `severity` keeps that level and
    worse; `period` (event_time), `accounts`, `check` (one name or several),
    `principal_like` (a case-insensitive part of the principal) and `session_ids` filter;
    `allow_list` (a file or loaded entries) marks approved ones as accepted."""
    known = checks(analysis)
    wanted = known if check is None else ((check,) if isinstance(check, str) else tuple(check))
    if set(wanted) - set(known):
        raise TrailscopeError(
            f"unknown check {', '.join(sorted(set(wanted) - set(known)))}; "
            f"choose from {', '.join(sorted(known))}"
        )
    if severity is not None and severity not in SEVERITIES:
        raise TrailscopeError(
            f"unknown severity {severity!r}; choose one of {', '.join(SEVERITIES)}"
        )
    where = period.conditions("event_time")
    if severity is not None:
        where.append("list_contains($severities, severity)")
    if accounts:
        where.append("list_contains($accounts, account_id)")
    if principal_like:
        where.append("contains(lower(principal), lower($principal_like))")
    if session_ids is not None:
        where.append("list_contains($session_ids, session_id)")
    df = analysis.run_query(
        _raised(analysis, [n for n in known if n in wanted]),
        where=" and ".join(where),
        **period.params(),
        severities=list(SEVERITIES[: SEVERITIES.index(severity) + 1]) if severity else None,
        accounts=list(accounts),
        principal_like=principal_like,
        session_ids=list(session_ids or ()),
    )
    entries: Sequence[AllowEntry] = ()
    if isinstance(allow_list, (str, Path)):
        entries = load_allow_list(allow_list)
    elif allow_list is not None:
        entries = allow_list
    from trailscope.output import times_python_holds

    # a time Python cannot hold (infinity, from a database written otherwise) is unknown
    return accept(times_python_holds(df), entries)


def raised(analysis: Analysis, check: str) -> pl.DataFrame:
    """One check's findings in FINDING_COLUMNS, before any filter or allow-list."""
    return analysis.run_query(_raised(analysis, [check]))
