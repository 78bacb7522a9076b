"""Analysis speed and memory over 2 million events, against plain DuckDB queries (issue 17).

    nice python benchmarks/analysis.py --old /work/main/.venv/bin/python

Generates (once, then reuses) a synthetic S3 export tree with the project's generator, in its
key_reuse mode: a role session's key signs calls for an hour across the account's files and
regions, issued by an STS call the logs hold, as in real CloudTrail (the background of the
sample organization draws fresh keys for every file). It ingests the tree and sample_logs/
into one database (once), then runs, each in a fresh process, as a user runs them:

    trailscope timeline --account A          trailscope timeline --access-key K
    trailscope summary --account A           trailscope findings
    trailscope report --month 2026-10

where K is the key that signed most events and A its account, and beside each a plain DuckDB
query (python -c, duckdb and polars, as someone would write by hand) selecting the same events
from `events` and writing them the same way. It prints seconds, the ratio to the plain query
and each process's peak RSS; with --old PYTHON, the same commands run by another checkout's
trailscope too (the code before issue 17), for comparison. Targets (2 cores): every pivot
within 10x its plain query and under 1.5 GB; findings and the monthly report under 2 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20
MONTH = "2026-10"
COLUMNS = (
    "event_time, event_id, recipient_account_id, aws_region, event_source, event_name, "
    "error_code, identity_type, identity_arn, access_key_id, source_ip, user_agent, "
    "source_identity"
)
# what each command selects, as a plain query over `events` ($account, $key, $since, $until)
PLAIN = {
    "timeline": (
        f"select {COLUMNS} from events where recipient_account_id = $account "
        "or identity_account_id = $account order by event_time, event_id"
    ),
    "timeline_key": (
        f"select {COLUMNS} from events where access_key_id = $key order by event_time, event_id"
    ),
    "summary": (
        "select coalesce(identity_arn, principal_id, invoked_by, identity_account_id) as "
        "identity, count(*) as events, count(error_code) as failed, min(event_time) as first, "
        "max(event_time) as last, string_agg(distinct event_source || ':' || event_name, ', ') "
        "as apis, string_agg(distinct source_ip, ', ') as ips, string_agg(distinct "
        "access_key_id, ', ') as keys from events where recipient_account_id = $account or "
        "identity_account_id = $account group by 1 order by 2 desc, 1"
    ),
    # the root activity the checks judge: AssumeRoot calls, root sessions, the root user
    "findings": (
        f"select {COLUMNS} from events where event_name = 'AssumeRoot' or assumed_root "
        "or identity_type = 'Root' order by event_time, event_id"
    ),
    # the month's root activity and organization changes
    "report": (
        f"select {COLUMNS} from events where event_time between $since and $until and "
        "(event_name = 'AssumeRoot' or assumed_root or identity_type = 'Root' "
        "or event_source = 'organizations.amazonaws.com') order by event_time, event_id"
    ),
}
PLAIN_SCRIPT = r"""
import sys, duckdb, datetime as dt
db, sql, out, account, key = sys.argv[1:6]
con = duckdb.connect()
con.sql(f"attach '{db}' as trail (read_only)")
con.sql("use trail")
con.sql("set TimeZone = 'UTC'")
utc = dt.timezone.utc
values = {"account": account, "key": key, "since": dt.datetime(2026, 10, 1, tzinfo=utc),
          "until": dt.datetime(2026, 10, 31, 23, 59, 59, 999999, tzinfo=utc)}
values = {k: v for k, v in values.items() if f"${k}" in sql}
con.sql(sql, params=values).pl().write_csv(out)
"""


def run(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds and peak RSS in bytes of a command run in its own process."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {err.strip()[-500:]}")
    return seconds, usage.ru_maxrss * 1024


def prepare(folder: Path, events: int) -> Path:
    """The tree and its database, made once."""
    from trailscope.synthetic import generate_background
    from trailscope.trail import Trail

    tree, db = folder / f"tree-{events}", folder / f"trail-{events}.duckdb"
    if not (tree / ".generated").exists():
        print(f"generating {events:,} events with key reuse into {tree} ...", flush=True)
        generate_background(tree, events=events, seed=1, key_reuse=True, overwrite=True)
        (tree / ".generated").touch()
        db.unlink(missing_ok=True)
    if not db.exists():
        print(f"ingesting {tree} and sample_logs/ into {db} ...", flush=True)
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with Trail(partial) as trail:
            trail.ingest(tree, ROOT / "sample_logs")
        partial.rename(db)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ts-analysis")
    parser.add_argument("--old", help="the python of another checkout, to run its trailscope")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db = prepare(args.dir, args.events)

    import duckdb

    con = duckdb.connect()
    con.sql(f"attach '{db}' as trail (read_only)")
    ((events,),) = con.sql("select count(*) from trail.events").fetchall()
    ((key, account),) = con.sql(
        "select access_key_id, min(identity_account_id) from trail.events "
        "where access_key_id like 'ASIA%' group by 1 order by count(*) desc, 1 limit 1"
    ).fetchall()
    con.close()
    commands = {
        "timeline": ["timeline", "--account", account, "--format", "csv"],
        "timeline_key": ["timeline", "--access-key", key, "--format", "csv"],
        "summary": ["summary", "--account", account, "--format", "csv"],
        "findings": ["findings", "--format", "csv"],
        "report": ["report", "--month", MONTH],
    }
    labels = {
        "timeline": f"timeline --account {account}",
        "timeline_key": f"timeline --access-key {key}",
        "summary": f"summary --account {account}",
        "findings": "findings",
        "report": f"report --month {MONTH}",
    }
    limits = {"findings": 2.0, "report": 2.0}  # GB; pivots 1.5
    out = args.dir / "out"
    out.mkdir(exist_ok=True)
    print(f"\n{events:,} events; other work shares this 2-core machine: compare ratios")
    head = f"{'':40}{'plain':>8}{'RSS':>9}{'new':>8}{'ratio':>7}{'RSS':>9}"
    if args.old:
        head += f"{'old':>8}{'ratio':>7}{'RSS':>9}"
    print(head)
    verdicts = []
    for name, cli in commands.items():
        plain_s, plain_rss = run(
            [
                sys.executable,
                "-c",
                PLAIN_SCRIPT,
                str(db),
                PLAIN[name],
                str(out / "plain.csv"),
                account,
                key,
            ],
            cwd=args.dir,
        )
        target = out / f"{name}.{'html' if name == 'report' else 'csv'}"
        trailscope = ["-m", "trailscope", *cli, "--db", str(db), "-o", str(target)]
        new_s, new_rss = run([sys.executable, *trailscope], cwd=args.dir)
        line = (
            f"{labels[name]:40}{plain_s:>7.1f}s{plain_rss / MB:>6,.0f} MB"
            f"{new_s:>7.1f}s{new_s / plain_s:>6.1f}x{new_rss / MB:>6,.0f} MB"
        )
        if args.old:
            old_s, old_rss = run([args.old, *trailscope], cwd=args.dir)
            line += f"{old_s:>7.1f}s{old_s / plain_s:>6.1f}x{old_rss / MB:>6,.0f} MB"
        print(line, flush=True)
        gb = limits.get(name, 1.5)
        ok = new_rss <= gb * 2**30 and (name in limits or new_s <= 10 * plain_s)
        verdicts.append(f"{labels[name]}: {'met' if ok else 'NOT met'}")
    print("\ntargets (pivots within 10x and under 1.5 GB; findings, report under 2 GB):")
    for verdict in verdicts:
        print(f"  {verdict}")


if __name__ == "__main__":
    main()
