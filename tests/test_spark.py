"""Apache Spark (issue 19): the Spark ingest keeps the DuckDB ingest's contract, table for table,
and every query module gives the same rows on both engines, over the sample organization and
the test fixtures. Spark runs in local mode (the `spark` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from tests.conftest import FIXTURES, SAMPLE_LOGS
from tests.logs import delivery_bytes, sample_records, write_delivery
from tests.test_ingest import _bad_inputs
from trailscope.analysis import load_queries
from trailscope.trail import Trail

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from trailscope.ingest import IngestSummary
    from trailscope.spark import SparkTrail


# comparing rows ------------------------------------------------------------------------------


def _value(v: Any) -> Any:
    """A value as both engines must give it: times in UTC, floats to 9 digits (the noise of
    summing in another order aside), everything else as it is."""
    if isinstance(v, dt.datetime):
        return (v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v).astimezone(dt.UTC)
    if isinstance(v, float):
        return None if math.isnan(v) else float(f"{v:.9g}")
    if isinstance(v, list):
        return tuple(_value(x) for x in v)
    return v


def rows(df: pl.DataFrame) -> list[tuple[Any, ...]]:
    """The rows of a frame, comparable across engines: order aside."""
    return sorted((tuple(_value(v) for v in row) for row in df.iter_rows()), key=repr)


def assert_same_rows(spark_rows: pl.DataFrame, duck_rows: pl.DataFrame, what: str) -> None:
    """The same rows, or a message naming the first that differ, column by column."""
    assert spark_rows.columns == duck_rows.columns, what
    got, want = rows(spark_rows), rows(duck_rows)
    if got == want:
        return
    missing = [r for r in want if r not in got]
    extra = [r for r in got if r not in want]
    lines = [f"{what}: {len(got)} rows on Spark, {len(want)} on DuckDB"]
    for duck, spark in zip(missing[:3], extra[:3], strict=False):
        lines += [
            f"  {name}: DuckDB {d!r:.200} / Spark {s!r:.200}"
            for name, d, s in zip(duck_rows.columns, duck, spark, strict=True)
            if d != s
        ] + ["  --"]
    lines += [f"  only on DuckDB: {r!r:.300}" for r in missing[len(extra) : 3]]
    lines += [f"  only on Spark: {r!r:.300}" for r in extra[len(missing) : 3]]
    raise AssertionError("\n".join(lines))


# the ingest contract -------------------------------------------------------------------------


def _corpus(root: Path) -> None:
    """Inputs the two ingests must treat alike: the bad inputs of test_ingest, and records
    whose fields test each typing rule (made up from a sample record, as said beside each)."""
    _bad_inputs(root / "bad")
    base = dict(sample_records()[0])
    odd = root / "odd"
    odd.mkdir()

    def record(n: int, **fields: Any) -> dict[str, Any]:
        return {**base, "eventID": f"44444444-0000-0000-0000-{n:012d}", **fields}

    # eventTime as CloudTrail writes it and as other tools rewrite it, and what is no time
    times = [
        "2026-10-05T10:00:00Z",
        "2026-10-05T10:00:00.123456Z",
        "2026-10-05T10:00:00.123456789+02:00",
        "2026-10-05T10:00:00+0200",
        "2026-10-05T10:00:00-05",
        "2026-10-05 10:00:00",
        "2026-10-05 10:00",
        "2026-10-05",
        "2026-1-5 1:02:03",
        "  2026-10-05T10:00:00Z  ",
        "2026-10-05T10:00:00z",
        "2026-13-05T10:00:00Z",
        "2026-10-05T10",
        "2026",
        "2026-10",
        "yesterday",
        "today",
        "now",
        "",
    ]
    # booleans as JSON, as text, and as what DuckDB's cast reads or does not
    flags: list[Any] = [True, False, "true", "false", "TRUE", "t", "1", "0", "yes", "Y", "n"]
    flags += [" true", "on", "2", 1, 0, None, {"a": 1}]
    records = [record(i, eventTime=t) for i, t in enumerate(times)]
    records += [record(100 + i, readOnly=f, managementEvent=f) for i, f in enumerate(flags)]
    records += [
        # identity parts in another shape than CloudTrail's
        record(200, userIdentity="AWS Internal"),
        record(201, userIdentity={"type": "Root", "sessionContext": ["not", "an", "object"]}),
        record(202, userIdentity={"type": {"nested": True}, "arn": 12}),
        # numbers and text where CloudTrail writes text
        record(203, eventVersion=1.5, awsRegion=12345678901234567890, userAgent="caf\u00e9 \\/"),
        record(204, eventID=123456),
        # JSON parts: floats, unicode, escapes, a string where an object belongs
        record(205, requestParameters={"n": 1.50, "s": "\u00e9\u2028", "l": [1, {"a": None}]}),
        record(206, requestParameters="a string", responseElements=[1, 2]),
        record(207, additionalEventData=None, resources=[]),
        # Logstash: no eventTime, the time in @timestamp
        {
            k: v
            for k, v in record(208, **{"@timestamp": "2026-10-05T11:00:00Z"}).items()
            if k != "eventTime"
        },
    ]
    (odd / "records.json").write_bytes(delivery_bytes(records))
    lines = [
        json.dumps(record(299)).encode(),  # a record first: the file is JSON lines
        b"null",
        b"12",
        b"-3",
        b"1.5",
        b'"text"',
        b"true",
        b"[1, 2]",
        b"{}",
        b'{"eventID": null, "eventTime": null}',
        b'{"CloudTrailEvent": "not json"}',
        b'{"CloudTrailEvent": "null"}',
        b'{"CloudTrailEvent": "[1]"}',
        b'{"CloudTrailEvent": 12}',
        json.dumps({"CloudTrailEvent": json.dumps(record(300))}).encode(),
        json.dumps({"CloudTrailEvent": record(301)}).encode(),
        json.dumps({"CloudTrailEvent": None, **record(302)}).encode(),
        json.dumps(record(303, note="\ud800")).encode(),  # a lone surrogate, escaped
        b"",
        b"   ",
    ]
    (odd / "lines.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # copies: the same eventID twice in one file, again with other content, again later
    copies = [record(400), record(400, eventTime="2026-10-06T00:00:00Z"), record(401)]
    (odd / "copies.json").write_bytes(delivery_bytes(copies))
    (odd / "copies-again.json").write_bytes(delivery_bytes([record(401, awsRegion="x")]))
    # what is skipped or empty, and where it lies
    (odd / ".hidden.json").write_bytes(delivery_bytes([record(500)]))
    (odd / "empty.json").write_bytes(b"")
    (odd / "blank.json").write_bytes(b" \n ")
    (odd / "empty-records.json.gz").write_bytes(gzip.compress(b'{"Records":[]}'))
    (odd / "notes.txt").write_text("not a log")
    tree = root / "tree"
    records = list(sample_records()[:60])
    write_delivery(tree, "111122223333", "us-east-1", "2026-10-05", "a", records[:40])
    write_delivery(tree, "111122223333", "eu-west-1", "2026-10-05", "b", records[20:60], org=False)
    digest = tree / "AWSLogs" / "111122223333" / "CloudTrail-Digest" / "d.json.gz"
    digest.parent.mkdir(parents=True)
    digest.write_bytes(gzip.compress(b'{"awsAccountId":"111122223333"}'))


def _manifest(df: pl.DataFrame, root: Path) -> pl.DataFrame:
    """The files table without what differs by engine or run (file IDs, run IDs), paths made
    relative to the corpus."""
    return df.with_columns(pl.col("path").str.replace(str(root), "", literal=True)).drop(
        "file_id", "run_id"
    )


TABLE_SQL = {
    "event_sources": (
        "select s.event_id, f.path, s.position from event_sources s join files f using (file_id)"
    ),
    "rejected": (
        "select f.path, r.position, r.reason, r.raw from rejected r join files f using (file_id)"
    ),
    "files": "select * from files",
    "duplicate_conflicts": (
        "select c.event_id, f.path, c.position, k.path as kept_path, c.kept_position, c.fields,"
        " c.raw from duplicate_conflicts c join files f using (file_id)"
        " join files k on k.file_id = c.kept_file_id"
    ),
}


def _duck_tables(trail: Trail) -> dict[str, pl.DataFrame]:
    return {
        "event_store": trail.sql("select * from event_store"),
        "event_sources": trail.sql(TABLE_SQL["event_sources"]),
        "rejected": trail.sql(TABLE_SQL["rejected"]),
        "files": trail.sql(TABLE_SQL["files"]),
        "duplicate_conflicts": trail.sql(TABLE_SQL["duplicate_conflicts"]),
    }


def _spark_tables(spark: SparkSession, out: Path) -> dict[str, pl.DataFrame]:
    from trailscope import spark as ts

    ts.register(spark, out)

    def frame(sql: str) -> pl.DataFrame:
        df = pl.from_arrow(spark.sql(sql).toArrow())
        assert isinstance(df, pl.DataFrame)
        return df

    return {
        "event_store": frame("select * from event_store"),
        "event_sources": frame(TABLE_SQL["event_sources"]),
        "rejected": frame(TABLE_SQL["rejected"]),
        "files": frame(TABLE_SQL["files"]),
        "duplicate_conflicts": frame(TABLE_SQL["duplicate_conflicts"]),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    _corpus(root)
    return root


def ingest_summary(summary: IngestSummary) -> dict[str, Any]:
    """An ingest's summary without what differs by engine or run."""
    return {k: v for k, v in vars(summary).items() if k not in ("run_id", "seconds")}


def test_the_spark_ingest_keeps_the_contract_of_the_duckdb_ingest(
    spark: SparkSession, corpus: Path, tmp_path: Path
) -> None:
    """Every table the same, row for row: what is stored, every copy, every rejection with
    its reason and text, every file with its status, counts and note."""
    from trailscope import spark as ts

    with Trail() as trail:
        duck_summary = trail.ingest(corpus)
        duck = _duck_tables(trail)
    spark_summary = ts.ingest(spark, [corpus], tmp_path / "out")
    got = _spark_tables(spark, tmp_path / "out")
    for name in ("event_store", "event_sources", "rejected"):
        assert_same_rows(got[name], duck[name], name)
    assert duck["duplicate_conflicts"].height > 0  # the corpus has copies that differ
    assert_same_rows(
        got["duplicate_conflicts"].with_columns(
            pl.col("path", "kept_path").str.replace(str(corpus), "", literal=True)
        ),
        duck["duplicate_conflicts"].with_columns(
            pl.col("path", "kept_path").str.replace(str(corpus), "", literal=True)
        ),
        "duplicate_conflicts",
    )
    assert_same_rows(_manifest(got["files"], corpus), _manifest(duck["files"], corpus), "files")
    assert ingest_summary(spark_summary) == ingest_summary(duck_summary)


def test_a_second_run_reads_only_what_is_new_and_an_unfinished_run_is_not_seen(
    spark: SparkSession, tmp_path: Path
) -> None:
    from trailscope import spark as ts

    records = list(sample_records()[:30])
    logs = tmp_path / "logs"
    write_delivery(logs, "111122223333", "us-east-1", "2026-10-05", "a", records[:20])
    out = tmp_path / "out"
    first = ts.ingest(spark, [logs], out)
    assert (first.files_read, first.stored) == (1, 20)
    write_delivery(logs, "111122223333", "us-east-1", "2026-10-06", "b", records[10:])
    second = ts.ingest(spark, [logs], out)
    assert (second.files_already, second.files_read, second.stored, second.duplicates) == (
        1,
        1,
        10,
        10,
    )
    # a run that started and never finished: its rows are not read, its files are read again
    store = ts.Store(spark, str(out))
    store.write_run(9, dt.datetime.now(dt.UTC), None, ["x"], ts.Filters())
    ts.register(spark, out)
    assert spark.table("events").count() == 30
    assert spark.table("ingest_runs").count() == 2
    assert store.next_run_id() == 10


# the query modules on both engines -------------------------------------------------------------

# The sample organization and the fixtures, ingested together by each engine: one corpus, so
# that each module runs once on each (a Spark job costs seconds however few its rows).
CORPUS = (
    SAMPLE_LOGS,
    *(FIXTURES / n for n in ("assume_root", "lineage", "org_state", "org_checks")),
)
MODULES = sorted(load_queries())
PIVOTED = ("timeline", "timeline_events", "pivot_events", "credential_span")
# Modules with no rows in the corpus: no verify has run on it (check_integrity) and it holds no
# bad input (rejected_inputs; the ingest contract test compares the rejected table itself)
EMPTY = frozenset({"check_integrity", "rejected_inputs"})


@pytest.fixture(scope="module")
def engines(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Trail, SparkTrail]]:
    """The corpus ingested by each engine, the Spark ingest's tables read on Spark."""
    from trailscope.spark import SparkTrail, ingest

    out = tmp_path_factory.mktemp("spark-corpus")
    duck = Trail()
    duck_summary = ingest_summary(duck.ingest(*CORPUS))
    # every record stored or a duplicate; some duplicates differ (org_checks plants them)
    assert duck_summary["rejected"] == duck_summary["files_rejected"] == 0
    assert duck_summary["conflicts"] > 0
    assert ingest_summary(ingest(spark, CORPUS, out)) == duck_summary
    on_spark = SparkTrail(out, spark)
    # held in memory once read: every module reads them (the ingest test reads the files)
    for table in ("event_store", "events"):
        on_spark.spark.catalog.cacheTable(table)
    yield duck, on_spark
    duck.close()
    on_spark.close()


def _params(trail: Trail, name: str) -> dict[str, Any]:
    """Values for a module's parameters that select something in the corpus: its first
    account to pivot on, the middle of its time span, its first AssumeRoot call."""
    query = trail.analysis.module(name)
    (account, middle), *_ = trail.sql(
        "select min(recipient_account_id), min(event_time) + (max(event_time) - min(event_time))"
        " / 2 from events"
    ).rows()
    calls = trail.query("assume_root_calls")["session_id"]
    values = {
        "at": middle,
        "session_id": calls[0] if len(calls) else "none",
        "management_account": "",
        "organization_id": "",
        "account": account if name in PIVOTED else None,
        "follow": name in PIVOTED,
        "event_ids": ",".join(trail.sql("select event_id from events order by 1 limit 5")[:, 0]),
    }
    return {p: values.get(p) for p in query.params}


@pytest.mark.parametrize("name", MODULES)
def test_every_module_gives_the_same_rows_on_spark(
    engines: tuple[Trail, SparkTrail], name: str
) -> None:
    """The guard against a mistranslation: the module's rows on Spark, from the Spark ingest,
    are DuckDB's (order and float noise aside); one that cannot run fails here by name."""
    duck, on_spark = engines
    params = _params(duck, name)
    want = duck.query(name, **params)
    assert want.height > 0 or name in EMPTY, f"{name} selects nothing in the corpus"
    got = on_spark.query(name, **params)
    assert_same_rows(got, want, name)


def test_findings_on_spark_are_duckdbs(engines: tuple[Trail, SparkTrail]) -> None:
    """Over the sample organization: the same findings, IDs, severities, evidence and all."""
    duck, on_spark = engines
    want = duck.findings()
    assert want.height > 20  # every planted case
    assert_same_rows(on_spark.findings(), want, "findings")
    assert on_spark.findings(severity="high").height == duck.findings(severity="high").height


def _plain(value: Any) -> Any:
    """A report's data with numbers as numbers: DuckDB gives a sum as a Decimal, Spark as an
    integer, which a report writes alike."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _difference(got: Any, want: Any, at: str = "report") -> str:
    """Where two reports' data first differ, and how."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(got.keys() | want.keys()):
            if got.get(key) != want.get(key):
                return _difference(got.get(key), want.get(key), f"{at}.{key}")
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            if g != w:
                return _difference(g, w, f"{at}[{n}]")
    return f"{at}: Spark {got!r:.300} / DuckDB {want!r:.300}"


def test_a_report_from_spark_is_duckdbs(engines: tuple[Trail, SparkTrail]) -> None:
    """The same report generator, fed from Spark: the same report, but for what names the
    inputs (the database, the ingest runs' times)."""
    from trailscope import report

    duck, on_spark = engines
    scope = report.Scope.month("2026-10")
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    want = report.build(duck.analysis, scope, generated_at=when)
    got = report.build(on_spark.analysis, scope, generated_at=when)
    for context in (want, got):
        context["inputs"].pop("database")
        context["inputs"].pop("runs")
    assert want["findings"]
    got, want = _plain(got), _plain(want)
    assert got == want, _difference(got, want)


# the translation at its edges ------------------------------------------------------------------


# Rewrites whose edge cases the corpus does not hold (NULLs among the values, a FILTER that keeps
# no row, a descending order), over rows made here: each query means the same on both engines.
ROWS = (
    "select * from (values (1, 'b', 'x'), (1, null, 'y'), (1, 'a', null), (1, 'b', 'z'),"
    " (2, null, null), (3, 'c', 'w')) as t(g, v, w)"
)
CONSTRUCTS = (
    "select g, list(distinct v order by v) as l from ({rows}) group by g",
    "select g, list(distinct v order by v desc) as l from ({rows}) group by g",
    "select g, list(distinct v order by v nulls first) as l from ({rows}) group by g",
    "select g, list(distinct v) filter (where w is not null) as l from ({rows}) group by g",
    "select g, list(v order by w) as l from ({rows}) group by g",
    "select g, string_agg(distinct v, ',' order by v) as s from ({rows}) group by g",
    (
        "select g, string_agg(v, ';' order by w desc) filter (where v <> 'a') as s"
        " from ({rows}) group by g"
    ),
    (
        'select g, json_extract_string(\'{{"a": {{"b": 1}}, "c": "x"}}\','
        " ['$.a.b', '$.c', '$.d', '$.a'])[2] as j from ({rows})"
    ),
)


@pytest.mark.parametrize("query", CONSTRUCTS)
def test_rewrites_keep_duckdbs_meaning_at_their_edges(spark: SparkSession, query: str) -> None:
    import duckdb
    import polars as pl

    from trailscope.dialect import spark_sql

    sql = query.format(rows=ROWS)
    want = duckdb.connect().sql(sql).pl()
    got = pl.from_arrow(spark.sql(spark_sql(sql)).toArrow())
    assert isinstance(got, pl.DataFrame)
    assert_same_rows(got, want, sql)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("select f[g] from t", "f[g]"),
        ("select f[-1] from t", "f[-1]"),
        ("select f[1:2] from t", "f[1:2]"),
        ("select list(distinct v order by w) from t", "list(distinct x order by another"),
        ("select string_agg(distinct v, ',' order by w) from t", "string_agg(distinct x"),
        ("select chr(c) from t", "chr of a value"),
        ("select date_diff('day', a, b) from t", "date_diff by day"),
        ("select timezone('Europe/Paris', t) from t", "other than UTC"),
        ("select strftime(t, '%U') from t", "%U"),
    ],
)
def test_what_has_no_spark_rendering_is_refused_by_name(query: str, named: str) -> None:
    """Rather than a Spark query meaning something else (sqlglot renders each of these)."""
    pytest.importorskip("sqlglot", reason="needs the spark extra: pip install -e '.[test,spark]'")
    from trailscope.dialect import Untranslatable, spark_sql

    with pytest.raises(Untranslatable, match=re.escape(named)):
        spark_sql(query)


# where Spark cannot run ------------------------------------------------------------------------


def test_without_java_the_spark_tests_skip_saying_why_and_fail_where_required(
    tmp_path: Path,
) -> None:
    """On a clone without Java (or pyspark) a Spark test skips, saying what it needs; with
    TRAILSCOPE_REQUIRE_SPARK set, as .ci/run sets it, it fails instead."""
    import os
    import subprocess
    import sys

    from tests.conftest import REQUIRE_SPARK_ENV

    root = Path(__file__).parent.parent
    assert f"export {REQUIRE_SPARK_ENV}=1" in (root / ".ci" / "run").read_text()
    test = "tests/test_spark.py::test_a_second_run_reads_only_what_is_new_and_an_unfinished_run_is_not_seen"
    env = {**os.environ, "PATH": str(tmp_path)}  # no java on it
    for name in ("JAVA_HOME", REQUIRE_SPARK_ENV):
        env.pop(name, None)
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", test]
    skipped = subprocess.run(args, check=False, capture_output=True, text=True, cwd=root, env=env)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout and "needs Java" in skipped.stdout, skipped.stdout
    env[REQUIRE_SPARK_ENV] = "1"
    failed = subprocess.run(args, check=False, capture_output=True, text=True, cwd=root, env=env)
    assert failed.returncode == 1 and "1 error" in failed.stdout, failed.stdout
    assert "needs Java" in failed.stdout
