"""The one-command tour: ingest a folder of logs (by default the sample organization, which the
package generates itself), check it, and write the reports, saying where everything is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailscope.errors import BadSource
from trailscope.ingest import IngestSummary
from trailscope.render import render
from trailscope.report import Scope, build
from trailscope.trail import Trail


@dataclass(frozen=True)
class DemoResult:
    logs: Path
    database: Path
    reports: tuple[Path, ...]
    ingest: IngestSummary
    lines: tuple[str, ...]  # the short summary for the terminal


def run(logs: Path | None, out: Path) -> DemoResult:
    """Ingest `logs` into `out`/trail.duckdb and write `out`/report.html and report.md. Without
    `logs`, the sample organization is generated into `out`/sample_logs first (once: the same
    bytes every time, those of the repository's sample_logs/), so the demo needs no checkout."""
    if logs is None:
        logs = out / "sample_logs"
        if not logs.is_dir():
            from trailscope.synthetic import generate_org

            partial = out / "sample_logs.partial"  # renamed once whole: never half a sample
            generate_org(partial, overwrite=True)
            partial.rename(logs)
    elif not logs.exists():
        raise BadSource(f"no logs at {logs}")
    out.mkdir(parents=True, exist_ok=True)
    db = out / "trail.duckdb"
    with Trail(db) as trail:
        summary = trail.ingest(logs)
    with Trail(db, read_only=True) as trail:
        context = build(trail.analysis, Scope())  # once, for both reports and the summary
    reports = []
    for fmt, name in (("html", "report.html"), ("md", "report.md")):
        path = out / name
        path.write_text(render(context, fmt), encoding="utf-8")
        reports.append(path)
    return DemoResult(logs, db, tuple(reports), summary, tuple(_summary(context)))


def _summary(context: dict[str, Any]) -> list[str]:
    """A few lines for the terminal, from the report's own data."""
    period, counts = context["period"], context["counts"]
    accounts = {c["account_id"] for c in context["coverage"]["pairs"]}
    regions = {c["aws_region"] for c in context["coverage"]["pairs"]}
    by_severity = ", ".join(f"{n} {sev}" for sev, n in counts["severity"].items() if n)
    lines = [
        (
            f"{context['inputs']['events']:,} events from {len(accounts)} accounts in "
            f"{len(regions)} regions, {period['logs_first']} to {period['logs_last']}"
        ),
        (
            f"{len(context['sessions'])} root sessions; {counts['total']} findings "
            f"({by_severity or 'none'})"
        ),
    ]
    lines += [
        f"  {f['severity']:8} {f['title']}"
        for f in context["findings"]
        if f["severity"] in ("critical", "high")
    ]
    lines.append("organization state at the end of the logs:")
    for row in context["state"]:
        if row["kind"] in ("root_feature", "delegated_admin", "trusted_access"):
            who = f" ({row['account_id']})" if row["account_id"] else ""
            lines.append(f"  {row['kind']}: {row['subject']}{who} {row['state']}")
    return lines
