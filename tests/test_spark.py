"""Apache Spark (issue 19): the Spark ingest keeps the DuckDB ingest's contract, table for table,
and every query module gives the same rows on both engines, over the sample organization and
the test fixtures. Spark runs in local mode (the `spark` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from tests.conftest import FIXTURES, SAMPLE_LOGS
from tests.logs import delivery_bytes, sample_records, write_delivery
from tests.test_ingest import _bad_inputs
from trailscope.trail import Trail

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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
}


def _duck_tables(trail: Trail) -> dict[str, pl.DataFrame]:
    return {
        "event_store": trail.sql("select * from event_store"),
        "event_sources": trail.sql(TABLE_SQL["event_sources"]),
        "rejected": trail.sql(TABLE_SQL["rejected"]),
        "files": trail.sql(TABLE_SQL["files"]),
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
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    _corpus(root)
    return root


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
    assert_same_rows(_manifest(got["files"], corpus), _manifest(duck["files"], corpus), "files")
    skip = {"run_id", "seconds"}
    assert {k: v for k, v in vars(spark_summary).items() if k not in skip} == {
        k: v for k, v in vars(duck_summary).items() if k not in skip
    }


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


def _datasets() -> Iterator[tuple[str, Path]]:
    yield "sample", SAMPLE_LOGS
    for name in ("assume_root", "lineage", "org_state", "org_checks"):
        yield name, FIXTURES / name
