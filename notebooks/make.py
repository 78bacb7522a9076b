"""Writes explore_root_activity.ipynb from the cells below, so the notebook is reviewed as
Python and never carries stale outputs. Run: python notebooks/make.py"""

from __future__ import annotations

from pathlib import Path

import nbformat

CELLS: list[tuple[str, str]] = [
    (
        "markdown",
        """# Root activity in the sample organization

A responder's walk through `sample_logs/` with the same library the `trailscope` command uses:
ingest, what the logs cover, the organization's state over time, and the root sessions, down
to the events behind a finding. Every result is a polars DataFrame; `trail.con` is the raw
DuckDB connection for anything else.""",
    ),
    (
        "code",
        """import os
import tempfile
from pathlib import Path

import polars as pl

import trailscope

pl.Config.set_tbl_rows(30)  # whole tables: the per-account figures below are a dozen rows
logs = Path(os.environ.get("TRAILSCOPE_SAMPLE_LOGS", "../sample_logs"))
db = Path(tempfile.mkdtemp()) / "sample.duckdb"
trail = trailscope.Trail(db)  # read-only but while ingest runs: the CLI can read it meanwhile
summary = trail.ingest(logs)
print("\\n".join(summary.lines()[:2]))""",
    ),
    (
        "markdown",
        """## What the logs cover

Accounts, regions and days: anything outside this the analysis cannot see.""",
    ),
    (
        "code",
        """coverage = trail.query("coverage")  # one row per account, region and day
coverage.group_by("account_id").agg(
    days=pl.col("day").n_unique(), regions=pl.col("aws_region").n_unique(), events=pl.col("events").sum()
).sort("account_id")""",
    ),
    (
        "markdown",
        """## The organization's state over time

Intervals of trusted access, delegated administrators and the root access features. An
interval whose start was not observed is *unknown* before it, never "off".""",
    ),
    (
        "code",
        """intervals = trail.query("org_state_intervals")
intervals.filter(intervals["kind"].is_in(["trusted_access", "delegated_admin", "root_feature"])).select(
    "kind", "subject", "account_id", "state", "start_time", "end_time", "start_observed", "actor")""",
    ),
    (
        "code",
        """state = trail.state_at("2026-10-07T12:00:00Z")
state["root_feature"].select("subject", "state", "known", "start_time")""",
    ),
    (
        "markdown",
        """## Root sessions and their three checks

Every `sts:AssumeRoot` call (failed ones too) and every orphan root session, then the findings
of the checks: duration, task scope, caller authorization, orphans, and root use outside
AssumeRoot.""",
    ),
    (
        "code",
        """sessions = trail.sessions()
print(len(sessions), "root sessions,", sessions["events"].sum(), "events made with them")
sessions.select("issued_at", "caller_account_id", "target_account_id", "task_policy",
                "outcome", "events", "active_seconds")""",
    ),
    (
        "code",
        """findings = trail.findings()
findings.group_by("check", "severity").len().sort("check", "severity")""",
    ),
    (
        "markdown",
        """## One finding, down to its evidence

The critical finding: root used with long-term credentials after the account's root
credentials were deleted centrally. Its evidence event IDs lead to the records themselves.""",
    ),
    (
        "code",
        """critical = findings.filter(findings["severity"] == "critical").row(0, named=True)
print(critical["title"])
print(critical["explanation"])
evidence = critical["evidence_event_ids"].split(",")
trail.sql(\"\"\"
    select event_time, event_name, identity_type, access_key_id, source_ip, error_code
    from events where list_contains($ids, event_id) order by event_time\"\"\", ids=evidence)""",
    ),
    (
        "code",
        """# the session that deleted those credentials, event by event
credentials = trail.query("root_credentials")
deleted_by = credentials.filter(credentials["account_id"] == critical["account_id"])[
    "deleted_by_session"][0]
trail.session_timeline(deleted_by)""",
    ),
    ("markdown", """## A chart: activity per day and account"""),
    (
        "code",
        """import matplotlib.pyplot as plt

per_day = trail.sql(\"\"\"
    select cast(event_time as date) as day, recipient_account_id as account, count(*) as events
    from events group by all order by day, account\"\"\")
fig, ax = plt.subplots(figsize=(8, 3))
for account in per_day["account"].unique().sort():
    rows = per_day.filter(per_day["account"] == account)
    ax.plot(rows["day"].to_list(), rows["events"].to_list(), marker="o", label=account)
ax.set_ylabel("events"); ax.legend(fontsize=6, ncol=4); fig.autofmt_xdate()
fig.savefig(db.with_suffix(".png"))
len(per_day)""",
    ),
    ("markdown", """## Anything else: the raw DuckDB connection"""),
    (
        "code",
        """trail.con.sql(\"\"\"
    select event_name, count(*) as n from events
    where identity_type = 'Root' group by 1 order by 2 desc limit 10\"\"\").pl()""",
    ),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for kind, source in CELLS:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: the file only changes when a cell does
    return nb


if __name__ == "__main__":
    nbformat.write(build(), Path(__file__).with_name("explore_root_activity.ipynb"))
