"""Ingest that no file can stop, fool or silently lose (issue 14), end to end through the CLI on
the hostile corpus of tests/hostile.py, and runs that stop part-way: Ctrl-C, a full disk."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import hostile
from tests.logs import sample_records, write_delivery
from trailscope.trail import Trail

# what must never reach a terminal from log text: ESC (ANSI, OSC), BEL, C1's CSI, CR, a bidi
# override; and never a Python traceback in any output
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


# Runs the command in argv as a process that, when root, has given up the capabilities that
# read any folder (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that a mode-000 folder is as
# unreadable to it as to anyone else: dropped from the bounding set, they are gone after the
# exec. CI runs as root, with every capability, and so can drop them.
BLIND = """
import ctypes, os, sys
if os.geteuid() == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # linux/capability.h: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # linux/prctl.h: PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes


def cli(*args: str, cwd: Path, blind: bool = True) -> Run:
    """The CLI in a process of its own (`blind`: unable to read unreadable folders, even as
    root): its exit status, output, and peak resident memory as the kernel counted it."""
    command = [sys.executable, "-m", "trailscope", *args]
    proc = subprocess.Popen(
        [sys.executable, "-c", BLIND, *command[1:]] if blind else command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output: dict[int, bytes] = {}
    readers = [
        threading.Thread(target=lambda n=n, pipe=pipe: output.__setitem__(n, pipe.read()))
        for n, pipe in enumerate((proc.stdout, proc.stderr))
        if pipe is not None
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = (output[n].decode("utf-8", "replace") for n in (0, 1))
    return Run(proc.returncode, out, err, usage.ru_maxrss * 1024)


def clean(run: Run) -> None:
    """No traceback anywhere, no control character from the logs on the terminal."""
    for text in (run.stdout, run.stderr):
        assert "Traceback" not in text, text[-3000:]
        for char in RAW_CONTROLS:
            assert char not in text, (repr(char), text[-3000:])


@dataclass
class Ingested:
    first: hostile.Corpus
    late: hostile.Corpus
    db: Path
    runs: list[Run]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """The corpus ingested, then ingested again with the locked folder opened and the late
    files added."""
    work = tmp_path_factory.mktemp("hostile")
    first = hostile.build(work)
    db = work / "t.duckdb"
    run1 = cli("ingest", str(first.root), "--db", str(db), cwd=work)
    hostile.readable_again(first)
    late = hostile.build_late(work, first)
    run2 = cli("ingest", str(first.root), str(late.root), "--db", str(db), cwd=work)
    return Ingested(first, late, db, [run1, run2])


def _files(db: Path, run_id: int, root: Path) -> dict[str, tuple[Any, ...]]:
    with Trail(db, read_only=True) as trail:
        rows = trail.con.sql(
            "select path, records, stored, duplicates, rejected, status, file_id from files "
            "where run_id = $run",
            params={"run": run_id},
        ).fetchall()
    return {str(Path(p).relative_to(root)): tuple(r) for p, *r in rows if p.startswith(str(root))}


def test_the_run_completes_and_accounts_for_every_record(ingested: Ingested) -> None:
    run = ingested.runs[0]
    clean(run)
    assert run.returncode == 3, run.stderr  # records were rejected
    corpus = ingested.first
    files = _files(ingested.db, 1, corpus.root)
    expected = {k: v for k, v in corpus.expected.items() if k != "locked/inside.json"}
    assert set(files) == set(expected)
    for path, e in expected.items():
        records, stored, dups, rejected, status, _ = files[path]
        assert (records, stored, dups, rejected, status) == (
            e.records,
            e.stored,
            e.duplicates,
            e.rejected,
            e.status,
        ), path
        assert records == stored + dups + rejected, path  # the identity, per file
    total = hostile.Expect(
        *(sum(e.records for e in expected.values()),),
        sum(e.stored for e in expected.values()),
        sum(e.duplicates for e in expected.values()),
        sum(e.rejected for e in expected.values()),
    )
    assert total.records == total.stored + total.duplicates + total.rejected
    assert (
        f"records: {total.records:,} read, {total.stored:,} stored, {total.duplicates:,} "
        f"duplicates, {total.rejected:,} rejected"
    ) in run.stderr
    assert "conflicts: 3 duplicates differ from the stored copy" in run.stderr
    # the escape sequence in a file name is shown, not sent to the terminal
    assert "\\x1b]0;pwned\\x07ESC-name.json #3: record has no eventTime" in run.stderr


def test_reasons_say_what_was_wrong(ingested: Ingested) -> None:
    root = ingested.first.root
    with Trail(ingested.db, read_only=True) as trail:
        rows = trail.con.sql(
            "select f.path, r.position, r.reason from rejected r join files f using (file_id) "
            "where f.run_id = 1"
        ).fetchall()
    reasons = {(str(Path(p).relative_to(root)), pos): why for p, pos, why in rows}
    for path, e in ingested.first.expected.items():
        for position, fragment in e.reasons:
            assert fragment in reasons[(path, position)], (
                path,
                position,
                reasons[(path, position)],
            )
    # every rejection is listed: one row a record, one a file rejected whole
    files = _files(ingested.db, 1, root)
    assert len(reasons) == sum(r[3] for r in files.values()) + sum(
        r[4] == "rejected" for r in files.values()
    )


def test_every_good_record_is_stored_once(ingested: Ingested) -> None:
    with Trail(ingested.db, read_only=True) as trail:
        ids = [i for (i,) in trail.con.sql("select event_id from events").fetchall()]
    assert len(ids) == len(set(ids))
    assert set(ids) == ingested.first.stored_ids | ingested.late.stored_ids


def test_copies_that_differ_are_kept_apart_with_both_sources(ingested: Ingested) -> None:
    with Trail(ingested.db, read_only=True) as trail:
        rows = trail.con.sql("""
            select c.event_id, c.fields, f.path, k.path, c.raw, e.record
            from duplicate_conflicts c join files f using (file_id)
            join files k on k.file_id = c.kept_file_id join events e using (event_id)""").fetchall()
        findings = trail.findings(check="duplicate_conflict")
    expected = ingested.first.conflicts | ingested.late.conflicts
    assert {e: set(fields.split(", ")) for e, fields, *_ in rows} == expected
    for event_id, _, path, kept, raw, record in rows:
        assert Path(kept).name == "dups_a.json", event_id  # the first read is kept
        assert Path(path).name in ("dups_b.json", "late.json")
        assert json.loads(raw)["eventID"] == json.loads(record)["eventID"] == event_id
    assert sorted(findings["evidence_event_ids"]) == sorted(expected)
    assert set(findings["severity"]) == {"high"}
    assert all("altered, forged or replayed" in x for x in findings["explanation"])


def test_the_gzip_bomb_took_no_more_memory_than_the_cap(ingested: Ingested) -> None:
    """4 GiB of zeros in 4 MB: inflating stops at the 1 GiB cap (and the old ingest took
    4.3 GB, or died of a MemoryError)."""
    assert ingested.runs[0].peak_rss < 2 * hostile.GiB


def test_a_rerun_reads_only_what_is_new(ingested: Ingested) -> None:
    run = ingested.runs[1]
    clean(run)
    assert run.returncode == 3, run.stderr  # the late copy that differs
    files = _files(ingested.db, 2, ingested.first.root) | _files(ingested.db, 2, ingested.late.root)
    # the folder that could not be listed is read now, and the link that leads nowhere is
    # tried again (what was never read is); the bomb and the deep file, whose bytes were
    # read, are not read again, nor is anything else
    assert {path: row[:5] for path, row in files.items()} == {
        "links/dangling.json": (0, 0, 0, 0, "rejected"),
        "locked/inside.json": (2, 2, 0, 0, "ingested"),
        "late.json": (5, 3, 2, 0, "ingested"),
    }
    assert "conflicts: 1 duplicates differ" in run.stderr


def test_every_output_renders_afterwards(ingested: Ingested, tmp_path: Path) -> None:
    db = str(ingested.db)
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"report.{fmt}"
        run = cli("report", "--db", db, "--format", fmt, "-o", str(out), cwd=tmp_path)
        clean(run)
        assert run.returncode == 0, run.stderr
        text = out.read_text()
        assert 1000 < len(text) < 2_000_000, fmt
        for char in RAW_CONTROLS:  # log text in a report is shown, never acted on
            assert char not in text, (fmt, repr(char))
    assert "different contents" in (tmp_path / "report.md").read_text()  # the finding
    for command in (
        ("summary",),
        ("timeline", "--account", hostile.ACCOUNT),
        ("findings",),
        ("query", "coverage"),
        ("sql", "select event_time, user_agent, source_ip from events"),
        ("report", "--format", "md"),
    ):
        run = cli(*command, "--db", db, cwd=tmp_path)
        clean(run)
        assert run.returncode == 0, (command, run.stderr)
        assert run.stdout.strip(), command
    # CSV and JSON keep the data exact
    query = "select user_agent from events where event_name = 'ConsoleLogin' order by 1"
    run = cli("sql", query, "--db", db, "--format", "json", cwd=tmp_path)
    assert sorted(r["user_agent"] for r in json.loads(run.stdout)) == sorted(hostile.TERMINAL)
    run = cli("sql", query, "--db", db, "--format", "csv", cwd=tmp_path)
    assert sorted(r["user_agent"] for r in csv.DictReader(io.StringIO(run.stdout))) == sorted(
        hostile.TERMINAL
    )


def test_times_no_ingest_stores_still_render(tmp_path: Path) -> None:
    """A database written by someone else (or an older trailscope) holding DuckDB's infinity,
    year 0, 290000, 1 and 9999: every output survives, and the report does not become the
    3.6 million days from year 1 to 9999."""
    db = tmp_path / "theirs.duckdb"
    records = [r for r in sample_records() if r["userIdentity"].get("type") == "Root"][:7]
    with Trail(db, read_only=False) as trail:
        trail.ingest(hostile_file(tmp_path, records))
        for n, when in enumerate(
            ["infinity", "-infinity", "0000-06-01", "290000-01-01", "0001-01-01", "9999-12-31"]
        ):
            trail.con.sql(
                "update event_store set event_time = $t::timestamptz, session_created_at = "
                "$t::timestamptz where event_id = $id",
                params={"t": when, "id": records[n]["eventID"]},
            )
    for command in (
        ("sql", "select event_id, event_time, session_created_at from events"),
        ("sql", "select event_id, event_time from events", "--format", "csv"),
        ("sql", "select event_id, event_time from events", "--format", "json"),
        ("summary",),
        ("timeline", "--account", records[0]["recipientAccountId"]),
        ("findings",),
        ("query", "coverage"),
        ("report", "--format", "md"),
        ("report", "--format", "json"),
        ("report", "--format", "html"),
    ):
        run = cli(*command, "--db", str(db), cwd=tmp_path)
        clean(run)
        assert run.returncode == 0, (command, run.stderr[-2000:])
        assert len(run.stdout) < 2_000_000, command
    run = cli(
        "sql", "select event_time from events", "--db", str(db), "--format", "json", cwd=tmp_path
    )
    assert {"infinity", "-infinity", "290000-01-01T00:00:00Z"} <= {
        r["event_time"] for r in json.loads(run.stdout)
    }


def hostile_file(folder: Path, records: list[dict[str, Any]]) -> Path:
    path = folder / "records.json"
    path.write_text(json.dumps({"Records": records}))
    return path


# ---------------------------------------------------------------------------------------------
# runs that stop part-way


def _tree(root: Path, files: int, per_file: int = 500) -> None:
    records = list(sample_records())
    for i in range(files):
        chunk = [
            dict(
                records[(i * per_file + j) % len(records)],
                eventID=f"55555555-0000-0000-{i:04d}-{j:012d}",
            )
            for j in range(per_file)
        ]
        write_delivery(root, "111122223333", "us-east-1", "2023-07-10", f"{i:04d}", chunk)


def _counts(db: Path) -> tuple[int, int, int]:
    with Trail(db, read_only=True) as trail:
        files, events, sources = trail.con.sql(
            "select (select count(*) from files), (select count(*) from events), "
            "(select count(*) from event_sources)"
        ).fetchall()[0]
    return files, events, sources


# the CLI with commits of 1,000 records (ingest's own figure is a row group, 61,440), so that a
# small tree takes several; with FSIZE set, no file it writes may grow beyond that many bytes
SMALL_COMMITS = """
import os, resource, sys
if os.environ.get("FSIZE"):
    limit = int(os.environ["FSIZE"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
import trailscope.ingest
trailscope.ingest.COMMIT_ROWS = 1000
from trailscope.cli import cli
cli(sys.argv[1:])
"""


def test_a_full_disk_stops_the_run_saying_the_data_is_safe(tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) makes the database's writes fail with EFBIG, as a full
    disk does with ENOSPC (both are recognised), without needing a mount: the run stops with
    one line, what was committed stays whole, and a re-run ends at the exact count."""
    n_files = 60
    _tree(tmp_path / "logs", n_files)
    args = ["ingest", str(tmp_path / "logs"), "--db", str(tmp_path / "t.duckdb")]
    full = subprocess.run(
        [sys.executable, "-c", SMALL_COMMITS, *args],
        env=os.environ | {"FSIZE": str(3 * 2**20)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    assert "Error: the disk is full (or a file-size limit was reached)" in full.stderr
    assert "The data is safe: this run committed" in full.stderr
    files, events, sources = _counts(tmp_path / "t.duckdb")
    assert 0 < files < n_files, "the limit should stop the run mid-way"
    assert events == sources == files * 500  # whole files only
    assert f"committed {files} files whole ({events:,} events stored" in full.stderr
    again = subprocess.run(
        [sys.executable, "-c", SMALL_COMMITS, *args], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr
    assert f"{files:,} already ingested" in again.stderr
    assert _counts(tmp_path / "t.duckdb") == (n_files, n_files * 500, n_files * 500)


def test_ctrl_c_stops_the_run_with_130_keeping_whole_files(tmp_path: Path) -> None:
    n_files = 240
    _tree(tmp_path / "logs", n_files)
    db = tmp_path / "t.duckdb"
    args = ["ingest", str(tmp_path / "logs"), "--db", str(db)]
    child = subprocess.Popen(
        [sys.executable, "-c", SMALL_COMMITS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # a commit of 1,000 records writes about a megabyte to the log; the tables, a few KB
    wal = db.with_name(db.name + ".wal")
    deadline = time.monotonic() + 60
    while not (wal.exists() and wal.stat().st_size > 500_000) and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    files, events, sources = _counts(db)
    assert 0 < files < n_files, "the interrupt should land mid-way; make the tree bigger"
    assert events == sources == files * 500
    assert f"interrupted: this run committed {files} files whole ({events:,} events" in err
    again = cli(*args, cwd=tmp_path, blind=False)
    assert again.returncode == 0, again.stderr
    assert _counts(db) == (n_files, n_files * 500, n_files * 500)


def test_one_line_errors_instead_of_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text(json.dumps(sample_records()[0]))
    db = str(tmp_path / "t.duckdb")
    assert cli("ingest", str(tmp_path / "f.json"), "--db", db, cwd=tmp_path).returncode == 0
    cases = {
        ("query", "org_state_at", "--param", "at=not-a-time"): "not-a-time",
        ("query", "coverage", "--param", "nonsense"): "is not NAME=VALUE",
        ("findings", "--since", "yesterday"): "yesterday",
        ("timeline", "--ip", "1.2.3.4", "--since", "2026-13-45"): "2026-13-45",
        ("report", "--until", "soon"): "soon",
        ("sql", "select 1", "-o", str(tmp_path / "no" / "such" / "x.csv")): "does not exist",
        ("report", "-o", str(tmp_path / "missing" / "r.html")): "does not exist",
        ("ingest", str(tmp_path), "--max-file-size", "lots"): "is not a size",
    }
    for args, fragment in cases.items():
        run = cli(*args, "--db", db, cwd=tmp_path, blind=False)
        assert run.returncode in (1, 2), (args, run.stderr)
        assert "Traceback" not in run.stderr and fragment in run.stderr, (args, run.stderr)
        assert run.stderr.strip().splitlines()[-1].startswith("Error: "), (args, run.stderr)
        assert sum(line.startswith("Error") for line in run.stderr.splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# what no reader may wait on or hold, and folders no filter may trip over


def test_links_to_a_pipe_or_a_device_are_passed_over(tmp_path: Path) -> None:
    """A symbolic link to a named pipe would block the reader for ever, one to /dev/zero fill
    the memory: listed as skipped, with what they lead to, and the run goes on."""
    logs = tmp_path / "logs"
    logs.mkdir()
    hostile_file(logs, list(sample_records()[:2]))
    os.mkfifo(tmp_path / "pipe")
    (logs / "pipe.json").symlink_to(tmp_path / "pipe")
    (logs / "zero.json").symlink_to("/dev/zero")
    db = tmp_path / "t.duckdb"
    run = subprocess.run(
        [sys.executable, "-m", "trailscope", "ingest", str(logs), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    files = _files(db, 1, logs)
    assert files["records.json"][:5] == (2, 2, 0, 0, "ingested")
    with Trail(db, read_only=True) as trail:
        notes = dict(trail.con.sql("select path, note from files").fetchall())
    assert notes[str(logs / "pipe.json")] == "not a regular file: a named pipe"
    assert notes[str(logs / "zero.json")] == "not a regular file: a character device"


def test_a_file_grown_since_it_was_listed_is_read_no_further_than_the_cap(
    tmp_path: Path,
) -> None:
    """Listed small, 64 MiB by the time it is read: rejected as too large, having read no
    more than the cap (1 MiB here) into memory."""
    import tracemalloc

    from trailscope import ingest
    from trailscope.sources import Candidate

    path = tmp_path / "growing.json"
    path.write_bytes(b" " * 64 * 2**20)
    f = ingest._File(1, Candidate(str(path), 10, 0.0), max_size=2**20)
    tracemalloc.start()
    try:
        ingest._read_one(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f.error is not None and "larger than 1 MiB once inflated" in f.error
    assert peak < 8 * 2**20


def test_folders_named_for_days_that_do_not_exist_are_read(tmp_path: Path) -> None:
    """--since and --until prune the key layout's day folders; a folder named for no real day
    (30 February, month 13, year 0 or 1: by hand, or by an attacker) is read as one outside
    the layout, not the end of the run."""
    logs = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1"
    records = iter(sample_records())
    days = ("2026/02/30", "2026/13/01", "0000/01/01", "0001/01/01")
    for day in days:
        (logs / day).mkdir(parents=True)
        hostile_file(logs / day, [next(records)])
    db = tmp_path / "t.duckdb"
    for window in (("--since", "2026-01-01"), ("--until", "2026-12-31")):
        run = cli("ingest", str(tmp_path / "AWSLogs"), "--db", str(db), *window, cwd=tmp_path)
        clean(run)
        assert run.returncode == 0, run.stderr
    assert _counts(db)[1] == len(days)


def test_sql_of_blobs_arrays_and_maps_writes_every_format(tmp_path: Path) -> None:
    """A query's own BLOB (the record as bytes, with a byte that is not UTF-8), fixed-size
    array and map: CSV wrote none of them (one-line errors), JSON panicked in polars with a
    traceback, and an array came out as `<builtins.PySeries object at ...>`."""
    db = tmp_path / "t.duckdb"
    with Trail(db) as trail:
        trail.ingest(hostile_file(tmp_path, list(sample_records()[:1])))
    query = (
        r"select 'a\x1b\xff'::blob as b, [1, 2]::int[2] as a, map(['k'], [1]) as m, "
        "[event_name] as l from events"
    )
    outputs = {}
    for fmt in ("csv", "json", "table"):
        run = cli("sql", query, "--db", str(db), "--format", fmt, cwd=tmp_path, blind=False)
        if fmt == "table":
            clean(run)  # CSV and JSON keep the data exact
        assert run.returncode == 0 and "Traceback" not in run.stderr, (fmt, run.stderr)
        outputs[fmt] = run.stdout
    name = sample_records()[0]["eventName"]
    row = next(csv.DictReader(io.StringIO(outputs["csv"])))
    assert row == {"b": "a\x1b\\xff", "a": "[1, 2]", "m": '{"k": 1}', "l": f'["{name}"]'}
    assert json.loads(outputs["json"]) == [
        {"b": "a\x1b\\xff", "a": [1, 2], "m": {"k": 1}, "l": [name]}
    ]
    assert "PySeries" not in outputs["table"] and "a\\x1b\\xff" in outputs["table"]
