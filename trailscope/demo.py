"""The one-command tour: ingest a folder of logs (the bundled sample organization by default),
check it, and write the reports, saying where everything is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trailscope.errors import BadSource
from trailscope.ingest import IngestSummary
from trailscope.report import SEVERITIES
from trailscope.trail import Trail


@dataclass(frozen=True)
class DemoResult:
    database: Path
    reports: tuple[Path, ...]
    ingest: IngestSummary
    lines: tuple[str, ...]  # the short summary for the terminal


def run(logs: Path, out: Path) -> DemoResult:
    """Ingest `logs` into `out`/trail.duckdb and write `out`/report.html and report.md."""
    if not logs.exists():
        raise BadSource(f"no logs at {logs}: run from the repository's top folder, or pass "
                        f"--logs")
    out.mkdir(parents=True, exist_ok=True)
    db = out / "trail.duckdb"
    with Trail(db) as trail:
        summary = trail.ingest(logs)
    reports = []
    with Trail(db, read_only=True) as trail:
        for fmt, name in (("html", "report.html"), ("md", "report.md")):
            path = out / name
            path.write_text(trail.report(fmt), encoding="utf-8")
            reports.append(path)
        lines = _summary(trail)
    return DemoResult(db, tuple(reports), summary, tuple(lines))


def _summary(trail: Trail) -> list[str]:
    (events, accounts, regions, first, last), = trail.con.sql(
        "select count(*), count(distinct recipient_account_id), count(distinct aws_region), "
        "min(event_time), max(event_time) from events").fetchall()
    lines = [(f"{events:,} events from {accounts} accounts in {regions} regions, "
              f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC")]
    findings = trail.findings()
    counts = dict(findings.group_by("severity").len().iter_rows())
    by_severity = ", ".join(f"{counts[sev]} {sev}" for sev in SEVERITIES if sev in counts)
    lines.append(f"{len(trail.sessions())} root sessions; {len(findings)} findings "
                 f"({by_severity or 'none'})")
    for row in findings.filter(findings["severity"].is_in(["critical", "high"])
                               ).sort("event_time").rows(named=True):
        lines.append(f"  {row['severity']:8} {row['title']}")
    lines.append("organization state at the end of the logs:")
    state = trail.query("org_state_at", at=last)
    for row in state.filter(state["kind"].is_in(["root_feature", "delegated_admin",
                                                  "trusted_access"])).rows(named=True):
        who = f" ({row['account_id']})" if row["account_id"] else ""
        lines.append(f"  {row['kind']}: {row['subject']}{who} {row['state']}")
    return lines
