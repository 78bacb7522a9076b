"""One notion of time (issue 17): since and until mean the same in findings, the report, the
timeline and the summary, from the library and the command line, over the sample organization.

Before, four parsers disagreed: findings(until="2026-10-08") returned 8 findings where
report(until="2026-10-08") returned 12, and `trailscope findings --until 2026-10-07` dropped
that day's high findings (four, not three as the issue counted), which report, timeline and
summary kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trailscope.cli import cli
from trailscope.period import BadTime, Period, parse_time
from trailscope.trail import Trail

DAY = "2026-10-07"  # four high findings that day
UTC = dt.UTC


def _cli_json(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # warnings go to stderr


def _events_between(trail: Trail, since: str, until: str) -> int:
    return int(
        trail.sql(
            "select count(*) from events where event_time between $a and $b",
            a=parse_time(since, end=False),
            b=parse_time(until, end=True),
        ).item()
    )


def test_a_bare_day_is_the_whole_day_everywhere(sample_trail: Trail, sample_db: Path) -> None:
    found = sample_trail.findings(since=DAY, until=DAY)
    assert list(found["severity"]).count("high") == 4
    ids = sorted(found["finding_id"])
    reported = json.loads(sample_trail.report("json", since=DAY, until=DAY))["findings"]
    assert sorted(f["finding_id"] for f in reported) == ids
    assert sorted(f["finding_id"] for f in _cli_json(sample_db, "findings", "--until", DAY)) == (
        sorted(sample_trail.findings(until=DAY)["finding_id"])
    )
    assert (
        sorted(
            f["finding_id"]
            for f in _cli_json(sample_db, "findings", "--since", DAY, "--until", DAY)
        )
        == ids
    )
    # every finding of that day has its evidence in the day's timeline and summary
    events = _events_between(sample_trail, DAY, DAY)
    timeline = sample_trail.timeline(since=DAY, until=DAY)
    assert timeline.height == events
    assert timeline["event_time"].min() >= dt.datetime(2026, 10, 7, tzinfo=UTC)
    assert timeline["event_time"].max() < dt.datetime(2026, 10, 8, tzinfo=UTC)
    assert sample_trail.summary(since=DAY, until=DAY)["events"].sum() == events
    shown = set(timeline["event_id"])
    for evidence in found["evidence_event_ids"]:
        assert set(evidence.split(",")) <= shown
    cli_timeline = _cli_json(sample_db, "timeline", "--since", DAY, "--until", DAY)
    assert len(cli_timeline) == events
    # and the query module itself
    pivots = dict.fromkeys(sample_trail.queries()["timeline"].params)
    assert sample_trail.query("timeline", **{**pivots, "since": DAY, "until": DAY}).height == events


def test_the_counts_the_issue_found_disagreeing_now_agree(sample_trail: Trail) -> None:
    found = sample_trail.findings(until="2026-10-08")
    reported = json.loads(sample_trail.report("json", until="2026-10-08"))
    # 17 of the sample's 22 planted findings happen by the end of 2026-10-08 (12 before the
    # organization-change cases of issue 15 were planted)
    assert len(found) == len(reported["findings"]) == 17


def test_iso_times_keep_their_zone(sample_trail: Trail) -> None:
    same = sample_trail.findings(since="2026-10-07T02:00:00+02:00", until="2026-10-07T23:59:59")
    assert same.equals(sample_trail.findings(since=DAY, until="2026-10-07T23:59:59Z"))
    assert Period.of(since="2026-10-07T12:00:00-05:00").since == dt.datetime(
        2026, 10, 7, 17, tzinfo=UTC
    )
    naive = Period.of(until=dt.datetime(2026, 10, 7, 12))
    assert naive.until == dt.datetime(2026, 10, 7, 12, tzinfo=UTC)
    assert Period.of(until=dt.date(2026, 10, 7)).until == dt.datetime(
        2026, 10, 7, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_a_bad_time_is_one_clear_error(sample_trail: Trail, sample_db: Path) -> None:
    for call in (
        lambda: sample_trail.findings(since="soon"),
        lambda: sample_trail.report("json", until="tomorrow"),
        lambda: sample_trail.timeline(ip="192.0.2.1", since="yesterday"),
        lambda: sample_trail.summary(until="10/07/2026"),
        lambda: sample_trail.sessions(since="last week"),
    ):
        with pytest.raises(BadTime, match="not a date or ISO time"):
            call()
    for command in ("findings", "report", "timeline", "summary"):
        result = CliRunner().invoke(cli, [command, "--db", str(sample_db), "--until", "soon"])
        assert result.exit_code == 1, command
        assert "--until: not a date or ISO time: 'soon'" in result.output
        assert "Traceback" not in result.output


def test_the_query_command_takes_a_day_an_empty_value_as_null_and_refuses_a_misspelt_name(
    sample_trail: Trail, sample_db: Path
) -> None:
    """`--param NAME=` is no value (NULL), as a parameter left out: it passed '', which stopped
    a boolean (follow) and a time (at) with DuckDB's conversion error, and as a part to look for
    (principal_like) matched everything. A parameter the module does not declare (since
    misspelt) was ignored, the answer that of no filter."""
    pivots = [f"{p}=" for p in sample_trail.queries()["timeline"].params]
    args = [a for p in pivots for a in ("--param", p)]
    rows = _cli_json(
        sample_db, "query", "timeline", *args, "--param", f"since={DAY}", "-p", f"until={DAY}"
    )
    assert len(rows) == _events_between(sample_trail, DAY, DAY)
    states = _cli_json(sample_db, "query", "org_state_at", "--param", "at=")
    assert states and {s["state"] for s in states} == {"unknown"}
    result = CliRunner().invoke(
        cli, ["query", "coverage_hours", "--db", str(sample_db), "--param", f"sinc={DAY}"]
    )
    assert result.exit_code == 1
    assert "query coverage_hours takes no parameter sinc (it takes: since, until)" in result.output
