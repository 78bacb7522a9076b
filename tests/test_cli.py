"""The command line, run as a user runs it: a real process on a real database."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import real
from tests.logs import sample_records, write_delivery
from trailscope.trail import Trail


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trailscope", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_ingest_then_query_and_sql(tmp_path: Path) -> None:
    r = run("ingest", str(real("invictus-aws_dataset")), "--db", "t.duckdb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "records: 2,900 read, 2,900 stored, 0 duplicates, 0 rejected" in r.stderr
    r = run("query", "coverage", "--db", "t.duckdb", "--format", "csv", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["account_id"], x["aws_region"], x["day"], x["events"]) for x in rows] == [
        ("123837392027", "us-east-1", "2023-07-10", "2900")
    ]  # recipientAccountId
    r = run(
        "sql",
        "select count(*) as n from events where error_code is not null",
        "--db",
        "t.duckdb",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(r.stdout) == [{"n": 300}]
    r = run("sql", "select nonsense from events", "--db", "t.duckdb", cwd=tmp_path)
    assert r.returncode == 1 and "nonsense" in r.stderr and "Traceback" not in r.stderr


def test_exit_status_says_whether_anything_was_rejected(tmp_path: Path) -> None:
    r = run("ingest", str(real("stratus-detonations-zmallen")), "--db", "t.duckdb", cwd=tmp_path)
    assert r.returncode == 3
    assert "aws.execution.ec2-user-data.json: invalid JSON" in r.stderr
    r = run("ingest", str(tmp_path / "nowhere"), "--db", "t.duckdb", cwd=tmp_path)
    assert r.returncode == 1 and "no such file or folder" in r.stderr
    r = run("query", "coverage", "--db", "missing.duckdb", cwd=tmp_path)
    assert r.returncode == 1 and "run `trailscope ingest` first" in r.stderr


def test_a_notebooks_trail_locks_out_no_analysis_command(tmp_path: Path) -> None:
    """Trail(path) holds the write lock only while ingest runs: a notebook left open on the
    database lets every analysis command read it; read_only=False holds it throughout."""
    write_delivery(
        tmp_path / "logs",
        "111122223333",
        "us-east-1",
        "2026-10-05",
        "a",
        list(sample_records()[:50]),
    )
    db = tmp_path / "t.duckdb"
    with Trail(db) as trail:  # a new file: made, then read-only
        assert trail.ingest(tmp_path / "logs").stored == 50
        r = run(
            "sql",
            "select count(*) as n from events",
            "--db",
            "t.duckdb",
            "--format",
            "json",
            cwd=tmp_path,
        )
        assert r.returncode == 0 and json.loads(r.stdout) == [{"n": 50}], r.stderr
        r = run("ingest", "logs", "--db", "t.duckdb", cwd=tmp_path)  # a writer waits its turn
        assert r.returncode == 1 and "lock" in r.stderr and "Traceback" not in r.stderr
        assert trail.sql("select count(*) as n from events")["n"][0] == 50
    with Trail(db, read_only=False):
        r = run("sql", "select 1", "--db", "t.duckdb", cwd=tmp_path)
        assert r.returncode == 1 and "lock" in r.stderr


def test_csv_output_writes_nested_values_as_json(tmp_path: Path) -> None:
    assert (
        run("ingest", str(real("plaso-lookupevents")), "--db", "t.duckdb", cwd=tmp_path).returncode
        == 0
    )
    r = run(
        "sql",
        "select [1, 2] as numbers, {'a': 'b'} as pair, 'x' as text",
        "--db",
        "t.duckdb",
        "--format",
        "csv",
        cwd=tmp_path,
    )
    (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
    assert row == {"numbers": "[1, 2]", "pair": '{"a": "b"}', "text": "x"}


def test_csv_output_defuses_formulas(tmp_path: Path) -> None:
    record = dict(sample_records()[0], userAgent='=HYPERLINK("http://x","y")')
    (tmp_path / "f.json").write_text(json.dumps(record))
    assert run("ingest", "f.json", "--db", "t.duckdb", cwd=tmp_path).returncode == 0
    r = run(
        "sql", "select user_agent from events", "--db", "t.duckdb", "--format", "csv", cwd=tmp_path
    )
    (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
    assert row["user_agent"] == '\'=HYPERLINK("http://x","y")'


@pytest.mark.slow
def test_killed_ingest_leaves_whole_files_and_a_rerun_completes(tmp_path: Path) -> None:
    records = list(sample_records())
    root = tmp_path / "logs"
    n_files = 120
    for i in range(n_files):
        chunk = [
            dict(
                records[(i * 500 + j) % len(records)],
                eventID=f"44444444-0000-0000-{i:04d}-{j:012d}",
            )
            for j in range(500)
        ]
        write_delivery(root, "111122223333", "us-east-1", "2023-07-10", f"{i:04d}", chunk)
    db = tmp_path / "t.duckdb"
    # the child says when it has loaded a batch; a batch is stored while the next one is
    # parsed, and committed before that one is handed over: after the second, one is committed
    code = (
        f"from trailscope.trail import Trail\n"
        f"def said(**kw): print('loaded', flush=True)\n"
        f"Trail({str(db)!r}).ingest({str(root)!r}, commit_rows=1000, progress=said)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert [child.stdout.readline().strip() for _ in range(2)] == ["loaded", "loaded"]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with Trail(db) as trail:
        files, events, sources = trail.con.sql(
            "select (select count(*) from files), (select count(*) from events), "
            "(select count(*) from event_sources)"
        ).fetchall()[0]
        assert 0 < files < n_files, "the kill should land mid-way; make the tree bigger"
        # only whole files: every file in the manifest has all 500 of its events
        assert events == sources == files * 500
        s = trail.ingest(root)
        assert s.files_already == files and s.stored == (n_files - files) * 500
        assert trail.con.sql("select count(*) from events").fetchall()[0][0] == n_files * 500


def test_demo_from_a_fresh_directory_finds_every_planted_case_and_nothing_else(
    tmp_path: Path,
) -> None:
    from trailscope.synthetic import PLANTED

    r = run("demo", "--out", "out", cwd=tmp_path)  # generates the sample organization there
    assert r.returncode == 0, r.stderr
    assert "records: 20,128 read, 20,121 stored, 7 duplicates, 0 rejected" in r.stdout
    assert "root_feature: RootSessions disabled" in r.stdout  # N12 disables it
    for name in ("trail.duckdb", "report.html", "report.md"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    assert "report:   out/report.html" in r.stdout
    assert "logs:     out/sample_logs" in r.stdout
    again = run("demo", "--out", "out", cwd=tmp_path)  # the sample is generated once
    assert "files: 329 seen, 0 read, 329 already ingested" in again.stdout, again.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    findings = [c for c in PLANTED if c.check not in ("none", "org_state")]
    assert f"28 root sessions; {len(findings)} findings" in r.stdout  # one each, nothing else
    evidence = " ".join(line for line in report.splitlines() if line.startswith("- evidence"))
    for case in findings:
        assert case.event_ids[0] in evidence, case.case_id
    for case in PLANTED:  # organization-state cases are in the state and changes tables
        if case.check == "org_state":
            assert case.event_ids[0] in report, case.case_id
