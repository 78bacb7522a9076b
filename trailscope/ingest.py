"""Ingest: files into the events table, incrementally, atomically per batch, losing nothing.

Three stages run at once: worker threads read files (decompress, detect, split into records);
this thread has DuckDB parse and type a batch of records in bulk; two more DuckDB connections
store earlier commits' worth, each in its own transaction. Every record read ends up stored,
recognised as a duplicate (same eventID), or listed in `rejected` with its file, position and
why.
"""

from __future__ import annotations

import collections
import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailscope import __version__, formats, schema
from trailscope.s3 import is_s3
from trailscope.sources import Candidate, Filters, discover

__all__ = ["Filters", "IngestSummary", "Progress", "S3Options", "ingest"]

# Measured at 2 million events on 2 cores (benchmarks/ingest.py).
BATCH_BYTES = 48 * 2**20  # JSON text DuckDB parses in one statement (planning it takes 7 ms)
BATCH_FILES = 2_000
COMMIT_ROWS = schema.ROW_GROUP_SIZE  # records (whole files) stored in one transaction, or more
READ_AHEAD = 8  # files being read at once, ahead of the loader
STORE_WORKERS = 2  # transactions being stored at once, each on its own connection
# DuckDB while ingesting: its own memory bounded, with room for two commits being stored (at
# 512 MB it kept reaching the limit, and each time handed memory back to the system, only to
# fault it in again: 18% of the CPU went to the kernel, against 11% now); each finished
# row group written at once, not five; the part-filled row group each commit leaves not merged
# into its neighbours at the next checkpoint, which re-compressed them at every commit and
# doubled the cost of storing; and one thread for each of its connections, which with the
# readers keep the cores busy (two each fought over them: 20% slower, and more memory).
INGEST_SETTINGS = {
    "memory_limit": "896MB",
    "write_buffer_row_group_count": "1",
    "max_vacuum_tasks": "0",
    "threads": "1",
}
SAMPLE_REJECTIONS = 20


class Progress(Protocol):
    def __call__(self, *, files: int, records: int, bytes_read: int) -> None: ...


@dataclass
class IngestSummary:
    """What an ingest run did. `rejected_sample` shows the first few rejections."""

    run_id: int
    files_seen: int = 0
    files_read: int = 0
    files_already: int = 0  # in the manifest with the same size and time: not opened
    files_skipped: int = 0  # not log files (digests, Insights, other formats)
    files_rejected: int = 0  # nothing usable in them
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    rejected_sample: list[tuple[str, int | None, str]] = field(default_factory=list)
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file was read and every record stored or recognised as a duplicate."""
        return self.rejected == 0 and self.files_rejected == 0

    def lines(self) -> list[str]:
        rate = self.records / self.seconds if self.seconds else 0.0
        out = [
            (
                f"files: {self.files_seen:,} seen, {self.files_read:,} read, "
                f"{self.files_already:,} already ingested, {self.files_skipped:,} skipped, "
                f"{self.files_rejected:,} rejected"
            ),
            (
                f"records: {self.records:,} read, {self.stored:,} stored, {self.duplicates:,} "
                f"duplicates, {self.rejected:,} rejected"
            ),
            f"{self.bytes_read / 2**20:,.1f} MB in {self.seconds:.1f} s ({rate:,.0f} records/s)",
        ]
        out += [f"skipped {n:,} ({why})" for why, n in sorted(self.skipped_reasons.items())]
        out += self.notes
        for path, position, reason in self.rejected_sample:
            where = f"{path}" + (f" #{position}" if position is not None else "")
            out.append(f"rejected: {where}: {reason}")
        if self.rejected > len(self.rejected_sample):
            out.append(
                f"... {self.rejected - len(self.rejected_sample):,} more in the `rejected` table"
            )
        return out


@dataclass
class _File:
    """A file on its way in: its manifest row and what reading it gave."""

    file_id: int
    candidate: Candidate
    sha256: str | None = None
    result: formats.ReadResult | None = None
    table: pa.Table | None = None  # its records (file_id, position, line), ready for DuckDB
    data: bytes | None = None  # the bytes, for a file fetched from S3
    read_error: str | None = None

    @property
    def error(self) -> str | None:
        """Why the file as a whole could not be read, if it could not."""
        return self.read_error or (self.result.error if self.result else None)

    @property
    def weight(self) -> int:
        return 0 if self.table is None else self.table.get_total_buffer_size()


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[str],
    filters: Filters,
    *,
    progress: Progress | None = None,
    commit_rows: int = COMMIT_ROWS,
    s3: S3Options | None = None,
) -> IngestSummary:
    """Ingest every file under `sources` that the manifest does not already hold.

    Whole files are committed together once `commit_rows` records are pending: an interrupted
    run leaves only whole files behind, and the next run picks up the rest."""
    started = time.monotonic()
    before = {
        name: con.sql("select current_setting($name)", params={"name": name}).fetchall()[0][0]
        for name in INGEST_SETTINGS
    }
    for name, value in INGEST_SETTINGS.items():
        con.sql(f"SET {name} = '{value}'")
    try:
        summary = _ingest(con, sources, filters, progress, commit_rows, started, s3 or S3Options())
        con.sql("checkpoint")  # now, within the limit, rather than unbounded at close
        summary.seconds = time.monotonic() - started
        return summary
    finally:
        for name, value in before.items():
            con.sql(f"SET {name} = '{value}'")


def _ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[str],
    filters: Filters,
    progress: Progress | None,
    commit_rows: int,
    started: float,
    s3: S3Options,
) -> IngestSummary:
    run_id = _start_run(con, sources, filters)
    summary = IngestSummary(run_id)
    # a file rejected before its bytes were read (an S3 object denied, say) is tried again
    known = {
        (p, s, m)
        for p, s, m in con.sql(
            "select path, size, mtime from files where not (status = 'rejected' and sha256 is null)"
        ).fetchall()
    }
    next_id = con.sql("select coalesce(max(file_id), 0) + 1 from files").fetchall()[0][0]

    def todo() -> Iterator[_File]:
        nonlocal next_id
        for cand in _discover(sources, filters, s3):
            summary.files_seen += 1
            if (cand.path, cand.size, cand.mtime) in known:
                summary.files_already += 1
                continue
            yield _File(next_id, cand)
            next_id += 1

    loader = _Loader(con, run_id, summary, commit_rows)
    files: Iterator[_File] = todo()
    if any(is_s3(source) for source in sources):
        files = _fetched(files, s3)
    try:
        for batch in _ahead(_batches(_read_all(files))):
            loader.load(batch)
            if progress is not None:
                progress(
                    files=summary.files_seen, records=summary.records, bytes_read=summary.bytes_read
                )
    finally:
        loader.finish()  # what was read in full before a failure (credentials expiring) stays
    summary.seconds = time.monotonic() - started
    summary.rejected_sample = con.sql(
        "select f.path, r.position, r.reason from rejected r join files f using (file_id) "
        "where f.run_id = $run order by r.file_id, r.position nulls first limit $n",
        params={"run": run_id, "n": SAMPLE_REJECTIONS},
    ).fetchall()
    con.sql(
        "update ingest_runs set finished_at = now() where run_id = $run_id",
        params={"run_id": run_id},
    )
    return summary


@dataclass(frozen=True)
class S3Options:
    """How to reach S3 for s3:// sources; None means the standard AWS chain decides."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None


def _discover(sources: Sequence[str], filters: Filters, s3: S3Options) -> Iterator[Candidate]:
    for source in sources:
        if is_s3(source):
            from trailscope.s3 import discover_s3

            yield from discover_s3(
                source, filters, profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
            )
        else:
            yield from discover([source], filters)


def _fetched(files: Iterator[_File], s3: S3Options) -> Iterator[_File]:
    """Download S3 objects ahead of the readers, a bounded number at once; others pass."""
    from trailscope.s3 import fetch

    waiting: collections.deque[_File] = collections.deque()

    def candidates() -> Iterator[Candidate]:
        for f in files:
            waiting.append(f)
            yield f.candidate

    for _cand, data, reason in fetch(
        candidates(), profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
    ):
        f = waiting.popleft()
        f.data, f.read_error = data, reason or f.read_error
        yield f


def _start_run(con: duckdb.DuckDBPyConnection, sources: Sequence[str], filters: Filters) -> int:
    run_id: int = con.sql("select coalesce(max(run_id), 0) + 1 from ingest_runs").fetchall()[0][0]
    con.sql(
        "insert into ingest_runs values ($run_id, now(), null, $sources, $version)",
        params={
            "run_id": run_id,
            "version": __version__,
            "sources": json.dumps({"sources": list(sources), **filters.as_dict()}),
        },
    )
    return run_id


def _read_one(f: _File, *, slow: bool = False) -> _File:
    """Runs in a worker thread: hash, decompress and split one file into lines.

    `slow` parses the whole document, for a file whose fast split did not hold."""
    cand = f.candidate
    if cand.skip or f.read_error:
        return f
    if f.data is not None:
        data = f.data
    else:
        try:
            with open(cand.path, "rb") as fh:
                data = fh.read()
        except OSError as e:
            f.read_error = f"cannot read: {e.strerror or e}"
            return f
    f.sha256 = hashlib.sha256(data).hexdigest()
    if data[:4] == formats.PARQUET_MAGIC:
        try:
            f.result = formats.ReadResult("parquet", list(formats.read_parquet(data)))
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
            f.result = formats.ReadResult("parquet", error=f"unreadable Parquet: {e}")
            return f
        f.table = _lines_table(f)
        return f
    f.result = formats.read_bytes(data, slow=slow)
    f.table = _lines_table(f)
    return f


def _lines_table(f: _File) -> pa.Table | None:
    """The file's records as rows (file_id, position, line), without a Python object or a copy
    of the text per record; None when a fast split does not hold (not UTF-8, or a piece too
    short to be a record): the full parse then says what is wrong."""
    assert f.result is not None
    parts = []
    for chunk in f.result.chunks:
        if chunk.spans is not None:
            lines = _record_views(chunk.text, *chunk.spans)
            if lines is None:
                return None
            positions = _numbered(chunk.offset, len(lines))
        else:  # JSON lines, which may have blank ones
            text = pa.array([chunk.text], pa.large_binary()).cast(pa.large_string())
            lines = pc.split_pattern(text, "\n").flatten()
            keep = pc.not_equal(pc.utf8_trim_whitespace(lines), "")
            positions = _numbered(chunk.offset, len(lines)).filter(keep)
            lines = lines.filter(keep).cast(pa.string_view())
        parts.append(
            pa.table(
                {
                    "file_id": pa.array(np.full(len(lines), f.file_id, np.int32)),
                    "position": positions,
                    "line": lines,
                }
            )
        )
    f.result.chunks = []  # the table holds the text now
    return pa.concat_tables(parts) if parts else EMPTY_LINES


def _numbered(offset: int, count: int) -> pa.Array:
    """Positions offset + 1 ... offset + count, without a Python int for each."""
    return pa.array(np.arange(offset + 1, offset + 1 + count, dtype=np.int32))


def _record_views(text: bytes, starts: list[int], ends: list[int]) -> pa.Array | None:
    """Arrow string views of `text[start:end]` for each record: the views point into the
    file's own bytes (Arrow's columnar format, "variable-size binary view layout": 16 bytes a
    value, length, first four bytes, buffer index, offset). None when the text is not UTF-8
    or is too long to address, or a piece is 12 bytes or shorter (those would be inlined, and
    are never CloudTrail records)."""
    begin, length = np.array(starts, np.int32), np.array(ends, np.int64) - starts
    if len(text) >= 2**31 or length.min() <= 12:
        return None
    raw = np.frombuffer(text, np.uint8)
    views = np.empty((len(begin), 4), np.int32)
    views[:, 0] = length
    views[:, 1] = raw[begin[:, None] + np.arange(4)].view(np.int32)[:, 0]
    views[:, 2] = 0
    views[:, 3] = begin
    lines = pa.Array.from_buffers(
        pa.string_view(), len(begin), [None, pa.py_buffer(views), pa.py_buffer(text)]
    )
    try:
        lines.validate(full=True)  # UTF-8, and every view inside the text
    except pa.ArrowInvalid:
        return None
    return lines


def _ahead(batches: Iterator[list[_File]]) -> Iterator[list[_File]]:
    """Assemble the next batch in a thread while the caller loads this one."""
    out: queue.Queue[list[_File] | BaseException | None] = queue.Queue(maxsize=1)

    def produce() -> None:
        try:
            for batch in batches:
                out.put(batch)
            out.put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            out.put(e)

    threading.Thread(target=produce, name="trailscope-batches", daemon=True).start()
    while (item := out.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


def _read_all(files: Iterable[_File]) -> Iterator[_File]:
    """Read files in worker threads, a bounded number ahead, yielding them in order."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="trailscope-read") as pool:
        pending: list[Future[_File]] = []
        for f in files:
            pending.append(pool.submit(_read_one, f))
            if len(pending) >= READ_AHEAD:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()


def _batches(files: Iterable[_File]) -> Iterator[list[_File]]:
    batch: list[_File] = []
    weight = 0
    for f in files:
        batch.append(f)
        weight += f.weight
        if weight >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


def _field(path: tuple[str, ...]) -> str:
    return "s." + ".".join(json.dumps(p) for p in path)


EMPTY_IDS = pa.table({"event_id": pa.array([], pa.string())})
EMPTY_LINES = pa.table(
    {
        "file_id": pa.array([], pa.int32()),
        "position": pa.array([], pa.int32()),
        "line": pa.array([], pa.string_view()),
    }
)
_STRUCTURE = schema.extraction_structure()
# every typed column, from the struct json_transform made of the record
_SELECT = ",\n".join(
    f"try_cast({_field(c.path)} as {c.type}) as {c.name}"
    if c.type in ("BOOLEAN", "TIMESTAMPTZ")
    else f"{_field(c.path)} as {c.name}"
    for c in schema.EVENT_COLUMNS
    if c.path and c.stored and c.name not in ("event_id", "event_time")
)
_COLUMNS = ", ".join(c.name for c in schema.EVENT_COLUMNS if c.stored)
# the same, from a parsed row: the record is a LookupEvents row's inner CloudTrailEvent, or else
# the line itself
_STORED = ", ".join(
    "coalesce(record_text, line)" if c.name == "record" else c.name
    for c in schema.EVENT_COLUMNS
    if c.stored
)


def _parse_query(line_parse: str) -> str:
    """One JSON parse a record (`line_parse`, of `line`): json_transform gives empty fields for
    anything that is not a record; the reasons are worked out only for those (json_type parses
    the record again, so a record with an ID and a time never reaches it)."""
    return f"""
select file_id, position, record_text, event_id, event_time, from_logstash, {
        _COLUMNS.replace("event_id, event_time, ", "").replace(", record", "")
    },
       case
         when not line_ok then 'invalid JSON'
         when s is null then 'CloudTrailEvent is not valid JSON'
         when event_id is not null and event_time is not null then null  -- the usual case
         when json_type(record) <> 'OBJECT' then 'not a JSON object: a ' || lower(json_type(record))
         when event_id is null and time_text is null
           then 'not a CloudTrail record: it has neither eventID nor eventTime'
         when event_id is null then 'record has no eventID'
         when time_text is null then 'record has no eventTime'
         when event_time is null then 'eventTime is not a timestamp: ' || time_text
       end as reason
from (
  select *, s.eventID as event_id, coalesce(s.eventTime, s."@timestamp") as time_text,
         try_cast(coalesce(s.eventTime, s."@timestamp") as timestamptz) as event_time,
         s.eventTime is null and s."@timestamp" is not null as from_logstash,
         {_SELECT}
  from (
    select file_id, position, outer_s is not null as line_ok, record_text,
           coalesce(record_text, line) as record,
           case when outer_s.CloudTrailEvent is null then outer_s
                else try(json_transform(record_text, '{_STRUCTURE}')) end as s
    from (
      select file_id, position, line, outer_s, outer_s.CloudTrailEvent as record_text
      from (select *, {line_parse} as outer_s from staged))))
"""


# json_transform stops at a line that is not JSON; under try it gives NULL instead, but try
# costs a fifth of the parse (measured), so it is kept for a batch that has such a line
_PARSE = _parse_query(f"json_transform(line, '{_STRUCTURE}')")
_PARSE_TOLERANT = _parse_query(f"try(json_transform(line, '{_STRUCTURE}'))")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[schema.Column, ...],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """Insert Python rows through Arrow: executemany costs a statement per row."""
    arrow = pa.table({c.name: [r[i] for r in rows] for i, c in enumerate(columns)})
    con.register("new_rows", arrow)
    try:
        con.sql(f"insert into {table} select * from new_rows")
    finally:
        con.unregister("new_rows")


@dataclass
class _Commit:
    """Files stored in one transaction, with their parsed rows."""

    files: list[_File]
    parsed: pa.Table
    before: _Commit | None  # the commit submitted just before, if it may still be storing
    earlier: pa.Table  # the event IDs of every commit that may still be storing
    ids: pa.Table = field(init=False)  # its own events' IDs, for the commits after it
    future: Future[None] | None = None
    file_rows: list[_FileRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = self.parsed.select(["event_id", "reason"])
        self.ids = ids.filter(pc.is_null(ids["reason"])).select(["event_id"])


class _Loader:
    """Loads batches of read files into the database; a transaction holds whole files.

    Each batch is parsed as it arrives, outside any transaction. Parsed rows wait on the Python
    side (Arrow) until `commit_rows` are pending; then a store connection, in its own thread,
    stores them in one transaction with one insert, while this one parses the next. The same
    rows cost 30% more to store in batch-sized inserts, and temp tables would be compressed at
    every commit (both measured).

    Two commits are stored at once (storing is the largest cost, and one connection left a core
    idle a third of the time). A commit commits only after the one submitted before it has, and
    is rolled back if that one failed; that one's events are not yet visible to it, so they
    count as already stored when it looks for duplicates.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, run_id: int, summary: IngestSummary, commit_rows: int
    ) -> None:
        self.con, self.run_id, self.summary, self.commit_rows = con, run_id, summary, commit_rows
        self.pending: list[tuple[_File, int]] = []  # files waiting to be stored, and their rows
        self.pending_parsed: list[pa.Table] = []  # those rows, in the same order
        self.pending_rows = 0
        self.storer = ThreadPoolExecutor(
            max_workers=STORE_WORKERS, thread_name_prefix="trailscope-store"
        )
        self.storing: collections.deque[_Commit] = collections.deque()
        self.cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        database = con.sql("select current_database()").fetchall()[0][0]
        for _ in range(STORE_WORKERS):
            cursor = con.cursor()
            cursor.sql(f"USE {_identifier(database)}")  # a cursor starts in the default one
            self.cursors.put(cursor)

    def load(self, batch: list[_File]) -> None:
        """Parse a batch; hand what is pending to the store once `commit_rows` records are."""
        readable = [f for f in batch if not f.error and f.result is not None and not f.result.skip]
        # one chunk a batch: an insert from hundreds of small chunks (a file's each) cost
        # several times as much as from the same rows in a few large ones (measured)
        parsed = self._parsed(readable).combine_chunks()
        rows = {f.file_id: f.table.num_rows for f in readable if f.table is not None}
        for f in batch:
            f.table = f.data = None  # free the text before the next batch arrives
        self.pending += [(f, rows.get(f.file_id, 0)) for f in batch]
        self.pending_parsed.append(parsed)
        self.pending_rows += parsed.num_rows
        while self.pending_rows >= self.commit_rows:
            self.commit(self.commit_rows)

    def commit(self, rows: int | None = None) -> None:
        """Store pending files in one transaction.

        With `rows`, only the first files that hold that many records go; the rest wait for
        the next. Commits then end just past a row group, and the few records beyond it cost
        little to commit; a batch's worth beyond it went through the WAL and a checkpoint at
        every commit (a fifth of the cost of storing, measured)."""
        while len(self.storing) >= STORE_WORKERS:
            self._wait()
        take, count = len(self.pending), self.pending_rows
        if rows is not None:
            count = 0
            for take, (_, n) in enumerate(self.pending, 1):  # noqa: B007 - take is used below
                count += n
                if count >= rows:
                    break
        if take:
            parsed = pa.concat_tables(self.pending_parsed)
            commit = _Commit(
                [f for f, _ in self.pending[:take]],
                parsed.slice(0, count),
                self.storing[-1] if self.storing else None,
                pa.concat_tables([EMPTY_IDS] + [c.ids for c in self.storing]),
            )
            self.pending = self.pending[take:]
            self.pending_parsed = [parsed.slice(count)]  # perhaps none, for the files left
            self.pending_rows -= count
            commit.future = self.storer.submit(self._transaction, commit)
            self.storing.append(commit)

    def finish(self) -> None:
        """Store what is pending and wait until it is committed."""
        try:
            self.commit()
            while self.storing:
                self._wait()
        finally:
            self.storer.shutdown()
            while not self.cursors.empty():
                self.cursors.get().close()

    def _wait(self) -> None:
        """Wait for the oldest commit; count its files once it has committed."""
        commit = self.storing.popleft()
        assert commit.future is not None
        commit.future.result()  # raises what the store raised
        self._tally(commit.file_rows)

    def _transaction(self, commit: _Commit) -> None:
        con = self.cursors.get()
        con.sql("begin transaction")
        try:
            stats = self._store(con, commit)
            commit.file_rows = self._file_rows(commit.files, stats)
            _insert_rows(con, "files", schema.FILE_COLUMNS, commit.file_rows)
            if commit.before is not None:  # the commit before this one has committed
                assert commit.before.future is not None
                commit.before.future.result()  # or this raises what it raised
            con.sql("commit")
        except BaseException:
            con.sql("rollback")
            raise
        finally:
            for name in ("parsed", "fresh", "earlier"):
                con.unregister(name)
            self.cursors.put(con)
            commit.before = None

    def _store(
        self, con: duckdb.DuckDBPyConnection, commit: _Commit
    ) -> dict[int, tuple[int, int, int, int]]:
        """Check parsed lines, store new events; per file (records, stored, dup, rejected)."""
        batch, parsed = commit.files, commit.parsed
        rejected_rows: list[tuple[int, int | None, str, str | None]] = []
        for f in batch:
            if f.error:
                rejected_rows.append((f.file_id, None, f.error, None))
            elif f.result is not None:
                rejected_rows += [(f.file_id, p, why, raw) for p, why, raw in f.result.rejected]
        con.register("parsed", parsed)
        # commits before this one may not have committed yet: their events are not in
        # event_store for this transaction, so their event IDs are checked as well
        con.register("earlier", commit.earlier)
        for file_id, position, reason, line in con.sql(
            "select file_id, position, reason, coalesce(record_text, line) from parsed "
            "where reason is not null"
        ).fetchall():
            if reason == "invalid JSON":
                reason = formats.reason_for_line(line)
            rejected_rows.append((file_id, position, reason, line))
        # A copy of an event has the same eventTime and recipient account, so only that slice
        # of event_store needs looking at; files arrive in key order (account, region, day),
        # so DuckDB's min/max per row group skips the rest without reading it.
        lo, hi, first_acct, last_acct, no_acct = con.sql(
            "select min(event_time), max(event_time), min(recipient_account_id), "
            "max(recipient_account_id), count(*) > count(recipient_account_id) "
            "from parsed where reason is null"
        ).fetchall()[0]
        same_account = (
            "true" if no_acct else "recipient_account_id between $first_acct and $last_acct"
        )
        fresh = con.sql(
            f"""
            select event_id, min(file_id * 4294967296 + position) as first
            from parsed where reason is null
              and event_id not in (select event_id from event_store
                                   where event_time between $lo and $hi and {same_account}
                                     and event_id in (select event_id from parsed))
              and event_id not in (select event_id from earlier)
            group by event_id""",
            params={"lo": lo, "hi": hi}
            | ({} if no_acct else {"first_acct": first_acct, "last_acct": last_acct}),
        ).to_arrow_table()
        con.register("fresh", fresh)
        con.sql(f"""
            insert into event_store ({_COLUMNS})
            select {_STORED} from parsed join fresh using (event_id)
            where reason is null and file_id * 4294967296 + position = first""")
        # the text is stored: let it go before the rest of the transaction
        con.unregister("parsed")
        parsed = commit.parsed = parsed.drop_columns(["line", "record_text"])
        con.register("parsed", parsed)
        con.sql(
            "insert into event_sources select event_id, file_id, position from parsed "
            "where reason is null"
        )
        if rejected_rows:
            _insert_rows(con, "rejected", schema.REJECTED_COLUMNS, rejected_rows)
        stats: dict[int, tuple[int, int, int, int]] = {}
        for file_id, records, stored, logstash in con.sql("""
                select file_id, count(*), count(first), count(*) filter (where from_logstash)
                from parsed left join fresh
                  on parsed.event_id = fresh.event_id
                 and file_id * 4294967296 + position = first
                where reason is null group by file_id""").fetchall():
            stats[file_id] = (records, stored, records - stored, 0)
            if logstash:
                result = next(f.result for f in batch if f.file_id == file_id)
                assert result is not None  # its records were parsed
                result.note = (
                    f"{logstash} records had no eventTime: event_time taken from "
                    "Logstash @timestamp"
                )
        for file_id, *_ in rejected_rows:
            records, stored, dups, rejected = stats.get(file_id, (0, 0, 0, 0))
            stats[file_id] = (records, stored, dups, rejected + 1)
        return stats

    def _parsed(self, files: list[_File]) -> pa.Table:
        """Every line of the files, parsed and typed. A fast-split file that did not split into
        whole JSON objects, or is not UTF-8, is parsed in full instead (which also says exactly
        what is wrong with it) and the batch is parsed again: rare, and never silent."""
        redo = [f for f in files if f.table is None]
        while True:
            for f in redo:
                _read_one(f, slow=True)
            tables = [f.table for f in files if f.table is not None]
            staged = pa.concat_tables(tables) if tables else EMPTY_LINES
            self.con.register("staged", staged)
            try:
                try:
                    parsed = self.con.sql(_PARSE).to_arrow_table()
                except duckdb.Error:  # a line that is not JSON: it is rejected with its reason
                    parsed = self.con.sql(_PARSE_TOLERANT).to_arrow_table()
            finally:
                self.con.unregister("staged")
            # The lines themselves are not copied out of DuckDB: its result keeps the order of
            # its input (preserve_insertion_order), so each row takes its line by place.
            if not (
                parsed["file_id"].equals(staged["file_id"])
                and parsed["position"].equals(staged["position"])
            ):
                raise RuntimeError("DuckDB returned the parsed lines in another order")
            parsed = parsed.append_column("line", staged["line"])
            fast = [f.file_id for f in files if f.result is not None and f.result.fast]
            if not fast:
                return parsed
            invalid = parsed["file_id"].filter(pc.equal(parsed["reason"], "invalid JSON"))
            broken = set(pc.unique(invalid).to_pylist()) & set(fast)
            if not broken:
                return parsed
            redo = [f for f in files if f.file_id in broken]

    def _file_rows(
        self, batch: list[_File], stats: dict[int, tuple[int, int, int, int]]
    ) -> list[_FileRow]:
        """The manifest rows of a commit's files."""
        rows = []
        for f in batch:
            c = f.candidate
            result = f.result
            records, stored, dups, rejected = stats.get(f.file_id, (0, 0, 0, 0))
            note = result.note if result else None
            skip = c.skip or (result.skip if result else None)
            if skip:
                status, note = "skipped", skip
            elif f.error:
                status = "rejected"
                rejected = 0  # the file's row in `rejected` is not a record
            else:
                status = "ingested" if records + rejected else "empty"
            fmt = result.format if result else ("unread" if c.skip else "unknown")
            rows.append(
                _FileRow(
                    f.file_id,
                    c.path,
                    c.size,
                    c.mtime,
                    c.etag,
                    f.sha256,
                    fmt,
                    status,
                    records + rejected,
                    stored,
                    dups,
                    rejected,
                    note,
                    self.run_id,
                )
            )
        return rows

    def _tally(self, rows: list[_FileRow]) -> None:
        """Count a committed commit's files in the summary."""
        s = self.summary
        for row in rows:
            if row.status == "skipped":
                s.files_skipped += 1
                reason = row.note or ""
                s.skipped_reasons[reason] = s.skipped_reasons.get(reason, 0) + 1
                continue
            s.files_read += 1
            s.files_rejected += row.status == "rejected"
            if row.note and row.status == "ingested":
                s.notes.append(f"{row.path}: {row.note}")
            s.records += row.records
            s.stored += row.stored
            s.duplicates += row.duplicates
            s.rejected += row.rejected
            s.bytes_read += row.size


class _FileRow(NamedTuple):
    """A row of `files` (schema.FILE_COLUMNS)."""

    file_id: int
    path: str
    size: int
    mtime: float
    etag: str | None
    sha256: str | None
    format: str
    status: str
    records: int
    stored: int
    duplicates: int
    rejected: int
    note: str | None
    run_id: int
