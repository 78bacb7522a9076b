"""What the commands write, as a user runs them: the format a file's name picks, --output as
the AWS CLI's format, one way to write times, lists as arrays, columns, exit statuses."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from trailscope.cli import EXIT_FINDINGS, EXIT_NO_ASSURANCE, cli

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
# a window the logs cover whole: one account's hour around the S3UnlockBucketPolicy session
# (P04: a high finding, PutBucketAcl out of scope)
WINDOW = ["--account", "400000000014", "--since", "2026-10-07T10:00:00Z"]
WINDOW += ["--until", "2026-10-07T12:00:00Z"]


def invoke(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--db", str(db)], catch_exceptions=False)


def test_the_file_name_picks_the_format_unless_format_says(
    sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke(sample_db, "report", "--month", "2026-10", "-o", "october.md")
    assert r.exit_code == 0, r.output
    assert Path("october.md").read_text().startswith("# Monthly root activity report")
    invoke(sample_db, "report", "--month", "2026-10", "-o", "october.json")
    assert json.loads(Path("october.json").read_text())["title"].startswith("Monthly")
    invoke(sample_db, "report", "--month", "2026-10", "-o", "october.htm")
    assert Path("october.htm").read_text().startswith("<!DOCTYPE html>")
    invoke(sample_db, "findings", "-o", "f.csv")
    assert Path("f.csv").read_text().startswith("finding_id,")
    invoke(sample_db, "findings", "-o", "f.json")
    assert isinstance(json.loads(Path("f.json").read_text()), list)
    invoke(sample_db, "findings", "-o", "f.out", "--format", "csv")  # no format in the name
    assert Path("f.out").read_text().startswith("finding_id,")
    for args in (
        ["report", "-o", "r.md", "--format", "html"],  # they disagree
        ["report", "-o", "r.csv"],  # a report is no CSV
        ["findings", "-o", "f.md"],
        ["findings", "-o", "g.csv", "--format", "json"],
    ):
        r = invoke(sample_db, *args)
        assert r.exit_code == 2 and "format" in r.output, args
        assert not Path(args[2]).exists()


def test_output_takes_a_format_name_as_the_aws_cli_does(
    sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke(sample_db, "findings", "--output", "json")
    assert isinstance(json.loads(r.stdout), list) and not Path("json").exists()
    r = invoke(sample_db, "report", "--month", "2026-10", "--output", "md")
    assert r.stdout.startswith("# Monthly")
    r = invoke(sample_db, "findings", "--output", "text")  # the AWS CLI's; not trailscope's
    assert r.exit_code == 2 and "--output ./text" in r.output
    r = invoke(sample_db, "findings", "--output", "csv", "--format", "json")
    assert r.exit_code == 2
    invoke(sample_db, "findings", "--output", "./json")  # a file of that name, no extension
    assert Path("json").read_text().startswith("┌")  # so the default format, a table
    invoke(sample_db, "findings", "--output", "./json", "--format", "json")
    assert isinstance(json.loads(Path("json").read_text()), list)


def test_times_are_iso_utc_with_z_and_lists_are_arrays(sample_db: Path) -> None:
    found = json.loads(invoke(sample_db, "findings", "--format", "json").stdout)
    assert all(ISO_Z.match(f["event_time"]) for f in found)
    assert all(isinstance(f["evidence_event_ids"], list) for f in found)
    assert all(isinstance(f["context_event_ids"], list) for f in found)
    assert any(len(f["evidence_event_ids"]) > 1 for f in found)
    text = invoke(sample_db, "findings", "--format", "csv").stdout
    assert all(ISO_Z.match(r["event_time"]) for r in csv.DictReader(io.StringIO(text)))
    # a query module's event ID lists, comma-joined in SQL, are arrays too
    state = json.loads(
        invoke(
            sample_db, "query", "org_state_at", "--param", "at=2026-10-08", "--output", "json"
        ).stdout
    )
    assert all(isinstance(s["evidence_event_ids"], list) for s in state)
    assert any(len(s["evidence_event_ids"]) > 1 for s in state)
    people = json.loads(invoke(sample_db, "summary", "--format", "json").stdout)
    assert all(isinstance(p["regions"], list) and ISO_Z.match(p["first_seen"]) for p in people)
    table = invoke(sample_db, "summary").stdout
    assert "2026-10-05T02:5" in table and " UTC" not in table
    timeline = invoke(
        sample_db, "timeline", "--access-key", "ASIAHNP46CIPI3KCTCP3", "--output", "line"
    )
    assert "event_time            2026-10-07T10:00:27Z" in timeline.stdout
    # the prose writes them the same way: every time in the explanations and the report
    report = invoke(sample_db, "report", "--month", "2026-10", "--output", "md").stdout
    for text in (report, *(f["explanation"] for f in found)):
        assert not re.search(r"\d\d:\d\d", ISO_TIME.sub("", text)), text
    assert len(ISO_TIME.findall(report)) > 100


def test_findings_come_worst_first(sample_db: Path) -> None:
    found = json.loads(invoke(sample_db, "findings", "--format", "json").stdout)
    order = ["critical", "high", "medium", "low", "info"]
    ranks = [order.index(f["severity"]) for f in found]
    assert ranks == sorted(ranks) and ranks[0] == 0
    for rank in set(ranks):  # then by time
        times = [f["event_time"] for f, n in zip(found, ranks, strict=True) if n == rank]
        assert times == sorted(times)


def test_tables_show_a_few_columns_columns_chooses_and_line_shows_each_field(
    sample_db: Path,
) -> None:
    key = ["--access-key", "ASIAHNP46CIPI3KCTCP3"]
    table = invoke(sample_db, "timeline", *key).stdout
    header = table.splitlines()[1]
    assert "event_name" in header and "issued_arn" not in header and "user_agent" not in header
    assert "…" not in header  # no column squeezed to a fragment of its name
    chosen = invoke(sample_db, "timeline", *key, "--columns", "event_time,user_agent").stdout
    assert re.findall(r"\w+", chosen.splitlines()[1]) == ["event_time", "user_agent"]
    every = json.loads(invoke(sample_db, "timeline", *key, "--format", "json").stdout)
    assert len(every[0]) == 21  # files get every column
    lines = invoke(sample_db, "timeline", *key, "--format", "line").stdout
    records = lines.split("-- record ")[1:]
    assert len(records) == len(every)
    assert all(re.search(r"^issued_arn\s", r, re.MULTILINE) for r in records)
    r = invoke(sample_db, "summary", "--columns", "identity,nonsense")
    assert r.exit_code == 1 and "no column nonsense" in r.output and "identity_type" in r.output
    assert invoke(sample_db, "findings", "--columns", "all").stdout.count("explanation") == 1


def test_fail_on_and_what_an_incomplete_or_empty_run_exits_with(sample_db: Path) -> None:
    # the window's coverage is whole: its finding is high, so --fail-on decides
    assert invoke(sample_db, "findings", *WINDOW, "--fail-on", "critical").exit_code == 0
    assert invoke(sample_db, "findings", *WINDOW, "--fail-on", "high").exit_code == EXIT_FINDINGS
    assert invoke(sample_db, "findings", *WINDOW).exit_code == 0
    # the month lacks 26 days: without --fail-on it is written, with it nothing vouches for it
    r = invoke(sample_db, "report", "--month", "2026-10", "--output", "md")
    assert r.exit_code == 0 and "warning: No logs at all on 26" in r.stderr
    r = invoke(sample_db, "report", "--month", "2026-10", "--output", "md", "--fail-on", "critical")
    assert r.exit_code == EXIT_FINDINGS  # the critical finding first
    account = ["--account", "400000000012"]  # no critical finding; days without logs
    assert invoke(sample_db, "findings", *account, "--fail-on", "critical").exit_code == (
        EXIT_NO_ASSURANCE
    )
    # a month without logs is no clean month, asked or not
    r = invoke(sample_db, "report", "--month", "2026-11", "--output", "json")
    assert r.exit_code == EXIT_NO_ASSURANCE and json.loads(r.stdout)["empty"]
    assert invoke(sample_db, "findings", "--since", "2026-11-01").exit_code == EXIT_NO_ASSURANCE
    # an accepted finding does not fail the run
    approved = Path(str(sample_db) + ".allow.json")
    approved.write_text(
        json.dumps(
            {"accept": [{"reason": "CHG-1", "expires": "2026-12-31", "check": "task_scope"}]}
        )
    )
    accepted = invoke(
        sample_db, "findings", *WINDOW, "--fail-on", "high", "--allow-list", str(approved)
    )
    assert accepted.exit_code == 0, accepted.output


def test_a_column_named_twice_or_a_file_of_a_format_not_written_is_refused(
    sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = invoke(sample_db, "summary", "--columns", "identity,identity")
    assert r.exit_code == 1 and "identity named twice" in r.output
    assert "unexpected" not in r.output
    monkeypatch.chdir(tmp_path)
    for args in (
        ["report", "-o", "october.pdf"],  # an HTML file named .pdf: print it from a browser
        ["findings", "-o", "f.xlsx"],  # a terminal table named as a spreadsheet
        ["findings", "-o", "f.yaml"],
        ["timeline", "--ip", "192.0.2.1", "-o", "t.tsv"],
    ):
        r = invoke(sample_db, *args)
        assert r.exit_code == 2 and "does not write" in r.output, (args, r.output)
        assert not Path(args[-1]).exists()
    assert "print it to PDF" in invoke(sample_db, "report", "-o", "r.pdf").output


def test_a_period_given_twice_or_backwards_is_refused(sample_db: Path) -> None:
    """A typo in the period is no report of a period without logs, nor a month silently
    taken over another bound."""
    r = invoke(sample_db, "report", "--month", "2026-10", "--since", "2026-10-07")
    assert r.exit_code == 1 and "--month 2026-10 and --since/--until" in r.output
    for command in (["report"], ["findings"], ["timeline", "--account", "400000000014"]):
        r = invoke(sample_db, *command, "--since", "2026-10-09", "--until", "2026-10-05")
        assert r.exit_code == 1, (command, r.output)
        assert "--since 2026-10-09T00:00:00Z is after --until 2026-10-05T23:59:59Z" in r.output


# what polars cannot hold: each as DuckDB writes it, nested or not
ODD_TYPES = (
    "select max(event_time) - min(event_time) as span, interval 3 month as months, "
    "'101'::bit as bits, 340282366920938463463374607431768211455::uhugeint as big, "
    "'12:00:00+02'::timetz as noon, union_value(n := 7) as one_of, "
    "{'BLOB': 'ab\\xff'::blob, 'gap': [interval 90 minute]} as nested, "
    "map {'k': interval 1 day} as by_key from events"
)


@pytest.mark.parametrize("fmt", ["table", "line", "csv", "json", "parquet"])
def test_sql_writes_intervals_and_other_types_polars_lacks(
    sample_db: Path, tmp_path: Path, fmt: str
) -> None:
    """`max(event_time) - min(event_time)` stopped every format with polars' one-line error
    (a list of intervals with a panic); a UHUGEINT above 2**127 came out as -1, BIT as bytes,
    TIME WITH TIME ZONE without its offset, and a BLOB in a struct panicked writing JSON."""
    out = tmp_path / f"odd.{fmt}"
    result = invoke(sample_db, "sql", ODD_TYPES, "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    if fmt == "parquet":
        import polars as pl

        row = pl.read_parquet(out).row(0, named=True)
        assert (row["span"], row["big"], row["noon"]) == (
            "4 days 19:24:39",
            "340282366920938463463374607431768211455",
            "12:00:00+02",
        )
        return
    text = out.read_text(encoding="utf-8")
    for shown in ("4 days 19:24:39", "3 months", "101", "12:00:00+02", "01:30:00", "1 day"):
        assert shown in text
    assert "340282366920938463463374607431768211455" in text
    if fmt == "json":
        (row,) = json.loads(text)
        assert row["nested"] == {"BLOB": "ab\\xFF", "gap": ["01:30:00"]}
        assert (row["one_of"], row["by_key"]) == ("7", {"k": "1 day"})
