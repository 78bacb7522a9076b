"""Ingest speed and memory, against DuckDB's read_json done by hand.

    python benchmarks/ingest.py --events 2000000

Generates (once, then reuses) a synthetic S3 export tree of about 500 records a file with the
project's generator, then runs, each in a fresh process:
  1. `trailscope ingest TREE --db FILE --quiet`, end to end, as a user runs it;
  2. the by-hand way: DuckDB `read_json` over the same files with an explicit schema for the
     fields analyses use, unnested into a table;
and prints events/s of both, the ratio, and each process's peak RSS. With --scaling it also
ingests a quarter of the tree, to show whether memory grows with the input; with --analysis
it adds the sample organization and times the checks and a month's report; with --duplicates it
ingests the tree again into the same database under other paths (the same events: every record
a duplicate, found and compared with the copy stored).
Targets (issue 2, on a 2-core machine): >= 150,000 events/s, >= 4x read_json, <= 1.5 GB peak
RSS at 2 million events.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = r"""
import sys, duckdb
db, glob, max_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
ident = ("STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, "
         "accessKeyId VARCHAR, userName VARCHAR, invokedBy VARCHAR, sessionContext STRUCT("
         "sessionIssuer STRUCT(type VARCHAR, arn VARCHAR, accountId VARCHAR, userName VARCHAR), "
         "attributes STRUCT(creationDate VARCHAR, mfaAuthenticated VARCHAR), "
         "assumedRoot VARCHAR, sourceIdentity VARCHAR))")
record = (f"STRUCT(eventVersion VARCHAR, userIdentity {ident}, eventTime TIMESTAMPTZ, "
          "eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR, "
          "userAgent VARCHAR, errorCode VARCHAR, errorMessage VARCHAR, requestParameters JSON, "
          "responseElements JSON, additionalEventData JSON, requestID VARCHAR, eventID VARCHAR, "
          "readOnly BOOLEAN, resources JSON, eventType VARCHAR, managementEvent BOOLEAN, "
          "recipientAccountId VARCHAR, sharedEventID VARCHAR, eventCategory VARCHAR, "
          "tlsDetails JSON)")
con = duckdb.connect(db)
con.sql("SET enable_progress_bar = false")
con.sql(f"create table events as select unnest(r.Records, recursive := true) from read_json("
        f"'{glob}', columns = {{'Records': '{record}[]'}}, format = 'auto', "
        f"maximum_object_size = {max_size}) r")
print(con.sql("select count(*) from events").fetchall()[0][0])
"""


def run(cmd: list[str]) -> tuple[float, int, str]:
    """Seconds, peak RSS in bytes, and standard output of a command run in its own process."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    out = proc.stdout.read() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{cmd[:3]} failed with {proc.returncode}")
    return seconds, usage.ru_maxrss * 1024, out


def largest_uncompressed(tree: Path) -> int:
    """The biggest file's decompressed size, from each gzip trailer (ISIZE)."""
    biggest = 0
    for path in tree.rglob("*.json.gz"):
        with path.open("rb") as fh:
            fh.seek(-4, os.SEEK_END)
            biggest = max(biggest, struct.unpack("<I", fh.read(4))[0])
    return biggest


def ensure_tree(tree: Path, events: int) -> None:
    marker = tree / f".generated-{events}"
    if marker.exists():
        return
    from trailscope.synthetic import generate_background

    print(f"generating {events:,} events into {tree} ...", flush=True)
    start = time.monotonic()
    summary = generate_background(tree, events=events, seed=1)
    print(
        f"  {summary.files:,} files, {summary.bytes / 2**20:,.0f} MB in "
        f"{time.monotonic() - start:.0f} s",
        flush=True,
    )
    marker.touch()


def ingest(tree: Path, work: Path, name: str) -> tuple[float, int, int]:
    db = work / f"{name}.duckdb"
    for p in (db, db.with_suffix(".duckdb.wal")):
        p.unlink(missing_ok=True)
    seconds, rss, _ = run(
        [sys.executable, "-m", "trailscope", "ingest", str(tree), "--db", str(db), "--quiet"]
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "trailscope",
            "sql",
            "select count(*) as n from events",
            "--db",
            str(db),
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return seconds, rss, int(out.splitlines()[1])


def duplicates(tree: Path, work: Path, events: int) -> None:
    """The tree again, under other paths (hard links: no copy), into the database it was
    ingested into."""
    import shutil

    again = work / "same-tree"
    shutil.rmtree(again, ignore_errors=True)
    shutil.copytree(tree, again, copy_function=os.link)
    db = work / "trailscope.duckdb"
    seconds, rss, _ = run(
        [sys.executable, "-m", "trailscope", "ingest", str(again), "--db", str(db), "--quiet"]
    )
    print(
        f"\nduplicates: the same {tree.name} again in {seconds:.1f} s "
        f"({events / seconds:,.0f} events/s), peak RSS {rss / 2**20:,.0f} MB"
    )
    shutil.rmtree(again)


def analysis(db: Path) -> None:
    """The checks and the monthly report over the background events plus the sample
    organization's sessions (issues 4 and 5: seconds, not minutes)."""
    from trailscope.trail import Trail

    sample = Path(__file__).resolve().parents[1] / "sample_logs"
    with Trail(db) as trail:
        trail.ingest(sample)
    print()
    with Trail(db, read_only=True) as trail:
        (events,) = trail.con.sql("select count(*) from events").fetchall()[0]
        for name, call in (
            ("sessions", trail.sessions),
            ("findings", trail.findings),
            ("report, one month (HTML)", lambda: trail.report("html", month="2026-10")),
        ):
            start = time.monotonic()
            result = call()
            print(
                f"{name:28}{time.monotonic() - start:>6.1f} s over {events:,} events "
                f"({len(result):,} {'rows' if name != 'report, one month (HTML)' else 'chars'})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ts-bench")
    parser.add_argument("--scaling", action="store_true", help="also ingest a quarter")
    parser.add_argument(
        "--duplicates",
        action="store_true",
        help="then ingest the tree again under other paths: every record a duplicate",
    )
    parser.add_argument(
        "--analysis",
        action="store_true",
        help="then add sample_logs and time the checks and a month's report",
    )
    args = parser.parse_args()
    tree = args.dir / f"tree-{args.events}"
    ensure_tree(tree, args.events)
    work = args.dir / "work"
    work.mkdir(parents=True, exist_ok=True)

    t_secs, t_rss, t_events = ingest(tree, work, "trailscope")
    base_db = work / "baseline.duckdb"
    base_db.unlink(missing_ok=True)
    b_secs, b_rss, b_out = run(
        [
            sys.executable,
            "-c",
            BASELINE,
            str(base_db),
            f"{tree}/**/*.json.gz",
            str(largest_uncompressed(tree) + 1),
        ]
    )
    b_events = int(b_out.strip())
    t_rate, b_rate = t_events / t_secs, b_events / b_secs
    mb = 2**20
    print(f"\n{'':24}{'events':>12}{'seconds':>10}{'events/s':>12}{'peak RSS':>12}")
    print(
        f"{'trailscope ingest':24}{t_events:>12,}{t_secs:>10.1f}{t_rate:>12,.0f}"
        f"{t_rss / mb:>9,.0f} MB"
    )
    print(
        f"{'duckdb read_json':24}{b_events:>12,}{b_secs:>10.1f}{b_rate:>12,.0f}"
        f"{b_rss / mb:>9,.0f} MB"
    )
    ratio = t_rate / b_rate
    print(f"\nratio: {ratio:.2f}x read_json")
    print(f"target >= 150,000 events/s: {'met' if t_rate >= 150_000 else 'NOT met'}")
    print(f"target >= 4x read_json:     {'met' if ratio >= 4 else 'NOT met'}")
    print(f"target <= 1.5 GB peak RSS:  {'met' if t_rss <= 1.5 * 2**30 else 'NOT met'}")
    if args.duplicates:
        duplicates(tree, work, t_events)
    if args.analysis:
        analysis(work / "trailscope.duckdb")
    if args.scaling:
        quarter = args.dir / f"tree-{args.events // 4}"
        ensure_tree(quarter, args.events // 4)
        _, q_rss, q_events = ingest(quarter, work, "quarter")
        print(
            f"\nscaling: {q_events:,} events -> {q_rss / mb:,.0f} MB peak; {t_events:,} "
            f"events -> {t_rss / mb:,.0f} MB peak ({t_rss / q_rss:.2f}x memory for "
            f"{t_events / q_events:.1f}x input)"
        )


if __name__ == "__main__":
    main()
