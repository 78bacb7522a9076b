"""Apache Spark: the ingest contract and the query modules on a cluster (`trailscope[spark]`).

`ingest` reads what `trailscope ingest` reads (folders and S3 export trees, s3:// URLs) into a
folder of Parquet tables with the columns of schema.py, one folder per table:

    OUT/event_store/account=A/region=R/day=D/run_id=N/*.parquet   the events, as event_store
    OUT/event_sources/run_id=N/   OUT/files/run_id=N/   OUT/rejected/run_id=N/
    OUT/duplicate_conflicts/run_id=N/   OUT/ingest_runs/run_id=N/

under the same rules as the DuckDB ingest: the files are found, pruned and skipped by
trailscope.sources (trailscope.s3 for s3://), each file is read and split into records by
trailscope.formats on the executors, and every record is stored, recognised as a duplicate
(same eventID: the first copy by file and position is stored, every copy is in event_sources,
one whose content differs in duplicate_conflicts) or listed in `rejected` with its file,
position and reason. The partition columns account, region and day (of event_time, UTC)
repeat recipient_account_id, aws_region and event_time for pruning; the stored columns keep
the values exactly.

A run is committed by its ingest_runs row gaining finished_at: readers take only committed
runs, so an interrupted run leaves nothing visible, and the next run reads its files again.
A run reads only files the committed manifest does not hold (same path, size and time).

`SparkTrail` runs the query modules on such a folder with Spark SQL (trailscope.dialect
translates them), for findings, sessions, the organization's state and reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from trailscope import __version__, formats, schema
from trailscope.analysis import Analysis, load_queries
from trailscope.errors import TrailscopeError
from trailscope.sources import Candidate, Filters, discover, shown_path
from trailscope.trail import Trail

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from trailscope.ingest import IngestSummary
    from trailscope.integrity import VerifySummary

# Spark SQL types of schema.py's column types; JSON is text, as `record` is stored
SPARK_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "TIMESTAMPTZ": "timestamp",
    "BOOLEAN": "boolean",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "DOUBLE": "double",
}
PARTITIONS = ("account", "region", "day")  # of event_store, then run_id
TABLES = (
    "event_store",
    "event_sources",
    "files",
    "rejected",
    "ingest_runs",
    "duplicate_conflicts",
)
# what `trailscope verify` stores, from a DuckDB database's files: the Spark tables have none
UNVERIFIED = ("integrity_files", "integrity_digests")
# What one executor task reads at most before handing its records on (files are read whole).
FILES_PER_TASK = 64
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",  # as DuckDB's SET TimeZone='UTC'
    # the Parquet tables' partition values are text: an account ID is not a number
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


class SparkUnavailable(TrailscopeError):
    """pyspark is not installed, or Spark cannot start (no Java)."""


def session(master: str | None = None, **conf: str) -> SparkSession:
    """A SparkSession with the settings trailscope needs: on the cluster spark-submit names,
    else on `master` (local[*] by default: local mode, on every core)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise SparkUnavailable(
            "pyspark is not installed: pip install 'trailscope[spark]' (Spark also needs Java)"
        ) from e
    builder = SparkSession.builder.appName("trailscope")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit: local mode
        builder = builder.master(master or "local[*]")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers see our packages
    elif master:
        builder = builder.master(master)
    for key, value in {**SETTINGS, **conf}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # py4j's errors when the JVM cannot start
        raise SparkUnavailable(f"Spark cannot start (is Java installed?): {e}") from e
    for key, value in SETTINGS.items():  # an existing session gets them too
        spark.conf.set(key, value)
    return spark


def spark_schema(columns: Sequence[schema.Column]) -> str:
    """A table's stored columns as a Spark DDL schema string."""
    return ", ".join(f"`{c.name}` {SPARK_TYPES[c.type]}" for c in columns if c.stored)


# ingest: on the executors ---------------------------------------------------------------------

# One row per file (kind "file": what came of reading it) and per record or rejected line in it
# (kind "line": the text, with the reason when it cannot be a record; kind "reject": a line
# trailscope.formats turned down, such as one that is not UTF-8).
READ_SCHEMA = (
    "kind string, file_id int, position int, line string, record_text string, reason string, "
    "sha256 string, format string, error string, skip string, note string"
)
CANDIDATE_SCHEMA = (
    "file_id int, path string, shown string, size bigint, mtime double, etag string, "
    "skip string, error string, folder boolean"
)


@dataclass(frozen=True)
class S3Access:
    """How executors reach S3 for s3:// sources (None: the standard AWS chain decides)."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None


def read_files(batches: Iterable[pa.RecordBatch], s3: S3Access) -> Iterator[pa.RecordBatch]:
    """Runs on an executor (Spark's mapInArrow): each candidate file of the batches, read and
    split into records as the DuckDB ingest reads it (trailscope.formats)."""
    import pyarrow as pa

    types = {"string": pa.string(), "int": pa.int32()}
    fields = [f.split() for f in READ_SCHEMA.split(", ")]
    arrow = pa.schema([(name, types[kind]) for name, kind in fields])
    for batch in batches:
        for cand in batch.to_pylist():
            rows = list(_read_file(cand, s3))
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(col, f.type) for col, f in zip(columns, arrow, strict=True)],
                schema=arrow,
            )


_Row = tuple[Any, ...]


def _file_row(file_id: int, **what: str | None) -> _Row:
    return (
        "file",
        file_id,
        None,
        None,
        None,
        None,
        what.get("sha256"),
        what.get("format"),
        what.get("error"),
        what.get("skip"),
        what.get("note"),
    )


def _read_file(cand: dict[str, Any], s3: S3Access) -> Iterator[_Row]:
    """The rows of one file (see READ_SCHEMA), as the DuckDB ingest reads it: whatever a file
    makes the reading raise is its rejection (no file stops the run)."""
    file_id = cand["file_id"]
    sha256 = None
    try:
        if cand["skip"]:
            yield _file_row(file_id, format="unread", skip=cand["skip"])
            return
        fmt = "folder" if cand["folder"] else "unknown"
        if cand["error"]:
            yield _file_row(file_id, format=fmt, error=cand["error"])
            return
        if cand["size"] > formats.MAX_FILE_SIZE:  # not even downloaded
            yield _file_row(file_id, format=fmt, error=formats.too_large(formats.MAX_FILE_SIZE))
            return
        data, error = _bytes(cand, s3)
        if data is None:
            yield _file_row(file_id, format="unknown", error=error)
            return
        sha256 = hashlib.sha256(data).hexdigest()
        if len(data) > formats.MAX_FILE_SIZE:  # grown since it was listed
            too_large = formats.too_large(formats.MAX_FILE_SIZE)
            yield _file_row(file_id, sha256=sha256, format="unknown", error=too_large)
            return
        result = formats.read_bytes(data)
        if result.fast and not _splits_whole(result):
            result = formats.read_bytes(data, slow=True)
        rows = list(_result_rows(file_id, sha256, result))
    except Exception as e:  # noqa: BLE001 - MemoryError, a parser's RecursionError, ...
        error = f"could not be read ({type(e).__name__}: {e})"
        yield _file_row(file_id, sha256=sha256, format="unknown", error=error)
        return
    yield from rows


def _result_rows(file_id: int, sha256: str, result: formats.ReadResult) -> Iterator[_Row]:
    if result.error or result.skip:
        yield _file_row(
            file_id, sha256=sha256, format=result.format, error=result.error, skip=result.skip
        )
        return
    for position, reason, raw in result.rejected:
        yield ("reject", file_id, position, raw, None, reason, *(None,) * 5)
    for position, line in _lines(result):
        yield ("line", file_id, position, *_record(line), *(None,) * 5)
    yield _file_row(file_id, sha256=sha256, format=result.format, note=result.note)


def _bytes(cand: dict[str, Any], s3: S3Access) -> tuple[bytes | None, str | None]:
    """A file's bytes, or why they cannot be had."""
    path = cand["path"]
    from trailscope.s3 import is_s3

    if is_s3(path):
        from trailscope.s3 import fetch

        wanted = Candidate(path, cand["size"], cand["mtime"], cand["etag"])
        for _cand, data, reason in fetch(
            iter([wanted]), profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
        ):
            return data, reason
        return None, "not fetched"
    try:
        with open(path, "rb") as fh:
            return fh.read(formats.MAX_FILE_SIZE + 1), None  # it may have grown since listed
    except OSError as e:
        return None, f"cannot read: {e.strerror or e}"


def _splits_whole(result: formats.ReadResult) -> bool:
    """Whether the byte-level split of a delivery file cut it into whole records (UTF-8 JSON
    objects); the DuckDB ingest checks the same when it parses the pieces, and otherwise reads
    the file in full."""
    for chunk in result.chunks:
        assert chunk.spans is not None
        for start, end in zip(*chunk.spans, strict=True):
            if end - start <= 12:
                return False
            try:
                orjson.loads(chunk.text[start:end])
            except orjson.JSONDecodeError:
                return False
    return True


def _lines(result: formats.ReadResult) -> Iterator[tuple[int, bytes]]:
    """Each record's place and text: a piece of a delivery file or a line that is not blank."""
    for chunk in result.chunks:
        if chunk.spans is not None:
            for n, (start, end) in enumerate(zip(*chunk.spans, strict=True), chunk.offset + 1):
                yield n, chunk.text[start:end]
        else:
            for n, line in enumerate(chunk.text.split(b"\n"), chunk.offset + 1):
                if line.strip():
                    yield n, line


def _record(line: bytes) -> tuple[str, str | None, str | None]:
    """(line, record_text, reason) for one line: record_text is the inner record of a
    LookupEvents row; reason says why the line cannot be a record, if it cannot (what
    remains to check, the eventID and eventTime, is checked in Spark SQL)."""
    text = line.decode("utf-8")  # formats turned down what is not UTF-8
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return text, None, formats.reason_for_line(text)
    if value is None:  # DuckDB's json_transform gives nothing for a JSON null
        return text, None, formats.reason_for_line(text)
    inner = value.get("CloudTrailEvent") if isinstance(value, dict) else None
    if inner is None:
        return text, None, _not_an_object(value)
    record_text = inner if isinstance(inner, str) else orjson.dumps(inner).decode()
    try:
        record = orjson.loads(record_text)
    except orjson.JSONDecodeError:
        record = None
    if record is None:
        return text, record_text, "CloudTrailEvent is not valid JSON"
    return text, record_text, _not_an_object(record)


def _not_an_object(value: Any) -> str | None:
    """The DuckDB ingest's reason for a JSON value that is not an object, in JSON's words."""
    if isinstance(value, dict):
        return None
    kind = "an array"
    for kinds, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string")):
        if isinstance(value, kinds):
            kind = name
            break
    if value is None:
        kind = "null"
    return f"not a JSON object: {kind}"


# ingest: the typed columns, in Spark SQL ------------------------------------------------------

# The text DuckDB's TIMESTAMPTZ cast reads as an ISO time and Spark's cast reads the same way;
# Spark alone would also read 'now', 'today', 'yesterday' and 'epoch', and a bare year.
_ISO_TIME = (
    r"^\\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?\\s*$"
)
# what DuckDB's BOOLEAN cast reads (Spark's would trim spaces and take 'yes' in any case too)
_TRUE, _FALSE = ("true", "t", "1", "yes", "y"), ("false", "f", "0", "no", "n")


def _struct(tree: dict[str, Any], colon: str = "") -> str:
    """schema.extraction_structure() as a Spark schema: every field read as text."""
    return ", ".join(
        f"`{name}`{colon} string"
        if value == "VARCHAR"
        else f"`{name}`{colon} struct<{_struct(value, ':')}>"
        for name, value in tree.items()
    )


def _typed(c: schema.Column, text: str) -> str:
    """The value of column `c` from its text in the record, cast as the DuckDB ingest casts it."""
    if c.type == "TIMESTAMPTZ":
        return f"case when {text} rlike '{_ISO_TIME}' then try_cast({text} as timestamp) end"
    if c.type == "BOOLEAN":
        true, false = (", ".join(f"'{v}'" for v in values) for values in (_TRUE, _FALSE))
        return (
            f"case when lower({text}) in ({true}) then true "
            f"when lower({text}) in ({false}) then false end"
        )
    return text


def _field(path: tuple[str, ...]) -> str:
    return "s." + ".".join(f"`{p}`" for p in path)


def _timestamp(t: dt.datetime) -> str:
    return f"timestamp '{t.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}'"


def parse_sql(lines: str, latest: dt.datetime) -> str:
    """Spark SQL over the read rows of kind 'line' (view `lines`): every stored column of
    event_store, typed, and the reason a line is no record, as the DuckDB ingest gives them
    (an eventTime outside the window of possible times, schema.CLOUDTRAIL_BEGAN to `latest`,
    is a reason; other times outside it are left NULL)."""
    structure = _struct(json.loads(schema.extraction_structure()))
    early, late = _timestamp(schema.CLOUDTRAIL_BEGAN), _timestamp(latest)

    def typed(c: schema.Column) -> str:
        value = _typed(c, _field(c.path))
        if c.type == "TIMESTAMPTZ":
            value = f"case when {value} between {early} and {late} then {value} end"
        return f"{value} as {c.name}"

    columns = ",\n  ".join(
        typed(c)
        for c in schema.EVENT_COLUMNS
        if c.path and c.stored and c.name not in ("event_id", "event_time")
    )
    time = _typed(schema.EVENT_COLUMNS[1], "time_text")
    shown = "left(time_text, 100)"  # the reason quotes it; the record holds all of it
    return f"""
select file_id, position, line, record_text, event_id,
  case when event_time between {early} and {late} then event_time end as event_time,
  from_logstash, {columns},
  coalesce(record_text, line) as record,
  case
    when reason is not null then reason
    when trim(event_id) <> '' and event_time between {early} and {late} then null
    when coalesce(trim(event_id), '') = '' and time_text is null
      then 'not a CloudTrail record: it has neither eventID nor eventTime'
    when event_id is null then 'record has no eventID'
    when trim(event_id) = '' then 'record has no eventID: it is empty'
    when time_text is null then 'record has no eventTime'
    when event_time is null then concat('eventTime is not a timestamp: ', {shown})
    when event_time < {early} then concat('eventTime ', {shown}, ' is before CloudTrail ',
      'existed (it began on {schema.CLOUDTRAIL_BEGAN:%Y-%m-%d}): no such event can be real')
    else concat('eventTime ', {shown}, ' is more than a day after this ingest ran ',
      '({latest - schema.FUTURE_SLACK:%Y-%m-%dT%H:%M:%SZ}): no such event can be real')
  end as reason
from (
  select *, s.eventID as event_id, coalesce(s.eventTime, s.`@timestamp`) as time_text,
         {time.replace("time_text", "coalesce(s.eventTime, s.`@timestamp`)")} as event_time,
         s.eventTime is null and s.`@timestamp` is not null as from_logstash
  from (select *, from_json(coalesce(record_text, line), '{structure}') as s from {lines}))
"""


# ingest: the driver ---------------------------------------------------------------------------


def ingest(
    spark: SparkSession,
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    account: Sequence[str] = (),
    region: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    s3_region: str | None = None,
) -> IngestSummary:
    """Read CloudTrail files, folders, export trees or s3:// URLs into the Parquet tables under
    `out` (a folder, or any URL Spark writes to), adding only files its committed manifest does
    not hold; the filters prune the key layout as `Trail.ingest`'s do. Returns the same summary
    as the DuckDB ingest."""
    from pyspark.sql import functions as F

    from trailscope.ingest import IngestSummary

    started = time.monotonic()
    out = str(out).rstrip("/")
    filters = Filters.make(account=account, region=region, since=since, until=until)
    s3 = S3Access(profile, endpoint_url, s3_region)
    stored = Store(spark, out)
    run_id = stored.next_run_id()
    names = [str(s) for s in sources]
    begun = dt.datetime.now(dt.UTC)
    stored.write_run(run_id, begun, None, names, filters)
    summary = IngestSummary(run_id)
    known = stored.known_files()
    next_id = stored.next_file_id()
    todo: list[tuple[Any, ...]] = []
    for cand in _discover(names, filters, s3):
        summary.files_seen += 1
        if (cand.shown, cand.size, cand.mtime) in known:
            summary.files_already += 1
            continue
        todo.append(
            (
                next_id,
                *(cand.path, cand.shown, cand.size, cand.mtime, cand.etag),
                *(cand.skip, cand.error, cand.folder),
            )
        )
        next_id += 1
    latest = dt.datetime.now(dt.UTC) + schema.FUTURE_SLACK  # no event is later than this
    candidates = spark.createDataFrame(todo, CANDIDATE_SCHEMA)
    tasks = max(1, -(-len(todo) // FILES_PER_TASK))
    read = (
        candidates.repartition(tasks, "file_id")
        .mapInArrow(lambda batches: read_files(batches, s3), READ_SCHEMA)
        .persist()
    )
    read.where("kind = 'line'").createOrReplaceTempView("trailscope_lines")
    parsed = spark.sql(parse_sql("trailscope_lines", latest)).persist()
    valid = parsed.where("reason is null")
    first = (
        valid.groupBy("event_id")
        .agg(F.min(F.struct("file_id", "position")).alias("first"))
        .join(stored.event_ids(), "event_id", "left_anti")
        .select(
            "event_id",
            F.col("first.file_id").alias("file_id"),
            F.col("first.position").alias("position"),
        )
    )
    fresh = valid.join(first, ["event_id", "file_id", "position"], "left_semi")
    stored.append_events(fresh, run_id)
    stored.append("event_sources", valid.select("event_id", "file_id", "position"), run_id)
    conflicts = _conflicts(stored, valid, fresh).persist()
    stored.append("duplicate_conflicts", conflicts, run_id)
    summary.conflicts = conflicts.count()
    rejected = (
        read.where("kind = 'reject'")
        .select("file_id", "position", "reason", F.col("line").alias("raw"))
        .unionByName(
            read.where("kind = 'file' and error is not null").select(
                "file_id",
                F.lit(None).cast("int").alias("position"),
                F.col("error").alias("reason"),
                F.lit(None).cast("string").alias("raw"),
            )
        )
        .unionByName(
            parsed.where("reason is not null").select(
                "file_id", "position", "reason", F.col("record").alias("raw")
            )
        )
    )
    rejected = rejected.persist()  # written, counted and sampled
    stored.append("rejected", rejected, run_id)
    files = _manifest(spark, candidates, read, valid, first, rejected, run_id).persist()
    stored.append("files", files, run_id)
    _tally(summary, files)
    summary.rejected_sample = [
        (r["path"], r["position"], r["reason"])
        for r in rejected.join(files.select("file_id", "path"), "file_id")
        .orderBy("file_id", F.col("position").asc_nulls_first())
        .limit(20)
        .collect()
    ]
    stored.write_run(run_id, begun, dt.datetime.now(dt.UTC), names, filters)
    for frame in (read, parsed, conflicts, rejected, files):
        frame.unpersist()
    summary.seconds = time.monotonic() - started
    return summary


def _conflicts(stored: Store, valid: DataFrame, fresh: DataFrame) -> DataFrame:
    """The rows of duplicate_conflicts: each copy (not the one stored) whose content differs
    from the copy stored, this run's or an earlier run's, compared as the DuckDB ingest
    compares them (formats.differences, on the executors), with the place of the stored copy:
    the first of the event's sources."""
    from pyspark.sql import functions as F

    kept = fresh.select("event_id", F.col("record").alias("kept")).unionByName(
        stored.table("event_store").select("event_id", F.col("record").alias("kept"))
    )
    places = (
        valid.select("event_id", "file_id", "position")
        .unionByName(stored.table("event_sources").select("event_id", "file_id", "position"))
        .groupBy("event_id")
        .agg(F.min(F.struct("file_id", "position")).alias("first"))
    )
    # a lambda: pyspark reads a function's type hints as asking for a pandas UDF
    differences = F.udf(lambda text, kept: formats.differences(text, kept), "string")
    return (
        valid.join(
            fresh.select("event_id", "file_id", "position"),
            ["event_id", "file_id", "position"],
            "left_anti",
        )
        .join(kept, "event_id")
        .where("record <> kept")
        .withColumn("fields", differences("record", "kept"))
        .where("fields <> ''")
        .join(places, "event_id")
        .select(
            "event_id",
            "file_id",
            "position",
            F.col("first.file_id").alias("kept_file_id"),
            F.col("first.position").alias("kept_position"),
            "fields",
            F.col("record").alias("raw"),
        )
    )


def _discover(sources: Sequence[str], filters: Filters, s3: S3Access) -> Iterator[Candidate]:
    """The files to consider, found as the DuckDB ingest finds them."""
    from trailscope.s3 import is_s3

    for source in sources:
        if is_s3(source):
            from trailscope.s3 import discover_s3

            yield from discover_s3(
                source,
                filters,
                profile=s3.profile,
                endpoint_url=s3.endpoint_url,
                region=s3.region,
            )
        else:
            yield from discover([source], filters)


def _manifest(
    spark: SparkSession,
    candidates: DataFrame,
    read: DataFrame,
    valid: DataFrame,
    first: DataFrame,
    rejected: DataFrame,
    run_id: int,
) -> DataFrame:
    """The files table's rows of this run: per file, what came of it (the DuckDB ingest's
    statuses, counts and notes)."""
    for name, frame in (
        ("c", candidates),
        ("r", read),
        ("v", valid),
        ("f", first),
        ("j", rejected),
    ):
        frame.createOrReplaceTempView(f"trailscope_{name}")
    return spark.sql(f"""
        with counts as (
            select file_id, count(*) as records,
                   count(*) filter (where from_logstash) as logstash
            from trailscope_v group by file_id),
        stored as (select file_id, count(*) as stored from trailscope_f group by file_id),
        rejected as (
            select file_id, count(*) filter (where position is not null) as rejected
            from trailscope_j group by file_id),
        info as (select * from trailscope_r where kind = 'file')
        select c.file_id, c.shown as path, c.size, c.mtime, c.etag, i.sha256,
               coalesce(i.format, 'unknown') as format,
               case when i.skip is not null then 'skipped'
                    when i.error is not null then 'rejected'
                    when coalesce(n.records, 0) + coalesce(j.rejected, 0) > 0 then 'ingested'
                    else 'empty' end as status,
               cast(coalesce(n.records, 0) + coalesce(j.rejected, 0) as int) as records,
               cast(coalesce(s.stored, 0) as int) as stored,
               cast(coalesce(n.records, 0) - coalesce(s.stored, 0) as int) as duplicates,
               cast(case when i.error is not null then 0 else coalesce(j.rejected, 0) end
                    as int) as rejected,
               nullif(concat_ws('; ',
                 case when i.skip is not null then i.skip
                      when coalesce(n.logstash, 0) > 0 then concat(n.logstash,
                           ' records had no eventTime: event_time taken from Logstash @timestamp')
                      else i.note end,
                 case when c.shown <> c.path then
                   'the file name is not UTF-8: its stray bytes are shown as \\\\xNN' end),
               '') as note,
               {run_id} as run_id
        from trailscope_c c
        left join info i using (file_id)
        left join counts n using (file_id)
        left join stored s using (file_id)
        left join rejected j using (file_id)""")


def _tally(summary: IngestSummary, files: DataFrame) -> None:
    """The run's counts, from its manifest rows, as the DuckDB ingest counts them."""
    for row in (
        files.groupBy("status", "note")
        .agg(
            {
                "*": "count",
                "records": "sum",
                "stored": "sum",
                "duplicates": "sum",
                "rejected": "sum",
                "size": "sum",
            }
        )
        .collect()
    ):
        n, status, note = row["count(1)"], row["status"], row["note"]
        if status == "skipped":
            summary.files_skipped += n
            summary.skipped_reasons[note or ""] = summary.skipped_reasons.get(note or "", 0) + n
            continue
        summary.files_read += n
        summary.files_rejected += n if status == "rejected" else 0
        summary.records += row["sum(records)"]
        summary.stored += row["sum(stored)"]
        summary.duplicates += row["sum(duplicates)"]
        summary.rejected += row["sum(rejected)"]
        summary.bytes_read += row["sum(size)"]
    for row in files.where("status = 'ingested' and note is not null").collect():
        summary.notes.append(f"{row['path']}: {row['note']}")


class Store:
    """The Parquet tables under one folder (or URL): their committed rows and how a run adds
    to them. Each table's rows carry the run that wrote them (partition run_id)."""

    def __init__(self, spark: SparkSession, out: str) -> None:
        self.spark, self.out = spark, out.rstrip("/")
        self._committed: list[int] | None = None  # read once: only write_run changes it

    def _path(self, table: str) -> str:
        return f"{self.out}/{table}"

    def _exists(self, table: str) -> bool:
        jvm: Any = self.spark._jvm  # Hadoop's file system: local, HDFS, S3 alike
        path = jvm.org.apache.hadoop.fs.Path(self._path(table))
        fs = path.getFileSystem(self.spark._jsc.hadoopConfiguration())
        return bool(fs.exists(path))

    def _schema(self, table: str) -> str:
        """The table's stored columns, then its partition columns."""
        columns = schema.TABLES["events" if table == "event_store" else table][0]
        parts = [f"{p} string" for p in PARTITIONS] if table == "event_store" else []
        if all(c.name != "run_id" for c in columns):
            parts.append("run_id int")
        return ", ".join([spark_schema(columns), *parts])

    def _raw(self, table: str) -> DataFrame:
        ddl = self._schema(table)
        if not self._exists(table):
            return self.spark.createDataFrame([], ddl)
        return (
            self.spark.read.schema(ddl)
            .option("basePath", self._path(table))
            .parquet(self._path(table))
        )

    def committed(self) -> list[int]:
        if self._committed is None:
            runs = self._raw("ingest_runs").where("finished_at is not null").select("run_id")
            self._committed = sorted(r[0] for r in runs.collect())
        return self._committed

    def table(self, name: str) -> DataFrame:
        """A table's committed rows, with its own columns only."""
        from pyspark.sql import functions as F

        frame = self._raw(name).where(F.col("run_id").isin(self.committed()))
        cols = schema.TABLES["events" if name == "event_store" else name][0]
        return frame.select(*[c.name for c in cols if c.stored])

    def next_run_id(self) -> int:
        runs = self._raw("ingest_runs").agg({"run_id": "max"}).collect()[0][0]
        return int(runs or 0) + 1

    def next_file_id(self) -> int:
        files = self._raw("files").agg({"file_id": "max"}).collect()[0][0]
        return int(files or 0) + 1

    def known_files(self) -> set[tuple[str, int, float]]:
        """What the committed manifest holds; a file rejected before its bytes were read is
        tried again, as by the DuckDB ingest."""
        rows = (
            self.table("files")
            .where("not (status = 'rejected' and sha256 is null)")
            .select("path", "size", "mtime")
            .collect()
        )
        return {(r[0], r[1], r[2]) for r in rows}

    def event_ids(self) -> DataFrame:
        return self.table("event_store").select("event_id")

    def append_events(self, events: DataFrame, run_id: int) -> None:
        from pyspark.sql import functions as F

        stored = [c.name for c in schema.EVENT_COLUMNS if c.stored]
        (
            events.select(
                *stored,
                F.col("recipient_account_id").alias("account"),
                F.col("aws_region").alias("region"),
                F.date_format("event_time", "yyyy-MM-dd").alias("day"),
                F.lit(run_id).alias("run_id"),
            )
            # one task a partition: a file in each folder, not one per task that read into it
            .repartition(*PARTITIONS)
            .write.mode("append")
            .partitionBy(*PARTITIONS, "run_id")
            .parquet(self._path("event_store"))
        )

    def append(self, table: str, rows: DataFrame, run_id: int) -> None:
        from pyspark.sql import functions as F

        if "run_id" not in rows.columns:
            rows = rows.withColumn("run_id", F.lit(run_id))
        if table in ("files", "duplicate_conflicts"):  # a row a file, or fewer: one file a run
            rows = rows.coalesce(1)
        rows.write.mode("append").partitionBy("run_id").parquet(self._path(table))

    def write_run(
        self,
        run_id: int,
        started: dt.datetime,
        finished: dt.datetime | None,
        sources: Sequence[str],
        filters: Filters,
    ) -> None:
        """The run's row: without finished_at when it starts, with it as its commit."""
        text = json.dumps({"sources": [shown_path(s) for s in sources], **filters.as_dict()})
        row = self.spark.createDataFrame(
            [(run_id, started, finished, text, __version__)],
            self._schema("ingest_runs"),
        )
        row.write.mode("overwrite").partitionBy("run_id").parquet(self._path("ingest_runs"))
        self._committed = None


def register(spark: SparkSession, out: str | Path) -> None:
    """Make the committed tables under `out` Spark temporary views of the names the query
    modules read: event_store, event_sources, files, rejected, ingest_runs, the integrity
    tables (empty), and `events`, the
    DuckDB view translated (a view: the modules that read it scan the Parquet files, pruned
    to the columns they use)."""
    from trailscope.dialect import spark_sql

    store = Store(spark, str(out))
    for name in TABLES:
        store.table(name).createOrReplaceTempView(name)
    for name in UNVERIFIED:  # empty, as in a database `trailscope verify` never checked
        empty = spark.createDataFrame([], spark_schema(schema.TABLES[name][0]))
        empty.createOrReplaceTempView(name)
    spark.sql(f"create or replace temp view events as {spark_sql(schema.events_view())}")


# the query modules on Spark -----------------------------------------------------------------


class SparkAnalysis(Analysis):
    """analysis.Analysis on Spark SQL: the same modules, composed and kept the same way, each
    translated by trailscope.dialect. A module computed for others is checkpointed: its rows
    are kept on the executors and its plan ends there, as a DuckDB temporary table's would
    (Spark would otherwise plan every module again inside each one that reads it)."""

    def __init__(self, spark: SparkSession, *, database: str) -> None:
        self.spark = spark
        self.database = database
        self.modules = load_queries()
        self._kept = {}

    def rows(self, text: str, **params: Any) -> list[tuple[Any, ...]]:
        # through Arrow, which keeps the times' zone, and columns of the same name (Spark calls
        # every scalar subquery `scalarsubquery()`)
        table = self._spark(text, params).toArrow()
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def tables(self) -> set[str]:
        return {t.name for t in self.spark.catalog.listTables()} - set(self._kept)

    def _spark(self, text: str, params: dict[str, Any] | None) -> DataFrame:
        from trailscope.dialect import spark_sql

        params = params or {}
        arrays = frozenset(k for k, v in params.items() if isinstance(v, list | tuple))
        sql = spark_sql(text, arrays)
        args = {k: list(v) if k in arrays else v for k, v in params.items() if f":{k}" in sql}
        return self.spark.sql(sql, args=args or None)

    def _frame(self, text: str, params: dict[str, Any] | None) -> pl.DataFrame:
        import polars as pl

        df = pl.from_arrow(self._spark(text, params).toArrow())
        assert isinstance(df, pl.DataFrame)
        return df

    def _keep(self, name: str, sql: str, params: dict[str, Any] | None) -> None:
        self._spark(sql, params).localCheckpoint().createOrReplaceTempView(name)

    def _drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def _kept_table(self, name: str) -> str:
        return name  # a temporary view: read in DuckDB SQL, as every text here is


class SparkTrail(Trail):
    """Trail's analysis on a folder of the Spark ingest's tables: findings, sessions, the
    organization's state, timelines and reports, computed on Spark (the results are small:
    they are collected) and handed to the same report generator. Ingest with
    trailscope.spark.ingest; `trail.spark` is the session, for anything the API lacks."""

    def __init__(self, tables: str | Path, spark: SparkSession | None = None) -> None:
        self.path = str(tables)
        self.read_only = True
        # a session of its own: its views (the tables, the modules computed) are its own
        self.spark = (spark or session()).newSession()
        for key, value in SETTINGS.items():
            self.spark.conf.set(key, value)
        register(self.spark, self.path)
        self.analysis = SparkAnalysis(self.spark, database=self.path)

    def close(self) -> None:
        self.analysis.forget()

    def verify(self, *sources: str | Path, **options: Any) -> VerifySummary:
        raise TrailscopeError("verify checks a DuckDB database's files: run trailscope verify")

    def ingest(self, *sources: str | Path, **options: Any) -> IngestSummary:
        """Add what is new under `sources` (see trailscope.spark.ingest), and read it."""
        summary = ingest(self.spark, sources, self.path, **options)
        self.analysis.forget()
        register(self.spark, self.path)
        return summary
